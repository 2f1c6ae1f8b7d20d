import { execFileSync } from 'node:child_process';
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
 * Removes a group's state (and its locks) from every bed server: each test file starts its group afresh, whatever an
 * earlier file on the same bed left there.
 */
export function forgetGroupOnBed(bed: Bed, group: string): void {
  for (const server of bed.servers) {
    try {
      execFileSync('ssh', ['-F', bed.sshConfig, server.name, `rm -rf /var/lib/berth/groups/${group}`], { stdio: 'ignore', timeout: 30_000 });
    } catch {
      // a server a test left crashed has no state to forget until it is restored
    }
  }
}

interface BedBerth {
  services: {
    servers: { add(input: ReturnType<typeof addServerInput>): Promise<{ id: number }> };
    registry: { createGroup(name: string, replicas: number): { id: number } };
    groups: { updateGroup(group: string, change: { serverIds: number[] }): Promise<unknown> };
  };
}

/**
 * Registers the bed's servers (all, or the first `count`) with a Berth and, if `group` is given, makes a fresh
 * group of them with that many replicas per server and publishes its state to them. Returns the server ids.
 */
export async function registerBed(berth: BedBerth, bed: Bed, options: { count?: number; group?: { name: string; replicas: number } } = {}): Promise<number[]> {
  const ids: number[] = [];
  for (const server of bed.servers.slice(0, options.count ?? bed.servers.length)) ids.push((await berth.services.servers.add(addServerInput(bed, server))).id);
  if (options.group) {
    forgetGroupOnBed(bed, options.group.name);
    berth.services.registry.createGroup(options.group.name, options.group.replicas);
    await berth.services.groups.updateGroup(options.group.name, { serverIds: ids });
  }
  return ids;
}
