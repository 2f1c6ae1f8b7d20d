/**
 * Makes this data folder match a project's berth.toml before a deploy: registers the servers it names (host keys
 * pinned from the file, never accepted interactively) and finds or creates its group. A fresh CI runner starts from
 * nothing and ends attached to the same group state a teammate's Berth deployed to.
 */
import type { CallInput, CallName, CallOutput } from '../../../../shared/contract';
import { BerthError } from '../../../../shared/errors';
import type { ProjectFile, ProjectFileInput, ProjectFileServer } from '../../../../shared/project-file';
import type { PreparedBuild } from '../../../../shared/build';
import type { GroupView, ServerAuth, ServerView } from '../../../../shared/servers';
import type { Settings } from '../../../../shared/types';

export type ContractCall = <N extends CallName>(name: N, input: CallInput<N>) => Promise<CallOutput<N>>;

/** How a pipeline hands Berth its SSH key: the key's text, a key file, or the SSH agent, in that order. */
export function pipelineCredentials(env: NodeJS.ProcessEnv): ServerAuth | null {
  const passphrase = env.BERTH_SSH_KEY_PASSPHRASE || undefined;
  if (env.BERTH_SSH_KEY) return { type: 'keyText', privateKey: env.BERTH_SSH_KEY, passphrase, origin: 'BERTH_SSH_KEY' };
  if (env.BERTH_SSH_KEY_FILE) return { type: 'keyFile', path: env.BERTH_SSH_KEY_FILE, passphrase };
  if (env.SSH_AUTH_SOCK) return { type: 'agent' };
  return null;
}

const address = (s: { username?: string; user?: string; host: string; port: number }) => `${s.username ?? s.user}@${s.host}:${s.port}`;

/** The registered server a berth.toml entry stands for, or null; a server registered differently is a conflict. */
function registeredAs(wanted: ProjectFileServer, servers: ServerView[]): ServerView | null {
  const byName = servers.find((s) => s.name === wanted.name);
  const byAddress = servers.find((s) => s.host === wanted.host && s.port === wanted.port);
  if (byAddress && byAddress !== byName) {
    throw new BerthError('Conflict', `berth.toml names ${wanted.host}:${wanted.port} "${wanted.name}", but this Berth has it as "${byAddress.name}": use one name (\`berth servers remove ${byAddress.name}\` forgets it here).`);
  }
  if (!byName) return null;
  if (byName.host !== wanted.host || byName.port !== wanted.port || byName.username !== wanted.user) {
    throw new BerthError('Conflict', `berth.toml says ${wanted.name} is ${address(wanted)}, this Berth has it as ${address(byName)}: fix berth.toml, or \`berth servers remove ${wanted.name}\` here.`);
  }
  if (byName.hostKeyFingerprint !== wanted.host_key) {
    throw new BerthError('HostKeyMismatch', `berth.toml pins ${wanted.name}'s host key as ${wanted.host_key}, but this Berth accepted ${byName.hostKeyFingerprint} for it: find out which is right before deploying.`);
  }
  return byName;
}

async function ensureServers(file: ProjectFile, call: ContractCall, credentials: ServerAuth | null, log: (line: string) => void): Promise<ServerView[]> {
  const known = await call('servers.list', {});
  const wanted = (file.group.servers ?? []).map((server) => ({ server, registered: registeredAs(server, known) }));
  const missing = wanted.filter((w) => !w.registered);
  if (missing.length && !credentials) {
    throw new BerthError('SshAuthError', `No SSH key to log in to ${missing.map((m) => m.server.name).join(', ')}: set BERTH_SSH_KEY (the private key's text) or BERTH_SSH_KEY_FILE (its path), with BERTH_SSH_KEY_PASSPHRASE if it has one, or run an SSH agent.`);
  }
  const added: ServerView[] = [];
  // One after the other: each new server attaches the groups it holds, which the next one then joins.
  for (const { server } of missing) {
    log(`Adding ${server.name} (${address(server)}, host key ${server.host_key} from berth.toml) …`);
    added.push(await call('servers.add', { name: server.name, host: server.host, port: server.port, username: server.user, auth: credentials!, hostKeyFingerprint: server.host_key }));
  }
  return wanted.map((w) => w.registered ?? added.find((a) => a.name === w.server.name)!);
}

