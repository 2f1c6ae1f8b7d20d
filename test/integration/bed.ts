import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BedServer {
  name: string;
  host: string;
  port: number;
  user: string;
  hostKeyFingerprint: string;
  hostKeyLine: string;
}

export interface Bed {
  servers: BedServer[];
  clientKey: string;
  knownHosts: string;
  clientPublicKey: string;
  sshConfig: string;
}

export const bedDir = process.env.TB ?? '/tmp/berth-tb';

/** The test bed brought up by `npm run bed:up` (CI does it in .ci/run); tests fail loudly without it. */
export function loadBed(): Bed {
  const file = join(bedDir, 'bed.json');
  if (!existsSync(file)) throw new Error(`No test bed at ${bedDir}: run \`npm run bed:up\` (as root) first`);
  return JSON.parse(readFileSync(file, 'utf8'));
}

export const clientKeyOf = (bed: Bed) => readFileSync(bed.clientKey, 'utf8');

/** What registering a bed server needs: the pinned host key and the bed's client key. */
export function addServerInput(bed: Bed, server: BedServer) {
  return {
    name: server.name,
    host: server.host,
    port: server.port,
    username: server.user,
    auth: { type: 'keyFile' as const, path: bed.clientKey },
    hostKeyFingerprint: server.hostKeyFingerprint,
  };
}

/**
 * Registers the bed's servers (all, or the first `count`) with a Berth and, if `group` is given, puts them in a
 * group with that many replicas per server. Returns the server ids.
 */
export async function registerBed(
  berth: { services: { servers: { add(input: ReturnType<typeof addServerInput>): Promise<{ id: number }> }; registry: { createGroup(name: string, replicas: number): { id: number }; updateGroup(id: number, change: { serverIds: number[] }): unknown } } },
  bed: Bed,
  options: { count?: number; group?: { name: string; replicas: number } } = {},
): Promise<number[]> {
  const ids: number[] = [];
  for (const server of bed.servers.slice(0, options.count ?? bed.servers.length)) ids.push((await berth.services.servers.add(addServerInput(bed, server))).id);
  if (options.group) {
    const group = berth.services.registry.createGroup(options.group.name, options.group.replicas);
    berth.services.registry.updateGroup(group.id, { serverIds: ids });
  }
  return ids;
}
