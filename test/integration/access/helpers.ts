import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { createAccessModule, teamInstaller } from '../../../electron/main/services/access';
import { createGatewayImageSource } from '../../../electron/main/services/gateway/local';
import type { ServerLayout } from '../../../electron/main/services/remote/layout';
import { createFileKeyCipher, createSecretStore } from '../../../electron/main/services/access/secrets';
import { createGroupStateService } from '../../../electron/main/services/groups/service';
import { createServerRegistry } from '../../../electron/main/services/servers/registry';
import { createServersService } from '../../../electron/main/services/servers/service';
import { openDatabase } from '../../../electron/main/services/store/database';
import { loadBed, type Bed } from '../bed';

export const bed: Bed = loadBed();

/** berth-shell comes out of the locally built gateway image, as in the app (built once per test file). */
const gatewayImage = createGatewayImageSource({ docker: new Docker(), builderImage: () => 'berth-base/go-builder:bookworm', version: 'test' });

/** The server group the access tests put the bed's servers in (one per test layout, so runs never share it). */
export const GROUP = 'access';

/**
 * Berth's server-side state for one test run, below each server's own /root in a folder unique to the run: other
 * engineers' tests (and a CI run) use the real /var/lib/berth and /usr/local/lib/berth of the same servers at the
 * same time, and these tests count lines in the audit file.
 *
 * Every group change derives the team block of authorized_keys, and that block is the whole team: only the test
 * of the team itself (`sshLogins`) writes the root account's real authorized_keys; the others write a file of
 * their own that sshd never reads, so they cannot log out the team test's members.
 */
export function testLayout(tag: string, options: { sshLogins?: boolean } = {}): ServerLayout & { base: string } {
  const base = `/root/.berth-test-${tag}-${process.pid}`;
  return { base, berthDir: `${base}/var`, libDir: `${base}/lib`, authorizedKeys: options.sshLogins ? '.ssh/authorized_keys' : `${base}/authorized_keys` };
}

/**
 * One data folder's Berth, composed like app.ts: the group-state service (with the team installer) and the access
 * module on top of it. `actor` is who this Berth says acts (locks, revisions, audit).
 */
export function createTestBerth(layout: ServerLayout, actor = { actor: 'tester', machine: 'ci-box' }) {
  const home = mkdtempSync(join(tmpdir(), 'berth-access-'));
  const db = openDatabase(join(home, 'berth.db'));
  const secrets = createSecretStore(db, createFileKeyCipher(join(home, 'secret.key')));
  const registry = createServerRegistry(db);
  const servers = createServersService({ registry, secrets });
  const groups = createGroupStateService({
    db,
    registry,
    connection: (id) => servers.connection(id),
    layout,
    actor: () => ({ holder: actor.actor, machine: actor.machine }),
    applyTeam: teamInstaller(layout, gatewayImage.shellBinary),
  });
  const { access, audit } = createAccessModule({ db, servers, layout, groups, actor: () => actor });
  return {
    home,
    db,
    registry,
    servers,
    groups,
    access,
    audit,
    /** Registers the bed's servers (only registers them: call groups.attach() to read the groups they hold). */
    async addServers(count = bed.servers.length) {
      for (const s of bed.servers.slice(0, count)) {
        await servers.add({ name: s.name, host: s.host, port: s.port, username: s.user, auth: { type: 'keyFile', path: bed.clientKey }, hostKeyFingerprint: s.hostKeyFingerprint });
      }
      return registry.list();
    },
    /** Creates a group of the registered servers and publishes its first revision to them, as the Servers page does. */
    async createGroup(name = GROUP, serverIds = registry.list().map((s) => s.id)) {
      registry.createGroup(name, 1);
      return groups.updateGroup(name, { serverIds });
    },
    /** The gateway table a server derived from its groups' states. */
    async routes(serverName: string) {
      const read = await this.root(serverName, `cat ${layout.berthDir}/gateway/routes.json`);
      if (read.code !== 0) throw new Error(`${serverName} has no routes.json: ${read.stderr}`);
      return JSON.parse(read.stdout.toString());
    },
    /** Runs a command as root through Berth's own connection. */
    async root(serverName: string, command: string, stdin?: string | Buffer) {
      const row = registry.list().find((s) => s.name === serverName)!;
      return (await servers.connection(row.id)).exec(command, { stdin, timeoutMs: 60_000 });
    },
    close() {
      servers.close();
      db.close();
    },
  };
}
export type TestBerth = ReturnType<typeof createTestBerth>;

/** A member's key pair, made with ssh-keygen like a member would. */
export function memberKey(name: string): { path: string; publicKey: string } {
  const dir = mkdtempSync(join(tmpdir(), `berth-member-${name}-`));
  const path = join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@laptop`, '-f', path]);
  return { path, publicKey: readFileSync(`${path}.pub`, 'utf8').trim() };
}

export interface SshResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Plain OpenSSH as a team member would use it: `ssh -i key root@host 'command'`, with the bed's known_hosts. */
export function sshAs(keyPath: string, host: string, command?: string, input?: string | Buffer): SshResult {
  const args = [
    '-F', '/dev/null',
    '-i', keyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', `UserKnownHostsFile=${bed.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=5',
    '-o', 'LogLevel=ERROR',
    `root@${host}`,
    ...(command === undefined ? [] : [command]),
  ];
  const result = spawnSync('ssh', args, { input, encoding: 'utf8', timeout: 60_000, stdio: 'pipe' });
  return { code: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

export const hostOf = (name: string) => bed.servers.find((s) => s.name === name)!.host;