/** Registers what berth.toml names and returns the group to deploy to; a group whose servers differ is refused, never changed. */
export async function applyProjectFile(file: ProjectFile, call: ContractCall, credentials: ServerAuth | null, log: (line: string) => void): Promise<string> {
  if (file.group.this_computer) return (await call('servers.addLocal', {})).group.name;
  const servers = await ensureServers(file, call, credentials, log);
  const ids = servers.map((s) => s.id).sort((a, b) => a - b);
  const group = (await call('groups.list', {})).find((g) => g.name === file.group.name);
  if (!group) {
    log(`Creating group ${file.group.name} on ${servers.map((s) => s.name).join(', ')} …`);
    const created = await call('groups.create', { name: file.group.name, replicas: file.replicas ?? 2 });
    await call('groups.update', { id: created.id, serverIds: ids });
    return file.group.name;
  }
  const held = [...group.serverIds].sort((a, b) => a - b);
  if (held.join(',') !== ids.join(',')) {
    const all = await call('servers.list', {});
    const names = (list: number[]) => list.map((id) => all.find((s) => s.id === id)?.name ?? `#${id}`).join(', ');
    throw new BerthError('Conflict', `berth.toml puts group ${group.name} on ${names(ids)}, but the servers hold it on ${names(held)}: update berth.toml, or change the group first (\`berth groups set ${group.name} …\`, an admin's change).`);
  }
  return group.name;
}

/** What describing a deployment reads: this Berth's groups, servers and settings, and the project's analysis. */
export interface DeploymentFacts {
  groups: () => GroupView[] | Promise<GroupView[]>;
  servers: () => ServerView[] | Promise<ServerView[]>;
  settings: () => Settings | Promise<Settings>;
  /** The project's analysis and generated files (build.prepare). */
  prepare: (projectPath: string) => Promise<PreparedBuild>;
}

/** berth.toml's [group]: this computer's, or the servers with their pinned host keys. */
function groupSection(group: GroupView, servers: ServerView[]): ProjectFileInput['group'] {
  const members = group.serverIds.map((id) => servers.find((s) => s.id === id)!);
  if (members.some((s) => s.local)) return { name: group.name, this_computer: true };
  return { name: group.name, servers: members.map((s) => ({ name: s.name, host: s.host, port: s.port, user: s.username, host_key: s.hostKeyFingerprint })) };
}

/** berth.toml's content for a project as this Berth knows it: the group's servers with their pinned host keys. */
export async function describeDeployment(projectPath: string, groupName: string, facts: DeploymentFacts): Promise<{ file: ProjectFileInput; reviewed: { dockerfile: string; requirements: string } }> {
  const [groups, servers, settings, prepared] = await Promise.all([facts.groups(), facts.servers(), facts.settings(), facts.prepare(projectPath)]);
  const group = groups.find((g) => g.name === groupName);
  if (!group) throw new BerthError('NotFound', `No group named "${groupName}" here (see \`berth groups list\`)`);
  if (!group.serverIds.length) throw new BerthError('ValidationError', `Group ${groupName} has no servers yet: \`berth groups set ${groupName} <server>…\` first`);
  const { analysis } = prepared;
  const reviewed = { dockerfile: prepared.dockerfile.effective, requirements: prepared.requirements.effective };
  const file = {
    model: analysis.name,
    ...(analysis.entrypoint ? { entrypoint: analysis.entrypoint } : {}),
    ...(analysis.notebooks.length > 1 ? { notebook: analysis.notebook } : {}),
    base_image: analysis.projectFile?.base_image ?? settings.baseImage,
    replicas: group.replicas,
    // A project that already asks for GPUs keeps asking (`berth init --force` rewrites the file).
    ...(analysis.projectFile?.gpus ? { gpus: analysis.projectFile.gpus } : {}),
    group: groupSection(group, servers),
  };
  return { file, reviewed };
}
