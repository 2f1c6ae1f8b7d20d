import { describe, expect, it } from 'vitest';
import { chooseBuildPlace } from '../../../shared/build-on';

const group = { name: 'prod', platform: 'linux/arm64', serverIds: [4, 7] };

describe('chooseBuildPlace', () => {
  it('auto builds here when this engine has the group platform, or the group platform is not known', () => {
    expect(chooseBuildPlace('auto', 'linux/arm64', group)).toBeUndefined();
    expect(chooseBuildPlace('auto', 'linux/amd64', { ...group, platform: null })).toBeUndefined();
  });

  it("auto builds on the group's first server when this engine has another platform (or says none)", () => {
    expect(chooseBuildPlace('auto', 'linux/amd64', group)).toEqual({ serverId: 4 });
    expect(chooseBuildPlace('auto', null, group)).toEqual({ serverId: 4 });
  });

  it('local and server are taken as said', () => {
    expect(chooseBuildPlace('local', 'linux/amd64', group)).toBeUndefined();
    expect(chooseBuildPlace('server', 'linux/arm64', group)).toEqual({ serverId: 4 });
  });

  it('refuses a server build for a group without servers, saying what to do', () => {
    expect(() => chooseBuildPlace('server', 'linux/amd64', { ...group, serverIds: [] })).toThrow(/Group "prod" has no server to build on: add a server to it, or build locally/);
  });
});
