import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GroupState, StateFile, StateRevision } from '../../../shared/group-state';
import { checkCopy, parseListing, revisionHash, sha256Hex, stateFileText } from '../../../electron/main/services/groups/copies';
import {
  acquireLock,
  appendRevocations,
  applyRoutes,
  breakLock,
  extendLock,
  CHANGED_SINCE_READ,
  identifyAndList,
  listGroups,
  listLocks,
  readFile,
  releaseLock,
  writeState,
} from '../../../electron/main/services/groups/remote';
import type { RemoteCommand } from '../../../electron/main/services/remote/command';
import { defaultLayout, type LockPlace, type ServerLayout } from '../../../electron/main/services/remote/layout';
import { runLocally, type Answer } from '../support/recording-shell';

/** Single-quoted for sh, independently of the builder under test. */
const quoted = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;

// The scripts as the server's shell receives them: pinned character for character.
const LISTING = `listing() {
  printf 'identity\\t'; tr -d '\\n' < "$1/server.json" 2>/dev/null; echo
  for s in "$1"/groups/$2/state.json; do
    [ -e "$s" ] || continue
    n=\${s%/state.json}; n=\${n##*/}
    printf 'state\\t%s\\t' "$n"; tr -d '\\n' < "$s"; echo
    [ -e "$1/groups/$n/revoked.jsonl" ] || continue
    while IFS= read -r l; do printf 'revoked\\t%s\\t%s\\n' "$n" "$l"; done < "$1/groups/$n/revoked.jsonl"
  done
}`;

const IDENTIFY = `${LISTING}
f=$2; mkdir -p "$(dirname "$f")"
if [ ! -s "$f" ]; then printf '{"uid":"%s"}\\n' "$3" > "$f.$$" && { ln "$f.$$" "$f" 2>/dev/null; rm -f "$f.$$"; }; fi
listing "$1" '*'`;

const LIST = `${LISTING}\nlisting "$1" "$2"`;

const WRITE_STATE = `${LISTING}
d=$2; f=$d/state.json; mkdir -p "$d/history" || exit 1
tmp=$d/.state.$$; cat > "$tmp" || { rm -f "$tmp"; exit 1; }
if [ -e "$f" ]; then cur=$(sha256sum < "$f" | cut -c1-64); else cur=none; fi
if [ "$3" != any ] && [ "$cur" != "$3" ]; then rm -f "$tmp"; echo "the group state on this server changed since it was read" >&2; exit 75; fi
if [ -e "$f" ] && [ "$4" != 0 ]; then cp -p "$f" "$d/history/$4.json"; fi
mv -f "$tmp" "$f" || exit 1
ls "$d/history" | sort -n | head -n -50 | while IFS= read -r old; do rm -f "$d/history/$old"; done
listing "$1" '*'`;

const APPEND_REVOCATIONS = `mkdir -p "$(dirname "$1")" && cat >> "$1"`;

const APPLY_ROUTES = `${LISTING}
mkdir -p "$1/groups" "$2" || exit 1
exec 9>"$1/groups/.derive.lock"; flock -w 20 9 || { echo "another Berth is updating this server" >&2; exit 75; }
dg=$(listing "$1" '*' | sha256sum | cut -c1-64)
if [ "$dg" != "$4" ]; then echo "a group's state changed while its table was derived" >&2; exit 75; fi
tmp=$(mktemp "$2/.routes.json.XXXXXX") || exit 1
{ cat > "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$2/routes.json"; } || { rm -f "$tmp"; exit 1; }
mounts=$(docker inspect -f '{{.State.Running}} {{range .Mounts}}{{.Source}} {{end}}' "$3" 2>/dev/null)
case "$mounts" in "true "*"$2 "*) echo gateway ;; *) echo table ;; esac`;

