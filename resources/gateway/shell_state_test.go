package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The app's scripts (electron/main/services/groups/remote.ts), as the shell receives them once the TypeScript
// template literals are read: the LISTING function, acquireLock, extendLock and releaseLock.
const (
	appListing = `listing() {
  printf 'identity\t'; tr -d '\n' < "$1/server.json" 2>/dev/null; echo
  for s in "$1"/groups/$2/state.json; do
    [ -e "$s" ] || continue
    n=${s%/state.json}; n=${n##*/}
    printf 'state\t%s\t' "$n"; tr -d '\n' < "$s"; echo
    [ -e "$1/groups/$n/revoked.jsonl" ] || continue
    while IFS= read -r l; do printf 'revoked\t%s\t%s\n' "$n" "$l"; done < "$1/groups/$n/revoked.jsonl"
  done
}`
	appAcquireLock = `l=$1; mkdir -p "$(dirname "$l")" || exit 1
exec 9>"$l.guard"; flock -w 10 9 || { echo "the lock $l stayed busy" >&2; exit 1; }
exp=$(cat "$l/expires" 2>/dev/null)
if [ -n "$exp" ] && [ "$exp" != never ] && [ "$(date +%s)" -gt "$exp" ]; then mv "$l" "$l.stale.$$" 2>/dev/null && rm -rf "$l.stale.$$"; fi
if mkdir "$l" 2>/dev/null; then
  printf '%s' "$2" > "$l/info.json"
  if [ "$3" = 0 ]; then echo never > "$l/expires"; else echo $(( $(date +%s) + $3 )) > "$l/expires"; fi
  echo acquired
else
  printf 'held\t'; head -c 4096 "$l/info.json" 2>/dev/null | tr -d '\n'; echo
fi`
	appExtendLock  = `[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\"token\":\"$2\"" "$1/info.json" 2>/dev/null; then echo $(( $(date +%s) + $3 )) > "$1/expires"; echo extended; else echo not-ours; fi`
	appReleaseLock = `[ -d "$1" ] || { echo not-ours; exit 0; }; exec 9>"$1.guard"; flock -w 10 9 || exit 1; if grep -qF "\"token\":\"$2\"" "$1/info.json" 2>/dev/null; then rm -rf "$1"; echo released; else echo not-ours; fi`
)

// appScript runs one of the app's scripts as Berth does over SSH: sh -c <script> sh <args…>.
func appScript(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).Output()
	if err != nil {
		t.Fatalf("%s: %v", strings.SplitN(script, "\n", 2)[0], err)
	}
	return string(out)
}

// appListingOf is what listGroups prints for a group, or `*`.
func appListingOf(t *testing.T, berthDir, group string) string {
	return appScript(t, appListing+"\nlisting \"$1\" \"$2\"", berthDir, group)
}

const (
	memberDeb  = "m_deb001" // a deployer of every model of prod
	memberDora = "m_dora01" // a deployer of dev, a viewer in prod
	memberEve  = "m_eve001" // Ada's fellow admin
)

// shellStateTeam: group prod (models m1, m2) with Vera viewer, Dan deployer of m1 only, Deb deployer, Dora
// viewer, Ada admin; group dev (model d1) with Dora deployer.
func shellStateTeam(t *testing.T) *shellFixture {
	f := newShellFixture(t)
	f.writeGroup(shellStateGroup())
	f.writeGroup(shellGroup{name: "dev", models: []string{"d1"}, members: []map[string]any{shellMember(memberDora, "Dora", "deployer")}})
	return f
}

func shellStateGroup() shellGroup {
	return shellGroup{name: "prod", models: []string{"m1", "m2"}, keys: []map[string]any{testKey("key_01")}, members: []map[string]any{
		shellMember(memberVera, "Vera Viewer", "viewer"), shellMember(memberDan, "Dan Deployer", "deployer", "m1"),
		shellMember(memberDeb, "Deb Deployer", "deployer"), shellMember(memberDora, "Dora", "viewer"),
		shellMember(memberAda, "Ada Admin", "admin"), shellMember(memberEve, "Eve Admin", "admin"),
	}}
}

func (f *shellFixture) lockDir(model string) string { return filepath.Join(f.dir, "lock", model) }

func (f *shellFixture) readText(path string) string {
	f.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(data)
}

func expectOut(t *testing.T, got shellResult, stdout string) {
	t.Helper()
	if got.code != 0 || got.stdout != stdout {
		t.Fatalf("got exit %d, stdout %q, stderr %q; want exit 0, stdout %q", got.code, got.stdout, got.stderr, stdout)
	}
}

