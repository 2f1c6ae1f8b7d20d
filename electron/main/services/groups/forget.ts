/**
 * Forgetting a server that is gone for good (a dead disk, a returned VM): it leaves every group it was in through a
 * revision written on the others, its placements go with it, the stand-ins that ran for it on the others become
 * their own replicas, and this data folder's cached placements on it are dropped, so its row can then be removed.
 */
import { BerthError } from '../../../../shared/errors';
import type { GroupState } from '../../../../shared/group-state';
import type { ServerRegistry } from '../servers/registry';
import type { Db } from '../store/database';
import type { GroupStateService } from './service';

export interface ForgetDeps {
  db: Db;
  registry: Pick<ServerRegistry, 'get' | 'groupsOf' | 'group' | 'updateGroup'>;
  groups: Pick<GroupStateService, 'change'>;
  /** Answers when the server does: a server that answers is taken out of its groups first, not forgotten. */
  reachable(serverId: number): Promise<boolean>;
}

/** What forgetting a server did, one line each, for the app's notice, the CLI and the audit log. */
export type ForgetReport = string[];

export function createServerForgetting(deps: ForgetDeps) {
  const { registry } = deps;

  /** Takes the server out of one published group's state; says what became of the replicas placed there. */
  async function leaveGroup(group: string, uid: string, name: string): Promise<string[]> {
    const commit = await deps.groups.change(group, `forgot server ${name}`, (state) => dropServer(state, uid, name));
    return [`group ${group}: ${name} left it in revision ${commit.file.revision.revision}`, ...commit.result.map((line) => `  ${line}`)];
  }

  /** Takes the server out of its groups and this folder's placements; the caller then removes its row. */
  async function forget(serverId: number): Promise<ForgetReport> {
    const server = registry.get(serverId);
    if (await deps.reachable(serverId)) {
      throw new BerthError(
        'Conflict',
        `${server.name} answers, so it is not forgotten: take it out of its groups (${registry.groupsOf(serverId).join(', ') || 'none'}), deploy so its replicas are placed elsewhere, then remove it`,
      );
    }
    const report: ForgetReport = [];
    for (const group of registry.groupsOf(serverId)) {
      const { revision, serverIds } = registry.group(group);
      if (revision === null || !server.uid) {
        registry.updateGroup(registry.group(group).id, { serverIds: serverIds.filter((id) => id !== serverId) });
        report.push(`group ${group}: ${server.name} left it (the group is not on any server yet)`);
      } else {
        report.push(...(await leaveGroup(group, server.uid, server.name)));
      }
    }
    // Left by versions whose groups no longer list it: a cache of what the servers held, nothing to undo.
    deps.db.prepare('DELETE FROM placements WHERE server_id = ?').run(serverId);
    report.push(`${server.name} is forgotten. If it ever comes back, its containers still run there: remove them (docker rm -f $(docker ps -aq --filter label=berth.model)).`);
    return report;
  }

  return { forget };
}

/** Drops the server from the state: it is no longer a member, its placements go, stand-ins for it stay as replicas. */
function dropServer(state: GroupState, uid: string, name: string): string[] {
  state.servers = state.servers.filter((s) => s.uid !== uid);
  const lines: string[] = [];
  for (const [model, m] of Object.entries(state.models)) {
    for (const version of m.versions) {
      const lost = version.placements[uid]?.length ?? 0;
      delete version.placements[uid];
      let kept = 0;
      for (const replicas of Object.values(version.placements)) {
        for (const replica of replicas) {
          if (replica.standsInFor !== uid) continue;
          delete replica.standsInFor;
          kept++;
        }
      }
      if (!lost) continue;
      const left = Object.values(version.placements).reduce((n, r) => n + r.length, 0);
      lines.push(
        `${model} v${version.number} (${version.state}): ${plural(lost, 'replica')} on ${name} no longer placed; ${left} on the other servers` +
          (kept ? ` (${kept} of them stood in for ${name} and now stay${kept === 1 ? 's' : ''})` : '') +
          (version.state === 'live' && left === 0 ? ' — none: deploy it again to serve it' : ''),
      );
    }
  }
  return lines;
}

const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
