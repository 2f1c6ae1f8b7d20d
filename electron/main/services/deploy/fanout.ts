import { BerthError } from '../../../../shared/errors';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';

/** Runs one task on several servers at once; fails naming every server that failed. */
export function createFanout(deps: { registry: ServerRegistry; connection(serverId: number): Promise<SshConnection> }) {
  const serverName = (id: number) => deps.registry.get(id).name;

  async function onAll<T>(serverIds: number[], task: (ssh: SshConnection, serverId: number) => Promise<T>): Promise<Map<number, T>> {
    const settled = await Promise.allSettled(serverIds.map(async (id) => [id, await task(await deps.connection(id), id)] as const));
    const failures = settled.flatMap((s, i) => (s.status === 'rejected' ? [`${serverName(serverIds[i])}: ${BerthError.from(s.reason).message}`] : []));
    if (failures.length) {
      const first = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
      throw new BerthError(BerthError.from(first.reason).kind, failures.join('\n'), { servers: failures });
    }
    return new Map(settled.map((s) => (s as PromiseFulfilledResult<readonly [number, T]>).value));
  }

  return { onAll, serverName };
}
export type Fanout = ReturnType<typeof createFanout>;