const ACQUIRE = `l=$1; mkdir -p "$(dirname "$l")" || exit 1
exec 9>"$l.guard"; flock -w 10 9 || { echo "the lock $l stayed busy" >&2; exit 1; }
exp=$(cat "$l/expires" 2>/dev/null)
if [ -n "$exp" ] && [ "$exp" != never ] && [ "$(date +%s)" -gt "$exp" ]; then mv "$l" "$l.stale.$$" 2>/dev/null && rm -rf "$l.stale.$$"; fi
if mkdir "$l" 2>/dev/null; then
  printf '%s' "$2" > "$l/info.json"
  if [ "$3" = 0 ]; then echo never > "$l/expires"; else echo $(( $(date +%s) + $3 )) > "$l/expires"; fi
  echo acquired
else
  printf 'held\\t'; head -c 4096 "$l/info.json" 2>/dev/null | tr -d '\\n'; echo
fi`;

const RELEASE = `[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\\"token\\":\\"$2\\"" "$1/info.json" 2>/dev/null; then rm -rf "$1"; echo released; else echo not-ours; fi`;
const EXTEND = `[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\\"token\\":\\"$2\\"" "$1/info.json" 2>/dev/null; then echo $(( $(date +%s) + $3 )) > "$1/expires"; echo extended; else echo not-ours; fi`;
const BREAK = `if [ -d "$1" ]; then rm -rf "$1"; echo held; else echo free; fi`;
const LIST_LOCKS = `for d in "$1"/lock/*/ "$1"/groups/*/lock/; do [ -d "$d" ] || continue; d=\${d%/}; printf '%s\\t' "$d"; head -c 4096 "$d/info.json" 2>/dev/null | tr -d '\\n'; echo; done`;

const DIGEST = 'ab'.repeat(32);
/** A lock at a folder of the test's own (the scripts use only the folder; the verb its name). */
const at = (dir: string): LockPlace => ({ dir, scope: 'model', name: 'iris' });
const NOTE = JSON.stringify({ holder: 'alice', machine: 'laptop', message: "team: deploy iris's v2", since: '2026-12-01T10:00:00.000Z', token: 'tok1' });

