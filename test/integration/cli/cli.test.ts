import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, repoRoot } from '../../e2e/harness';
import { forgetGroupOnBed, loadBed } from '../bed';

const bed = loadBed();
const server = bed.servers[0];
const home = mkdtempSync(join(tmpdir(), 'berth-cli-'));

/** Runs the built `berth` command as a script would, on its own data folder. */
function berth(...args: string[]) {
  const run = spawnSync(process.execPath, [join(repoRoot, 'bin/berth.mjs'), ...args], {
    env: { ...process.env, BERTH_HOME: home },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: run.status, out: run.stdout, err: run.stderr };
}

describe('berth command line (same services, exit codes for scripts)', () => {
  beforeAll(() => {
    buildApp();
    // A fresh data folder attaches to the groups its servers hold: start this one's group afresh.
    forgetGroupOnBed(bed, 'prod');
  });
  // Nor does this group outlive the file: a group left on a shared server is another test's surprise.
  afterAll(() => forgetGroupOnBed(bed, 'prod'));

  it('shows a new host key and exits 3 until it is accepted', () => {
    const probe = berth('servers', 'add', '--name', server.name, '--host', server.host, '--key', bed.clientKey);
    expect(probe.code).toBe(3);
    expect(probe.err).toContain(`--accept-host-key ${server.hostKeyFingerprint}`);
    const added = berth('servers', 'add', '--name', server.name, '--host', server.host, '--key', bed.clientKey, '--accept-host-key', server.hostKeyFingerprint);
    expect(added.code).toBe(0);
    expect(added.out).toMatch(/Added tb\d: Docker \d+/);
  });

  it('refuses a wrong host key with its kind and exits 1', () => {
    const wrong = bed.servers[1].hostKeyFingerprint;
    const refused = berth('servers', 'add', '--name', 'other', '--host', server.host, '--key', bed.clientKey, '--accept-host-key', wrong);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^error\[HostKeyMismatch\]: /);
  });

  it('manages groups and reports servers', () => {
    expect(berth('groups', 'create', 'prod', '--replicas', '3', '--tls', 'off').code).toBe(0);
    expect(berth('groups', 'set', 'prod', server.name).code).toBe(0);
    expect(berth('groups', 'list').out).toContain(`prod\treplicas=3\t${server.name}`);
    const tested = berth('servers', 'test', server.name);
    expect(tested.code).toBe(0);
    expect(JSON.parse(berth('servers', 'list', '--json').out)[0]).toMatchObject({ name: server.name, hostKeyFingerprint: server.hostKeyFingerprint });
  });

  it('says what is wrong for unknown models, commands and missing arguments', () => {
    expect(berth('versions', 'nosuch')).toMatchObject({ code: 1, err: expect.stringContaining('error[NotFound]: No model named "nosuch"') });
    expect(berth('frobnicate').code).toBe(2);
    expect(berth('rollback', 'm').err).toMatch(/Missing a version number/);
    expect(berth('logs', 'm').code).toBe(2);
  });

  it('lists the audit trail of what it changed', () => {
    const audit = berth('audit', '--json');
    expect(audit.code).toBe(0);
    expect(audit.out).toContain('server.add');
  });
});
