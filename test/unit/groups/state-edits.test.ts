import { describe, expect, it } from 'vitest';
import { GroupState, type StateVersion } from '../../../shared/group-state';
import * as edits from '../../../electron/main/services/deploy/state-edits';

const uid = (n: number) => `srv_${n.toString(16).padStart(16, '0')}`;

const fields = (n = 1): edits.NewVersion => ({
  imageRef: `berth/iris:${n}`,
  imageId: `sha256:${n}`,
  notebookHash: 'nb',
  dockerfile: null,
  requirements: null,
  createdBy: 'bob',
  createdAt: '2026-12-01T10:00:00Z',
  resources: { replicas: 2, memoryMb: 256, cpus: 1 },
});

function emptyState(): GroupState {
  return { servers: [{ uid: uid(1), name: 'tb1', host: '10.0.0.1', port: 22 }], settings: { replicas: 1, webhooks: [] }, models: {}, keys: [], members: [] };
}

/** A state with model `iris` whose versions have the given states (numbered 1…), `latest` on the last live one. */
function withVersions(states: StateVersion['state'][], aliases?: Record<string, number>, keepVersions = 5): GroupState {
  const s = emptyState();
  const versions: StateVersion[] = states.map((state, i) => ({
    number: i + 1,
    ...fields(i + 1),
    state,
    placements: state === 'live' || state === 'stopped' ? { [uid(1)]: [{ name: `berth-iris-v${i + 1}-r1`, port: 9100 + i }] } : {},
  }));
  const lastLive = [...versions].reverse().find((v) => v.state === 'live');
  s.models.iris = { public: false, keepVersions, createdBy: 'alice', createdAt: '2026-12-01T09:00:00Z', versions, aliases: aliases ?? (lastLive ? { latest: lastLive.number } : {}) };
  return s;
}

const stateOf = (s: GroupState, n: number) => edits.versionIn(s, 'iris', n).state;

describe('modelIn / versionIn', () => {
  it('name what is missing', () => {
    const s = withVersions(['live']);
    expect(() => edits.modelIn(s, 'nope')).toThrow(/No model named "nope"/);
    expect(() => edits.versionIn(s, 'iris', 2)).toThrow('iris has no version v2');
    expect(edits.versionIn(s, 'iris', 1).number).toBe(1);
  });
});

describe('reserveVersion', () => {
  it("creates the model on its first deploy, with v1 pending and no placements", () => {
    const s = emptyState();
    expect(edits.reserveVersion(s, 'iris', fields())).toBe(1);
    expect(s.models.iris).toEqual({
      public: false,
      keepVersions: 5,
      createdBy: 'bob',
      createdAt: '2026-12-01T10:00:00Z',
      versions: [{ number: 1, ...fields(), state: 'pending', placements: {} }],
      aliases: {},
    });
    expect(GroupState.safeParse(s).success).toBe(true);
  });

  it('numbers on from the highest version any Berth made, failed and retired ones included', () => {
    const s = withVersions(['retired', 'live', 'failed']);
    expect(edits.reserveVersion(s, 'iris', fields(4))).toBe(4);
    expect(edits.reserveVersion(s, 'iris', fields(5))).toBe(5);
    expect(s.models.iris.versions.map((v) => v.number)).toEqual([1, 2, 3, 4, 5]);
    // What exists is left alone.
    expect(s.models.iris.aliases).toEqual({ latest: 2 });
    expect(stateOf(s, 2)).toBe('live');
  });

  it('numbers from the highest even when versions are out of order in the list', () => {
    const s = withVersions(['live', 'live']);
    s.models.iris.versions.reverse();
    s.models.iris.versions[0].number = 7;
    expect(edits.reserveVersion(s, 'iris', fields())).toBe(8);
  });
});

describe('goLive', () => {
  it('routes the pending version with its placements and points latest at it; older versions stay live', () => {
    const s = withVersions(['live']);
    const n = edits.reserveVersion(s, 'iris', fields(2));
    const placements = { [uid(1)]: [{ name: 'berth-iris-v2-r1', port: 9110 }] };
    edits.goLive(s, 'iris', n, placements);
    expect(edits.versionIn(s, 'iris', 2)).toMatchObject({ state: 'live', placements });
    expect(s.models.iris.aliases.latest).toBe(2);
    expect(stateOf(s, 1)).toBe('live');
  });

  it('refuses a version that is no longer pending (another Berth changed it during the deploy)', () => {
    const s = withVersions(['live', 'failed']);
    expect(() => edits.goLive(s, 'iris', 2, {})).toThrow('v2 of iris is failed; another Berth changed it during this deploy');
    expect(() => edits.goLive(s, 'iris', 1, {})).toThrow(/is live/);
    expect(s.models.iris.aliases.latest).toBe(1);
  });
});

