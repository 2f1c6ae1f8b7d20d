import { describe, expect, it, vi } from 'vitest';
import { gpusOption } from '../../../electron/main/services/deploy/cli';
import { gpusHeld, placeGpuReplicas, type GpuServer } from '../../../electron/main/services/deploy/gpus';
import { createOrchestrator, type OrchestratorDeps } from '../../../electron/main/services/deploy/orchestrator';
import { startReplicas, type ReplicaSpec } from '../../../electron/main/services/deploy/replicas';
import type { Placement, VersionRow } from '../../../electron/main/services/deploy/store';
import type { DeployEvent } from '../../../shared/deploy';
import { StateReplica, StateVersion } from '../../../shared/group-state';
import { invocations, RecordingShell } from '../support/recording-shell';

const spec: ReplicaSpec = { model: 'iris', version: 3, imageRef: 'berth/iris:v3', operationId: 42, memoryMb: 512, cpus: 1.5 };

const runReplica = (index: number, port: number, gpus: string) =>
  `docker run -d --name berth-iris-v3-r${index} --network host --restart unless-stopped --memory 512m --memory-swap 512m --cpus 1.5 ${gpus}` +
  '--log-driver json-file --log-opt max-size=20m --log-opt max-file=5 ' +
  `--label berth.model=iris --label berth.version=3 --label berth.replica=${index} --label berth.port=${port} --label berth.operation=42 ` +
  `-e PORT=${port} -e BERTH_HOST=127.0.0.1 -e BERTH_MODEL_NAME=iris -e BERTH_MODEL_VERSION=3 berth/iris:v3`;

const server = (id: number, total: number, held: Record<string, string> = {}): GpuServer => ({ id, name: `tb${id}`, total, held: new Map(Object.entries(held)) });

function refusal(work: () => unknown): { kind: string; message: string } {
  try {
    work();
  } catch (err) {
    return err as { kind: string; message: string };
  }
  throw new Error('not refused');
}

describe('the run command of a GPU replica', () => {
  it('gives each replica its own GPUs as --gpus "device=…", quoted as Docker reads the value (CSV)', async () => {
    const shell = new RecordingShell();
    const replicas = await startReplicas(shell.connection, { ...spec, gpus: [['0'], ['1', '2']] }, 2);
    expect(replicas).toEqual([
      { name: 'berth-iris-v3-r1', port: 9100, gpus: ['0'] },
      { name: 'berth-iris-v3-r2', port: 9101, gpus: ['1', '2'] },
    ]);
    expect(shell.commands[2]).toBe(runReplica(1, 9100, `--gpus '"device=0"' `));
    expect(shell.commands[4]).toBe(runReplica(2, 9101, `--gpus '"device=1,2"' `));
    // What docker receives from the server's shell: one word, quotes included.
    const [run] = invocations(shell.commands[4], ['docker']);
    expect(run.slice(run.indexOf('--gpus'), run.indexOf('--gpus') + 2)).toEqual(['--gpus', '"device=1,2"']);
  });

  it("sends berth-shell the same request in plain words (berth-shell adds docker's quotes)", async () => {
    const shell = new RecordingShell();
    await startReplicas(shell.connection, { ...spec, gpus: [['1', '2']] }, 1);
    const verb = shell.verbs[2]!;
    expect(verb.slice(0, 2)).toEqual(['run', '-d']);
    expect(verb.slice(verb.indexOf('--gpus'), verb.indexOf('--gpus') + 2)).toEqual(['--gpus', 'device=1,2']);
    // Apart from that value, the verb's words are docker's.
    const [run] = invocations(shell.commands[2], ['docker']);
    expect(verb).toEqual(run.slice(1).map((w) => (w === '"device=1,2"' ? 'device=1,2' : w)));
  });

  it('runs a replica without GPUs exactly as before: no --gpus word', async () => {
    const shell = new RecordingShell();
    const [replica] = await startReplicas(shell.connection, spec, 1);
    expect(replica).toEqual({ name: 'berth-iris-v3-r1', port: 9100 });
    expect(shell.commands[2]).toBe(runReplica(1, 9100, ''));
    expect(shell.verbs[2]).not.toContain('--gpus');
  });

  it('numbers GPUs by replica from firstIndex', async () => {
    const shell = new RecordingShell();
    const replicas = await startReplicas(shell.connection, { ...spec, gpus: [['3']] }, 1, 102);
    expect(replicas).toEqual([{ name: 'berth-iris-v3-r102', port: 9100, gpus: ['3'] }]);
  });
});

