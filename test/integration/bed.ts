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
