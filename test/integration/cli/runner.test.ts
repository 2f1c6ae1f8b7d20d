/**
 * A CI runner deploys from what the project carries: berth.toml (servers, pinned host keys, group) and .berth/ (the
 * reviewed Dockerfile and requirements), with credentials only in environment variables and no stdin, on a data
 * folder it never used before, after a teammate's Berth deployed the same model from another folder.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, repoRoot } from '../../e2e/harness';
import { FIXTURES, TEST_BASE_IMAGE } from '../build/support';
import { clientKeyOf, forgetGroupOnBed, loadBed } from '../bed';

const bed = loadBed();
const [tb1, tb2] = bed.servers;
const GROUP = 'ci-runner';
const MODEL = 'ci-iris';
const scratch = mkdtempSync(join(tmpdir(), 'berth-runner-'));
const REVIEW_MARK = '# reviewed in the app by ada';
/** The teammate analyses with Debian's Python, which has the notebook's packages (as the base image does). */
const TEAMMATE_PATH = '/usr/bin:/bin';
/** The runner's Python has none of them: it cannot reproduce the analysis and must build from the reviewed files. */
const bare = join(scratch, 'bare-python');
const RUNNER_PATH = `${bare}/bin:/usr/bin:/bin`;

/** The binary as a pipeline runs it: its own data folder, only the given environment, no stdin. */
function berth(home: string, args: string[], options: { cwd?: string; env?: Record<string, string> } = {}) {
  // BERTH_SERVER_AGENT as every test deploy has it (vitest.config.mts): an agent left on the shared bed would act on
  // the other test files' groups (stand-ins for their "lost" servers).
  const env: Record<string, string> = { PATH: TEAMMATE_PATH, HOME: scratch, BERTH_HOME: join(scratch, home), CI: 'true', BERTH_SERVER_AGENT: process.env.BERTH_SERVER_AGENT ?? 'off', ...options.env };
  const started = Date.now();
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin/berth.mjs'), ...args], { cwd: options.cwd ?? scratch, env, input: '', encoding: 'utf8', timeout: 400_000 });
  return { code: run.status, out: run.stdout, err: run.stderr, ms: Date.now() - started };
}

const berthToml = (extra = '') => `model = "${MODEL}"
base_image = "${TEST_BASE_IMAGE}"
replicas = 1
memory_mb = 256
readiness_timeout_s = 90
${extra}
[group]
name = "${GROUP}"
${[tb1, tb2].map((s) => `\n[[group.servers]]\nname = "${s.name}"\nhost = "${s.host}"\nport = ${s.port}\nuser = "${s.user}"\nhost_key = "${s.hostKeyFingerprint}"\n`).join('')}`;

/** Every file under a folder, as text (to prove a secret is not in it in the clear). */
function allText(dir: string): string {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => readFileSync(join(e.parentPath, e.name)).toString('latin1'))
    .join('\n');
}

/** This file's model and group gone from the bed servers it used. */
function cleanBed() {
  for (const s of [tb1, tb2]) {
    execFileSync('ssh', ['-F', bed.sshConfig, s.name, `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q berth/${MODEL}) 2>/dev/null; rm -rf /var/lib/berth/lock/${MODEL}; true`], { stdio: 'ignore' });
  }
  forgetGroupOnBed(bed, GROUP);
}

afterAll(cleanBed);

