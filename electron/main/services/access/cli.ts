/**
 * `berth keys …` and `berth members …` for the CLI (electron/main/cli.ts calls these through cli-pages.ts): the
 * Access page's API keys and team, over the same contract calls.
 */
import { readFileSync } from 'node:fs';
import type { ApiKeyView, KeyScope, MemberChange, MemberView, PublishReport, PushReport } from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import { isoTime, json, parseCommand, positionals, UsageError, type Call, type CliIo } from '../../rpc/cli-kit';

export const keysUsage = [
  'berth keys create <model> | --all [--name N] [--expires ISO] [--group G] [--json]   prints the secret once',
  'berth keys list [--json]',
  'berth keys revoke <key-id> [--json]',
].join('\n       ');

export const membersUsage = [
  'berth members list [--json]',
  'berth members add <name> <viewer|deployer|admin> <public-key-line | file.pub> [--models a,b] [--owner MEMBER] [--group G] [--json]',
  'berth members role <member> <viewer|deployer|admin> [--models a,b] [--json]',
  'berth members remove <member> [--with-owned] [--json]',
].join('\n       ');

type Run = (call: Call, io: CliIo) => Promise<number>;

const scopeText = (scope: KeyScope) => (scope.kind === 'all' ? 'all models' : scope.kind === 'model' ? scope.model : `${scope.model} v${scope.versions.join(',v')}`);

function keyLine(k: ApiKeyView): string {
  return [k.id, k.state, k.name, scopeText(k.scope), k.group ?? '-', k.expiresAt ?? 'never', `${k.requests} requests`, k.lastUsedAt ?? '-'].join('\t');
}

/** Servers that did not take a change: warnings on stderr, the change itself stands (a majority took it). */
function warnReport(report: PublishReport | PushReport, io: CliIo): void {
  for (const s of report.servers) if (!s.ok) io.err(`warning: ${s.server}: ${s.error ?? 'not changed'}`);
  if (report.note) io.err(`note: ${report.note}`);
}

/** `berth keys create|list|revoke`: parses now, so a usage error never waits for the servers. */
export function keysCommand(argv: string[]): Run {
  const [sub, ...rest] = argv;
  if (sub === 'create') return createKey(rest);
  if (sub === 'list') return listKeys(rest);
  if (sub === 'revoke') return revokeKey(rest);
  throw new UsageError(`${sub ? `Unknown keys command "${sub}"` : 'Missing a keys command'}\nUsage: ${keysUsage}`);
}

function createKey(argv: string[]): Run {
  const usage = 'berth keys create <model> | --all [--name N] [--expires ISO] [--group G] [--json]';
  const options = { all: { type: 'boolean' }, name: { type: 'string' }, expires: { type: 'string' }, group: { type: 'string' }, json: { type: 'boolean' } } as const;
  const { values, positionals: given } = parseCommand(argv, options, usage);
  const [model] = positionals(given, ['<model> or --all'], usage, values.all ? 1 : 0);
  if (model && values.all) throw new UsageError(`Give a model or --all, not both\nUsage: ${usage}`);
  const expiresAt = values.expires === undefined ? null : isoTime(values.expires, '--expires');
  return async (call, io) => {
    const created = await call('access.createKey', {
      name: values.name ?? `cli-${model ?? 'all'}`,
      scope: model ? { kind: 'model', model } : { kind: 'all' },
      expiresAt,
      group: values.group,
    });
    if (values.json) io.out(json(created));
    else {
      io.err(`Created ${created.key.id} "${created.key.name}" for ${scopeText(created.key.scope)} in group ${created.key.group}, expires ${created.key.expiresAt ?? 'never'}. Its secret, shown only now:`);
      io.out(created.secret);
    }
    warnReport(created.publish, io);
    return 0;
  };
}

function listKeys(argv: string[]): Run {
  const usage = 'berth keys list [--json]';
  const { values, positionals: given } = parseCommand(argv, { json: { type: 'boolean' } }, usage);
  positionals(given, [], usage);
  return async (call, io) => {
    const keys = await call('access.keys', {});
    io.out(values.json ? json(keys) : keys.map(keyLine).join('\n') || 'No API keys yet.');
    return 0;
  };
}

function revokeKey(argv: string[]): Run {
  const usage = 'berth keys revoke <key-id> [--json]';
  const { values, positionals: given } = parseCommand(argv, { json: { type: 'boolean' } }, usage);
  const [id] = positionals(given, ['<key-id>'], usage);
  return async (call, io) => {
    const revoked = await call('access.revokeKey', { id });
    io.out(values.json ? json(revoked) : `Revoked ${revoked.key.id} "${revoked.key.name}": the gateways refuse it now`);
    warnReport(revoked.publish, io);
    return 0;
  };
}

// ---- members

