/**
 * `berth build` and `berth deploy` through the binary, as a CI pipeline runs them: the command waits for the smoke
 * test and the deploy, its exit code tells the truth, and a signal cancels and cleans up before it exits.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth } from '../../../electron/main/app';
import { buildApp, repoRoot } from '../../e2e/harness';
import { forgetGroupOnBed, loadBed } from '../bed';
import { copyFixtureAs, DEBIAN_PYTHON, docker, removeProjects, TEST_BASE_IMAGE } from '../build/support';

const bed = loadBed();
const RUN = randomBytes(3).toString('hex');
const GROUP = `clibd-${RUN}`;
const project = {
  passes: `clibd${RUN}-ok`,
  differs: `clibd${RUN}-differs`,
  neverReady: `clibd${RUN}-slow`,
  deployed: `clibd${RUN}-live`,
  held: `clibd${RUN}-held`,
};
const home = mkdtempSync(join(tmpdir(), 'berth-cli-build-'));
const dirs = Object.fromEntries(Object.entries(project).map(([key, name]) => [key, copyFixtureAs('sklearn-iris', name)])) as Record<keyof typeof project, string>;

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/**
 * Runs the built `berth` on this test's data folder. Debian's python3 comes first on PATH: it is the interpreter the
 * fixtures were made with (the CLI has no interpreter option). `whileRunning` may act on the live process.
 */
function berth(args: string[], whileRunning?: (child: ChildProcess, output: () => string) => void): Promise<Run> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin/berth.mjs'), ...args], {
    env: { ...process.env, BERTH_HOME: home, PATH: `${dirname(DEBIAN_PYTHON)}:${process.env.PATH}` },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  child.stderr.on('data', (chunk) => (err += chunk));
  const killer = setTimeout(() => child.kill('SIGKILL'), 170_000);
  whileRunning?.(child, () => out);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, out, err });
    }),
  );
}

