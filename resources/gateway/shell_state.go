package main

// berth-shell's verbs on locks and on the group state: the Go twins of the desktop app's root scripts
// (electron/main/services/groups/remote.ts: acquireLock, extendLock, releaseLock, breakLock, the LISTING of
// listGroups, writeState and applyRoutes), on the same files, so a Berth acting through its member's key and one
// still running the scripts as root interoperate. What the client may do is decided here, from the verified
// group states of this server (shell_load.go), never from what the client says.
//
// A lock is a folder (<berthDir>/lock/<model> for a model, <berthDir>/groups/<g>/lock for a group) holding
// info.json (the holder's note, one JSON object) and expires (unix seconds, or "never"). It is taken, extended
// and released under flock on the sibling file <folder>.guard, so a second taker never reads a folder before its
// note is written and two takers of an expired lock never both win.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lockGuardWait is how long a lock verb waits for the guard (the scripts' flock -w 10).
var lockGuardWait = 10 * time.Second

const (
	lockNoteMax  = 4096    // a note longer than this would be cut by every reader (head -c 4096)
	lockTTLMax   = 86400   // a day; 0 is "never"
	stateFileMax = 8 << 20 // one state file on stdin
)

const (
	ttlRE      = `^[0-9]{1,6}$`
	tokenRE    = `^[A-Za-z0-9_-]{1,128}$`
	digestRE   = `^([0-9a-f]{64}|none|any)$`
	revisionRE = `^[0-9]{1,15}$`
)

// ---- who may do what in a group

// groupRole is the member's role in a group for the state and group-lock verbs: their membership. A group whose
// state here is missing or does not verify (a server joining the group, a copy being repaired) gives no one a
// role, except that an admin of this server's other groups is its admin: they have a shell on this server anyway.
func (s *shellSession) groupRole(group string) int {
	if m, ok := s.who.Groups[group]; ok {
		return roleRank(m.Role)
	}
	if !s.who.verified[group] && s.role == roleAdmin {
		return roleAdmin
	}
	return 0
}

// describeGroupRole says what the member has in a group, for a refusal.
func (s *shellSession) describeGroupRole(group string) string {
	if m, ok := s.who.Groups[group]; ok {
		return m.describe()
	}
	if s.who.verified[group] {
		return "no role in group " + group
	}
	if _, err := os.Stat(stateStore{s.env.berthDir}.statePath(group)); err == nil {
		return fmt.Sprintf("no role: the state of group %s here does not verify", group)
	}
	return fmt.Sprintf("no role: group %s has no state on this server", group)
}

// describe is a membership's role, with the models a deployer is limited to.
func (m shellMembership) describe() string {
	if roleRank(m.Role) != roleDeployer || m.Models == nil {
		return m.Role
	}
	if len(m.Models) == 0 {
		return "deployer on no model"
	}
	return "deployer only on " + strings.Join(m.Models, ", ")
}

// needGroup refuses unless the member has role in group; what is the action, as in "lock group prod".
func (s *shellSession) needGroup(role int, group, what string) error {
	if s.groupRole(group) >= role {
		return nil
	}
	return refused("role %s in group %s is needed to %s (you have: %s)", roleName(role), group, what, s.describeGroupRole(group))
}

// ---- locks

// lockTarget is one lock folder and the caller's standing over it.
type lockTarget struct {
	dir  string
	what string // "model m1", "group prod"
	// admin: the caller may extend or release a lock another member took (given its token).
	admin bool
}

// lockKind is what the verb's first argument names.
func (s *shellSession) lockKind() string {
	if strings.HasPrefix(s.verb, "group-") {
		return "group"
	}
	return "model"
}

// lockTarget checks the verb's first argument and that the member has role on it; action says what they do, as
// in "lock %s" (%s: "m1", "group prod").
func (s *shellSession) lockTarget(role int, action string) (lockTarget, error) {
	name := s.args[0]
	if s.lockKind() == "group" {
		if err := check(name, groupRE, "group name"); err != nil {
			return lockTarget{}, err
		}
		if err := s.needGroup(role, name, fmt.Sprintf(action, "group "+name)); err != nil {
			return lockTarget{}, err
		}
		dir := filepath.Join(stateStore{s.env.berthDir}.groupDir(name), "lock")
		return lockTarget{dir: dir, what: "group " + name, admin: s.groupRole(name) >= roleAdmin}, nil
	}
	if err := check(name, modelRE, "model name"); err != nil {
		return lockTarget{}, err
	}
	if err := s.who.need(role, name, fmt.Sprintf(action, name)); err != nil {
		return lockTarget{}, err
	}
	dir := filepath.Join(s.env.berthDir, "lock", name)
	return lockTarget{dir: dir, what: "model " + name, admin: s.who.roleOn(name) >= roleAdmin}, nil
}

