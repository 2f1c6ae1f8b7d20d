import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { StateFile, type GroupState, type StateRevision } from '../../../shared/group-state';
import {
  checkCopy,
  chooseCurrent,
  parseListing,
  revisionHash,
  sha256Hex,
  stateFileText,
  type ServerCopy,
} from '../../../electron/main/services/groups/copies';

const uid = (n: number) => `srv_${n.toString(16).padStart(16, '0')}`;

function groupState(models: GroupState['models'] = {}): GroupState {
  return {
    servers: [1, 2, 3].map((n) => ({ uid: uid(n), name: `tb${n}`, host: `10.0.0.${n}`, port: 22 })),
    settings: { replicas: 1, webhooks: [] },
    models,
    keys: [],
    members: [],
  };
}

function fileOf(group: string, revision: number, state: GroupState = groupState(), prev: string | null = null, change = `change ${revision}`): StateFile {
  const rev: StateRevision = {
    format: 1,
    group,
    revision,
    prev,
    at: '2026-12-01T10:00:00.000Z',
    by: { holder: 'alice', machine: 'laptop' },
    change,
    state,
  };
  return { hash: revisionHash(rev), revision: rev };
}

/** The state file as it is on a server, without its newline (what the listing carries). */
const lineOf = (file: StateFile) => stateFileText(file).trimEnd();

describe('revisionHash', () => {
  it('is sha256 over the canonical JSON: key order does not matter, content does', () => {
    const file = fileOf('team', 1);
    const reordered = JSON.parse(JSON.stringify({ state: file.revision.state, change: file.revision.change, by: file.revision.by, at: file.revision.at, prev: null, revision: 1, group: 'team', format: 1 }));
    expect(revisionHash(reordered)).toBe(file.hash);
    expect(file.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(revisionHash({ ...file.revision, change: 'change 1.' })).not.toBe(file.hash);
  });

  it('canonical JSON sorts keys (RFC 8785), so another implementation can recompute it', () => {
    const rev = fileOf('team', 1).revision;
    const canonical =
      `{"at":"2026-12-01T10:00:00.000Z","by":{"holder":"alice","machine":"laptop"},"change":"change 1","format":1,"group":"team","prev":null,"revision":1,` +
      `"state":{"keys":[],"members":[],"models":{},"servers":[` +
      [1, 2, 3].map((n) => `{"host":"10.0.0.${n}","name":"tb${n}","port":22,"uid":"${uid(n)}"}`).join(',') +
      `],"settings":{"replicas":1,"webhooks":[]}}}`;
    expect(revisionHash(rev)).toBe(createHash('sha256').update(canonical).digest('hex'));
  });
});

describe('stateFileText', () => {
  it('is one JSON line ending in a newline that parses back to the file', () => {
    const file = fileOf('team', 3);
    const text = stateFileText(file);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.slice(0, -1)).not.toContain('\n');
    expect(StateFile.parse(JSON.parse(text))).toEqual(file);
  });
});

describe('checkCopy', () => {
  it('accepts a verified copy; its digest is the sha256 of the file as stored (with its newline)', () => {
    const file = fileOf('team', 2, groupState(), 'a'.repeat(64));
    const check = checkCopy('team', lineOf(file));
    expect(check).toEqual({ ok: true, file, digest: sha256Hex(stateFileText(file)) });
  });

  it('reports a copy with one character changed as damaged (hash mismatch)', () => {
    const line = lineOf(fileOf('team', 4));
    const damaged = line.replace('"holder":"alice"', '"holder":"alicf"');
    expect(damaged).not.toBe(line);
    const check = checkCopy('team', damaged);
    expect(check.ok).toBe(false);
    expect(check.ok || check.problem).toBe('revision 4 does not match its hash (damaged or edited)');
    expect(check.digest).toBe(sha256Hex(`${damaged}\n`));
  });

  it('reports a changed digit of the hash itself as damaged', () => {
    const file = fileOf('team', 1);
    const flipped = file.hash.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    const check = checkCopy('team', lineOf({ ...file, hash: flipped }));
    expect(check.ok).toBe(false);
    expect(check.ok || check.problem).toMatch(/does not match its hash/);
  });

  it('reports a truncated file as invalid JSON', () => {
    const line = lineOf(fileOf('team', 1));
    const check = checkCopy('team', line.slice(0, -5));
    expect(check.ok || check.problem).toBe('the state file is not valid JSON (damaged)');
  });

  it('reports garbage as invalid JSON', () => {
    expect(checkCopy('team', 'garbage!').ok).toBe(false);
    expect(checkCopy('team', '').ok).toBe(false);
  });

  it('reports a file that breaks the schema with the path of the problem', () => {
    const file = fileOf('team', 1);
    const broken = JSON.parse(lineOf(file));
    broken.revision.state.settings.replicas = 0;
    const check = checkCopy('team', JSON.stringify(broken));
    expect(check.ok).toBe(false);
    expect(check.ok || check.problem).toMatch(/^the state file does not match the schema at revision\.state\.settings\.replicas: /);
  });

  it('refuses an unknown field (a newer or edited format is not silently trusted)', () => {
    const file = fileOf('team', 1);
    const extra = JSON.parse(lineOf(file));
    extra.revision.extra = true;
    expect(checkCopy('team', JSON.stringify(extra)).ok).toBe(false);
  });

  it('refuses a copy with the right hash that names another group', () => {
    const other = fileOf('other', 5);
    expect(checkCopy('other', lineOf(other)).ok).toBe(true);
    const check = checkCopy('team', lineOf(other));
    expect(check.ok).toBe(false);
    expect(check.ok || check.problem).toBe('the state file names group "other", not "team"');
  });
});