describe('placing GPU replicas', () => {
  it('gives each replica GPUs of its own, the lowest free first, skipping those other versions hold', () => {
    const placed = placeGpuReplicas('iris', 'prod', 1, 2, [server(1, 4, { 0: 'iris v2' }), server(2, 2)]);
    expect(placed).toEqual(
      new Map([
        [1, [['1'], ['2']]],
        [2, [['0'], ['1']]],
      ]),
    );
    expect(placeGpuReplicas('iris', 'prod', 2, 1, [server(1, 4, { 1: 'lily v1' })])).toEqual(new Map([[1, [['0', '2']]]]));
  });

  it('gives GPUs named by index where all of them are free', () => {
    expect(placeGpuReplicas('iris', 'prod', ['1', '0'], 1, [server(1, 2), server(2, 4, { 3: 'lily v1' })])).toEqual(
      new Map([
        [1, [['0', '1']]],
        [2, [['0', '1']]],
      ]),
    );
  });

  it('refuses a group without GPUs, naming each server and what to do', () => {
    const error = refusal(() => placeGpuReplicas('iris', 'prod', 1, 1, [server(1, 0), server(2, 0)]));
    expect(error).toMatchObject({
      kind: 'Conflict',
      message:
        'Group "prod" cannot run iris on GPUs: its replica on each server needs 1 GPU, and tb1 has no GPU, tb2 has no GPU. ' +
        'Deploy iris to a group whose servers all have GPUs, or without GPUs. Nothing was sent or locked.',
    });
  });

  it('refuses when a server has too few free, naming their free GPUs and who holds the rest', () => {
    const error = refusal(() => placeGpuReplicas('iris', 'prod', 1, 2, [server(1, 2), server(2, 2, { 0: 'iris v2' }), server(3, 0)]));
    expect(error.message).toBe(
      'Group "prod" cannot run iris on GPUs: each of its 2 replicas per server needs 1 GPU of its own (2 free on each server), and ' +
        'tb1 has 2 of 2 GPUs free, tb2 has 1 of 2 GPUs free: 1 (iris v2 holds 0), tb3 has no GPU. ' +
        'Free GPUs on tb2 (stop or retire the versions that hold them) or deploy with fewer replicas per server or fewer GPUs per replica, ' +
        'and deploy to a group without tb3. ' +
        'Nothing was sent or locked.',
    );
  });

  it('refuses GPUs named by index where one is missing or held, and for more than one replica per server', () => {
    expect(refusal(() => placeGpuReplicas('iris', 'prod', ['1'], 1, [server(1, 1)])).message).toContain('each replica needs GPU 1 free, and tb1 has 1 of 1 GPU free');
    expect(refusal(() => placeGpuReplicas('iris', 'prod', ['0', '1'], 1, [server(1, 2, { 1: 'lily v4' })])).message).toContain(
      'tb1 has 1 of 2 GPUs free: 0 (lily v4 holds 1)',
    );
    expect(refusal(() => placeGpuReplicas('iris', 'prod', ['0'], 2, [server(1, 8)])).message).toContain(
      'GPUs named by index go to one replica per server: deploy with 1 replica per server, or ask for a count (gpus = 1).',
    );
  });

  it('counts as held the GPUs of replicas of live and stopped versions only, on every server', () => {
    const versions: Record<number, VersionRow[]> = {
      1: [{ id: 10, number: 2, state: 'live' }, { id: 11, number: 1, state: 'retired' }] as VersionRow[],
      2: [{ id: 20, number: 7, state: 'stopped' }] as VersionRow[],
    };
    const placements: Record<number, Placement[]> = {
      10: [{ versionId: 10, serverId: 1, groupId: 1, replicas: [{ name: 'berth-iris-v2-r1', port: 9100, gpus: ['0'] }, { name: 'berth-iris-v2-r2', port: 9101 }] }],
      11: [{ versionId: 11, serverId: 1, groupId: 1, replicas: [{ name: 'berth-iris-v1-r1', port: 9102, gpus: ['1'] }] }],
      20: [{ versionId: 20, serverId: 2, groupId: 2, replicas: [{ name: 'berth-lily-v7-r1', port: 9100, gpus: ['2', '3'] }] }],
    };
    const store = {
      models: () => [{ id: 1, name: 'iris' }, { id: 2, name: 'lily' }],
      versions: (modelId: number) => versions[modelId],
      placements: (versionId: number) => placements[versionId],
    } as unknown as Parameters<typeof gpusHeld>[0];
    expect(gpusHeld(store, [1, 2])).toEqual(
      new Map([
        [1, new Map([['0', 'iris v2']])],
        [2, new Map([['2', 'lily v7'], ['3', 'lily v7']])],
      ]),
    );
  });
});

