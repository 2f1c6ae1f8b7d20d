import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBuildRecords } from '../../../electron/main/services/build/records';
import { openDatabase } from '../../../electron/main/services/store/database';
import { buildApp, repoRoot } from '../../e2e/harness';
import { forgetGroupOnBed, loadBed } from '../bed';
import { BASE_IMAGE, buildTestModel, removeLocalImage } from '../deploy/test-images';

/**
 * The CLI's commands for the app's pages, through the built binary as a pipeline runs them: deploy and rollback as
 * JSON lines, versions, aliases, stop/start, status, keys (a revoked key is refused by the real gateways), request
 * logs, members and settings, with their exit codes. One data folder, one group and one model of its own; two deploys.
 */
const bed = loadBed();
const GROUP = 'clipages';
const MODEL = 'clipages';
const images = { one: `berth-test/${MODEL}:one`, two: `berth-test/${MODEL}:two` };
const home = mkdtempSync(join(tmpdir(), 'berth-cli-pages-'));

function berth(...args: string[]) {
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin/berth.mjs'), ...args], {
    env: { ...process.env, BERTH_HOME: home },
    encoding: 'utf8',
    timeout: 150_000,
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

/** A command that must succeed; its stdout. */
function ok(...args: string[]): string {
  const run = berth(...args);
  if (run.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${run.code}:\n${run.err}`);
  return run.out;
}

const jsonLines = (text: string) => text.trim().split('\n').map((line) => JSON.parse(line));

/** Two smoke-tested builds of the test images in the data folder, as `berth build` would have recorded them. */
function recordBuilds(): number[] {
  const db = openDatabase(join(home, 'berth.db'));
  try {
    const records = createBuildRecords(db);
    return Object.values(images).map((tag) => {
      const imageId = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], { encoding: 'utf8' }).trim();
      const build = records.add({
        projectPath: join(home, MODEL),
        project: MODEL,
        imageTag: tag,
        imageId,
        notebookHash: 'test',
        contextHash: null,
        dockerfile: `FROM ${BASE_IMAGE}`,
        requirements: '',
        status: 'succeeded',
        sizeBytes: null,
        durationMs: null,
        error: null,
      });
      return records.setSmoke(build.id, { status: 'passed', readyMs: 1, durationMs: 1, input: {}, output: {} }).id;
    });
  } finally {
    db.close();
  }
}

async function predict(path: string, secret?: string, inputs: unknown = [1]) {
  const response = await fetch(`http://${bed.servers[0].host}:8700/${MODEL}/${path}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: JSON.stringify({ inputs }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json().catch(() => null)) as { predictions?: { label: string } } | null;
  return { status: response.status, label: body?.predictions?.label };
}

let builds: number[] = [];

beforeAll(() => {
  buildApp();
  buildTestModel(images.one, { label: 'one' });
  buildTestModel(images.two, { label: 'two' });
  cleanBed();
  builds = recordBuilds();
  // Nothing can be pulled here: the gateway compiles with the local Go image (also the settings test's subject).
  ok('settings', 'set', 'gatewayBuilderImage', 'berth-base/go-builder:bookworm');
  for (const s of bed.servers) ok('servers', 'add', '--name', s.name, '--host', s.host, '--key', bed.clientKey, '--accept-host-key', s.hostKeyFingerprint);
  // Plain HTTP: this file calls the endpoints over http:// (HTTPS has its own test).
  ok('groups', 'create', GROUP, '--replicas', '1', '--tls', 'off');
  ok('groups', 'set', GROUP, ...bed.servers.map((s) => s.name));
});

/** This file's model and group gone from every bed server (before: whatever an interrupted run left). */
function cleanBed() {
  for (const s of bed.servers) {
    const clean = `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q berth-test/${MODEL}) 2>/dev/null; rm -rf /var/lib/berth/lock/${MODEL}; true`;
    execFileSync('ssh', ['-F', bed.sshConfig, s.name, clean], { stdio: 'ignore' });
  }
  forgetGroupOnBed(bed, GROUP);
}

afterAll(() => {
  cleanBed();
  for (const tag of Object.values(images)) removeLocalImage(tag);
});

describe('berth commands for every page (through the binary)', () => {
  it('deploys with --json as one JSON object per event line, then as text', () => {
    const events = jsonLines(ok('deploy', '--group', GROUP, '--build', String(builds[0]), '--memory', '256', '--json'));
    expect(new Set(events.map((e) => e.type))).toContain('progress');
    expect(events.at(-1)).toMatchObject({ type: 'done', model: MODEL, version: 1 });
    expect(ok('deploy', '--group', GROUP, '--build', String(builds[1]), '--memory', '256')).toMatch(new RegExp(`${MODEL} v2 is live`));
  });

  it('rolls back (JSON lines), moves aliases, stops and starts versions; versions --json shows each', () => {
    const rollback = jsonLines(ok('rollback', MODEL, '1', '--json'));
    expect(rollback.filter((e) => e.phase === 'done').map((e) => [e.server, e.message]).sort()).toEqual(bed.servers.map((s) => [s.name, 'latest → v1']));
    expect(ok('alias', 'set', MODEL, 'stable', '2')).toContain(`${MODEL} stable → v2`);
    const refused = berth('stop', MODEL, '2');
    expect(refused).toMatchObject({ code: 1, err: expect.stringMatching(/^error\[Conflict\]: v2 is still stable/) });
    ok('alias', 'set', MODEL, 'stable', '1');
    ok('stop', MODEL, '2');
    const versions = () => Object.fromEntries(JSON.parse(ok('versions', MODEL, '--json')).versions.map((v: any) => [v.number, [v.state, [...v.aliases].sort()]]));
    expect(versions()).toEqual({ 1: ['live', ['latest', 'stable']], 2: ['stopped', []] });
    ok('start', MODEL, '2');
    expect(versions()[2]).toEqual(['live', []]);
    expect(berth('rollback', MODEL, '7')).toMatchObject({ code: 1, err: expect.stringMatching(/^error\[\w+\]: /) });
  });

  it('status --json: the group, its servers and gateways, the model versions with their aliases and replicas', () => {
    const status = JSON.parse(ok('status', '--group', GROUP, '--json'));
    const [group] = status.groups;
    expect(group).toMatchObject({ name: GROUP, replicas: 1 });
    expect(group.servers.map((s: any) => [s.name, s.state, s.login?.kind, s.gateway.ok])).toEqual(bed.servers.map((s) => [s.name, 'up', 'shell', true]));
    const model = group.models.find((m: any) => m.name === MODEL);
    expect(model.versions.find((v: any) => v.number === 1)).toMatchObject({ state: 'live', aliases: expect.arrayContaining(['latest', 'stable']) });
    expect(model.versions.find((v: any) => v.number === 1).replicas[bed.servers[0].name]).toEqual({ healthy: 1, replicas: 1 });
    expect(ok('status')).toMatch(new RegExp(`group ${GROUP}: revision \\d+[^]*server ${bed.servers[0].name} .*: up, login shell; gateway ok[^]*model ${MODEL} \\(private\\)`));
    expect(berth('status', '--group', 'nosuch')).toMatchObject({ code: 1, err: expect.stringContaining('error[NotFound]: No group named "nosuch"') });
    expect(ok('status', '--group', GROUP)).toContain(`WARNING: group ${GROUP} serves plain HTTP`);
    expect(berth('groups', 'ca', GROUP)).toMatchObject({ code: 1, err: expect.stringContaining(`error[NotFound]: Group "${GROUP}" has no certificate authority yet`) });
    expect(berth('groups', 'tls', GROUP, 'sometimes')).toMatchObject({ code: 2, err: expect.stringContaining('the mode is one of off, https, not "sometimes"') });
    expect(berth('status', '--verbose').code).toBe(2);
  });

  let keyId = '';
  it('creates a key (the secret printed once), lists it, revokes it: the gateway then answers 401', async () => {
    const created = JSON.parse(ok('keys', 'create', MODEL, '--name', 'pages-ci', '--json'));
    keyId = created.key.id;
    expect(created.key).toMatchObject({ name: 'pages-ci', group: GROUP, scope: { kind: 'model', model: MODEL }, state: 'active' });
    expect(await predict('latest')).toMatchObject({ status: 401 });
    expect(await predict('latest', created.secret, ['pages-token-1'])).toEqual({ status: 200, label: 'one' });
    expect(await predict('v2', created.secret)).toEqual({ status: 200, label: 'two' });

    const plain = berth('keys', 'create', '--all', '--group', GROUP, '--expires', '2099-01-01T00:00:00Z');
    expect(plain.code).toBe(0);
    expect(plain.err).toMatch(/Created key_[0-9a-f]+ "cli-all" for all models in group clipages, expires 2099-01-01T00:00:00/);
    expect(plain.out.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(ok('keys', 'list', '--json')).map((k: any) => [k.id, k.state])).toContainEqual([keyId, 'active']);

    expect(ok('keys', 'revoke', keyId)).toContain(`Revoked ${keyId} "pages-ci"`);
    const deadline = Date.now() + 5000;
    while ((await predict('latest', created.secret)).status !== 401 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await predict('latest', created.secret)).toMatchObject({ status: 401 });
    expect(JSON.parse(ok('keys', 'list', '--json')).find((k: any) => k.id === keyId).state).toBe('revoked');

    expect(berth('keys', 'create', 'nosuch')).toMatchObject({ code: 1, err: expect.stringContaining('error[NotFound]: No model named "nosuch"') });
    expect(berth('keys', 'revoke', 'key_0000')).toMatchObject({ code: 1, err: expect.stringMatching(/^error\[NotFound\]/) });
    expect(berth('keys', 'create', MODEL, '--expires', 'tomorrow')).toMatchObject({ code: 2, err: expect.stringContaining('--expires must be an ISO date-time') });
    expect(berth('keys', 'create').code).toBe(2);
    expect(berth('keys', 'rotate', keyId).code).toBe(2);
  });

  it('logs requests: pulls the gateways and replicas, then filters by version, status and text', () => {
    const found = JSON.parse(ok('logs', 'requests', MODEL, '--version', '1', '--status', '200', '--json'));
    expect(found.records.length).toBeGreaterThanOrEqual(1);
    expect(found.records.every((r: any) => r.version === '1' && r.status === 200 && r.model === MODEL)).toBe(true);
    expect(found.records.map((r: any) => r.caller)).toContain(keyId);
    const byText = JSON.parse(ok('logs', 'requests', MODEL, '--query', 'pages-token-1', '--json'));
    expect(byText.records).toHaveLength(1);
    expect(byText.records[0].input).toContain('pages-token-1');
    expect(ok('logs', 'requests', MODEL, '--status', '401', '--limit', '5')).toMatch(/\t401\t/);
    expect(berth('logs', 'requests', 'nosuch')).toMatchObject({ code: 1, err: expect.stringContaining('error[NotFound]: No model named "nosuch"') });
    expect(berth('logs', 'requests', MODEL, '--limit', 'many').code).toBe(2);
    expect(berth('logs', 'requests', MODEL, '--status', 'teapot')).toMatchObject({ code: 1, err: expect.stringContaining('error[ValidationError]') });
  });

  it('logs -f follows every replica of the model, merged, until interrupted (exit 130, nothing left running)', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin/berth.mjs'), 'logs', '-f', MODEL, '--tail', '20'], { env: { ...process.env, BERTH_HOME: home } });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Every line is prefixed with its server and replica.
    await expect.poll(() => out, { timeout: 60_000, interval: 250 }).toMatch(new RegExp(`${bed.servers[0].name}/berth-${MODEL}-v\\d+-r\\d+`));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    // The remote `docker logs -f` ends with the CLI: nothing keeps following on the server.
    const followers = () => execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[0].name, `pgrep -fc '[d]ocker logs.*berth-${MODEL}' || true`], { encoding: 'utf8' }).trim();
    await expect.poll(followers, { timeout: 15_000 }).toBe('0');
  }, 120_000);

  it('adds members (key file or key line), changes a role, removes them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-cli-pages-keys-'));
    for (const name of ['alice', 'bob']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', join(dir, name)]);
    expect(ok('members', 'add', 'pages-alice', 'deployer', join(dir, 'alice.pub'), '--models', MODEL, '--group', GROUP)).toMatch(/Added pages-alice as deployer \(m_[0-9a-f]+, group clipages\); 3 of 3 servers updated/);
    ok('members', 'add', 'pages-bob', 'viewer', readFileSync(join(dir, 'bob.pub'), 'utf8').trim(), '--owner', 'pages-alice', '--group', GROUP);
    ok('members', 'role', 'pages-bob', 'admin');
    const members = () => Object.fromEntries(JSON.parse(ok('members', 'list', '--json')).map((m: any) => [m.name, [m.role, m.models, m.owner !== null]]));
    expect(members()).toMatchObject({ 'pages-alice': ['deployer', [MODEL], false], 'pages-bob': ['admin', null, true] });

    expect(berth('members', 'add', 'pages-carol', 'owner', join(dir, 'alice.pub'), '--group', GROUP)).toMatchObject({ code: 1, err: expect.stringContaining('error[ValidationError]') });
    expect(berth('members', 'add', 'pages-carol', 'viewer', join(dir, 'missing.pub'), '--group', GROUP)).toMatchObject({ code: 1, err: expect.stringContaining('error[NotFound]') });
    expect(berth('members', 'remove', 'nobody')).toMatchObject({ code: 1, err: expect.stringContaining('error[NotFound]: No member named "nobody"') });
    expect(berth('members', 'add', 'pages-carol').code).toBe(2);

    expect(ok('members', 'remove', 'pages-alice', '--with-owned')).toContain('Removed pages-alice and the keys they own');
    const left = Object.keys(members());
    expect(left).not.toContain('pages-alice');
    expect(left).not.toContain('pages-bob');
  });

  it('gets and sets settings: the base image; an unknown key is a usage error, a bad value is refused', () => {
    expect(ok('settings', 'set', 'baseImage', BASE_IMAGE).trim()).toBe(`baseImage\t${BASE_IMAGE}`);
    expect(ok('settings', 'get', 'baseImage').trim()).toBe(BASE_IMAGE);
    expect(JSON.parse(ok('settings', 'get', '--json'))).toMatchObject({ baseImage: BASE_IMAGE, gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
    expect(berth('settings', 'set', 'base-image', 'x')).toMatchObject({ code: 2, err: expect.stringContaining('Unknown setting "base-image": the settings are theme, baseImage') });
    expect(berth('settings', 'set', 'theme', 'purple')).toMatchObject({ code: 1, err: expect.stringContaining('error[ValidationError]') });
    expect(berth('settings', 'set', 'baseImage').code).toBe(2);
    expect(ok('settings', 'get', 'theme').trim()).toBe('system');
  });
});