const memberLine = (m: MemberView) =>
  [m.id, m.name, m.role, m.models?.join(',') ?? 'all models', m.owner ? `owner ${m.owner}` : '-', m.group ?? '-', `${m.keyType} ${m.fingerprint}`].join('\t');

/** `berth members list|add|role|remove`. */
export function membersCommand(argv: string[]): Run {
  const [sub, ...rest] = argv;
  if (sub === 'list') return listMembers(rest);
  if (sub === 'add') return addMember(rest);
  if (sub === 'role') return setRole(rest);
  if (sub === 'remove') return removeMember(rest);
  throw new UsageError(`${sub ? `Unknown members command "${sub}"` : 'Missing a members command'}\nUsage: ${membersUsage}`);
}

function listMembers(argv: string[]): Run {
  const usage = 'berth members list [--json]';
  const { values, positionals: given } = parseCommand(argv, { json: { type: 'boolean' } }, usage);
  positionals(given, [], usage);
  return async (call, io) => {
    const members = await call('access.members', {});
    io.out(values.json ? json(members) : members.map(memberLine).join('\n') || 'No team members yet.');
    return 0;
  };
}

/** A public key line as pasted, or the path of a .pub file holding one. */
function publicKeyOf(given: string): string {
  if (/^(ssh|ecdsa|sk)-\S+ /.test(given.trim())) return given;
  try {
    return readFileSync(given, 'utf8');
  } catch (err) {
    throw new BerthError('NotFound', `"${given}" is neither an SSH public key line nor a readable file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

const modelList = (text: string | undefined) => text?.split(',').map((m) => m.trim()).filter(Boolean);

/** A member named by id (`m_…`) or by name; a name two groups share must be given as the id. */
async function memberId(call: Call, given: string): Promise<string> {
  const members = await call('access.members', {});
  const found = members.filter((m) => m.id === given || m.name === given);
  if (found.length === 1) return found[0].id;
  if (!found.length) throw new BerthError('NotFound', `No member named "${given}" (see \`berth members list\`)`);
  throw new BerthError('ValidationError', `${found.length} members are named "${given}" (${found.map((m) => `${m.id} in ${m.group}`).join(', ')}): give the id`);
}

function printChange(change: MemberChange, done: string, asJson: boolean | undefined, io: CliIo): number {
  const servers = change.push.servers;
  // No servers in the report: nothing had to change (the note says why).
  if (asJson || servers.length) io.out(asJson ? json(change) : `${done}; ${servers.filter((s) => s.ok).length} of ${servers.length} servers updated`);
  warnReport(change.push, io);
  return 0;
}

function addMember(argv: string[]): Run {
  const usage = 'berth members add <name> <viewer|deployer|admin> <public-key-line | file.pub> [--models a,b] [--owner MEMBER] [--group G] [--json]';
  const options = { models: { type: 'string' }, owner: { type: 'string' }, group: { type: 'string' }, json: { type: 'boolean' } } as const;
  const { values, positionals: given } = parseCommand(argv, options, usage);
  const [name, role, key] = positionals(given, ['<name>', '<role>', '<public-key-line | file.pub>'], usage);
  return async (call, io) => {
    const change = await call('access.addMember', {
      name,
      role: role as MemberView['role'],
      publicKey: publicKeyOf(key),
      models: modelList(values.models),
      owner: values.owner ? await memberId(call, values.owner) : undefined,
      group: values.group,
    });
    const added = change.members.find((m) => m.name === name);
    return printChange(change, `Added ${name} as ${role}${added ? ` (${added.id}, group ${added.group})` : ''}`, values.json, io);
  };
}

function setRole(argv: string[]): Run {
  const usage = 'berth members role <member> <viewer|deployer|admin> [--models a,b] [--json]';
  const { values, positionals: given } = parseCommand(argv, { models: { type: 'string' }, json: { type: 'boolean' } }, usage);
  const [member, role] = positionals(given, ['<member>', '<role>'], usage);
  return async (call, io) => {
    const change = await call('access.setRole', { id: await memberId(call, member), role: role as MemberView['role'], models: modelList(values.models) });
    return printChange(change, `${member} is now ${role}${values.models ? ` on ${values.models}` : ''}`, values.json, io);
  };
}

function removeMember(argv: string[]): Run {
  const usage = 'berth members remove <member> [--with-owned] [--json]';
  const { values, positionals: given } = parseCommand(argv, { 'with-owned': { type: 'boolean' }, json: { type: 'boolean' } }, usage);
  const [member] = positionals(given, ['<member>'], usage);
  return async (call, io) => {
    const change = await call('access.removeMember', { id: await memberId(call, member), withOwned: values['with-owned'] });
    return printChange(change, `Removed ${member}${values['with-owned'] ? ' and the keys they own' : ''}: the servers refuse their key now`, values.json, io);
  };
}
