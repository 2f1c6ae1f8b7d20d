import { describe, expect, it, vi } from 'vitest';

const calls = vi.hoisted(() => ({ answers: {} as Record<string, unknown> }));
vi.mock('../../../renderer/src/api/client', () => ({
  call: vi.fn(async (name: string) => {
    if (!(name in calls.answers)) throw new Error(`unexpected call ${name}`);
    return calls.answers[name];
  }),
  subscribe: vi.fn(),
}));

const { builtFromOlderNotebook, placementOf, useBuildPlacement } = await import('../../../renderer/src/features/projects/build-store');

const facts = {
  groups: [
    { name: 'arm', platform: 'linux/arm64', serverIds: [3] },
    { name: 'empty', platform: null, serverIds: [] },
  ],
  serverNames: { 3: 'tb1' },
  engine: 'linux/amd64',
  buildOn: 'auto' as const,
};

describe("the Build panel's place for a build", () => {
  it('follows the Settings choice until the user chooses for this build', () => {
    expect(placementOf(facts, 'arm', undefined)).toMatchObject({ chosen: 'auto', plan: { place: { serverId: 3 }, where: 'tb1' } });
    expect(placementOf({ ...facts, buildOn: 'local' }, 'arm', undefined).plan).toEqual({ place: undefined, where: 'this computer' });
    expect(placementOf(facts, 'arm', 'local').plan).toEqual({ place: undefined, where: 'this computer' });
  });

  it('shows the proposal with its reason whatever is chosen', () => {
    expect(placementOf(facts, 'arm', 'local').proposal).toEqual({
      place: { serverId: 3 },
      where: 'tb1',
      reason: "the group runs linux/arm64 and this computer's engine builds linux/amd64",
    });
  });

  it('refuses a server for a group without one (or one this Berth does not have), never building here instead', () => {
    expect(placementOf({ ...facts, buildOn: 'server' }, 'empty', undefined).plan).toEqual({
      refusal: 'Group "empty" has no server to build on: add a server to it, or build locally',
    });
    expect(placementOf(facts, 'elsewhere', 'server').plan).toEqual({
      refusal: 'Group "elsewhere" has no server to build on: add a server to it, or build locally',
    });
    expect(placementOf(facts, 'arm', { serverId: 8 }).plan).toEqual({ refusal: 'server #8 is not in group "arm": choose one of its servers, or build locally' });
  });

  it('reads the facts from the groups, servers, engine and Settings, and keeps a choice per project', async () => {
    calls.answers = {
      'settings.get': { buildOn: 'server' },
      'groups.list': facts.groups,
      'servers.list': [{ id: 3, name: 'tb1' }],
      'engine.info': { os: 'linux', arch: 'amd64' },
    };
    expect(await useBuildPlacement.getState().refresh()).toEqual({ ...facts, buildOn: 'server' });
    useBuildPlacement.getState().choose('/p', { serverId: 3 });
    expect(useBuildPlacement.getState().choices).toEqual({ '/p': { serverId: 3 } });
  });

  it('says when the facts cannot be read', async () => {
    calls.answers = {};
    expect(await useBuildPlacement.getState().refresh()).toBeUndefined();
    expect(useBuildPlacement.getState()).toMatchObject({ facts: undefined, error: { message: 'unexpected call settings.get' } });
  });
});

describe('the last build against the notebook', () => {
  it('is older than the notebook when the notebook changed since it', () => {
    expect(builtFromOlderNotebook({ notebookHash: 'a' }, { notebookHash: 'b' })).toBe(true);
    expect(builtFromOlderNotebook({ notebookHash: 'a' }, { notebookHash: 'a' })).toBe(false);
  });
});
