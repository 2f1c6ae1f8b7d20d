import { readFile } from 'node:fs/promises';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import { utils as ssh2Utils } from 'ssh2';
import { BerthError } from '../../../../shared/errors';
import type { ServerLogin } from '../../../../shared/identity';
import { AddServer, type ServerAuth, SwitchKey, type PresentedHostKey, type ServerFacts, type ServerView, type SwitchKeyResult } from '../../../../shared/servers';
import type { SecretStore } from '../access/secrets';
import { connectLocal, LOCAL_FINGERPRINT, LOCAL_HOST, LOCAL_PORT } from '../transport/local';
import { connectSsh, LOCAL_KEY_TYPE, type SshConnection, type SshTarget } from '../transport/ssh';
import { command, script } from '../remote/command';
import type { ServerLayout } from '../remote/layout';
import { readServerFacts } from './facts';
import { createConnectionPool } from './pool';
import type { ServerRegistry, ServerRow } from './registry';

interface LiveState {
  state: 'up' | 'down';
  lastError: string | null;
  facts: ServerFacts | null;
  login?: ServerLogin;
}

const loginOf = (ssh: SshConnection): ServerLogin => (ssh.member ? { kind: 'member', ...ssh.member } : { kind: 'shell' });

const PING_TIMEOUT_MS = 3000;
const localCommands = {
  /** Exit 0 when every folder exists (made if need be) and is writable. */
  writable: (folders: string[]) => script('for d in "$@"; do mkdir -p "$d" 2>/dev/null && [ -w "$d" ] || exit 1; done', ...folders),
};
/** The name "this computer" is registered under. */
export const LOCAL_SERVER_NAME = 'this-computer';
/** The cheapest round trip; a member's key may run only verbs. */
const PING = command('true').asVerb(['help']);