describe('markFailed', () => {
  it('fails a pending version and drops its placements; leaves any other state alone', () => {
    const s = withVersions(['live', 'pending']);
    s.models.iris.versions[1].placements = { [uid(1)]: [{ name: 'berth-iris-v2-r1', port: 9111 }] };
    edits.markFailed(s, 'iris', 2);
    expect(edits.versionIn(s, 'iris', 2)).toMatchObject({ state: 'failed', placements: {} });
    edits.markFailed(s, 'iris', 1);
    expect(edits.versionIn(s, 'iris', 1).state).toBe('live');
    expect(Object.keys(edits.versionIn(s, 'iris', 1).placements)).toEqual([uid(1)]);
  });
});

describe('pointAlias', () => {
  it('points an alias at a live version, and serves a stopped one again', () => {
    const s = withVersions(['stopped', 'live']);
    edits.pointAlias(s, 'iris', 'stable', 2);
    expect(s.models.iris.aliases).toEqual({ latest: 2, stable: 2 });
    edits.pointAlias(s, 'iris', 'latest', 1);
    expect(s.models.iris.aliases).toEqual({ latest: 1, stable: 2 });
    expect(stateOf(s, 1)).toBe('live');
  });

  it('refuses retired, failed and pending versions', () => {
    const s = withVersions(['retired', 'failed', 'pending', 'live']);
    for (const n of [1, 2, 3]) expect(() => edits.pointAlias(s, 'iris', 'latest', n)).toThrow(/only kept versions can serve again/);
    expect(s.models.iris.aliases).toEqual({ latest: 4 });
  });
});

describe('aliasesOf', () => {
  it('lists the aliases naming a version', () => {
    const s = withVersions(['live', 'live'], { latest: 2, stable: 2, old: 1 });
    expect(edits.aliasesOf(s.models.iris, 2).sort()).toEqual(['latest', 'stable']);
    expect(edits.aliasesOf(s.models.iris, 3)).toEqual([]);
  });
});

describe('setServing', () => {
  it('stops a live version no alias names, and starts it again', () => {
    const s = withVersions(['live', 'live']);
    edits.setServing(s, 'iris', 1, false);
    expect(stateOf(s, 1)).toBe('stopped');
    edits.setServing(s, 'iris', 1, true);
    expect(stateOf(s, 1)).toBe('live');
  });

  it('refuses to stop a version an alias names, naming the alias', () => {
    const s = withVersions(['live', 'live'], { latest: 2, stable: 2 });
    expect(() => edits.setServing(s, 'iris', 2, false)).toThrow('v2 is still latest, stable: move those aliases first');
    const t = withVersions(['live']);
    expect(() => edits.setServing(t, 'iris', 1, false)).toThrow('v1 is still latest: move that alias first');
    expect(stateOf(s, 2)).toBe('live');
  });

  it('refuses a transition from the wrong state', () => {
    const s = withVersions(['stopped', 'retired', 'live'], { latest: 3 });
    expect(() => edits.setServing(s, 'iris', 1, false)).toThrow('v1 is stopped, not live');
    expect(() => edits.setServing(s, 'iris', 2, true)).toThrow('v2 is retired, not stopped');
    expect(() => edits.setServing(s, 'iris', 3, true)).toThrow('v3 is live, not stopped');
  });
});

describe('versionsToRetire / retire', () => {
  it('retires the kept versions beyond the keep count that no alias names', () => {
    const s = withVersions(['live', 'stopped', 'failed', 'live', 'live', 'retired', 'live'], { latest: 7, stable: 1 }, 2);
    const numbers = edits.versionsToRetire(s.models.iris).map((v) => v.number);
    // Kept (live or stopped), newest first: 7, 5, 4, 2, 1; the first two stay; 1 is named by `stable`.
    expect(numbers).toEqual([4, 2]);
    edits.retire(s, 'iris', numbers);
    expect(s.models.iris.versions.map((v) => v.state)).toEqual(['live', 'retired', 'failed', 'retired', 'live', 'retired', 'live']);
    expect(edits.versionIn(s, 'iris', 4).placements).toEqual({});
    expect(edits.versionsToRetire(s.models.iris)).toEqual([]);
  });

  it('retires nothing within the keep count', () => {
    expect(edits.versionsToRetire(withVersions(['live', 'live', 'live'], undefined, 5).models.iris)).toEqual([]);
  });
});