describe('the exact commands', () => {
  it('identifyAndList', () => {
    expect(String(identifyAndList(defaultLayout, 'srv_0123456789abcdef'))).toBe(
      `sh -c ${quoted(IDENTIFY)} sh /var/lib/berth /var/lib/berth/server.json srv_0123456789abcdef`,
    );
  });

  it('listGroups, of one group and of all', () => {
    expect(String(listGroups(defaultLayout, 'team'))).toBe(`sh -c ${quoted(LIST)} sh /var/lib/berth team`);
    expect(String(listGroups(defaultLayout, '*'))).toBe(`sh -c ${quoted(LIST)} sh /var/lib/berth '*'`);
  });

  it('writeState', () => {
    expect(String(writeState(defaultLayout, 'team', DIGEST, 7))).toBe(`sh -c ${quoted(WRITE_STATE)} sh /var/lib/berth /var/lib/berth/groups/team ${DIGEST} 7`);
    expect(String(writeState(defaultLayout, 'team', 'none', 0))).toBe(`sh -c ${quoted(WRITE_STATE)} sh /var/lib/berth /var/lib/berth/groups/team none 0`);
    expect(CHANGED_SINCE_READ).toBe(75);
  });

  it('appendRevocations', () => {
    expect(String(appendRevocations(defaultLayout, 'team'))).toBe(`sh -c ${quoted(APPEND_REVOCATIONS)} sh /var/lib/berth/groups/team/revoked.jsonl`);
  });

  it('applyRoutes', () => {
    expect(String(applyRoutes(defaultLayout, '/var/lib/berth/gateway', 'berth-gateway', DIGEST))).toBe(
      `sh -c ${quoted(APPLY_ROUTES)} sh /var/lib/berth /var/lib/berth/gateway berth-gateway ${DIGEST}`,
    );
  });

  it('acquireLock, with its note as one quoted word', () => {
    expect(String(acquireLock(at('/var/lib/berth/groups/team/lock'), NOTE, 120))).toBe(`sh -c ${quoted(ACQUIRE)} sh /var/lib/berth/groups/team/lock ${quoted(NOTE)} 120`);
    expect(String(acquireLock(at('/var/lib/berth/lock/iris'), '{}', 0))).toBe(`sh -c ${quoted(ACQUIRE)} sh /var/lib/berth/lock/iris '{}' 0`);
  });

  it('releaseLock, breakLock, listLocks, readFile', () => {
    expect(String(releaseLock(at('/var/lib/berth/lock/iris'), 'tok1'))).toBe(
      `sh -c '[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\\"token\\":\\"$2\\"" "$1/info.json" 2>/dev/null; then rm -rf "$1"; echo released; else echo not-ours; fi' sh /var/lib/berth/lock/iris tok1`,
    );
    expect(String(releaseLock(at('/var/lib/berth/lock/iris'), 'tok1'))).toBe(`sh -c ${quoted(RELEASE)} sh /var/lib/berth/lock/iris tok1`);
    expect(String(extendLock(at('/var/lib/berth/lock/iris'), 'tok1', 180))).toBe(`sh -c ${quoted(EXTEND)} sh /var/lib/berth/lock/iris tok1 180`);
    expect(String(breakLock(at('/var/lib/berth/lock/iris')))).toBe(`sh -c ${quoted(BREAK)} sh /var/lib/berth/lock/iris`);
    expect(String(listLocks(defaultLayout))).toBe(`sh -c ${quoted(LIST_LOCKS)} sh /var/lib/berth`);
    expect(String(readFile('/var/lib/berth/groups/team/state.json'))).toBe('cat /var/lib/berth/groups/team/state.json');
  });

  it('refuses a group name that is not one path component', () => {
    expect(() => listGroups(defaultLayout, '../etc')).toThrow(/not a group name/);
    expect(() => writeState(defaultLayout, 'a b', 'none', 0)).toThrow(/not a group name/);
    expect(() => appendRevocations(defaultLayout, 'Team')).toThrow(/not a group name/);
  });
});

// ——— The scripts run for real (plain POSIX sh, coreutils, flock) in a temporary berth folder ———

const uid = (n: number) => `srv_${n.toString(16).padStart(16, '0')}`;

function fileOf(group: string, revision: number, prev: string | null = null): StateFile {
  const state: GroupState = { servers: [{ uid: uid(1), name: 'tb1', host: '10.0.0.1', port: 22 }], settings: { replicas: 1, webhooks: [] }, models: {}, keys: [], members: [] };
  const rev: StateRevision = { format: 1, group, revision, prev, at: '2026-12-01T10:00:00.000Z', by: { holder: 'alice', machine: 'laptop' }, change: `r${revision}`, state };
  return { hash: revisionHash(rev), revision: rev };
}