func parseTTL(text string) (int64, error) {
	if err := check(text, ttlRE, "ttl (seconds)"); err != nil {
		return 0, err
	}
	ttl, _ := strconv.ParseInt(text, 10, 64)
	if ttl > lockTTLMax {
		return 0, invalid("the ttl must be 0 (never) to %d seconds, not %d", lockTTLMax, ttl)
	}
	return ttl, nil
}

func (s *shellSession) expiresText(ttl int64) string {
	if ttl == 0 {
		return "never"
	}
	return strconv.FormatInt(s.env.now().Unix()+ttl, 10)
}

// lock <model> <ttl> / group-lock <group> <ttl>: acquireLock. Prints "acquired", or "held\t<the holder's note>".
func (s *shellSession) lock() error {
	kind := s.lockKind()
	if len(s.args) != 2 {
		return invalid("usage: %s <%s> <ttl-seconds, 0: never> (the holder's note, one JSON object, on stdin)", s.verb, kind)
	}
	t, err := s.lockTarget(roleDeployer, "lock %s")
	if err != nil {
		return err
	}
	ttl, err := parseTTL(s.args[1])
	if err != nil {
		return err
	}
	note, err := s.lockNote()
	if err != nil {
		return err
	}
	return s.withGuard(t, true, func() error {
		if lockExpired(t.dir, s.env.now()) {
			stale := fmt.Sprintf("%s.stale.%d", t.dir, os.Getpid())
			if os.Rename(t.dir, stale) == nil {
				os.RemoveAll(stale)
			}
		}
		if err := os.Mkdir(t.dir, 0o755); err != nil {
			if !errors.Is(err, os.ErrExist) {
				return err
			}
			fmt.Fprintf(s.env.stdout, "held\t%s\n", noteLine(t.dir))
			return nil
		}
		err := os.WriteFile(filepath.Join(t.dir, "info.json"), note, 0o644)
		if err == nil {
			err = os.WriteFile(filepath.Join(t.dir, "expires"), []byte(s.expiresText(ttl)+"\n"), 0o644)
		}
		if err != nil {
			os.RemoveAll(t.dir)
			return err
		}
		fmt.Fprintln(s.env.stdout, "acquired")
		return nil
	})
}

// lockNote reads the note (one JSON object, at most 4096 bytes) and stamps member and holder into it, over the
// client's; the rest (token, message, since, machine, pid, folder) stays as the client gave it.
func (s *shellSession) lockNote() ([]byte, error) {
	data, _ := io.ReadAll(io.LimitReader(s.env.stdin, lockNoteMax+1))
	data = bytes.TrimRight(data, "\n")
	if len(data) > lockNoteMax {
		return nil, invalid("%s: the note is longer than %d bytes", s.verb, lockNoteMax)
	}
	note, err := stampedObject(data, map[string]string{"member": s.member, "holder": s.who.Name})
	if err != nil {
		return nil, invalid("%s: the note on stdin must be one JSON object", s.verb)
	}
	if len(note) > lockNoteMax {
		return nil, invalid("%s: the note is longer than %d bytes once the holder is stamped into it", s.verb, lockNoteMax)
	}
	var fields struct {
		Token any `json:"token"`
	}
	json.Unmarshal(note, &fields)
	if token, ok := fields.Token.(string); fields.Token != nil && (!ok || !matches(tokenRE, token)) {
		return nil, invalid("%s: the note's token must be a string matching %s", s.verb, tokenRE)
	}
	return note, nil
}

// lockExpired: the lock's expires holds a unix time already past (`[ now -gt expires ]`); "never", nothing or
// anything else is not expired.
func lockExpired(dir string, now time.Time) bool {
	data, err := os.ReadFile(filepath.Join(dir, "expires"))
	if err != nil {
		return false
	}
	at, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return err == nil && now.Unix() > at
}

// noteLine is the lock's note as the scripts print it: its first 4096 bytes without newlines.
func noteLine(dir string) []byte {
	return bytes.ReplaceAll(readHead(filepath.Join(dir, "info.json"), lockNoteMax), []byte("\n"), nil)
}

