/**
 * This computer as the target, through the binary, as a newcomer with only Docker runs it: a fresh data folder with
 * no server, `berth deploy <project> --target local` builds, runs two replicas on the local engine behind the same
 * gateway and group state as a server's, and the endpoint answers on 127.0.0.1 with a key.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../../electron/main/app';
import { BERTH_DIR } from '../../../electron/main/services/remote/layout';
import { buildApp, repoRoot } from '../../e2e/harness';
import { loadBed } from '../bed';
import { copyFixtureAs, DEBIAN_PYTHON, docker, removeProjects, TEST_BASE_IMAGE } from '../build/support';
import { resetThisComputer } from './support';

const MODEL = 'localcli';
const home = mkdtempSync(join(tmpdir(), 'berth-this-computer-'));
const project = copyFixtureAs('sklearn-iris', MODEL);

function berth(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/berth.mjs'), ...args], {
    env: { ...process.env, BERTH_HOME: home, PATH: `${dirname(DEBIAN_PYTHON)}:${process.env.PATH}`, ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (err += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  return new Promise((resolve) => child.on('close', (code) => (clearTimeout(killer), resolve({ code, out, err }))));
}

async function keyFor(model: string): Promise<string> {
  const app = createBerth({ home, mode: 'cli', version: 'test' });
  try {
    await app.ready;
    const created = await app.dispatcher.call('access.createKey', { name: 'local-test', scope: { kind: 'model', model } });
    if (!created.ok) throw new Error(created.error.message);
    return (created.value as { secret: string }).secret;
  } finally {
    app.close();
  }
}

const predict = (secret: string | null) =>
  fetch(`http://127.0.0.1:8700/${MODEL}/latest/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) },
    body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
    signal: AbortSignal.timeout(5000),
  });

async function answered(secret: string): Promise<Response> {
  // the gateway re-reads its table within a second of the key's publication
  for (let attempt = 0; attempt < 50; attempt++) {
    const response = await predict(secret).catch(() => null);
    if (response?.status === 200) return response;
    await new Promise((r) => setTimeout(r, 200));
  }
  return predict(secret);
}

interface AgentView {
  groups: Record<string, unknown>;
  replicas: Array<{ model: string; ready: boolean }>;
}

/** The agent's view once it shows what `done` wants (it rewrites the view every second); bounded to 20 s. */
async function agentViewWith(done: (view: AgentView) => boolean): Promise<AgentView> {
  const read = (): AgentView | null => (existsSync(`${BERTH_DIR}/agent/view.json`) ? JSON.parse(readFileSync(`${BERTH_DIR}/agent/view.json`, 'utf8')) : null);
  for (let attempt = 0; attempt < 100; attempt++) {
    const view = read();
    if (view && done(view)) return view;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the agent's view never showed it: ${JSON.stringify(read())?.slice(0, 500)}`);
}

beforeAll(async () => {
  buildApp();
  resetThisComputer();
  const app = createBerth({ home, mode: 'cli', version: 'test' });
  try {
    await app.ready;
    // Nothing can be pulled here: the local Python base image, and the gateway compiled with the local Go image.
    await app.dispatcher.call('settings.update', { baseImage: TEST_BASE_IMAGE, gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  } finally {
    app.close();
  }
});

afterAll(async () => {
  resetThisComputer();
  await removeProjects([MODEL]);
  rmSync(home, { recursive: true, force: true });
});

describe('berth deploy --target local (this computer, no server)', () => {
  it('registers this computer, deploys two replicas there with the agent beside them, and the endpoint answers on 127.0.0.1 with a key only', async () => {
    // The agent as a user's deploy runs it (the suite turns it off for the bed's servers): it sees only this computer's group.
    const run = await berth(['deploy', project, '--target', 'local', '--message', 'first try'], { BERTH_SERVER_AGENT: 'on' });
    expect(run.code, run.err + run.out).toBe(0);
    expect(run.out).toContain('Smoke test passed');
    expect(run.out).toMatch(new RegExp(`${MODEL} v1 is live`));

    const servers = JSON.parse((await berth(['servers', 'list', '--json'])).out) as Array<{ name: string; host: string; local: boolean; groups: string[] }>;
    expect(servers).toEqual([expect.objectContaining({ name: 'this-computer', host: '127.0.0.1', local: true, groups: ['local'] })]);
    const replicas = await docker.listContainers({ filters: { label: [`berth.model=${MODEL}`] } });
    expect(replicas.map((c) => c.State)).toEqual(['running', 'running']);
    // The same group state as on a server, in the same place.
    const state = JSON.parse(readFileSync(`${BERTH_DIR}/groups/local/state.json`, 'utf8'));
    expect(JSON.stringify(state)).toContain(MODEL);
    const view = await agentViewWith((v) => v.replicas.filter((r) => r.model === MODEL && r.ready).length === 2);
    expect(Object.keys(view.groups)).toEqual(['local']);

    expect((await predict(null)).status).toBe(401);
    const response = await answered(await keyFor(MODEL));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ predictions: [0] });
    expect(response.headers.get('x-berth-version')).toBe('1');

    // The deploy's message is kept with the version (in the group state) and in the audit entry.
    expect((await berth(['versions', MODEL])).out).toMatch(/^v1\tlive\tlatest\t.*\tfirst try$/m);
    const audit = JSON.parse((await berth(['audit', '--action', 'deploy', '--json'])).out) as Array<{ target: string; details: { detail?: { message?: string } } }>;
    expect(audit.find((e) => e.target === `${MODEL} v1`)?.details.detail?.message).toBe('first try');
  });

  it('writes berth.toml for this computer with `berth init --group local`, and deploys again from it', async () => {
    const init = await berth(['init', project, '--group', 'local']);
    expect(init.code, init.err).toBe(0);
    const file = readFileSync(join(project, 'berth.toml'), 'utf8');
    expect(file).toMatch(/\[group\]\nname = "local"\nthis_computer = true/);
    expect(file).not.toContain('host_key');
    const run = await berth(['deploy', project]);
    expect(run.code, run.err + run.out).toBe(0);
    expect(run.out).toMatch(new RegExp(`${MODEL} v2 is live`));
  });

  it('keeps this computer alone in its group (a bed server cannot join it, nor it another group), and without a login key', async () => {
    const bed = loadBed();
    const server = bed.servers[0];
    const added = await berth(['servers', 'add', '--name', server.name, '--host', server.host, '--key', bed.clientKey, '--accept-host-key', server.hostKeyFingerprint]);
    expect(added.code, added.err).toBe(0);
    const joined = await berth(['groups', 'set', 'local', 'this-computer', server.name]);
    expect(joined.code).not.toBe(0);
    expect(joined.err).toContain('this-computer is this computer: it serves its own group alone');
    expect((await berth(['groups', 'create', 'localmix', '--tls', 'off'])).code).toBe(0);
    const mixed = await berth(['groups', 'set', 'localmix', server.name, 'this-computer']);
    expect(mixed.err).toContain('it serves its own group alone');
    expect(existsSync(`${BERTH_DIR}/groups/localmix`)).toBe(false);
    expect((await berth(['groups', 'delete', 'localmix'])).code).toBe(0);
    expect((await berth(['servers', 'remove', server.name])).code).toBe(0);
    const switched = await berth(['servers', 'switch-key', 'this-computer', '--key', bed.clientKey]);
    expect(switched.err).toContain('this-computer is this computer: Berth reaches it without SSH');
  });

  it('refuses another target by name, and --target with --group', async () => {
    const other = await berth(['deploy', project, '--target', 'cloud']);
    expect(other.code).toBe(2);
    expect(other.err).toContain('--target takes "local" (this computer), not "cloud"');
    const both = await berth(['deploy', project, '--target', 'local', '--group', 'prod']);
    expect(both.code).toBe(2);
  });

  it('a berth.toml that says this computer in another group name is refused with the line', async () => {
    writeFileSync(join(project, 'berth.toml'), `model = "${MODEL}"\n\n[group]\nname = "prod"\nthis_computer = true\n`);
    const run = await berth(['deploy', project]);
    expect(run.code).not.toBe(0);
    expect(run.err).toContain(`This computer's group is named "local"`);
    expect(existsSync(`${BERTH_DIR}/groups/prod`)).toBe(false);
  });
});