const smokeContainers = (name: string) => docker.listContainers({ all: true, filters: { label: [`berth.smoke=true`, `berth.project=${name}`] } });

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !(await check()); await new Promise((r) => setTimeout(r, 200))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** The folder's settings, and Dockerfile edits a user would make in the editor (the CLI builds with them). */
async function prepareFolder(): Promise<void> {
  const app = createBerth({ home, mode: 'cli', version: 'test' });
  try {
    await app.ready;
    // Nothing can be pulled here: the local Python base image, and the gateway compiled with the local Go image.
    await app.dispatcher.call('settings.update', { baseImage: TEST_BASE_IMAGE, gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
    const edit = async (dir: string, change: (dockerfile: string) => string) => {
      const prepared = await app.services.builds.prepare(dir, { interpreter: DEBIAN_PYTHON });
      const edited = change(prepared.dockerfile.generated);
      expect(edited).not.toBe(prepared.dockerfile.generated);
      app.services.builds.saveEdits(dir, { dockerfile: edited });
    };
    // Serves another function of the notebook: the image answers the sample differently.
    await edit(dirs.differs, (d) => d.replace('BERTH_ENTRYPOINT=predict', 'BERTH_ENTRYPOINT=describe'));
    // Never listens: the smoke test waits for /readyz until it is interrupted.
    await edit(dirs.neverReady, (d) => d.replace('CMD ["python3","berth_serve.py"]', 'CMD ["python3","-c","import time; time.sleep(600)"]'));
    // Passes its smoke test, but its replicas on the servers never get ready: the deploy waits until it is interrupted.
    await edit(dirs.held, (d) => d.replace('CMD ["python3","berth_serve.py"]', 'CMD ["sh","-c","[ \\"$BERTH_MODEL_VERSION\\" = smoke-test ] || sleep 600; exec python3 berth_serve.py"]'));
  } finally {
    app.close();
  }
}

function onServer(index: number, script: string): string {
  return execFileSync('ssh', ['-F', bed.sshConfig, bed.servers[index].name, script], { encoding: 'utf8', timeout: 60_000 });
}

beforeAll(async () => {
  buildApp();
  forgetGroupOnBed(bed, GROUP);
  await prepareFolder();
});

afterAll(async () => {
  await removeProjects(Object.values(project));
  for (let i = 0; i < bed.servers.length; i++) {
    for (const model of [project.deployed, project.held]) {
      try {
        onServer(i, `docker rm -f $(docker ps -aq --filter label=berth.model=${model}) 2>/dev/null; docker rmi -f $(docker images -q berth/${model}) 2>/dev/null; rm -rf /var/lib/berth/lock/${model} /var/lib/berth/lock/${model}.guard; true`);
      } catch {
        // a server that does not answer has nothing of this test to remove
      }
    }
  }
  forgetGroupOnBed(bed, GROUP);
  rmSync(home, { recursive: true, force: true });
  for (const dir of Object.values(dirs)) rmSync(dirname(dir), { recursive: true, force: true });
});

describe('berth build (the binary)', () => {
  it('waits for the smoke test and exits 0 once the image answers like the notebook', async () => {
    const run = await berth(['build', dirs.passes]);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('Smoke test: starting');
    expect(run.out).toMatch(/Smoke test passed: the image answers like the notebook \(\d+ ms\)/);
    expect(await smokeContainers(project.passes)).toEqual([]);
  });

  it('exits 1 with the reason when the image answers the sample differently', async () => {
    const run = await berth(['build', dirs.differs]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/^error\[SmokeTestFailed\]: Smoke test failed: the image answers the sample differently from the notebook \(1 difference\)/);
    expect(run.out).not.toContain('Smoke test passed');
    expect(await smokeContainers(project.differs)).toEqual([]);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s during the smoke test cancels it, removes its container and exits %i', async (signal, code) => {
    let signalled = false;
    const run = await berth(['build', dirs.neverReady], (child) => {
      // Signal once the smoke container runs (nothing to signal if the command ended first).
      const running = async () => child.exitCode !== null || (await smokeContainers(project.neverReady)).some((c) => c.State === 'running');
      void waitFor('the smoke container to run', running, 120_000).then(
        () => (signalled = child.exitCode === null && child.kill(signal)),
        () => child.kill('SIGKILL'),
      );
    });
    expect(signalled).toBe(true);
    expect(run.code).toBe(code);
    expect(run.err).toContain(`${signal}: build.run was cancelled and cleaned up`);
    expect(run.out).not.toContain('Smoke test passed');
    expect(await smokeContainers(project.neverReady)).toEqual([]);
  });
});

describe('berth deploy --group (the binary, bed servers)', () => {
  const servers = bed.servers.slice(0, 2);

  it('builds, smoke-tests, waits for the deploy and exits 0 once the model is live; the gateways answer', async () => {
    for (const server of servers) {
      const added = await berth(['servers', 'add', '--name', server.name, '--host', server.host, '--key', bed.clientKey, '--accept-host-key', server.hostKeyFingerprint]);
      expect(added.code, added.err).toBe(0);
    }
    // Plain HTTP: the gateways are called over http:// below (HTTPS has its own test).
    expect((await berth(['groups', 'create', GROUP, '--replicas', '1', '--tls', 'off'])).code).toBe(0);
    expect((await berth(['groups', 'set', GROUP, ...servers.map((s) => s.name)])).code).toBe(0);

    const run = await berth(['deploy', '--group', GROUP, dirs.deployed]);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain('Smoke test passed');
    expect(run.out).toMatch(new RegExp(`${project.deployed} v1 is live \\(\\d+\\.\\d s\\)`));

    // A key for the model (endpoints are private), then every server's gateway answers the notebook's sample.
    const app = createBerth({ home, mode: 'cli', version: 'test' });
    let secret: string;
    try {
      await app.ready;
      const created = await app.dispatcher.call('access.createKey', { name: 'cli-test', scope: { kind: 'model', model: project.deployed } });
      if (!created.ok) throw new Error(created.error.message);
      secret = (created.value as { secret: string }).secret;
    } finally {
      app.close();
    }
    for (const server of servers) {
      const predict = () =>
        fetch(`http://${server.host}:8700/${project.deployed}/latest/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
          body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
          signal: AbortSignal.timeout(5000),
        });
      // the gateway re-reads its table within a second of the key's publication
      await waitFor(`${server.name}'s gateway to accept the key`, async () => (await predict()).status === 200, 10_000);
      const response = await predict();
      expect(await response.json()).toMatchObject({ predictions: [0] });
      expect(response.headers.get('x-berth-version')).toBe('1');
    }
  });

  it('SIGINT while the replicas get ready undoes the deploy (no replica left, version failed, lock free) and exits 130', async () => {
    const waiting = (out: string) => (out.match(/\] ready: waiting for \/readyz/g) ?? []).length >= servers.length;
    let signalled = false;
    const run = await berth(['deploy', '--group', GROUP, dirs.held], (child, output) => {
      void waitFor('every server to wait for its replicas', async () => child.exitCode !== null || waiting(output()), 150_000).then(
        () => (signalled = child.exitCode === null && child.kill('SIGINT')),
        () => child.kill('SIGKILL'),
      );
    });
    expect(signalled).toBe(true);
    expect(run.out).toContain('Smoke test passed');
    expect(run.code, run.err).toBe(130);
    expect(run.err).toContain('SIGINT: deploy.run was cancelled and cleaned up');
    for (let i = 0; i < servers.length; i++) {
      expect(onServer(i, `docker ps -aq --filter label=berth.model=${project.held}`).trim()).toBe('');
      expect(onServer(i, `test -e /var/lib/berth/lock/${project.held} && echo held || echo free`).trim()).toBe('free');
    }
    const versions = await berth(['versions', project.held, '--json']);
    expect(JSON.parse(versions.out).versions).toMatchObject([{ number: 1, state: 'failed' }]);
  });
});
