import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import { createBuildRecords } from '../../../electron/main/services/build/records';
import { startReplicas } from '../../../electron/main/services/deploy/replicas';
import { openDatabase } from '../../../electron/main/services/store/database';
import type { DeployBuildRequest, DeployEvent } from '../../../shared/deploy';
import { loadBed, registerBed } from '../bed';
import { buildTestModel, removeLocalImage } from './test-images';

const bed = loadBed();
const MODEL = 'gputest';
const GROUP = 'gpu';
const IMAGE = `berth/${MODEL}:v1`;
let home: string;
let berth: Berth;
let ids: number[];

const onServer = (i: number, command: string) => execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[i].name, command], { encoding: 'utf8' });
const names = () => bed.servers.map((s) => s.name);

/** A smoke-tested build record of the image, as `berth build` would have made it. */
function recordBuild(): number {
  const db = openDatabase(join(home, 'berth.db'));
  try {
    const records = createBuildRecords(db);
    const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', IMAGE], { encoding: 'utf8' }).trim();
    const build = records.add({
      projectPath: join(home, MODEL),
      project: MODEL,
      imageTag: IMAGE,
      imageId,
      notebookHash: 'test',
      contextHash: null,
      dockerfile: 'FROM berth-base/python:3.11-bookworm',
      requirements: '',
      status: 'succeeded',
      sizeBytes: null,
      durationMs: null,
      platform: 'linux/amd64',
      error: null,
    });
    records.setSmoke(build.id, { status: 'passed', readyMs: 1, durationMs: 1, input: [], output: [] });
    return build.id;
  } finally {
    db.close();
  }
}

/** `deploy.run` through the contract, as the deploy panel and `berth deploy` send it. */
function deployRun(input: DeployBuildRequest): Promise<{ events: DeployEvent[]; error: unknown }> {
  const events: DeployEvent[] = [];
  return new Promise((resolve) => {
    berth.dispatcher.subscribe('deploy.run', input, (event) => events.push(event as DeployEvent), (error) => resolve({ events, error }));
  });
}

function expectNothingSentOrLocked() {
  expect(berth.services.deployStore.findModel(MODEL)).toBeNull();
  for (let i = 0; i < bed.servers.length; i++) {
    expect(onServer(i, "docker image ls --format '{{.Repository}}:{{.Tag}}'")).not.toContain(`berth/${MODEL}`);
    expect(onServer(i, `docker ps -aq --filter label=berth.model=${MODEL}`).trim()).toBe('');
    expect(onServer(i, `test -e /var/lib/berth/lock/${MODEL} && echo locked || echo free`).trim()).toBe('free');
    expect(onServer(i, `test -e /var/lib/berth/groups/${GROUP}/lock && echo locked || echo free`).trim()).toBe('free');
    expect(onServer(i, `cat /var/lib/berth/groups/${GROUP}/state.json`)).not.toContain(`"${MODEL}"`);
  }
}

beforeAll(async () => {
  buildTestModel(IMAGE, { label: 'gpu' });
  home = mkdtempSync(join(tmpdir(), 'berth-gpus-'));
  berth = createBerth({ home, mode: 'cli', version: 'test' });
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  ids = await registerBed(berth, bed, { group: { name: GROUP, replicas: 1 } });
});

afterAll(async () => {
  for (let i = 0; i < bed.servers.length; i++) {
    execFileSync(
      'ssh',
      ['-F', bed.sshConfig, bed.servers[i].name, `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q 'berth/${MODEL}') 2>/dev/null; rm -rf /var/lib/berth/lock/${MODEL} /var/lib/berth/groups/${GROUP}; true`],
      { stdio: 'ignore' },
    );
  }
  berth?.close();
  removeLocalImage(IMAGE);
});

describe('GPUs on the bed, whose servers have none', () => {
  it('the servers report no GPU in their facts', async () => {
    for (const id of ids) expect((await berth.services.servers.facts(id)).gpus).toEqual([]);
  });

  it('a deploy asking for a GPU per replica is refused, naming every server, before anything is sent or locked', async () => {
    const send = vi.spyOn(berth.services.deploy.transport, 'send');
    const { events, error } = await deployRun({ buildId: recordBuild(), group: GROUP, gpus: 1 });
    const servers = names().map((n) => `${n} has no GPU`).join(', ');
    expect(error).toMatchObject({
      kind: 'Conflict',
      message:
        `Group "${GROUP}" cannot run ${MODEL} on GPUs: its replica on each server needs 1 GPU, and ${servers}. ` +
        `Deploy ${MODEL} to a group whose servers all have GPUs, or without GPUs. Nothing was sent or locked.`,
    });
    expect(send).not.toHaveBeenCalled();
    expect(events).toEqual([]);
    expectNothingSentOrLocked();
    send.mockRestore();
  });

  it('so is one naming GPUs by index, and the contract refuses a GPU that is not an index', async () => {
    const byIndex = await deployRun({ buildId: recordBuild(), group: GROUP, gpus: ['0', '1'] });
    expect(byIndex.error).toMatchObject({ kind: 'Conflict', message: expect.stringContaining(`each replica needs GPUs 0,1 free, and ${names()[0]} has no GPU`) });
    const malformed = await deployRun({ buildId: recordBuild(), group: GROUP, gpus: ['all'] });
    expect(malformed.error).toMatchObject({ kind: 'ValidationError', message: expect.stringContaining('A GPU is named by its index') });
    expectNothingSentOrLocked();
  });

  it("the run command's --gpus reaches this Docker as one request for those GPUs (refused here for want of a GPU driver)", async () => {
    const ssh = await berth.services.servers.connection(ids[0]);
    const spec = { model: MODEL, version: 99, imageRef: 'berth-base/python:3.11-bookworm', operationId: 0, memoryMb: 64, cpus: 0.5, gpus: [['0', '1']] };
    const error = await startReplicas(ssh, spec, 1).catch((e) => e);
    expect(error).toMatchObject({ message: expect.stringContaining('could not select device driver "" with capabilities: [[gpu]]') });
    // Docker made the container before it failed to start it: its device request is exactly the replica's GPUs.
    const request = JSON.parse(onServer(0, `docker inspect -f '{{json .HostConfig.DeviceRequests}}' berth-${MODEL}-v99-r1`));
    expect(request).toEqual([{ Driver: '', Count: 0, DeviceIDs: ['0', '1'], Capabilities: [['gpu']], Options: {} }]);
    onServer(0, `docker rm -f berth-${MODEL}-v99-r1`);
  });
});