/** Registering, testing and reaching servers; the only place that turns a stored server into an SSH connection. */
export function createServersService(deps: { registry: ServerRegistry; secrets: SecretStore; agentSocket?: string }) {
  const { registry, secrets } = deps;
  const live = new Map<number, LiveState>();

  function targetOf(row: ServerRow): SshTarget {
    const base = { host: row.host, port: row.port, username: row.username };
    if (row.transport === 'local') return base;
    if (row.auth === 'agent') {
      if (!deps.agentSocket) throw new BerthError('SshAuthError', `${row.name} logs in with ssh-agent, but SSH_AUTH_SOCK is not set for Berth`);
      return { ...base, agent: deps.agentSocket };
    }
    const stored = JSON.parse(secrets.get(row.key_secret_id!)) as { privateKey: string; passphrase?: string };
    return { ...base, ...stored };
  }

  /** Facts just read: shown by the views, and the architecture kept for the group's platform. */
  function remember(id: number, ssh: SshConnection, facts: ServerFacts): void {
    live.set(id, { state: 'up', lastError: null, facts, login: loginOf(ssh) });
    registry.setArch(id, facts.arch);
  }

  const pool = createConnectionPool((id) => {
    const row = registry.get(id);
    return { target: targetOf(row), fingerprint: row.host_key_fingerprint, transport: row.transport };
  });

  function view(row: ServerRow): ServerView {
    const state = live.get(row.id);
    return {
      id: row.id,
      name: row.name,
      host: row.host,
      port: row.port,
      username: row.username,
      auth: row.auth,
      keyOrigin: row.key_origin,
      hostKeyType: row.host_key_type,
      hostKeyFingerprint: row.host_key_fingerprint,
      local: row.transport === 'local',
      groups: registry.groupsOf(row.id),
      state: state?.state ?? 'unknown',
      lastError: state?.lastError ?? null,
      facts: state?.facts ?? null,
      login: state?.login ?? null,
    };
  }

  /** Asks the server for its host key without logging in, so the user can compare and accept it. */
  async function probeHostKey(host: string, port: number): Promise<PresentedHostKey> {
    const error = await connectSsh({ host, port, username: 'berth-probe' }, { readyTimeoutMs: 8000 }).then(
      (c) => (c.close(), undefined),
      (e: unknown) => e,
    );
    if (error instanceof BerthError && error.kind === 'HostKeyUnknown') return error.detail as PresentedHostKey;
    throw error instanceof BerthError ? error : BerthError.from(error);
  }

  async function add(input: AddServer): Promise<ServerView> {
    const server = AddServer.parse(input);
    const { auth } = server;
    const credentials =
      auth.type === 'agent'
        ? { agent: deps.agentSocket ?? missingAgent() }
        : { privateKey: await privateKeyOf(auth), passphrase: auth.passphrase };
    const target: SshTarget = { host: server.host, port: server.port, username: server.username, ...credentials };
    // Prove key and host key now, so nothing unusable is ever registered.
    const ssh = await connectSsh(target, { expectedFingerprint: server.hostKeyFingerprint });
    try {
      const facts = await readServerFacts(ssh);
      const secretId =
        auth.type === 'agent' ? null : secrets.put(`ssh-key:${server.name}`, JSON.stringify({ privateKey: credentials.privateKey, passphrase: auth.passphrase }));
      const row = registry.insert({
        name: server.name,
        host: server.host,
        port: server.port,
        username: server.username,
        auth: auth.type === 'agent' ? 'agent' : 'key',
        keySecretId: secretId,
        keyOrigin: auth.type === 'agent' ? 'ssh-agent' : auth.type === 'keyFile' ? expandHome(auth.path) : auth.origin,
        hostKeyType: ssh.hostKey.keyType,
        hostKeyFingerprint: ssh.hostKey.fingerprint,
      });
      remember(row.id, ssh, facts);
      return view(row);
    } finally {
      ssh.close();
    }
  }

  /**
   * Registers this computer as the server `this-computer` (transport/local.ts), once: its Docker engine must answer
   * first, so nothing unusable is registered.
   */
  async function addLocal(layout: ServerLayout): Promise<ServerView> {
    const known = registry.list().find((row) => row.transport === 'local');
    if (known) return view(known);
    const shell = connectLocal(userInfo().username);
    await checkWritable(shell, layout);
    const facts = await readServerFacts(shell).catch((err: unknown) => {
      throw new BerthError('DockerUnavailable', `This computer cannot serve models: its Docker engine did not answer (${BerthError.from(err).message}). Start Docker and try again.`);
    });
    const row = registry.insert({
      name: LOCAL_SERVER_NAME,
      host: LOCAL_HOST,
      port: LOCAL_PORT,
      username: shell.target.username,
      auth: 'key',
      keySecretId: null,
      keyOrigin: 'this computer (no SSH)',
      hostKeyType: LOCAL_KEY_TYPE,
      hostKeyFingerprint: LOCAL_FINGERPRINT,
      transport: 'local',
    });
    remember(row.id, shell, facts);
    return view(row);
  }

  /**
   * Logs in to these servers with another key from now on, typically one's own member key after claiming them
   * with root. Every server is checked first (host key, the key, who it logs in as); nothing changes unless all pass.
   */
  async function switchKey(input: SwitchKey): Promise<SwitchKeyResult> {
    const { serverIds, auth } = SwitchKey.parse(input);
    const local = serverIds.map((id) => registry.get(id)).find((row) => row.transport === 'local');
    if (local) throw new BerthError('ValidationError', `${local.name} is this computer: Berth reaches it without SSH, so it has no login key to switch`);
    const keyPath = expandHome(auth.path);
    const privateKey = await readKey(keyPath, auth.passphrase);
    const checked = await Promise.all(
      serverIds.map(async (id) => {
        const row = registry.get(id);
        const ssh = await connectSsh({ host: row.host, port: row.port, username: row.username, privateKey, passphrase: auth.passphrase }, { expectedFingerprint: row.host_key_fingerprint }).catch((err: unknown) => {
          const error = BerthError.from(err);
          throw new BerthError(error.kind, `${row.name}: ${error.message}`, error.detail);
        });
        ssh.close();
        return { row, login: loginOf(ssh) };
      }),
    );
    const secret = JSON.stringify({ privateKey, passphrase: auth.passphrase });
    for (const { row, login } of checked) {
      registry.setKey(row.id, secrets.put(`ssh-key:${row.name}`, secret), keyPath);
      if (row.key_secret_id !== null) secrets.delete(row.key_secret_id);
      pool.invalidate(row.id);
      live.set(row.id, { ...(live.get(row.id) ?? { state: 'up', lastError: null, facts: null }), login });
    }
    return { servers: checked.map(({ row }) => view(registry.get(row.id))), message: switchMessage(checked.map((c) => ({ server: c.row.name, login: c.login }))) };
  }

  /** Connects through the pool and reads the server's facts; records up/down for the dashboard. */
  async function test(id: number): Promise<ServerView> {
    const row = registry.get(id);
    try {
      const ssh = await pool.get(id, { attempts: 1 });
      remember(id, ssh, await readServerFacts(ssh));
    } catch (err) {
      pool.invalidate(id);
      live.set(id, { state: 'down', lastError: BerthError.from(err).message, facts: live.get(id)?.facts ?? null });
    }
    return view(row);
  }

  /** The server's facts, read again when those at hand are older than `maxAgeMs` (a deploy checks the platform with them). */
  async function facts(id: number, maxAgeMs = 60_000): Promise<ServerFacts> {
    const known = live.get(id)?.facts;
    if (known && Date.now() - Date.parse(known.checkedAt) < maxAgeMs) return known;
    const ssh = await pool.get(id);
    const fresh = await readServerFacts(ssh);
    remember(id, ssh, fresh);
    return fresh;
  }

  /** A cheap liveness check of every server, bounded in time even when a link is cut silently. */
  async function ping(): Promise<{ up: number; total: number }> {
    const rows = registry.list();
    const results = await Promise.all(
      rows.map(async (row) => {
        try {
          const ssh = await pool.get(row.id, { attempts: 1, readyTimeoutMs: PING_TIMEOUT_MS });
          await ssh.run(PING, { timeoutMs: PING_TIMEOUT_MS });
          live.set(row.id, { state: 'up', lastError: null, facts: live.get(row.id)?.facts ?? null, login: loginOf(ssh) });
          return true;
        } catch (err) {
          pool.invalidate(row.id);
          live.set(row.id, { state: 'down', lastError: BerthError.from(err).message, facts: live.get(row.id)?.facts ?? null });
          return false;
        }
      }),
    );
    return { up: results.filter(Boolean).length, total: rows.length };
  }

  /** A fresh connection the caller owns and closes (probes, long-lived streams), apart from the shared pool. */
  async function openDedicated(id: number, options: { readyTimeoutMs?: number } = {}): Promise<SshConnection> {
    const row = registry.get(id);
    if (row.transport === 'local') return connectLocal(row.username);
    return connectSsh(targetOf(row), { expectedFingerprint: row.host_key_fingerprint, readyTimeoutMs: options.readyTimeoutMs ?? 8000, keepaliveIntervalMs: 2000 });
  }

  function remove(id: number): ServerView[] {
    const row = registry.get(id);
    registry.remove(id);
    pool.invalidate(id);
    live.delete(id);
    if (row.key_secret_id !== null) secrets.delete(row.key_secret_id);
    return list();
  }

  function list(): ServerView[] {
    return registry.list().map(view);
  }

  return { list, probeHostKey, add, addLocal, switchKey, test, facts, ping, remove, connection: pool.get, openDedicated, close: pool.closeAll, registry };
}

