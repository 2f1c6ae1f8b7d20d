import { z } from 'zod';
import { BerthError } from './errors';

/** Where a build for a group runs: this machine's engine, a server of the group, or whichever fits its platform. */
export const BuildOn = z.enum(['local', 'server', 'auto']);
export type BuildOn = z.infer<typeof BuildOn>;

/** build.run's `on`: absent builds locally. */
export type BuildPlace = { serverId: number } | undefined;

/** What a build's place is chosen for: the group's name, its one platform (null: mixed or not known) and its servers. */
export interface BuildGroup {
  name: string;
  platform: string | null;
  serverIds: number[];
}

/** One build's choice: as in Settings (`server`: the group's first server), or one server of the group by id. */
export type BuildChoice = BuildOn | { serverId: number };

/** A place a build can run and who it is ("this computer", a server's name); `reason`: why Berth proposes it. */
export type BuildPlan = { place: BuildPlace; where: string; reason?: string } | { refusal: string };

const serverNumber = (id: number) => `server #${id}`;
const noServer = (group: BuildGroup) => `Group "${group.name}" has no server to build on: add a server to it, or build locally`;

/**
 * Berth's proposal (what `auto` does): this computer when its engine has the group's platform (or the group's is not
 * known), else the group's first server, whose engine builds natively for it.
 */
export function proposeBuildPlace(enginePlatform: string | null, group: BuildGroup, serverName: (id: number) => string = serverNumber): BuildPlan {
  if (group.platform === null) return { place: undefined, where: 'this computer', reason: "the group's platform is not known" };
  if (group.platform === enginePlatform) return { place: undefined, where: 'this computer', reason: `its engine builds ${enginePlatform}, the group's platform` };
  const [serverId] = group.serverIds;
  if (serverId === undefined) return { refusal: noServer(group) };
  const engine = enginePlatform ? `builds ${enginePlatform}` : 'did not say its platform';
  return { place: { serverId }, where: serverName(serverId), reason: `the group runs ${group.platform} and this computer's engine ${engine}` };
}

/** The place a choice names, or why it cannot be honoured: a build never moves somewhere the user did not choose. */
export function planBuild(choice: BuildChoice, enginePlatform: string | null, group: BuildGroup, serverName: (id: number) => string = serverNumber): BuildPlan {
  if (choice === 'auto') return proposeBuildPlace(enginePlatform, group, serverName);
  if (choice === 'local') return { place: undefined, where: 'this computer' };
  const serverId = choice === 'server' ? group.serverIds[0] : choice.serverId;
  if (serverId === undefined) return { refusal: noServer(group) };
  if (!group.serverIds.includes(serverId)) return { refusal: `${serverName(serverId)} is not in group "${group.name}": choose one of its servers, or build locally` };
  return { place: { serverId }, where: serverName(serverId) };
}

/**
 * The place for a build targeting a group: `auto` is local when this engine's platform is the group's (or the group's
 * is not known), else the group's first server, whose engine builds natively for it. `server` is the group's first
 * server whatever the platforms.
 */
export function chooseBuildPlace(choice: BuildOn, enginePlatform: string | null, group: BuildGroup): BuildPlace {
  const plan = planBuild(choice, enginePlatform, group);
  if ('refusal' in plan) throw new BerthError('ValidationError', plan.refusal);
  return plan.place;
}