// lockHolder is what a lock's note says of its holder; empty when the note cannot be read.
type lockHolder struct {
	Token   string `json:"token"`
	Member  string `json:"member"`
	Holder  string `json:"holder"`
	Machine string `json:"machine"`
	Since   string `json:"since"`
}

func readLockHolder(dir string) lockHolder {
	var h lockHolder
	if data, err := os.ReadFile(filepath.Join(dir, "info.json")); err == nil {
		json.Unmarshal(data, &h)
	}
	return h
}

func (h lockHolder) String() string {
	who := h.Holder
	if who == "" {
		who = "someone"
	}
	if h.Member != "" {
		who += " (" + h.Member + ")"
	}
	if h.Machine != "" {
		who += " on " + h.Machine
	}
	if h.Since != "" {
		who += " since " + h.Since
	}
	return who
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// withGuard runs fn under the exclusive flock of the lock's guard file (waiting at most lockGuardWait); create
// makes the lock's parent folder first.
func (s *shellSession) withGuard(t lockTarget, create bool, fn func() error) error {
	if create {
		if err := os.MkdirAll(filepath.Dir(t.dir), 0o755); err != nil {
			return err
		}
	}
	guard, err := os.OpenFile(t.dir+".guard", os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer guard.Close()
	if !flockWait(guard, lockGuardWait) {
		return failed(exitBusy, "the lock of %s stayed busy for more than %s", t.what, lockGuardWait)
	}
	defer syscall.Flock(int(guard.Fd()), syscall.LOCK_UN)
	return fn()
}

// ours runs fn on the lock when its note carries token, printing "not-ours" when there is no lock or another
// token. A token is no secret (every viewer sees the notes), so the lock must also be the member's own, or the
// member an admin over it.
func (s *shellSession) ours(t lockTarget, token string, fn func() error) error {
	if !isDir(t.dir) {
		fmt.Fprintln(s.env.stdout, "not-ours")
		return nil
	}
	return s.withGuard(t, false, func() error {
		h := readLockHolder(t.dir)
		if !isDir(t.dir) || h.Token != token {
			fmt.Fprintln(s.env.stdout, "not-ours")
			return nil
		}
		if h.Member != s.member && !t.admin {
			return refused("the lock of %s with that token was taken by %s: only that member or an admin may %s it", t.what, h, strings.TrimPrefix(s.verb, "group-"))
		}
		return fn()
	})
}

// extend <model> <token> <ttl> / group-extend <group> <token> <ttl>: extendLock. Prints "extended" or "not-ours".
func (s *shellSession) extend() error {
	if len(s.args) != 3 {
		return invalid("usage: %s <%s> <token> <ttl-seconds, 0: never>", s.verb, s.lockKind())
	}
	t, err := s.lockTarget(roleDeployer, "extend the lock of %s")
	if err != nil {
		return err
	}
	if err := check(s.args[1], tokenRE, "token"); err != nil {
		return err
	}
	ttl, err := parseTTL(s.args[2])
	if err != nil {
		return err
	}
	return s.ours(t, s.args[1], func() error {
		if err := os.WriteFile(filepath.Join(t.dir, "expires"), []byte(s.expiresText(ttl)+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(s.env.stdout, "extended")
		return nil
	})
}

// unlock <model> <token> / group-unlock <group> <token>: releaseLock. Prints "released" or "not-ours". The old
// `unlock <model>` removes the lock whoever holds it: break-lock, for admins.
func (s *shellSession) unlock() error {
	if s.verb == "unlock" && len(s.args) == 1 {
		return s.breakLock()
	}
	if len(s.args) != 2 {
		return invalid("usage: %s <%s> <token>", s.verb, s.lockKind())
	}
	t, err := s.lockTarget(roleDeployer, "unlock %s")
	if err != nil {
		return err
	}
	if err := check(s.args[1], tokenRE, "token"); err != nil {
		return err
	}
	return s.ours(t, s.args[1], func() error {
		if err := os.RemoveAll(t.dir); err != nil {
			return err
		}
		fmt.Fprintln(s.env.stdout, "released")
		return nil
	})
}

// break-lock <model> / group-break-lock <group> (admins): breakLock, whoever holds it. Prints "held" or "free".
func (s *shellSession) breakLock() error {
	if len(s.args) != 1 {
		return invalid("usage: %s <%s>", s.verb, s.lockKind())
	}
	t, err := s.lockTarget(roleAdmin, "break the lock of %s")
	if err != nil {
		return err
	}
	if !isDir(t.dir) {
		fmt.Fprintln(s.env.stdout, "free")
		return nil
	}
	return s.withGuard(t, false, func() error {
		held := isDir(t.dir)
		if err := os.RemoveAll(t.dir); err != nil {
			return err
		}
		if held {
			fmt.Fprintln(s.env.stdout, "held")
		} else {
			fmt.Fprintln(s.env.stdout, "free")
		}
		return nil
	})
}

// ---- state-list

// stateList prints the LISTING of remote.ts for the member's groups (`*` or nothing: all of them) or one.
func (s *shellSession) stateList() error {
	if len(s.args) > 1 {
		return invalid("usage: state-list [<group>|*]")
	}
	if len(s.args) == 0 || s.args[0] == "*" {
		_, err := s.env.stdout.Write(stateListing(s.env.berthDir, s.listedGroups()))
		return err
	}
	group := s.args[0]
	if err := check(group, groupRE, "group name"); err != nil {
		return err
	}
	if s.groupRole(group) < roleViewer {
		return refused("only members of group %s may list its state (you are in: %s)", group, strings.Join(s.who.groupNames(), ", "))
	}
	_, err := s.env.stdout.Write(stateListing(s.env.berthDir, []string{group}))
	return err
}

// listedGroups are the groups with a state file here that the member may read, by name.
func (s *shellSession) listedGroups() []string {
	var names []string
	for _, group := range sortedGroupNames(stateStore{s.env.berthDir}.readGroups()) {
		if s.groupRole(group) >= roleViewer {
			names = append(names, group)
		}
	}
	return names
}

// stateListing is, byte for byte, what the LISTING shell function of remote.ts prints for these groups (in this
// order): the identity line, then per group with a state file its state line and one line per complete line of
// its revoked.jsonl (read stops at a last line without its newline).
func stateListing(berthDir string, groups []string) []byte {
	store := stateStore{berthDir}
	var b bytes.Buffer
	b.WriteString("identity\t")
	if data, err := os.ReadFile(filepath.Join(berthDir, "server.json")); err == nil {
		b.Write(bytes.ReplaceAll(data, []byte("\n"), nil))
	}
	b.WriteByte('\n')
	for _, group := range groups {
		data, err := os.ReadFile(store.statePath(group))
		if err != nil {
			continue
		}
		b.WriteString("state\t" + group + "\t")
		b.Write(bytes.ReplaceAll(data, []byte("\n"), nil))
		b.WriteByte('\n')
		revoked, err := os.ReadFile(store.revokedPath(group))
		if err != nil {
			continue
		}
		for {
			i := bytes.IndexByte(revoked, '\n')
			if i < 0 {
				break
			}
			b.WriteString("revoked\t" + group + "\t")
			b.Write(revoked[:i+1])
			revoked = revoked[i+1:]
		}
	}
	return b.Bytes()
}

// ---- state-apply

// stateApply is writeState with the server checking rights: under the group lock the member holds, the new
// state file (stdin) replaces the one whose digest the member read, if it follows it and changes only what the
// member's role in the group may change. Then routes.json is derived again, and the listing of the member's
// groups is printed, with a last line `routes\t<revision written|unchanged>`.
func (s *shellSession) stateApply() error {
	if len(s.args) != 3 {
		return invalid("usage: state-apply <group> <expected-digest|none|any> <replaced-revision> (the new state file, one line, on stdin)")
	}
	group, expected := s.args[0], s.args[1]
	if err := check(group, groupRE, "group name"); err != nil {
		return err
	}
	if err := check(expected, digestRE, "expected digest (sha256 of state.json, none or any)"); err != nil {
		return err
	}
	if err := check(s.args[2], revisionRE, "replaced revision"); err != nil {
		return err
	}
	replaced, _ := strconv.ParseInt(s.args[2], 10, 64)
	if err := s.needGroup(roleDeployer, group, "apply its state"); err != nil {
		return err
	}
	if expected == "any" {
		if err := s.needGroup(roleAdmin, group, "replace its state whatever it holds (any, for a repair)"); err != nil {
			return err
		}
	}
	text, err := s.readStateFile()
	if err != nil {
		return err
	}
	store := stateStore{s.env.berthDir}
	lock := lockTarget{dir: filepath.Join(store.groupDir(group), "lock"), what: "group " + group}
	err = s.withGuard(lock, true, func() error {
		if err := s.holdsGroupLock(group, lock.dir); err != nil {
			return err
		}
		return s.replaceGroupState(store, group, expected, replaced, text)
	})
	if err != nil {
		return err
	}
	s.log(fmt.Sprintf("state-apply: group %s written", group))
	routes, derr := s.deriveRoutes()
	s.who = loadIdentity(store, s.member) // what the member may read now
	s.role = s.who.highest()
	if _, err := s.env.stdout.Write(stateListing(s.env.berthDir, s.listedGroups())); err != nil {
		return err
	}
	if derr != nil {
		var se *shellError
		if errors.As(derr, &se) {
			se.msg = fmt.Sprintf("the state of group %s was written, but %s", group, se.msg)
		}
		return derr
	}
	s.printRoutes(routes)
	return nil
}

// printRoutes is the last line of state-apply and routes-derive: `routes\tunchanged`, or the revision written and
// whether a running gateway serves it.
func (s *shellSession) printRoutes(routes string) {
	if routes == "unchanged" {
		fmt.Fprintln(s.env.stdout, "routes\tunchanged")
	} else {
		fmt.Fprintf(s.env.stdout, "routes\t%s\t%s\n", routes, s.tableServer())
	}
}

// tableServer is "gateway" when a running berth-gateway serves this folder's routes.json (the client then waits
// until it serves the new table, as after the app's own write), else "table".
func (s *shellSession) tableServer() string {
	out, err := s.dockerOutput(io.Discard, "inspect", "--type", "container", "-f", "{{.State.Running}} {{range .Mounts}}{{.Source}} {{end}}", "--", "berth-gateway")
	fields := strings.Fields(string(out))
	if err != nil || len(fields) == 0 || fields[0] != "true" {
		return "table"
	}
	for _, source := range fields[1:] {
		if filepath.Clean(source) == filepath.Join(s.env.berthDir, "gateway") {
			return "gateway"
		}
	}
	return "table"
}

// readStateFile reads the new state file: one line of at most 8 MiB.
func (s *shellSession) readStateFile() ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(s.env.stdin, stateFileMax+2))
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	if len(data) > stateFileMax {
		return nil, invalid("state-apply: the state file is longer than %d bytes", stateFileMax)
	}
	if len(data) == 0 || bytes.ContainsAny(data, "\r\n") {
		return nil, invalid("state-apply: the state file on stdin must be one line of JSON")
	}
	return data, nil
}

// holdsGroupLock: the group's lock folder holds a note this member took. An expired lock still there is still
// theirs: under its guard no one can take it over before the state is written.
func (s *shellSession) holdsGroupLock(group, dir string) error {
	if !isDir(dir) {
		return failed(exitBusy, "the lock of group %s is not held: take it first (group-lock %s <ttl>)", group, group)
	}
	h := readLockHolder(dir)
	if h.Member != s.member {
		return failed(exitBusy, "the lock of group %s is held by %s, not by you: wait for it to be released", group, h)
	}
	return nil
}

// replaceGroupState is the compare-and-swap of writeState, with the checks a server makes of a member's file.
func (s *shellSession) replaceGroupState(store stateStore, group, expected string, replaced int64, text []byte) error {
	path := store.statePath(group)
	raw, err := os.ReadFile(path)
	exists := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	digest := "none"
	if exists {
		sum := sha256.Sum256(raw)
		digest = hex.EncodeToString(sum[:])
	}
	if expected != "any" && expected != digest {
		return failed(exitBusy, "the group state on this server changed since it was read")
	}
	next := checkState(group, text)
	if !next.verified() {
		return invalid("state-apply: the new state of group %s does not verify: %s", group, next.Problem)
	}
	var current *groupCopy
	if exists {
		current = checkState(group, bytes.TrimRight(raw, "\n"))
	}
	if current != nil && current.verified() {
		if next.Rev.Revision <= current.Rev.Revision {
			return invalid("state-apply: revision %d does not follow revision %d, the current one of group %s", next.Rev.Revision, current.Rev.Revision, group)
		}
		if prev := revisionPrev(next.File.Revision); prev != current.File.Hash {
			return invalid("state-apply: revision %d names %s as the revision it replaces, not %s (revision %d, the current one)",
				next.Rev.Revision, orNone(prev), current.File.Hash, current.Rev.Revision)
		}
		if replaced != current.Rev.Revision {
			return invalid("state-apply: the replaced revision is %d, not %d", current.Rev.Revision, replaced)
		}
	} else if replaced != 0 {
		return invalid("state-apply: there is no verified state here to replace: the replaced revision must be 0")
	}
	if err := s.checkChange(store, group, current, next); err != nil {
		return err
	}
	// writeState: the replaced file goes to history/<its revision>.json (newest 50 kept), the new one replaces it.
	dir := store.groupDir(group)
	if err := os.MkdirAll(filepath.Join(dir, "history"), 0o755); err != nil {
		return err
	}
	if exists && replaced != 0 {
		if err := writeFileAtomic(filepath.Join(dir, "history", strconv.FormatInt(replaced, 10)+".json"), raw, 0o644); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(path, append(text, '\n'), 0o644); err != nil {
		return err
	}
	store.pruneHistory(group)
	return nil
}

// revisionPrev is the revision's prev ("" for null or none).
func revisionPrev(revision json.RawMessage) string {
	var r struct {
		Prev *string `json:"prev"`
	}
	if json.Unmarshal(revision, &r) != nil || r.Prev == nil {
		return ""
	}
	return *r.Prev
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// checkChange refuses a change the member's role in the group does not allow: an admin may change anything; a
// deployer only the models.<m> entries of models in their scope.
func (s *shellSession) checkChange(store stateStore, group string, current, next *groupCopy) error {
	role := s.groupRole(group)
	if role >= roleAdmin {
		return nil
	}
	if role < roleDeployer || current == nil || !current.verified() {
		return refused("role admin in group %s is needed to write a state where this server holds none that verifies (you have: %s)", group, s.describeGroupRole(group))
	}
	diff, err := diffRevisions(current.File.Revision, next.File.Revision, store.readRevocations(group))
	if err != nil {
		return invalid("state-apply: %v", err)
	}
	m := s.who.Groups[group]
	var problems []string
	if len(diff.parts) > 0 {
		problems = append(problems, fmt.Sprintf("role admin in group %s is needed to change %s (you have: %s)", group, strings.Join(diff.parts, ", "), m.describe()))
	}
	for _, model := range diff.models {
		_, held := current.Rev.State.Models[model]
		switch {
		case m.roleOn(model) < roleDeployer:
			problems = append(problems, fmt.Sprintf("role deployer on model %s in group %s is needed to change models.%s (you have: %s)", model, group, model, m.describe()))
		case !held && s.who.roleOn(model) < roleDeployer:
			// A model new to this group that another group here holds (or that may be a damaged group's).
			problems = append(problems, fmt.Sprintf("role deployer on model %s is needed to add it to group %s (you have: %s)", model, group, s.who.describe(model)))
		default:
			problems = append(problems, outsideModel(model, next.Rev.State.Models[model])...)
		}
	}
	if len(problems) > 0 {
		return refused("%s", strings.Join(problems, "; "))
	}
	return nil
}

// outsideModel is what a deployer's model entry reaches outside the model with: the agents run what it places on
// their server, so (as with run) its replicas are the model's containers, berth-<model>-v<n>-r<k>, with GPUs by
// index only, and its images image ids or the model's own tags.
func outsideModel(model string, m stateModel) []string {
	replicaOf := regexp.MustCompile(`^berth-` + regexp.QuoteMeta(model) + `-v[0-9]{1,9}-r[0-9]{1,9}$`)
	var problems []string
	for _, v := range m.Versions {
		if !matches(imageIDRE, v.ImageID) && (!matches(imageRE, v.ImageID) || imageModel(v.ImageID) != model) {
			problems = append(problems, fmt.Sprintf("models.%s version %d: image '%s' is neither an image id (sha256:<64 hex>) nor berth/%s:<tag>",
				model, v.Number, clip(v.ImageID, 80), model))
		}
		if v.Resources.GPUs.Unreadable {
			problems = append(problems, fmt.Sprintf("models.%s version %d: resources.gpus is neither a count nor GPU indexes", model, v.Number))
		}
		for _, uid := range sortedPlacements(v.Placements) {
			for _, r := range v.Placements[uid] {
				if !replicaOf.MatchString(r.Name) {
					problems = append(problems, fmt.Sprintf("models.%s version %d: replica '%s' is not a container of model %s (berth-%s-v<n>-r<k>)",
						model, v.Number, clip(r.Name, 80), model, model))
				}
				// The agents give a replica the GPUs it names: by index, never "all".
				if r.GPUs != nil && (len(r.GPUs) == 0 || !validGPUs(r.GPUs)) {
					problems = append(problems, fmt.Sprintf("models.%s version %d: replica '%s' names GPUs '%s': only GPU indexes (0, 1, …), each once",
						model, v.Number, clip(r.Name, 80), clip(strings.Join(r.GPUs, ","), 80)))
				}
			}
		}
	}
	return problems
}

func sortedPlacements(m map[string][]stateReplica) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// stateDiff is what a revision changes against another, in the parts rights are given on.
type stateDiff struct {
	parts  []string // top-level parts other than models (servers, settings, keys, members, …): an admin's
	models []string // the models.<m> entries added, changed or removed
}

// revisionMetadata are the fields of a revision that say which one it is and who wrote it, not what it holds.
var revisionMetadata = map[string]bool{"format": true, "group": true, "revision": true, "prev": true, "at": true, "by": true, "change": true}

// diffRevisions compares the canonical JSON of each part of two revisions' states, and of each model. What the
// revocations of this server take away (revoked members, the revokedAt of revoked keys) is left out of both: a
// Berth writes them into every revision it makes, and they are no one's change.
func diffRevisions(current, next json.RawMessage, revoked []revocation) (stateDiff, error) {
	var d stateDiff
	cur, err := decodeObject(current)
	if err != nil {
		return d, fmt.Errorf("the current revision: %v", err)
	}
	nxt, err := decodeObject(next)
	if err != nil {
		return d, fmt.Errorf("the new revision: %v", err)
	}
	for _, k := range unionKeys(cur, nxt) {
		if !revisionMetadata[k] && k != "state" && !sameJSON(cur, nxt, k) {
			d.parts = append(d.parts, k)
		}
	}
	cs, cok := cur["state"].(map[string]any)
	ns, nok := nxt["state"].(map[string]any)
	if !cok || !nok {
		if !sameJSON(cur, nxt, "state") {
			d.parts = append(d.parts, "state")
		}
		return d, nil
	}
	withoutRevoked(cs, revoked)
	withoutRevoked(ns, revoked)
	for _, k := range unionKeys(cs, ns) {
		cm, cok := cs[k].(map[string]any)
		nm, nok := ns[k].(map[string]any)
		switch {
		case k != "models" || !cok || !nok:
			if !sameJSON(cs, ns, k) {
				d.parts = append(d.parts, k)
			}
		default:
			for _, model := range unionKeys(cm, nm) {
				if !sameJSON(cm, nm, model) {
					d.models = append(d.models, model)
				}
			}
		}
	}
	return d, nil
}

func decodeObject(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var object map[string]any
	if err := dec.Decode(&object); err != nil {
		return nil, err
	}
	if object == nil {
		return nil, errors.New("not a JSON object")
	}
	return object, nil
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// sameJSON: key is absent from both, or present in both with the same canonical JSON.
func sameJSON(a, b map[string]any, key string) bool {
	va, aok := a[key]
	vb, bok := b[key]
	if aok != bok {
		return false
	}
	if !aok {
		return true
	}
	ca, err1 := appendCanonical(nil, va)
	cb, err2 := appendCanonical(nil, vb)
	return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
}

// withoutRevoked drops the members this server's revocations removed, and the revokedAt/revokedBy of the keys
// they revoked, as the app's applyRevocations writes them.
func withoutRevoked(state map[string]any, revoked []revocation) {
	gone := map[string]bool{}
	for _, r := range revoked {
		gone[r.identity()] = true
	}
	if members, ok := state["members"].([]any); ok {
		kept := make([]any, 0, len(members))
		for _, m := range members {
			if object, ok := m.(map[string]any); ok {
				if id, ok := object["id"].(string); ok && gone[revocation{Kind: "member", ID: id}.identity()] {
					continue
				}
			}
			kept = append(kept, m)
		}
		state["members"] = kept
	}
	if keys, ok := state["keys"].([]any); ok {
		for _, k := range keys {
			if object, ok := k.(map[string]any); ok {
				if id, ok := object["id"].(string); ok && gone[revocation{Kind: "key", ID: id}.identity()] {
					delete(object, "revokedAt")
					delete(object, "revokedBy")
				}
			}
		}
	}
}