func TestShellLockTokensAndExpiry(t *testing.T) {
	f := shellStateTeam(t)
	dir := f.lockDir("m1")
	note := `{"folder":"/home/deb/berth","holder":"mallory","machine":"laptop","member":"m_evil","message":"deploy m1 v2","pid":4242,"since":"2026-12-03T10:00:00.000Z","token":"aaaa1111"}`
	stamped := `{"folder":"/home/deb/berth","holder":"Deb Deployer","machine":"laptop","member":"m_deb001","message":"deploy m1 v2","pid":4242,"since":"2026-12-03T10:00:00.000Z","token":"aaaa1111"}`
	before := time.Now().Unix()
	expectOut(t, f.as(memberDeb, "lock m1 180", note+"\n"), "acquired\n")
	if got := f.readText(filepath.Join(dir, "info.json")); got != stamped {
		t.Fatalf("info.json %s", got)
	}
	expires, _ := strconv.ParseInt(strings.TrimSuffix(f.readText(filepath.Join(dir, "expires")), "\n"), 10, 64)
	if expires < before+180 || expires > time.Now().Unix()+180 {
		t.Fatalf("expires %d, now %d", expires, before)
	}
	if _, err := os.Stat(dir + ".guard"); err != nil {
		t.Fatal("no guard file beside the lock", err)
	}
	// Another taker sees the holder's note, exit 0, exactly as acquireLock prints it.
	expectOut(t, f.as(memberAda, "berth lock m1 180", `{"token":"bbbb2222"}`), "held\t"+stamped+"\n")
	expectOut(t, f.as(memberDeb, "lock m1 180", note), "held\t"+stamped+"\n")

	// extend and unlock act only on the lock of their token.
	expectOut(t, f.as(memberDeb, "extend m1 bbbb2222 600"), "not-ours\n")
	expectOut(t, f.as(memberDeb, "extend m1 aaaa1111 600"), "extended\n")
	if expires, _ := strconv.ParseInt(strings.TrimSpace(f.readText(filepath.Join(dir, "expires"))), 10, 64); expires < before+600 {
		t.Fatalf("expires %d after extend", expires)
	}
	expectOut(t, f.as(memberDeb, "unlock m1 bbbb2222"), "not-ours\n")
	if !isDir(dir) {
		t.Fatal("another token released the lock")
	}
	// A token is no secret: another deployer holding it may not release the lock; an admin may.
	expectShell(t, f.as(memberDan, "unlock m1 aaaa1111"), 126,
		"berth: the lock of model m1 with that token was taken by Deb Deployer (m_deb001) on laptop since 2026-12-03T10:00:00.000Z: only that member or an admin may unlock it")
	expectShell(t, f.as(memberDan, "extend m1 aaaa1111 60"), 126, "only that member or an admin may extend it")
	expectOut(t, f.as(memberAda, "berth extend m1 aaaa1111 60"), "extended\n")
	expectOut(t, f.as(memberDeb, "unlock m1 aaaa1111"), "released\n")
	if isDir(dir) {
		t.Fatal("the lock is still there")
	}
	expectOut(t, f.as(memberDeb, "unlock m1 aaaa1111"), "not-ours\n")
	expectOut(t, f.as(memberDeb, "extend m1 aaaa1111 60"), "not-ours\n")

	// ttl 0 is never; never is never expired; a past expiry is taken over (the old lock moved aside and removed).
	expectOut(t, f.as(memberDeb, "lock m1 0", note), "acquired\n")
	if got := f.readText(filepath.Join(dir, "expires")); got != "never\n" {
		t.Fatalf("expires %q", got)
	}
	expectOut(t, f.as(memberAda, "berth lock m1 60", `{"token":"bbbb2222"}`), "held\t"+stamped+"\n")
	writeFile(t, filepath.Join(dir, "expires"), fmt.Sprintf("%d\n", time.Now().Unix()-5))
	expectOut(t, f.as(memberAda, "berth lock m1 60", `{"message":"break glass","token":"bbbb2222"}`), "acquired\n")
	if got := f.readText(filepath.Join(dir, "info.json")); got != `{"holder":"Ada Admin","member":"m_ada001","message":"break glass","token":"bbbb2222"}` {
		t.Fatalf("info.json %s", got)
	}
	expectOut(t, f.as(memberDeb, "unlock m1 aaaa1111"), "not-ours\n") // the old holder's token no longer releases it
	// A lock whose expiry is ahead stays held.
	writeFile(t, filepath.Join(dir, "expires"), fmt.Sprintf("%d\n", time.Now().Unix()+60))
	expectOut(t, f.as(memberDeb, "lock m1 60", note), "held\t"+`{"holder":"Ada Admin","member":"m_ada001","message":"break glass","token":"bbbb2222"}`+"\n")
	entries, _ := os.ReadDir(filepath.Join(f.dir, "lock"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "m1 m1.guard" {
		t.Fatalf("lock/ holds %q", names)
	}
	expectOut(t, f.as(memberVera, "locks"), "m1\t"+`{"holder":"Ada Admin","member":"m_ada001","message":"break glass","token":"bbbb2222"}`+"\n")

	// Arguments.
	expectShell(t, f.as(memberDeb, "lock m2 86401", "{}"), 64, "the ttl must be 0 (never) to 86400 seconds")
	expectShell(t, f.as(memberDeb, "lock m2 -1", "{}"), 64, "invalid ttl")
	expectShell(t, f.as(memberDeb, "lock m2 60", `{"token":"a\"b"}`), 64, "the note's token must be a string matching")
	expectShell(t, f.as(memberDeb, "lock m2 60", `{"token":7}`), 64, "the note's token must be a string")
	expectShell(t, f.as(memberDeb, "lock m2 60", `{"message":"`+strings.Repeat("x", 4080)+`"}`), 64, "longer than 4096 bytes once the holder is stamped")
	expectShell(t, f.as(memberDeb, "extend m1 aaaa1111"), 64, "usage: extend <model> <token> <ttl-seconds")
	expectShell(t, f.as(memberDeb, "unlock m1 a,b"), 64, "invalid token")
	expectShell(t, f.as(memberDan, "lock m2 60", "{}"), 126, "berth: role deployer on model m2 is needed to lock m2 (you have: viewer in group prod (deployer only on m1))")
	expectShell(t, f.as(memberDan, "extend m2 aaaa1111 60"), 126, "role deployer on model m2 is needed to extend the lock of m2")
	expectShell(t, f.as(memberVera, "lock m1 60", "{}"), 126, "role viewer may not run 'lock'")
	if _, err := os.Stat(f.lockDir("m2")); err == nil {
		t.Fatal("a refused lock was taken")
	}
	f.noDocker()
}

func TestShellLockGuardIsWaitedFor(t *testing.T) {
	f := shellStateTeam(t)
	mkdirAll(t, filepath.Join(f.dir, "lock"))
	guard, err := os.OpenFile(f.lockDir("m1")+".guard", os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil || !flockWait(guard, time.Second) {
		t.Fatal("cannot hold the guard", err)
	}
	defer func(wait time.Duration) { lockGuardWait = wait }(lockGuardWait)
	lockGuardWait = 100 * time.Millisecond
	expectShell(t, f.as(memberDeb, "lock m1 60", "{}"), 75, "berth: the lock of model m1 stayed busy for more than 100ms")
	guard.Close() // the flock goes with the file
	expectOut(t, f.as(memberDeb, "lock m1 60", "{}"), "acquired\n")
}

// The app's scripts and the verbs take, see, extend and release each other's locks.
func TestShellLocksInteroperateWithTheAppScripts(t *testing.T) {
	f := shellStateTeam(t)
	dir := f.lockDir("m1")
	expectOut(t, f.as(memberDeb, "lock m1 180", `{"holder":"x","token":"aaaa1111"}`), "acquired\n")
	stamped := `{"holder":"Deb Deployer","member":"m_deb001","token":"aaaa1111"}`
	if got := appScript(t, appAcquireLock, dir, `{"holder":"root","token":"cccc3333"}`, "120"); got != "held\t"+stamped+"\n" {
		t.Fatalf("acquireLock printed %q", got)
	}
	if got := appScript(t, appExtendLock, dir, "aaaa1111", "300"); got != "extended\n" {
		t.Fatalf("extendLock printed %q", got)
	}
	if got := appScript(t, appReleaseLock, dir, "cccc3333"); got != "not-ours\n" {
		t.Fatalf("releaseLock printed %q", got)
	}
	if got := appScript(t, appReleaseLock, dir, "aaaa1111"); got != "released\n" {
		t.Fatalf("releaseLock printed %q", got)
	}
	// A lock the app's script took (no member in its note): the verbs see it held; only an admin may release it.
	appNote := `{"holder":"root","machine":"ci","message":"deploy","since":"2026-12-03T10:00:00.000Z","token":"cccc3333","pid":7,"folder":null}`
	if got := appScript(t, appAcquireLock, dir, appNote, "0"); got != "acquired\n" {
		t.Fatalf("acquireLock printed %q", got)
	}
	expectOut(t, f.as(memberDeb, "lock m1 60", "{}"), "held\t"+appNote+"\n")
	expectShell(t, f.as(memberDeb, "unlock m1 cccc3333"), 126, "taken by root on ci since 2026-12-03T10:00:00.000Z: only that member or an admin may unlock it")
	expectOut(t, f.as(memberAda, "berth unlock m1 cccc3333"), "released\n")
	// An expired lock of the verbs is taken over by the script, and one of the script by the verbs.
	expectOut(t, f.as(memberDeb, "lock m1 60", `{"token":"aaaa1111"}`), "acquired\n")
	writeFile(t, filepath.Join(dir, "expires"), fmt.Sprintf("%d\n", time.Now().Unix()-1))
	if got := appScript(t, appAcquireLock, dir, appNote, "30"); got != "acquired\n" {
		t.Fatalf("acquireLock printed %q", got)
	}
	writeFile(t, filepath.Join(dir, "expires"), fmt.Sprintf("%d\n", time.Now().Unix()-1))
	expectOut(t, f.as(memberDeb, "lock m1 60", `{"token":"aaaa1111"}`), "acquired\n")
	if got := appScript(t, appReleaseLock, dir, "aaaa1111"); got != "released\n" {
		t.Fatalf("releaseLock printed %q", got)
	}
}

func TestShellGroupLocks(t *testing.T) {
	f := shellStateTeam(t)
	dir := filepath.Join(f.dir, "groups", "prod", "lock")
	expectOut(t, f.as(memberDan, "group-lock prod 120", `{"message":"prod: deploy m1","token":"dddd4444"}`), "acquired\n")
	stamped := `{"holder":"Dan Deployer","member":"m_dan001","message":"prod: deploy m1","token":"dddd4444"}`
	if got := f.readText(filepath.Join(dir, "info.json")); got != stamped {
		t.Fatalf("info.json %s", got)
	}
	if _, err := os.Stat(dir + ".guard"); err != nil {
		t.Fatal(err)
	}
	if got := appScript(t, appAcquireLock, dir, `{"token":"x"}`, "120"); got != "held\t"+stamped+"\n" {
		t.Fatalf("acquireLock printed %q", got)
	}
	expectOut(t, f.as(memberDeb, "group-lock prod 120", "{}"), "held\t"+stamped+"\n")
	expectOut(t, f.as(memberDan, "group-extend prod dddd4444 120"), "extended\n")
	expectOut(t, f.as(memberDan, "group-unlock prod eeee5555"), "not-ours\n")
	expectShell(t, f.as(memberDeb, "group-unlock prod dddd4444"), 126, "the lock of group prod with that token was taken by Dan Deployer (m_dan001)")
	expectOut(t, f.as(memberDan, "group-unlock prod dddd4444"), "released\n")
	// Rights: deployer in that group; group-break-lock is an admin's of that group.
	expectShell(t, f.as(memberDora, "group-lock prod 120", "{}"), 126, "berth: role deployer in group prod is needed to lock group prod (you have: viewer)")
	expectShell(t, f.as(memberDora, "group-lock staging 120", "{}"), 126, "role deployer in group staging is needed to lock group staging (you have: no role: group staging has no state on this server)")
	expectOut(t, f.as(memberDora, "group-lock dev 120", "{}"), "acquired\n")
	expectShell(t, f.as(memberVera, "group-lock prod 120", "{}"), 126, "role viewer may not run 'group-lock'")
	expectShell(t, f.as(memberDora, "group-break-lock dev"), 126, "role deployer may not run 'group-break-lock'")
	expectShell(t, f.as(memberAda, "berth group-break-lock dev"), 126, "berth: role admin in group dev is needed to break the lock of group dev (you have: no role in group dev)")
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "free\n")
	expectOut(t, f.as(memberDan, "group-lock prod 0", "{}"), "acquired\n")
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectShell(t, f.as(memberDan, "group-unlock prod"), 64, "usage: group-unlock <group> <token>")
	expectShell(t, f.as(memberDan, "group-lock ../prod 60", "{}"), 64, "invalid group name")
	// A group with no state here (a server joining it): only an admin of this server's other groups may lock it.
	expectOut(t, f.as(memberAda, "berth group-lock staging 60", "{}"), "acquired\n")
}

func TestShellStateListIsTheAppListing(t *testing.T) {
	f := shellStateTeam(t)
	writeFile(t, filepath.Join(f.dir, "server.json"), fmt.Sprintf("{\"uid\":%q}\n", testUID(1)))
	f.writeGroup(shellGroup{name: "a-b", models: []string{"ab1"}, members: []map[string]any{shellMember(memberAda, "Ada Admin", "admin")}})
	f.writeGroup(shellGroup{name: "ab", models: []string{"ab2"}, members: []map[string]any{shellMember(memberAda, "Ada Admin", "admin")}})
	f.writeGroup(shellGroup{name: "dev", models: []string{"d1"}, members: []map[string]any{
		shellMember(memberDora, "Dora", "deployer"), shellMember(memberAda, "Ada Admin", "admin")}})
	f.revoke("prod", "key", "key_01")
	f.revoke("prod", "member", memberVera)
	// Lines as they come: an empty one, spaces and backslashes kept, and a last line without its newline (read
	// stops there, so the script leaves it out).
	revoked := filepath.Join(f.dir, "groups", "prod", "revoked.jsonl")
	data, _ := os.ReadFile(revoked)
	writeFile(t, revoked, string(data)+"\n  {\"kind\":\"key\",\"id\":\"k\\\\x\"}  \n{\"kind\":\"key\",\"id\":\"partial\"}")
	mkdirAll(t, filepath.Join(f.dir, "groups", "empty")) // a group folder without a state
	all := appListingOf(t, f.dir, "*")
	if strings.Count(all, "\nstate\t") != 4 || strings.Count(all, "\nrevoked\t") != 4 || strings.Contains(all, "partial") {
		t.Fatalf("the app's listing:\n%s", all)
	}
	expectOut(t, f.as(memberAda, "berth state-list *"), all)
	expectOut(t, f.as(memberAda, "berth state-list"), all)
	for _, g := range []string{"prod", "dev", "a-b"} {
		expectOut(t, f.as(memberAda, "berth state-list "+g), appListingOf(t, f.dir, g))
	}
	// A member sees the groups they are in, and is refused one they are not in.
	var want strings.Builder
	for _, line := range strings.SplitAfter(all, "\n") {
		if strings.HasPrefix(line, "identity\t") || strings.HasPrefix(line, "state\tprod\t") || strings.HasPrefix(line, "revoked\tprod\t") {
			want.WriteString(line)
		}
	}
	expectOut(t, f.as(memberDan, "state-list *"), want.String())
	expectOut(t, f.as(memberDan, "state-list prod"), appListingOf(t, f.dir, "prod"))
	expectShell(t, f.as(memberDan, "state-list dev"), 126, "berth: only members of group dev may list its state (you are in: prod)")
	expectShell(t, f.as(memberDan, "state-list staging"), 126, "only members of group staging may list its state")
	expectShell(t, f.as(memberDan, "state-list prod dev"), 64, "usage: state-list [<group>|*]")
	expectShell(t, f.as(memberDan, "state-list **"), 126, "berth-shell accepts plain words only")
	expectShell(t, f.as(memberDan, "state-list ../x"), 64, "invalid group name")
	// A damaged copy is listed to an admin (who repairs it), to no one else.
	writeFile(t, stateStore{f.dir}.statePath("dev"), `{"hash":"damaged"}`+"\n")
	expectOut(t, f.as(memberAda, "berth state-list"), appListingOf(t, f.dir, "*"))
	expectShell(t, f.as(memberDora, "state-list dev"), 126, "only members of group dev may list its state (you are in: prod)")
	expectOut(t, f.as(memberDan, "state-list"), want.String())
	// An identity not made yet.
	os.Remove(filepath.Join(f.dir, "server.json"))
	expectOut(t, f.as(memberAda, "berth state-list"), appListingOf(t, f.dir, "*"))
	f.noDocker()
}

// ---- state-apply

func fileDigest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// revise is the next revision of a state file (revision + 1, prev = its hash) with edit applied to its state.
func revise(t *testing.T, current string, edit func(state map[string]any)) string {
	t.Helper()
	var file struct {
		Hash     string          `json:"hash"`
		Revision json.RawMessage `json:"revision"`
	}
	if err := json.Unmarshal([]byte(current), &file); err != nil {
		t.Fatal(err)
	}
	var revision map[string]any
	dec := json.NewDecoder(bytes.NewReader(file.Revision))
	dec.UseNumber()
	if err := dec.Decode(&revision); err != nil {
		t.Fatal(err)
	}
	n, _ := revision["revision"].(json.Number).Int64()
	revision["revision"], revision["prev"], revision["change"] = n+1, file.Hash, "changed"
	if edit != nil {
		edit(revision["state"].(map[string]any))
	}
	return shellStateText(t, revision)
}

func object(v any, path ...string) map[string]any {
	m := v.(map[string]any)
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

// stateApplier applies states to group prod of a fixture, as the member holding its lock.
type stateApplier struct {
	f     *shellFixture
	path  string
	group string
}

func (a stateApplier) current() string {
	return strings.TrimSuffix(a.f.readText(a.path), "\n")
}

func (a stateApplier) revision() int64 {
	c := checkState(a.group, []byte(a.current()))
	return c.Rev.Revision
}

// apply runs state-apply with the current digest and revision.
func (a stateApplier) apply(member, text string) shellResult {
	request := fmt.Sprintf("berth state-apply %s %s %d", a.group, fileDigest(a.f.t, a.path), a.revision())
	return a.f.as(member, request, text+"\n")
}

func TestShellStateApplyNeedsTheGroupLockAndTheDigest(t *testing.T) {
	f := shellStateTeam(t)
	a := stateApplier{f: f, path: stateStore{f.dir}.statePath("prod"), group: "prod"}
	original := a.current()
	next := revise(t, original, func(s map[string]any) { object(s, "models", "m1")["public"] = true })
	expectShell(t, a.apply(memberDeb, next), 75, "berth: the lock of group prod is not held: take it first (group-lock prod <ttl>)")
	expectOut(t, f.as(memberAda, "berth group-lock prod 120", `{"machine":"laptop","since":"2026-12-03T10:00:00Z"}`), "acquired\n")
	expectShell(t, a.apply(memberDeb, next), 75, "berth: the lock of group prod is held by Ada Admin (m_ada001) on laptop since 2026-12-03T10:00:00Z, not by you")
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberDeb, "group-lock prod 120", "{}"), "acquired\n")

	// Compare-and-swap: the digest read must still be the file's.
	digest := fileDigest(t, a.path)
	for _, expected := range []string{strings.Repeat("0", 64), "none"} {
		got := f.as(memberDeb, fmt.Sprintf("state-apply prod %s 1", expected), next+"\n")
		if got.code != 75 || got.stderr != "berth: the group state on this server changed since it was read" || got.stdout != "" {
			t.Fatalf("%+v", got)
		}
	}
	expectShell(t, f.as(memberDeb, "state-apply prod any 1", next+"\n"), 126,
		"berth: role admin in group prod is needed to replace its state whatever it holds (any, for a repair) (you have: deployer)")
	expectShell(t, f.as(memberDeb, "state-apply prod "+digest+" 1"), 64, "the state file on stdin must be one line of JSON")
	expectShell(t, f.as(memberDeb, "state-apply prod "+digest+" 1", next+"\n"+next+"\n"), 64, "must be one line")
	expectShell(t, f.as(memberDeb, "state-apply prod "+digest, next), 64, "usage: state-apply <group> <expected-digest|none|any> <replaced-revision>")
	expectShell(t, f.as(memberDeb, "state-apply prod "+digest[:10]+" 1", next), 64, "invalid expected digest")
	if a.current() != original {
		t.Fatal("a refused state-apply wrote")
	}

	// The new file must verify, follow the current revision and name it.
	tampered := strings.Replace(next, `"public":true`, `"public":false`, 1)
	expectShell(t, a.apply(memberDeb, tampered), 64, "berth: state-apply: the new state of group prod does not verify: revision 2 does not match its hash (damaged or edited)")
	expectShell(t, a.apply(memberDeb, strings.Replace(next, `"group":"prod"`, `"group":"dev"`, 1)), 64, "does not verify")
	same := shellStateText(t, shellRevision(shellStateGroup()))
	expectShell(t, a.apply(memberDeb, same), 64, "berth: state-apply: revision 1 does not follow revision 1, the current one of group prod")
	wrongPrev := revise(t, original, func(s map[string]any) { object(s, "models", "m1")["public"] = true })
	var revision map[string]any
	json.Unmarshal([]byte(wrongPrev), &revision)
	rev := revision["revision"].(map[string]any)
	rev["prev"] = strings.Repeat("e", 64)
	expectShell(t, a.apply(memberDeb, shellStateText(t, rev)), 64, "revision 2 names "+strings.Repeat("e", 64)+" as the revision it replaces, not ")
	rev["prev"] = nil
	expectShell(t, a.apply(memberDeb, shellStateText(t, rev)), 64, "revision 2 names none as the revision it replaces")
	expectShell(t, f.as(memberDeb, "state-apply prod "+digest+" 7", next+"\n"), 64, "the replaced revision is 1, not 7")
	if a.current() != original {
		t.Fatal("a refused state-apply wrote")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "gateway", "routes.json")); err == nil {
		t.Fatal("a refused state-apply derived routes")
	}

	// The lock is the member's own: another deployer's is no good, even with the right digest.
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberDan, "group-lock prod 120", "{}"), "acquired\n")
	expectShell(t, a.apply(memberDeb, next), 75, "held by Dan Deployer (m_dan001), not by you")
	// An expired lock still there is still the holder's (no one took it over).
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberDeb, "group-lock prod 1", "{}"), "acquired\n")
	writeFile(t, filepath.Join(f.dir, "groups", "prod", "lock", "expires"), fmt.Sprintf("%d\n", time.Now().Unix()-30))
	expectShell(t, a.apply(memberDeb, next), 0, "")
	if a.current() != next {
		t.Fatal("not written")
	}
	f.onlyGatewayLookups()
}