describe('parseListing', () => {
  const a = fileOf('alpha', 2);
  const b = fileOf('beta', 7);
  const stdout = [
    `identity\t{"uid":"${uid(9)}"}`,
    `state\talpha\t${lineOf(a)}`,
    `revoked\talpha\t{"kind":"key","id":"key_01","at":"2026-12-01T11:00:00Z","by":"alice"}`,
    `revoked\talpha\tnot json`,
    `revoked\talpha\t{"kind":"member","id":"m_02","at":"2026-12-01T12:00:00Z","by":"bob"}`,
    `state\tbeta\t${lineOf(b)}`,
    `state\tgamma\tgarbage`,
    '',
  ].join('\n');

  it('reads the identity, every group copy as text, and the valid revocations; its digest covers the whole listing', () => {
    const listing = parseListing(stdout);
    expect(listing.uid).toBe(uid(9));
    expect([...listing.states.keys()]).toEqual(['alpha', 'beta', 'gamma']);
    expect(listing.states.get('alpha')).toBe(lineOf(a));
    expect(checkCopy('beta', listing.states.get('beta')!)).toMatchObject({ ok: true, file: b });
    expect(listing.states.get('gamma')).toBe('garbage');
    expect(listing.revocations.get('alpha')).toEqual([
      { kind: 'key', id: 'key_01', at: '2026-12-01T11:00:00Z', by: 'alice' },
      { kind: 'member', id: 'm_02', at: '2026-12-01T12:00:00Z', by: 'bob' },
    ]);
    expect(listing.revocations.has('beta')).toBe(false);
    expect(listing.digest).toBe(sha256Hex(stdout));
  });

  it('has no identity when server.json is missing or not a server uid', () => {
    expect(parseListing('identity\t\n').uid).toBeNull();
    expect(parseListing('identity\t{"uid":"root"}\n').uid).toBeNull();
    expect(parseListing('identity\t{"uid":"srv_XYZ"}\n').uid).toBeNull();
    expect(parseListing('').states.size).toBe(0);
  });

  it('a state line keeps tabs after the group name (split only at the first two)', () => {
    expect(parseListing('state\tg\ta\tb\n').states.get('g')).toBe('a\tb');
  });
});

describe('chooseCurrent', () => {
  const copy = (n: number, file: StateFile | string | null, unreachable?: string): ServerCopy => ({
    serverUid: uid(n),
    check: file === null ? null : checkCopy('team', typeof file === 'string' ? file : lineOf(file)),
    ...(unreachable !== undefined ? { unreachable } : {}),
  });

  it('prefers the highest verified revision even when fewer servers hold it', () => {
    const r3 = fileOf('team', 3);
    const r4 = fileOf('team', 4, groupState(), r3.hash);
    const { current, states } = chooseCurrent([copy(1, r3), copy(2, r3), copy(3, r4)]);
    expect(current).toEqual(r4);
    expect(states.get(uid(3))).toEqual({ state: 'current' });
    expect(states.get(uid(1))).toEqual({ state: 'behind', detail: 'at revision 3' });
    expect(states.get(uid(2))).toEqual({ state: 'behind', detail: 'at revision 3' });
  });

  it('on a tie of revision numbers takes the copy more servers hold, whatever the order', () => {
    const r5a = fileOf('team', 5, groupState(), null, 'written by A');
    const r5b = fileOf('team', 5, groupState(), null, 'written by B');
    expect(r5a.hash).not.toBe(r5b.hash);
    for (const order of [
      [copy(1, r5b), copy(2, r5a), copy(3, r5a)],
      [copy(1, r5a), copy(2, r5a), copy(3, r5b)],
      [copy(3, r5a), copy(1, r5b), copy(2, r5a)],
    ]) {
      const { current, states } = chooseCurrent(order);
      expect(current?.hash).toBe(r5a.hash);
      const minority = order.find((c) => c.check?.ok && c.check.file.hash === r5b.hash)!;
      expect(states.get(minority.serverUid)).toEqual({ state: 'diverged', detail: `holds another revision 5 (${r5b.hash.slice(0, 12)})` });
    }
  });

  it('never chooses a damaged copy, even of a higher revision; classifies missing, damaged and unreachable copies', () => {
    const r2 = fileOf('team', 2);
    const r9 = lineOf(fileOf('team', 9)).replace('change 9', 'change X');
    const { current, states } = chooseCurrent([copy(1, r2), copy(2, r9), copy(3, null), copy(4, null, 'timed out')]);
    expect(current).toEqual(r2);
    expect(states.get(uid(1))).toEqual({ state: 'current' });
    expect(states.get(uid(2))).toEqual({ state: 'damaged', detail: 'revision 9 does not match its hash (damaged or edited)' });
    expect(states.get(uid(3))).toEqual({ state: 'missing' });
    expect(states.get(uid(4))).toEqual({ state: 'unreachable', detail: 'timed out' });
  });

  it('with no verified copy there is no current revision', () => {
    const { current, states } = chooseCurrent([copy(1, 'garbage'), copy(2, null)]);
    expect(current).toBeNull();
    expect(states.get(uid(1))?.state).toBe('damaged');
    expect(states.get(uid(2))?.state).toBe('missing');
    expect(chooseCurrent([]).current).toBeNull();
  });
});