describe('deploys from CI: berth.toml, .berth/ and credentials from the environment', () => {
  const teammateProject = join(scratch, 'teammate', MODEL);
  const runnerProject = join(scratch, 'runner', MODEL);

  beforeAll(() => {
    buildApp();
    cleanBed();
    execFileSync('/usr/bin/python3', ['-m', 'venv', '--without-pip', bare]);
    cpSync(join(FIXTURES, 'sklearn-iris'), teammateProject, { recursive: true });
    writeFileSync(join(teammateProject, 'berth.toml'), berthToml());
  }, 300_000);

  it('a teammate deploys v1 from berth.toml alone, then writes the reviewed files with `berth init`', () => {
    expect(berth('teammate', ['settings', 'set', 'gatewayBuilderImage', 'berth-base/go-builder:bookworm']).code).toBe(0);
    const first = berth('teammate', ['deploy', teammateProject, '--message', 'first'], { env: { BERTH_SSH_KEY_FILE: bed.clientKey } });
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(first.out).toContain(`Adding ${tb1.name}`);
    expect(first.out).toContain(`Creating group ${GROUP}`);
    expect(first.out).toMatch(new RegExp(`${MODEL} v1 is live`));

    const init = berth('teammate', ['init', teammateProject, '--group', GROUP, '--force']);
    expect(init.code).toBe(0);
    expect(readFileSync(join(teammateProject, 'berth.toml'), 'utf8')).toContain(`host_key = "${tb2.hostKeyFingerprint}"`);
    // The review: an edit to the Dockerfile, saved in the project as the app saves it.
    const dockerfile = join(teammateProject, '.berth/Dockerfile');
    writeFileSync(dockerfile, `${readFileSync(dockerfile, 'utf8')}${REVIEW_MARK}\n`);
    expect(readFileSync(join(teammateProject, '.berth/requirements.txt'), 'utf8')).toMatch(/scikit-learn==/);
  }, 420_000);

  it('a fresh runner with only BERTH_SSH_KEY (passphrase-protected) deploys v2, built from the reviewed files, printing no secret', () => {
    // The clone: what the teammate committed, and nothing of their data folder.
    cpSync(teammateProject, runnerProject, { recursive: true });
    // The pipeline's secret: the bed's client key, encrypted with a passphrase held in another secret.
    const encrypted = join(scratch, 'runner-key');
    writeFileSync(encrypted, clientKeyOf(bed), { mode: 0o600 });
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', 'ci-passphrase', '-f', encrypted]);
    const key = readFileSync(encrypted, 'utf8');
    rmSync(encrypted);
    expect(key).not.toBe(clientKeyOf(bed));
    const run = berth('runner', ['deploy', '--json', '--message', 'from CI'], {
      cwd: runnerProject,
      env: { PATH: RUNNER_PATH, BERTH_SSH_KEY: key, BERTH_SSH_KEY_PASSPHRASE: 'ci-passphrase' },
    });
    console.log(`[runner] fresh runner deploy: ${run.ms} ms`);
    expect(run.code, run.err).toBe(0);
    expect(run.out).toContain("Using the project's reviewed .berth/Dockerfile");
    expect(run.out).toContain("This machine's Python cannot run the notebook's served code, so the reviewed files decide");
    // What a pipeline parses: one JSON object per line, the build's and the deploy's, ending with the new version.
    const events = run.out.trim().split('\n').map((line) => JSON.parse(line));
    expect(events.some((e) => e.type === 'build' && e.event.type === 'smoke' && e.event.result.status === 'passed')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'done', model: MODEL, version: 2 });
    console.log(`[runner] what the pipeline printed: ${events.length} JSON lines; the last: ${JSON.stringify(events.at(-1))}`);
    const keyLine = key.split('\n')[1];
    for (const secret of [keyLine, 'ci-passphrase']) {
      expect(`${run.out}${run.err}`).not.toContain(secret);
      expect(allText(join(scratch, 'runner'))).not.toContain(secret);
    }
  }, 420_000);

  it('a third fresh folder sees both versions, v2 built from the reviewed Dockerfile', () => {
    const add = berth('third', ['servers', 'add', '--name', tb1.name, '--host', tb1.host, '--key', bed.clientKey, '--accept-host-key', tb1.hostKeyFingerprint]);
    expect(add.code, add.err).toBe(0);
    const versions = JSON.parse(berth('third', ['versions', MODEL, '--json']).out) as { versions: { number: number; state: string; dockerfile: string | null }[] };
    const byNumber = new Map(versions.versions.map((v) => [v.number, v]));
    expect([...byNumber.keys()].sort()).toEqual([1, 2]);
    expect(byNumber.get(2)!.state).toBe('live');
    expect(byNumber.get(2)!.dockerfile).toContain(REVIEW_MARK);
    expect(byNumber.get(1)!.dockerfile).not.toContain(REVIEW_MARK);
  }, 120_000);

  it('a wrong field, a bad fingerprint or a missing group: a precise message, exit 2, no server touched', () => {
    const broken = join(scratch, 'broken', MODEL);
    cpSync(join(FIXTURES, 'sklearn-iris'), broken, { recursive: true });
    const cases: [string, string, RegExp][] = [
      ['wrong field', berthToml('memory = 512'), /berth\.toml:6: memory: unknown field "memory"/],
      ['bad fingerprint', berthToml().replace(tb1.hostKeyFingerprint, 'SHA256:short'), /berth\.toml:15: group\.servers\[0\]\.host_key: Not a host-key fingerprint/],
      ['missing group', `model = "${MODEL}"\n`, /berth\.toml: group: is missing/],
    ];
    for (const [what, text, message] of cases) {
      writeFileSync(join(broken, 'berth.toml'), text);
      const run = berth(`broken-${what}`, ['deploy', broken], { env: { BERTH_SSH_KEY_FILE: bed.clientKey } });
      expect(run.code, what).toBe(2);
      expect(run.err, what).toMatch(message);
      expect(run.err, what).toContain('nothing was changed on any server');
      expect(run.out, what).not.toContain('Adding');
    }
  }, 120_000);
});