func TestShellStateApplyDeployerChangesTheirModels(t *testing.T) {
	f := shellStateTeam(t)
	a := stateApplier{f: f, path: stateStore{f.dir}.statePath("prod"), group: "prod"}
	original := a.current()
	originalBytes := f.readText(a.path)
	expectOut(t, f.as(memberDan, "group-lock prod 120", "{}"), "acquired\n")

	// Dan deploys only m1: a change to m1 is his; the server writes it, keeps the replaced file, derives routes.
	next := revise(t, original, func(s map[string]any) { object(s, "models", "m1")["public"] = true })
	got := a.apply(memberDan, next)
	if got.code != 0 {
		t.Fatalf("%+v", got)
	}
	if a.current() != next || f.readText(a.path) != next+"\n" {
		t.Fatalf("state.json %s", f.readText(a.path))
	}
	if history := f.readText(filepath.Join(f.dir, "groups", "prod", "history", "1.json")); history != originalBytes {
		t.Fatalf("history/1.json %s", history)
	}
	var routes routesFile
	if !readJSON(t, filepath.Join(f.dir, "gateway", "routes.json"), &routes) || !routes.Models["m1"].Public || routes.Models["m2"].Public {
		t.Fatalf("routes.json %+v", routes)
	}
	if _, ok := routes.Models["d1"]; !ok {
		t.Fatalf("routes.json lacks the other group's model: %+v", routes.Models)
	}
	// Its output: the listing of Dan's groups (the app's, byte for byte), then the routes revision and that no
	// gateway serves this folder.
	wantOut := appListingOf(t, f.dir, "prod") + fmt.Sprintf("routes\t%d\ttable\n", routes.Revision)
	if got.stdout != wantOut {
		t.Fatalf("stdout\n%s\nwant\n%s", got.stdout, wantOut)
	}
	// A running gateway that mounts this folder's table: the client waits for it to serve the new revision.
	writeFile(t, filepath.Join(f.fake, "mounts", "berth-gateway"), "true /var/log/berth "+filepath.Join(f.dir, "gateway")+" \n")
	next1b := revise(t, a.current(), func(s map[string]any) { object(s, "models", "m1")["public"] = false })
	if got = a.apply(memberDan, next1b); got.code != 0 || !regexp.MustCompile(`\nroutes\t\d+\tgateway\n$`).MatchString(got.stdout) {
		t.Fatalf("%+v", got)
	}
	writeFile(t, filepath.Join(f.fake, "mounts", "berth-gateway"), "false "+filepath.Join(f.dir, "gateway")+"\n")
	next1c := revise(t, a.current(), func(s map[string]any) { object(s, "models", "m1")["public"] = true })
	if got = a.apply(memberDan, next1c); got.code != 0 || !regexp.MustCompile(`\nroutes\t\d+\ttable\n$`).MatchString(got.stdout) {
		t.Fatalf("%+v", got)
	}
	// A change that derives the same table.
	next2 := revise(t, a.current(), func(s map[string]any) { object(s, "models", "m1")["createdBy"] = "dan" })
	got = a.apply(memberDan, next2)
	if got.code != 0 || !strings.HasSuffix(got.stdout, "\nroutes\tunchanged\n") {
		t.Fatalf("%+v", got)
	}
	if !shellLogged(f.syslog, "member=m_dan001 role=deployer state-apply: group prod written") {
		t.Fatalf("syslog %q", f.syslog)
	}

	// What is not his.
	refusals := []struct {
		edit func(s map[string]any)
		want string
	}{
		{func(s map[string]any) { object(s, "models", "m2")["public"] = true },
			"berth: role deployer on model m2 in group prod is needed to change models.m2 (you have: deployer only on m1)"},
		{func(s map[string]any) { delete(object(s, "models"), "m2") }, "is needed to change models.m2"},
		{func(s map[string]any) { object(s, "models")["m3"] = shellStateModel("m3", 9200) }, "role deployer on model m3 in group prod is needed to change models.m3"},
		{func(s map[string]any) { s["keys"] = []any{} }, "berth: role admin in group prod is needed to change keys (you have: deployer only on m1)"},
		// A model entry of his that reaches another model's containers, or runs an image by another name.
		{func(s map[string]any) {
			v := object(s, "models", "m1")["versions"].([]any)[0].(map[string]any)
			object(v, "placements")[testUID(1)] = []any{map[string]any{"name": "berth-m2-v1-r1", "port": 9102}}
		}, "berth: models.m1 version 1: replica 'berth-m2-v1-r1' is not a container of model m1 (berth-m1-v<n>-r<k>)"},
		{func(s map[string]any) {
			object(s, "models", "m1")["versions"].([]any)[0].(map[string]any)["imageId"] = "postgres:16"
		}, "berth: models.m1 version 1: image 'postgres:16' is neither an image id (sha256:<64 hex>) nor berth/m1:<tag>"},
		{func(s map[string]any) {
			v := object(s, "models", "m1")["versions"].([]any)[0].(map[string]any)
			object(v, "placements")[testUID(1)] = []any{map[string]any{"name": "berth-m1-v1-r1", "port": 9102, "gpus": []any{"all"}}}
		}, "berth: models.m1 version 1: replica 'berth-m1-v1-r1' names GPUs 'all': only GPU indexes (0, 1, …), each once"},
		{func(s map[string]any) { s["members"] = s["members"].([]any)[:2] }, "role admin in group prod is needed to change members"},
		{func(s map[string]any) { object(s, "settings")["webhooks"] = []any{"https://evil.example/hook"} }, "role admin in group prod is needed to change settings"},
		{func(s map[string]any) { s["servers"].([]any)[0].(map[string]any)["host"] = "10.6.6.6" }, "role admin in group prod is needed to change servers"},
		{func(s map[string]any) { s["extra"] = true }, "role admin in group prod is needed to change extra"},
		{func(s map[string]any) {
			object(s, "models", "m1")["public"] = false
			object(s, "models", "m2")["public"] = true
			s["keys"] = []any{}
			object(s, "settings")["replicas"] = 3
		}, "berth: role admin in group prod is needed to change keys, settings (you have: deployer only on m1); role deployer on model m2 in group prod is needed to change models.m2 (you have: deployer only on m1)"},
	}
	for _, r := range refusals {
		before := a.current()
		got := a.apply(memberDan, revise(t, before, r.edit))
		if got.code != 126 || !strings.Contains(got.stderr, r.want) || got.stdout != "" {
			t.Fatalf("got %+v, want 126 and %q", got, r.want)
		}
		if a.current() != before {
			t.Fatal("a refused change was written")
		}
	}

	// Deb deploys every model: m2, and a model new to the server.
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberDeb, "group-lock prod 120", "{}"), "acquired\n")
	expectShell(t, a.apply(memberDeb, revise(t, a.current(), func(s map[string]any) {
		object(s, "models", "m2")["public"] = true
		object(s, "models")["m3"] = shellStateModel("m3", 9200)
	})), 0, "")
	if !readJSON(t, filepath.Join(f.dir, "gateway", "routes.json"), &routes) || !routes.Models["m2"].Public || len(routes.Models["m3"].Versions) != 1 {
		t.Fatalf("routes.json %+v", routes.Models)
	}
	expectShell(t, a.apply(memberDeb, revise(t, a.current(), func(s map[string]any) { s["keys"] = []any{} })), 126,
		"berth: role admin in group prod is needed to change keys (you have: deployer)")
	// A model another group holds here is not added to this one by a deployer who does not deploy it there.
	expectShell(t, a.apply(memberDeb, revise(t, a.current(), func(s map[string]any) { object(s, "models")["d1"] = shellStateModel("d1", 9300) })), 126,
		"berth: role deployer on model d1 is needed to add it to group prod (you have: no role in group dev, which holds model d1)")
	// What this server's revocations took away is no one's change: a Berth writes them into its next revision.
	f.revoke("prod", "member", memberVera)
	f.revoke("prod", "key", "key_01")
	expectShell(t, a.apply(memberDeb, revise(t, a.current(), func(s map[string]any) {
		members := []any{}
		for _, m := range s["members"].([]any) {
			if m.(map[string]any)["id"] != memberVera {
				members = append(members, m)
			}
		}
		s["members"] = members
		key := s["keys"].([]any)[0].(map[string]any)
		key["revokedAt"], key["revokedBy"] = "2026-12-02T00:00:00Z", "alice"
		object(s, "models", "m2")["public"] = false
	})), 0, "")
	expectShell(t, a.apply(memberDeb, revise(t, a.current(), func(s map[string]any) {
		s["members"] = s["members"].([]any)[1:] // Dan is not revoked
	})), 126, "role admin in group prod is needed to change members")

	// Fields of the revision beside its metadata are an admin's too.
	var file map[string]any
	json.Unmarshal([]byte(revise(t, a.current(), nil)), &file)
	file["revision"].(map[string]any)["note"] = "x"
	expectShell(t, a.apply(memberDeb, shellStateText(t, file["revision"].(map[string]any))), 126, "role admin in group prod is needed to change note (you have: deployer)")
	// A deployer whose list names a model not in any state yet may add it.
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberAda, "berth group-lock prod 120", "{}"), "acquired\n")
	expectShell(t, a.apply(memberAda, revise(t, a.current(), func(s map[string]any) {
		s["members"].([]any)[0].(map[string]any)["models"] = []any{"m1", "m9"} // Dan
	})), 0, "")
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberDan, "group-lock prod 120", "{}"), "acquired\n")
	expectShell(t, a.apply(memberDan, revise(t, a.current(), func(s map[string]any) { object(s, "models")["m9"] = shellStateModel("m9", 9400) })), 0, "")
	expectShell(t, a.apply(memberDan, revise(t, a.current(), func(s map[string]any) { delete(object(s, "models"), "m3") })), 126,
		"role deployer on model m3 in group prod is needed to change models.m3 (you have: deployer only on m1, m9)")
	expectOut(t, f.as(memberAda, "berth group-break-lock prod"), "held\n")
	expectOut(t, f.as(memberDeb, "group-lock prod 120", "{}"), "acquired\n")

	// The history keeps the newest 50.
	for n := 100; n < 160; n++ {
		writeFile(t, filepath.Join(f.dir, "groups", "prod", "history", fmt.Sprintf("%d.json", n)), "{}\n")
	}
	replaced := a.revision()
	replacedBytes := f.readText(a.path)
	expectShell(t, a.apply(memberDeb, revise(t, a.current(), func(s map[string]any) { object(s, "models", "m1")["public"] = false })), 0, "")
	entries, _ := os.ReadDir(filepath.Join(f.dir, "groups", "prod", "history"))
	if len(entries) != 50 {
		t.Fatalf("history keeps %d files", len(entries))
	}
	if _, err := os.Stat(filepath.Join(f.dir, "groups", "prod", "history", fmt.Sprintf("%d.json", replaced))); err == nil {
		t.Fatal("the oldest revisions were kept") // revision 6 is older than 100…159
	}
	if f.readText(filepath.Join(f.dir, "groups", "prod", "history", "159.json")) != "{}\n" || replacedBytes == f.readText(a.path) {
		t.Fatal("history or state not as expected")
	}
	f.onlyGatewayLookups()
}

