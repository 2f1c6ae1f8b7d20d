/**
 * The remote commands of the group state (design point 7: commands are data). Each is a constant script; every
 * value reaches it as a positional parameter. Paths come from remote/layout.ts.
 */
import { command, script, type RemoteCommand } from '../remote/command';
import { checkGroupName, groupPaths, serverIdentityPath, type LockPlace, type ServerLayout } from '../remote/layout';

/** Exit status a compare-and-swap script uses when what it would replace changed since it was read. */
export const CHANGED_SINCE_READ = 75;

/**
 * Prints the server's identity line, then one line per group state file and per revocation, for every group
 * (`*`) or one. Used verbatim by the derive step, which recomputes the digest of this listing under a lock.
 */
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

/** The server's identity (made now if it has none: `ln` never replaces a file, so two Berths agree) and its groups. */
export function identifyAndList(layout: ServerLayout, candidateUid: string): RemoteCommand {
  return script(
    `${LISTING}
f=$2; mkdir -p "$(dirname "$f")"
if [ ! -s "$f" ]; then printf '{"uid":"%s"}\\n' "$3" > "$f.$$" && { ln "$f.$$" "$f" 2>/dev/null; rm -f "$f.$$"; }; fi
listing "$1" '*'`,
    layout.berthDir,
    serverIdentityPath(layout),
    candidateUid,
    // A member's server was claimed: it has its identity already.
  ).asVerb(['state-list']);
}

/** Identity, and the state and revocations of one group (or of every group with `*`). */
export function listGroups(layout: ServerLayout, group: string | '*'): RemoteCommand {
  return script(`${LISTING}\nlisting "$1" "$2"`, layout.berthDir, group === '*' ? '*' : checkGroupName(group)).asVerb(group === '*' ? ['state-list'] : ['state-list', group]);
}

/**
 * Writes a new state file (stdin, one line) if the current one still has the digest the writer read ("none":
 * there was none; "any": a damaged copy being repaired under the group lock); the replaced file goes to history/<its revision>.json, of which the newest 50 are kept. Then
 * prints the listing of every group, from which the writer derives what this server runs.
 */
export function writeState(layout: ServerLayout, group: string, expectedDigest: string, replacedRevision: number): RemoteCommand {
  const paths = groupPaths(layout, group);
  return script(
    `${LISTING}
d=$2; f=$d/state.json; mkdir -p "$d/history" || exit 1
tmp=$d/.state.$$; cat > "$tmp" || { rm -f "$tmp"; exit 1; }
if [ -e "$f" ]; then cur=$(sha256sum < "$f" | cut -c1-64); else cur=none; fi
if [ "$3" != any ] && [ "$cur" != "$3" ]; then rm -f "$tmp"; echo "the group state on this server changed since it was read" >&2; exit ${CHANGED_SINCE_READ}; fi
if [ -e "$f" ] && [ "$4" != 0 ]; then cp -p "$f" "$d/history/$4.json"; fi
mv -f "$tmp" "$f" || exit 1
ls "$d/history" | sort -n | head -n -50 | while IFS= read -r old; do rm -f "$d/history/$old"; done
listing "$1" '*'`,
    layout.berthDir,
    paths.dir,
    expectedDigest,
    replacedRevision,
    // The verb checks the member's rights and the group lock, and derives routes.json itself (then prints `routes\t…`).
  ).asVerb(['state-apply', group, expectedDigest, replacedRevision]);
}

/** Appends revocations (stdin, one JSON line each) to the group's grow-only revocation file. */
export function appendRevocations(layout: ServerLayout, group: string): RemoteCommand {
  const paths = groupPaths(layout, group);
  return script(`mkdir -p "$(dirname "$1")" && cat >> "$1"`, paths.revoked);
}

/**
 * Replaces the server's gateway table (stdin) with one derived from the listing whose digest is given, under a
 * server-wide lock; refuses with CHANGED_SINCE_READ if any group's state changed in between (another Berth
 * wrote), so a table derived from an older view never replaces a newer one. Prints "gateway" when a running
 * gateway serves this folder (its switch can then be confirmed).
 */