function server(): { dir: string; layout: ServerLayout; env: NodeJS.ProcessEnv; setDocker(out: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-groups-remote-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // `docker inspect` of the gateway, answered from a file the test writes.
  writeFileSync(join(bin, 'docker'), `#!/bin/sh\ncat "${join(dir, 'docker-out')}" 2>/dev/null\n`);
  chmodSync(join(bin, 'docker'), 0o755);
  const berthDir = join(dir, 'berth');
  return {
    dir: berthDir,
    layout: { ...defaultLayout, berthDir },
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
    setDocker: (out) => writeFileSync(join(dir, 'docker-out'), out),
  };
}

/** Runs a command in a local sh. */
const run = (command: RemoteCommand, stdin = '', env: NodeJS.ProcessEnv = process.env): Promise<Answer> => runLocally(String(command), stdin, env);

async function ok(command: RemoteCommand, stdin = '', env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(command, stdin, env);
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return result.stdout ?? '';
}

/** Writes revision `file` over whatever the server holds now (read first, as a change does). */
async function writeOver(layout: ServerLayout, file: StateFile): Promise<string> {
  const line = parseListing(await ok(listGroups(layout, file.revision.group))).states.get(file.revision.group);
  const check = line === undefined ? null : checkCopy(file.revision.group, line);
  const expected = check === null ? 'none' : check.ok ? check.digest : 'any';
  const replaced = check?.ok ? check.file.revision.revision : 0;
  return ok(writeState(layout, file.revision.group, expected, replaced), stateFileText(file));
}

describe('identifyAndList (run)', () => {
  it('makes the identity once: a later candidate never replaces it, even when many race', async () => {
    const s = server();
    const first = parseListing(await ok(identifyAndList(s.layout, uid(1))));
    expect(first.uid).toBe(uid(1));
    expect(readFileSync(join(s.dir, 'server.json'), 'utf8')).toBe(`{"uid":"${uid(1)}"}\n`);
    expect(parseListing(await ok(identifyAndList(s.layout, uid(2)))).uid).toBe(uid(1));

    const t = server();
    const raced = await Promise.all([10, 11, 12, 13, 14, 15].map((n) => ok(identifyAndList(t.layout, uid(n)))));
    const uids = new Set(raced.map((out) => parseListing(out).uid));
    expect(uids.size).toBe(1);
    expect([10, 11, 12, 13, 14, 15].map(uid)).toContain([...uids][0]);
    expect(readdirSync(t.dir)).toEqual(['server.json']);
  });

  it('lists every group it holds', async () => {
    const s = server();
    await writeOver(s.layout, fileOf('alpha', 1));
    await writeOver(s.layout, fileOf('beta', 1));
    const listing = parseListing(await ok(identifyAndList(s.layout, uid(3))));
    expect(listing.uid).toBe(uid(3));
    expect([...listing.states.keys()].sort()).toEqual(['alpha', 'beta']);
  });
});

describe('writeState (run)', () => {
  it('writes the first revision where there was none; the listing it prints reads back verified', async () => {
    const s = server();
    await ok(identifyAndList(s.layout, uid(1)));
    const r1 = fileOf('team', 1);
    const out = await ok(writeState(s.layout, 'team', 'none', 0), stateFileText(r1));
    expect(readFileSync(join(s.dir, 'groups/team/state.json'), 'utf8')).toBe(stateFileText(r1));
    const listing = parseListing(out);
    expect(listing.uid).toBe(uid(1));
    expect(checkCopy('team', listing.states.get('team')!)).toEqual({ ok: true, file: r1, digest: sha256Hex(stateFileText(r1)) });
    expect(readdirSync(join(s.dir, 'groups/team/history'))).toEqual([]);
  });

  it('refuses (exit 75) when the copy changed since it was read, and keeps what is there', async () => {
    const s = server();
    const r1 = fileOf('team', 1);
    await ok(writeState(s.layout, 'team', 'none', 0), stateFileText(r1));
    const r2 = fileOf('team', 2, r1.hash);
    await ok(writeState(s.layout, 'team', sha256Hex(stateFileText(r1)), 1), stateFileText(r2));

    // Another Berth read r1 and now tries to write its own r2 over it.
    const theirs = fileOf('team', 2, r1.hash);
    theirs.revision.change = 'theirs';
    for (const expected of [sha256Hex(stateFileText(r1)), 'none', DIGEST]) {
      const refused = await run(writeState(s.layout, 'team', expected, 1), stateFileText(theirs));
      expect(refused.code).toBe(CHANGED_SINCE_READ);
      expect(refused.stderr).toBe('the group state on this server changed since it was read\n');
    }
    expect(readFileSync(join(s.dir, 'groups/team/state.json'), 'utf8')).toBe(stateFileText(r2));
    expect(readdirSync(join(s.dir, 'groups/team/history'))).toEqual(['1.json']);
    expect(readFileSync(join(s.dir, 'groups/team/history/1.json'), 'utf8')).toBe(stateFileText(r1));
    // No temporary file is left behind.
    expect(readdirSync(join(s.dir, 'groups/team')).sort()).toEqual(['history', 'state.json']);
  });

  it("replaces a damaged copy only with 'any' (a repair under the group lock), keeping no history of it", async () => {
    const s = server();
    mkdirSync(join(s.dir, 'groups/team'), { recursive: true });
    writeFileSync(join(s.dir, 'groups/team/state.json'), 'garbage\n');
    const r3 = fileOf('team', 3);
    expect((await run(writeState(s.layout, 'team', 'none', 0), stateFileText(r3))).code).toBe(CHANGED_SINCE_READ);
    await ok(writeState(s.layout, 'team', 'any', 0), stateFileText(r3));
    expect(readFileSync(join(s.dir, 'groups/team/state.json'), 'utf8')).toBe(stateFileText(r3));
    expect(readdirSync(join(s.dir, 'groups/team/history'))).toEqual([]);
  });

  it('keeps the newest 50 replaced revisions', async () => {
    const s = server();
    let prev: StateFile | null = null;
    for (let n = 1; n <= 53; n++) {
      const next = fileOf('team', n, prev?.hash ?? null);
      await writeOver(s.layout, next);
      prev = next;
    }
    const history = readdirSync(join(s.dir, 'groups/team/history')).map((f) => Number(f.replace('.json', ''))).sort((a, b) => a - b);
    expect(history).toEqual(Array.from({ length: 50 }, (_, i) => i + 3));
    expect(JSON.parse(readFileSync(join(s.dir, 'groups/team/history/52.json'), 'utf8')).revision.revision).toBe(52);
  }, 30_000);

  it('prints the listing of every group on the server, with revocations', async () => {
    const s = server();
    await writeOver(s.layout, fileOf('other', 4));
    await ok(appendRevocations(s.layout, 'other'), '{"kind":"key","id":"key_01","at":"2026-12-01T11:00:00Z","by":"alice"}\n');
    const listing = parseListing(await writeOver(s.layout, fileOf('team', 1)));
    expect([...listing.states.keys()].sort()).toEqual(['other', 'team']);
    expect(listing.revocations.get('other')).toEqual([{ kind: 'key', id: 'key_01', at: '2026-12-01T11:00:00Z', by: 'alice' }]);
  });
});

describe('appendRevocations (run)', () => {
  it('only ever grows the file, even before the group has a state', async () => {
    const s = server();
    await ok(appendRevocations(s.layout, 'team'), '{"kind":"key","id":"key_01","at":"2026-12-01T11:00:00Z","by":"alice"}\n');
    await ok(appendRevocations(s.layout, 'team'), '{"kind":"member","id":"m_01","at":"2026-12-01T12:00:00Z","by":"bob"}\n');
    expect(readFileSync(join(s.dir, 'groups/team/revoked.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
    // Listed once the group has a state file.
    await writeOver(s.layout, fileOf('team', 1));
    expect(parseListing(await ok(listGroups(s.layout, 'team'))).revocations.get('team')?.map((r) => r.id)).toEqual(['key_01', 'm_01']);
  });
});

describe('listGroups (run)', () => {
  it('one group or all; a server with nothing lists only its (empty) identity', async () => {
    const s = server();
    expect(await ok(listGroups(s.layout, '*'))).toBe('identity\t\n');
    await ok(identifyAndList(s.layout, uid(5)));
    await writeOver(s.layout, fileOf('alpha', 1));
    await writeOver(s.layout, fileOf('beta', 2));
    expect([...parseListing(await ok(listGroups(s.layout, 'beta'))).states.keys()]).toEqual(['beta']);
    expect(parseListing(await ok(listGroups(s.layout, 'gamma'))).states.size).toBe(0);
    const all = await ok(listGroups(s.layout, '*'));
    expect(all).toBe(
      `identity\t{"uid":"${uid(5)}"}\n` + `state\talpha\t${stateFileText(fileOf('alpha', 1))}` + `state\tbeta\t${stateFileText(fileOf('beta', 2))}`,
    );
  });
});

describe('applyRoutes (run)', () => {
  const table = '{"revision":1,"models":{},"keys":[]}\n';

  it('installs the table derived from the listing it was given, and says whether a gateway serves this folder', async () => {
    const s = server();
    await ok(identifyAndList(s.layout, uid(1)));
    await writeOver(s.layout, fileOf('team', 1));
    const gatewayDir = join(s.dir, 'gateway');
    const digest = parseListing(await ok(listGroups(s.layout, '*'))).digest;

    expect(await ok(applyRoutes(s.layout, gatewayDir, 'berth-gateway', digest), table, s.env)).toBe('table\n');
    expect(readFileSync(join(gatewayDir, 'routes.json'), 'utf8')).toBe(table);
    expect(statSync(join(gatewayDir, 'routes.json')).mode & 0o777).toBe(0o644);

    s.setDocker(`true /etc/x ${gatewayDir} /tmp/logs \n`);
    expect(await ok(applyRoutes(s.layout, gatewayDir, 'berth-gateway', digest), table, s.env)).toBe('gateway\n');
    s.setDocker(`false ${gatewayDir} \n`);
    expect(await ok(applyRoutes(s.layout, gatewayDir, 'berth-gateway', digest), table, s.env)).toBe('table\n');
    s.setDocker(`true ${gatewayDir}-other \n`);
    expect(await ok(applyRoutes(s.layout, gatewayDir, 'berth-gateway', digest), table, s.env)).toBe('table\n');
  });

  it('refuses (exit 75) a table derived from a listing older than what the server holds now', async () => {
    const s = server();
    await ok(identifyAndList(s.layout, uid(1)));
    const r1 = fileOf('team', 1);
    await writeOver(s.layout, r1);
    const gatewayDir = join(s.dir, 'gateway');
    const stale = parseListing(await ok(listGroups(s.layout, '*'))).digest;
    await ok(applyRoutes(s.layout, gatewayDir, 'berth-gateway', stale), table, s.env);

    // Another Berth writes revision 2 before this one installs its table.
    await writeOver(s.layout, fileOf('team', 2, r1.hash));
    const newer = '{"revision":2,"models":{},"keys":[]}\n';
    const refused = await run(applyRoutes(s.layout, gatewayDir, 'berth-gateway', stale), newer, s.env);
    expect(refused.code).toBe(CHANGED_SINCE_READ);
    expect(refused.stderr).toBe("a group's state changed while its table was derived\n");
    expect(readFileSync(join(gatewayDir, 'routes.json'), 'utf8')).toBe(table);
    expect(readdirSync(gatewayDir)).toEqual(['routes.json']);

    // A revocation appended since is a change too.
    const fresh = parseListing(await ok(listGroups(s.layout, '*'))).digest;
    await ok(appendRevocations(s.layout, 'team'), '{"kind":"key","id":"key_01","at":"2026-12-01T11:00:00Z","by":"alice"}\n');
    expect((await run(applyRoutes(s.layout, gatewayDir, 'berth-gateway', fresh), newer, s.env)).code).toBe(CHANGED_SINCE_READ);

    const current = parseListing(await ok(listGroups(s.layout, '*'))).digest;
    await ok(applyRoutes(s.layout, gatewayDir, 'berth-gateway', current), newer, s.env);
    expect(readFileSync(join(gatewayDir, 'routes.json'), 'utf8')).toBe(newer);
  });
});

describe('locks (run)', () => {
  const noteOf = (holder: string, token: string) => JSON.stringify({ holder, machine: 'laptop', message: `deploy by ${holder}`, since: '2026-12-01T10:00:00.000Z', token });

  it('a second taker is told "held" with the first holder\'s note', async () => {
    const s = server();
    const lock = join(s.dir, 'groups/team/lock');
    expect(await ok(acquireLock(at(lock), noteOf('alice', 'tokA'), 120))).toBe('acquired\n');
    expect(await ok(acquireLock(at(lock), noteOf('bob', 'tokB'), 120))).toBe(`held\t${noteOf('alice', 'tokA')}\n`);
    expect(readFileSync(join(lock, 'info.json'), 'utf8')).toBe(noteOf('alice', 'tokA'));
    const expires = Number(readFileSync(join(lock, 'expires'), 'utf8'));
    expect(Math.abs(expires - (Math.floor(Date.now() / 1000) + 120))).toBeLessThanOrEqual(2);
  });

  it('only one of many simultaneous takers gets it', async () => {
    const s = server();
    const lock = join(s.dir, 'lock/iris');
    const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => ok(acquireLock(at(lock), noteOf(`u${i}`, `t${i}`), 0))));
    expect(outs.filter((o) => o === 'acquired\n')).toHaveLength(1);
    const winner = outs.indexOf('acquired\n');
    for (const o of outs.filter((x) => x !== 'acquired\n')) expect(o).toBe(`held\t${noteOf(`u${winner}`, `t${winner}`)}\n`);
  });

  it('a release with another token leaves the lock; its own token removes it', async () => {
    const s = server();
    const lock = join(s.dir, 'lock/iris');
    await ok(acquireLock(at(lock), noteOf('alice', 'tokA'), 0));
    expect(await ok(releaseLock(at(lock), 'tokB'))).toBe('not-ours\n');
    expect(await ok(releaseLock(at(lock), 'tok'))).toBe('not-ours\n');
    expect(await ok(releaseLock(at(lock), ''))).toBe('not-ours\n');
    expect(existsSync(join(lock, 'info.json'))).toBe(true);
    expect(await ok(releaseLock(at(lock), 'tokA'))).toBe('released\n');
    expect(existsSync(lock)).toBe(false);
    expect(await ok(releaseLock(at(lock), 'tokA'))).toBe('not-ours\n');
  });

  it('an expired lock is taken over; one without expiry (0) never is', async () => {
    const s = server();
    const lock = join(s.dir, 'groups/team/lock');
    await ok(acquireLock(at(lock), noteOf('alice', 'tokA'), 120));
    writeFileSync(join(lock, 'expires'), `${Math.floor(Date.now() / 1000) - 5}\n`);
    expect(await ok(acquireLock(at(lock), noteOf('bob', 'tokB'), 120))).toBe('acquired\n');
    expect(readFileSync(join(lock, 'info.json'), 'utf8')).toBe(noteOf('bob', 'tokB'));
    // The dead holder's late release does not remove the new holder's lock.
    expect(await ok(releaseLock(at(lock), 'tokA'))).toBe('not-ours\n');
    expect(readdirSync(join(s.dir, 'groups/team')).sort()).toEqual(['lock', 'lock.guard']);

    const model = join(s.dir, 'lock/iris');
    await ok(acquireLock(at(model), noteOf('alice', 'tokC'), 0));
    expect(readFileSync(join(model, 'expires'), 'utf8')).toBe('never\n');
    expect(await ok(acquireLock(at(model), noteOf('bob', 'tokD'), 0))).toMatch(/^held\t/);
  });

  it('of many simultaneous takers of an expired lock, one wins and the others are told it is held', async () => {
    for (let round = 0; round < 3; round++) {
      const s = server();
      const lock = join(s.dir, 'groups/team/lock');
      await ok(acquireLock(at(lock), noteOf('dead', 'tokX'), 120));
      writeFileSync(join(lock, 'expires'), `${Math.floor(Date.now() / 1000) - 5}\n`);
      const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => ok(acquireLock(at(lock), noteOf(`u${i}`, `t${i}`), 120))));
      expect(outs.filter((o) => o === 'acquired\n')).toHaveLength(1);
      const winner = outs.indexOf('acquired\n');
      expect(readFileSync(join(lock, 'info.json'), 'utf8')).toBe(noteOf(`u${winner}`, `t${winner}`));
      for (const o of outs.filter((x) => x !== 'acquired\n')) expect(o).toBe(`held\t${noteOf(`u${winner}`, `t${winner}`)}\n`);
    }
  });

  it('extendLock pushes the expiry of its own lock only, never of one taken over since', async () => {
    const s = server();
    const lock = join(s.dir, 'lock/iris');
    const nowS = () => Math.floor(Date.now() / 1000);
    await ok(acquireLock(at(lock), noteOf('alice', 'tokA'), 180));
    writeFileSync(join(lock, 'expires'), `${nowS() + 5}\n`);
    expect(await ok(extendLock(at(lock), 'tokA', 180))).toBe('extended\n');
    expect(Math.abs(Number(readFileSync(join(lock, 'expires'), 'utf8')) - (nowS() + 180))).toBeLessThanOrEqual(2);
    expect(await ok(extendLock(at(lock), 'tokB', 999))).toBe('not-ours\n');
    expect(Number(readFileSync(join(lock, 'expires'), 'utf8'))).toBeLessThan(nowS() + 200);

    // Expired and taken over by bob: alice's late heartbeat does not keep (or extend) bob's lock as hers.
    writeFileSync(join(lock, 'expires'), `${nowS() - 1}\n`);
    expect(await ok(acquireLock(at(lock), noteOf('bob', 'tokB'), 60))).toBe('acquired\n');
    const bobs = readFileSync(join(lock, 'expires'), 'utf8');
    expect(await ok(extendLock(at(lock), 'tokA', 999))).toBe('not-ours\n');
    expect(readFileSync(join(lock, 'expires'), 'utf8')).toBe(bobs);
    expect(await ok(extendLock(at(join(s.dir, 'lock/none')), 'tokA', 60))).toBe('not-ours\n');
    expect(existsSync(join(s.dir, 'lock/none'))).toBe(false);
  });

  it('a lock not yet expired is not taken over', async () => {
    const s = server();
    const lock = join(s.dir, 'groups/team/lock');
    await ok(acquireLock(at(lock), noteOf('alice', 'tokA'), 120));
    writeFileSync(join(lock, 'expires'), `${Math.floor(Date.now() / 1000) + 30}\n`);
    expect(await ok(acquireLock(at(lock), noteOf('bob', 'tokB'), 120))).toMatch(/^held\t.*"holder":"alice"/);
  });

  it('breakLock removes whoever holds it; listLocks lists model and group locks with their notes', async () => {
    const s = server();
    expect(await ok(listLocks(s.layout))).toBe('');
    await ok(acquireLock(at(join(s.dir, 'lock/iris')), noteOf('alice', 'tokA'), 0));
    await ok(acquireLock(at(join(s.dir, 'groups/team/lock')), noteOf('bob', 'tokB'), 120));
    expect((await ok(listLocks(s.layout))).split('\n').filter(Boolean)).toEqual([
      `${s.dir}/lock/iris\t${noteOf('alice', 'tokA')}`,
      `${s.dir}/groups/team/lock\t${noteOf('bob', 'tokB')}`,
    ]);
    expect(await ok(breakLock(at(join(s.dir, 'lock/iris'))))).toBe('held\n');
    expect(await ok(breakLock(at(join(s.dir, 'lock/iris'))))).toBe('free\n');
    expect((await ok(listLocks(s.layout))).split('\n').filter(Boolean)).toHaveLength(1);
  });
});