/** This computer keeps a server's files where a server does, which a user who is not root must be given once. */
async function checkWritable(shell: SshConnection, layout: ServerLayout): Promise<void> {
  const folders = [layout.berthDir, layout.libDir];
  const result = await shell.exec(localCommands.writable(folders), { timeoutMs: 10_000 });
  if (result.code === 0) return;
  const user = shell.target.username;
  throw new BerthError(
    'ValidationError',
    `This computer keeps Berth's server files in ${folders.join(' and ')}, which ${user} cannot write. Create them once: sudo mkdir -p ${folders.join(' ')} && sudo chown ${user} ${folders.join(' ')}`,
  );
}

/** What a switch of login keys means for the user: as whom Berth acts now, and whether the root key is still needed. */
export function switchMessage(logins: Array<{ server: string; login: ServerLogin }>): string {
  const members = logins.flatMap((l) => (l.login.kind === 'member' ? [{ server: l.server, login: l.login }] : []));
  const shells = logins.filter((l) => l.login.kind === 'shell').map((l) => l.server);
  const parts: string[] = [];
  for (const [who, servers] of groupBy(members, (m) => `${m.login.name} (${m.login.role})`)) {
    parts.push(`Berth now logs in to ${servers.map((m) => m.server).join(', ')} as ${who}: every action goes through berth-shell, which checks your role on each server.`);
  }
  if (shells.length) parts.push(`${shells.join(', ')}: this key gets a full shell (a root or sudo login), not a team member's login.`);
  if (members.length && !shells.length) {
    parts.push('The root key this data folder used is no longer needed: once no other Berth or script uses it, remove its line from root’s authorized_keys on these servers (Berth keeps its own lines in its team block; only an image copy between servers adds a one-time line, removed when the copy ends).');
  }
  return parts.join(' ');
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}
export type ServersService = ReturnType<typeof createServersService>;

function missingAgent(): never {
  throw new BerthError('SshAuthError', 'ssh-agent was chosen but SSH_AUTH_SOCK is not set for Berth: start an agent or pick a key file');
}

/** `~` and `~/…` name the home folder, as in a shell (the key field suggests `~/.ssh/id_ed25519`). */
function expandHome(path: string): string {
  if (path === '~') return homedir();
  return path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
}

/** The text of a key file or a given key, checked before any connection is tried. */
function privateKeyOf(auth: Exclude<ServerAuth, { type: 'agent' }>): Promise<string> {
  if (auth.type === 'keyFile') return readKey(expandHome(auth.path), auth.passphrase);
  checkKey(auth.privateKey, auth.passphrase, `from ${auth.origin}`);
  return Promise.resolve(auth.privateKey);
}

async function readKey(path: string, passphrase: string | undefined): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new BerthError('ValidationError', `Cannot read the private key ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw new BerthError('ValidationError', `${path} is not a private key file (did you pick the .pub file?)`);
  }
  checkKey(text, passphrase, path);
  return text;
}

/** ssh2 would only say "Cannot parse privateKey: …" once connecting: tell a missing or wrong passphrase apart first. */
function checkKey(privateKey: string, passphrase: string | undefined, which: string): void {
  const parsed = ssh2Utils.parseKey(privateKey, passphrase);
  if (!(parsed instanceof Error)) return;
  if (/no passphrase given/.test(parsed.message)) throw new BerthError('SshAuthError', `The private key ${which} is encrypted: give its passphrase.`);
  if (/bad passphrase/i.test(parsed.message)) throw new BerthError('SshAuthError', `Wrong passphrase for the private key ${which}.`);
  throw new BerthError(
    'ValidationError',
    `The private key ${which} cannot be read (${parsed.message}). Berth reads OpenSSH and PEM keys; \`ssh-keygen -p -f <file>\` rewrites a key in OpenSSH's format.`,
  );
}