describe('a GPU deploy', () => {
  function orchestrator(gpus: Record<number, number>) {
    const withModelLock = vi.fn(async () => {
      throw new Error('locked: the test stops here');
    });
    const send = vi.fn();
    const refresh = vi.fn(async () => undefined);
    const deps = {
      store: { findModel: () => null, models: () => [], versions: () => [], placements: () => [] },
      registry: { group: () => ({ id: 1, name: 'prod', replicas: 2, serverIds: [1, 2] }), get: (id: number) => ({ name: `tb${id}` }) },
      connection: async () => ({}),
      images: { localId: async () => 'sha256:1', localPlatform: async () => 'linux/amd64', send, present: async () => false },
      gateway: { ensure: vi.fn() },
      platformOf: async () => 'linux/amd64',
      gpusOf: async (id: number) => gpus[id],
      groups: { withModelLock, refresh },
      actor: () => 'me',
    } as unknown as OrchestratorDeps;
    return { deploy: createOrchestrator(deps).deploy, withModelLock, send, refresh };
  }

  it('to servers without GPUs is refused before any lock is taken or byte sent', async () => {
    const { deploy, withModelLock, send, refresh } = orchestrator({ 1: 0, 2: 0 });
    const events: DeployEvent[] = [];
    const error = await deploy({ model: 'iris', imageRef: 'berth/iris:b1', group: 'prod', gpus: 1 }, (e) => events.push(e)).catch((e) => e);
    expect(error).toMatchObject({ kind: 'Conflict', message: expect.stringContaining('each of its 2 replicas per server needs 1 GPU of its own (2 free on each server), and tb1 has no GPU, tb2 has no GPU') });
    expect(refresh).toHaveBeenCalledWith('prod');
    expect(withModelLock).not.toHaveBeenCalled();
    expect(send).not.toHaveBeenCalled();
    expect(events).toEqual([]);
  });

  it('with the GPUs free goes on to the lock, saying which GPUs each replica gets', async () => {
    const { deploy, withModelLock } = orchestrator({ 1: 2, 2: 4 });
    const events: DeployEvent[] = [];
    await expect(deploy({ model: 'iris', imageRef: 'berth/iris:b1', group: 'prod', gpus: 1 }, (e) => events.push(e))).rejects.toThrow('the test stops here');
    expect(withModelLock).toHaveBeenCalledOnce();
    expect(events).toEqual([
      { type: 'log', message: 'GPUs on tb1 (1 GPU per replica): replica 1 → 0, replica 2 → 1' },
      { type: 'log', message: 'GPUs on tb2 (1 GPU per replica): replica 1 → 0, replica 2 → 1' },
    ]);
  });

  it('without GPUs asks no server about them', async () => {
    const { deploy, refresh, withModelLock } = orchestrator({});
    await expect(deploy({ model: 'iris', imageRef: 'berth/iris:b1', group: 'prod' })).rejects.toThrow('the test stops here');
    expect(refresh).not.toHaveBeenCalled();
    expect(withModelLock).toHaveBeenCalledOnce();
  });
});

describe('GPUs in the group state and on the command line', () => {
  it('records the request with the version and the GPUs with each replica; a version without GPUs is as before', () => {
    const version = {
      number: 1, imageRef: 'berth/iris:b1', imageId: 'sha256:1', notebookHash: null, dockerfile: null, requirements: null, createdBy: 'me',
      createdAt: '2026-01-01T00:00:00Z', state: 'live', placements: {},
    };
    expect(StateVersion.safeParse({ ...version, resources: { replicas: 1, memoryMb: 512, cpus: 1, gpus: ['0', '1'] } }).success).toBe(true);
    expect(StateVersion.safeParse({ ...version, resources: { replicas: 1, memoryMb: 512, cpus: 1, gpus: 2 } }).success).toBe(true);
    expect(StateVersion.safeParse({ ...version, resources: { replicas: 1, memoryMb: 512, cpus: 1 } }).success).toBe(true);
    expect(StateVersion.safeParse({ ...version, resources: { replicas: 1, memoryMb: 512, cpus: 1, gpus: 0 } }).success).toBe(false);
    expect(StateReplica.safeParse({ name: 'berth-iris-v1-r1', port: 9100, gpus: ['0'] }).success).toBe(true);
    expect(StateReplica.safeParse({ name: 'berth-iris-v1-r1', port: 9100, gpus: ['all'] }).success).toBe(false);
  });

  it('reads --gpus as a count, GPU indexes, or none', () => {
    expect(gpusOption('2')).toBe(2);
    expect(gpusOption('0')).toBeNull();
    expect(gpusOption('0,1')).toEqual(['0', '1']);
    expect(gpusOption('device=1')).toEqual(['1']);
    expect(() => gpusOption('all')).toThrow(/--gpus is a count \(--gpus 1\) or GPU indexes .*not "all"/);
    expect(() => gpusOption('0,0')).toThrow('A GPU is named twice');
  });
});
