import { BerthError } from '../../../../shared/errors';
import { LOCAL_GROUP } from '../../../../shared/project-file';
import type { GroupView, ServerView } from '../../../../shared/servers';
import type { ServerLayout } from '../remote/layout';
import type { ServerRegistry } from '../servers/registry';
import type { ServersService } from '../servers/service';
import type { GroupStateService } from './service';

export interface ThisComputerDeps {
  servers: Pick<ServersService, 'addLocal' | 'list'>;
  registry: Pick<ServerRegistry, 'groups' | 'group' | 'createGroup'>;
  groups: Pick<GroupStateService, 'attach' | 'updateGroup'>;
  layout: ServerLayout;
}

/**
 * "This computer" as a target: the server `this-computer` (the local engine, no SSH) and the group `local` of it,
 * whose gateway listens on 127.0.0.1 only and so serves plain HTTP. Its group state lives in the same files as on any
 * server; a data folder made again finds it there. Idempotent.
 */
export async function addThisComputer(deps: ThisComputerDeps): Promise<{ server: ServerView; group: GroupView }> {
  const server = await deps.servers.addLocal(deps.layout);
  // A group state already on this computer (from an earlier data folder) comes back with its models and keys.
  const attached = await deps.groups.attach([server.id]);
  attached.problems.forEach((p) => console.error(`Group state: ${p}`));
  const group = deps.registry.groups().find((g) => g.name === LOCAL_GROUP) ?? deps.registry.createGroup(LOCAL_GROUP, 2, { tls: 'off', listen: 'host' });
  if (!group.serverIds.includes(server.id)) {
    if (group.serverIds.length) {
      throw new BerthError('Conflict', `A group named "${LOCAL_GROUP}" already exists on other servers, so this computer cannot have it: rename or remove that group first`);
    }
    await deps.groups.updateGroup(LOCAL_GROUP, { serverIds: [server.id] });
  }
  return { server: deps.servers.list().find((s) => s.id === server.id)!, group: deps.registry.group(LOCAL_GROUP) };
}