func TestShellStateApplyAdminsAndViewers(t *testing.T) {
	f := shellStateTeam(t)
	// Ada is an admin of dev too: while prod's copy here is damaged, that makes her its admin.
	f.writeGroup(shellGroup{name: "dev", models: []string{"d1"}, members: []map[string]any{
		shellMember(memberDora, "Dora", "deployer"), shellMember(memberAda, "Ada Admin", "admin")}})
	a := stateApplier{f: f, path: stateStore{f.dir}.statePath("prod"), group: "prod"}
	expectShell(t, a.apply(memberVera, a.current()), 126, "berth: role viewer may not run 'state-apply'")
	expectShell(t, a.apply(memberDora, a.current()), 126, "berth: role deployer in group prod is needed to apply its state (you have: viewer)")
	expectOut(t, f.as(memberAda, "berth group-lock prod 120", "{}"), "acquired\n")
	// An admin may change anything: servers, settings, keys, members and every model.
	next := revise(t, a.current(), func(s map[string]any) {
		s["servers"] = append(s["servers"].([]any), map[string]any{"uid": testUID(2), "name": "fb2", "host": "10.0.0.2", "port": 22})
		object(s, "settings")["webhooks"] = []any{"https://hooks.example/berth"}
		s["keys"] = append(s["keys"].([]any), testKey("key_02"))
		s["members"] = s["members"].([]any)[1:]
		delete(object(s, "models"), "m2")
		object(s, "models", "m1")["public"] = true
	})
	got := a.apply(memberAda, next)
	if got.code != 0 || !strings.HasPrefix(got.stdout, appListingOf(t, f.dir, "*")) {
		t.Fatalf("%+v", got)
	}
	var routes routesFile
	if !readJSON(t, filepath.Join(f.dir, "gateway", "routes.json"), &routes) || len(routes.Keys) != 2 || len(routes.Models) != 2 {
		t.Fatalf("routes.json %+v", routes)
	}
	// Vera was removed: she is no member of this server's groups any more.
	expectShell(t, f.as(memberVera, "state-list"), 126, shellNoMember)

	// A damaged copy is repaired by an admin with `any`; its replaced revision is 0 and it goes to no history.
	good := a.current()
	writeFile(t, a.path, `{"hash":"damaged"}`+"\n")
	repaired := revise(t, good, nil)
	expectShell(t, f.as(memberDora, "state-apply prod any 0", repaired+"\n"), 126, "berth: role deployer in group prod is needed to apply its state (you have: no role: the state of group prod here does not verify)")
	expectShell(t, f.as(memberAda, "berth state-apply prod any 2", repaired+"\n"), 64, "there is no verified state here to replace: the replaced revision must be 0")
	expectShell(t, f.as(memberAda, "berth state-apply prod any 0", repaired+"\n"), 0, "")
	if a.current() != repaired {
		t.Fatal("not repaired")
	}
	// A server joining a group: no state there yet, `none`, written by an admin.
	joined := shellStateText(t, shellRevision(shellGroup{name: "staging", models: []string{"s1"}, members: []map[string]any{shellMember(memberDeb, "Deb", "deployer")}}))
	expectShell(t, f.as(memberDeb, "state-apply staging none 0", joined+"\n"), 126, "role deployer in group staging is needed to apply its state (you have: no role: group staging has no state on this server)")
	expectShell(t, f.as(memberAda, "berth state-apply staging none 0", joined+"\n"), 75, "the lock of group staging is not held")
	expectOut(t, f.as(memberAda, "berth group-lock staging 60", "{}"), "acquired\n")
	expectShell(t, f.as(memberAda, "berth state-apply staging "+strings.Repeat("1", 64)+" 0", joined+"\n"), 75, "changed since it was read")
	got = f.as(memberAda, "berth state-apply staging none 0", joined+"\n")
	if got.code != 0 || strings.Contains(got.stdout, "state\tstaging\t") { // Ada is no member of staging: not listed to her
		t.Fatalf("%+v", got)
	}
	if f.readText(stateStore{f.dir}.statePath("staging")) != joined+"\n" {
		t.Fatal("staging not written")
	}
	expectOut(t, f.as(memberDeb, "state-list staging"), appListingOf(t, f.dir, "staging"))
	f.onlyGatewayLookups()
}

func TestShellStateApplyKeepsTheWrittenStateWhenRoutesCannotBeDerived(t *testing.T) {
	f := shellStateTeam(t)
	a := stateApplier{f: f, path: stateStore{f.dir}.statePath("prod"), group: "prod"}
	writeFile(t, stateStore{f.dir}.statePath("other"), `{"hash":"damaged"}`+"\n")
	expectOut(t, f.as(memberDeb, "group-lock prod 120", "{}"), "acquired\n")
	next := revise(t, a.current(), func(s map[string]any) { object(s, "models", "m1")["public"] = true })
	got := a.apply(memberDeb, next)
	if got.code != 65 || got.stdout != appListingOf(t, f.dir, "prod") ||
		!strings.HasPrefix(got.stderr, "berth: the state of group prod was written, but state-apply: the state of group other here is damaged") {
		t.Fatalf("%+v", got)
	}
	if a.current() != next {
		t.Fatal("not written")
	}
}
