import { z } from 'zod';
import { BerthError } from './errors';

/** Where a build for a group runs: this machine's engine, a server of the group, or whichever fits its platform. */
export const BuildOn = z.enum(['local', 'server', 'auto']);
export type BuildOn = z.infer<typeof BuildOn>;

/** build.run's `on`: absent builds locally. */
export type BuildPlace = { serverId: number } | undefined;

/**
 * The place for a build targeting a group: `auto` is local when this engine's platform is the group's (or the group's
 * is not known), else the group's first server, whose engine builds natively for it. `server` is the group's first
 * server whatever the platforms.
 */
export function chooseBuildPlace(choice: BuildOn, enginePlatform: string | null, group: { name: string; platform: string | null; serverIds: number[] }): BuildPlace {
  if (choice === 'local') return undefined;
  if (choice === 'auto' && (group.platform === null || group.platform === enginePlatform)) return undefined;
  const [serverId] = group.serverIds;
  if (serverId === undefined) throw new BerthError('ValidationError', `Group "${group.name}" has no server to build on: add a server to it, or build locally`);
  return { serverId };
}
