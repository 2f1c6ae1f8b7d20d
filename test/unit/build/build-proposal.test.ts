import { describe, expect, it } from 'vitest';
import { chooseBuildPlace, planBuild, proposeBuildPlace } from '../../../shared/build-on';

const group = { name: 'prod', platform: 'linux/arm64', serverIds: [4, 7] };
const names: Record<number, string> = { 4: 'tb1', 7: 'tb2' };
const serverName = (id: number) => names[id];

describe('proposeBuildPlace', () => {
  it("proposes this computer when its engine builds the group's platform, and says so", () => {
    expect(proposeBuildPlace('linux/arm64', group, serverName)).toEqual({
      place: undefined,
      where: 'this computer',
      reason: "its engine builds linux/arm64, the group's platform",
    });
  });

  it("proposes this computer when the group's platform is not known", () => {
    expect(proposeBuildPlace('linux/amd64', { ...group, platform: null }, serverName)).toEqual({
      place: undefined,
      where: 'this computer',
      reason: "the group's platform is not known",
    });
  });

  it("proposes the group's first server, by name, when this engine builds another platform (or does not say)", () => {
    expect(proposeBuildPlace('linux/amd64', group, serverName)).toEqual({
      place: { serverId: 4 },
      where: 'tb1',
      reason: "the group runs linux/arm64 and this computer's engine builds linux/amd64",
    });
    expect(proposeBuildPlace(null, group, serverName)).toMatchObject({ place: { serverId: 4 }, reason: "the group runs linux/arm64 and this computer's engine did not say its platform" });
  });

  it('proposes nothing for a group of another platform without servers, saying what to do', () => {
    expect(proposeBuildPlace('linux/amd64', { ...group, serverIds: [] })).toEqual({
      refusal: 'Group "prod" has no server to build on: add a server to it, or build locally',
    });
  });

  it('is what auto does, for the CLI too', () => {
    expect(chooseBuildPlace('auto', 'linux/amd64', group)).toEqual({ serverId: 4 });
    expect(chooseBuildPlace('auto', 'linux/arm64', group)).toBeUndefined();
    expect(() => chooseBuildPlace('auto', 'linux/amd64', { ...group, serverIds: [] })).toThrow(/has no server to build on/);
  });
});

describe('planBuild', () => {
  it('takes this computer, the first server, or a chosen server of the group as said', () => {
    expect(planBuild('local', 'linux/amd64', group, serverName)).toEqual({ place: undefined, where: 'this computer' });
    expect(planBuild('server', 'linux/arm64', group, serverName)).toEqual({ place: { serverId: 4 }, where: 'tb1' });
    expect(planBuild({ serverId: 7 }, 'linux/arm64', group, serverName)).toEqual({ place: { serverId: 7 }, where: 'tb2' });
  });

  it('refuses a choice it cannot honour instead of building somewhere else', () => {
    expect(planBuild('server', 'linux/amd64', { ...group, serverIds: [] })).toEqual({
      refusal: 'Group "prod" has no server to build on: add a server to it, or build locally',
    });
    expect(planBuild({ serverId: 9 }, 'linux/amd64', group)).toEqual({
      refusal: 'server #9 is not in group "prod": choose one of its servers, or build locally',
    });
  });
});