export function applyRoutes(layout: ServerLayout, gatewayDir: string, gatewayContainer: string, listingDigest: string): RemoteCommand {
  return script(
    `${LISTING}
mkdir -p "$1/groups" "$2" || exit 1
exec 9>"$1/groups/.derive.lock"; flock -w 20 9 || { echo "another Berth is updating this server" >&2; exit ${CHANGED_SINCE_READ}; }
dg=$(listing "$1" '*' | sha256sum | cut -c1-64)
if [ "$dg" != "$4" ]; then echo "a group's state changed while its table was derived" >&2; exit ${CHANGED_SINCE_READ}; fi
tmp=$(mktemp "$2/.routes.json.XXXXXX") || exit 1
{ cat > "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$2/routes.json"; } || { rm -f "$tmp"; exit 1; }
mounts=$(docker inspect -f '{{.State.Running}} {{range .Mounts}}{{.Source}} {{end}}' "$3" 2>/dev/null)
case "$mounts" in "true "*"$2 "*) echo gateway ;; *) echo table ;; esac`,
    layout.berthDir,
    gatewayDir,
    gatewayContainer,
    listingDigest,
  );
}

/**
 * Takes a lock folder (`mkdir` is atomic) with the holder's note and an expiry in server time; a lock past its
 * expiry is moved aside first. Prints "acquired", or "held" and the note. Taking (and releasing) is serialized by
 * flock on a sibling guard file, so a second taker never reads the folder before its note is written, and two
 * takers of an expired lock never both win (one could otherwise move aside the lock the other just took).
 */
const lockVerb = (lock: LockPlace, verb: 'lock' | 'extend' | 'unlock' | 'break-lock') => (lock.scope === 'group' ? `group-${verb}` : verb);

export function acquireLock(lock: LockPlace, note: string, ttlSeconds: number): RemoteCommand {
  return script(
    `l=$1; mkdir -p "$(dirname "$l")" || exit 1
exec 9>"$l.guard"; flock -w 10 9 || { echo "the lock $l stayed busy" >&2; exit 1; }
exp=$(cat "$l/expires" 2>/dev/null)
if [ -n "$exp" ] && [ "$exp" != never ] && [ "$(date +%s)" -gt "$exp" ]; then mv "$l" "$l.stale.$$" 2>/dev/null && rm -rf "$l.stale.$$"; fi
if mkdir "$l" 2>/dev/null; then
  printf '%s' "$2" > "$l/info.json"
  if [ "$3" = 0 ]; then echo never > "$l/expires"; else echo $(( $(date +%s) + $3 )) > "$l/expires"; fi
  echo acquired
else
  printf 'held\\t'; head -c 4096 "$l/info.json" 2>/dev/null | tr -d '\\n'; echo
fi`,
    lock.dir,
    note,
    ttlSeconds,
  ).asVerb([lockVerb(lock, 'lock'), lock.name, ttlSeconds], note);
}

/** Pushes a held lock's expiry forward (a long operation's heartbeat); only the lock this token took (under the guard, so never one taken over meanwhile). */
export function extendLock(lock: LockPlace, token: string, ttlSeconds: number): RemoteCommand {
  return script(
    `[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\\"token\\":\\"$2\\"" "$1/info.json" 2>/dev/null; then echo $(( $(date +%s) + $3 )) > "$1/expires"; echo extended; else echo not-ours; fi`,
    lock.dir,
    token,
    ttlSeconds,
  ).asVerb([lockVerb(lock, 'extend'), lock.name, token, ttlSeconds]);
}

/** Removes a lock only if it is still the one this token took: never one that another holder took since. */
export function releaseLock(lock: LockPlace, token: string): RemoteCommand {
  return script(`[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\\"token\\":\\"$2\\"" "$1/info.json" 2>/dev/null; then rm -rf "$1"; echo released; else echo not-ours; fi`, lock.dir, token).asVerb([
    lockVerb(lock, 'unlock'),
    lock.name,
    token,
  ]);
}

/** Removes a lock whoever holds it (admins, audited); prints whether one was held. */
export function breakLock(lock: LockPlace): RemoteCommand {
  return script(`if [ -d "$1" ]; then rm -rf "$1"; echo held; else echo free; fi`, lock.dir).asVerb([lockVerb(lock, 'break-lock'), lock.name]);
}

/** Every model lock and group lock on the server: one line each, its folder and its note. */
export function listLocks(layout: ServerLayout): RemoteCommand {
  return script(
    `for d in "$1"/lock/*/ "$1"/groups/*/lock/; do [ -d "$d" ] || continue; d=\${d%/}; printf '%s\\t' "$d"; head -c 4096 "$d/info.json" 2>/dev/null | tr -d '\\n'; echo; done`,
    layout.berthDir,
  );
}

/** Reads a file from a server; for repair and for tests that damage a copy. */
export const readFile = (path: string) => command('cat', path);

/**
 * A member's re-derive of the server's table after a change outside a revision (a revocation): the server derives
 * it from every group it holds, which a member's own listing (their groups only) could not.
 */
export function deriveOnServer(): RemoteCommand {
  return command('berth', 'routes-derive').asVerb(['routes-derive']);
}
