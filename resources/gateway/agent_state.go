package main

// The group states on this server (shared/group-state.ts): read, verified and written the way Berth does
// (electron/main/services/groups/remote.ts), so either may replace what the other wrote.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const stateFormat = 1

// historyKept is how many replaced revisions a group's history/ keeps (as Berth's writeState does).
const historyKept = 50

var (
	sha256Pattern    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	serverUIDPattern = regexp.MustCompile(`^srv_[0-9a-f]{16}$`)
	groupNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	replicaIndexOf   = regexp.MustCompile(`-r(\d+)$`)
)

// stateFile is state.json; the revision stays raw so its hash is computed over exactly what was written.
type stateFile struct {
	Hash     string          `json:"hash"`
	Revision json.RawMessage `json:"revision"`
}

// stateRevision holds the parts of a revision the agent uses; the rest travels untouched in the raw text.
type stateRevision struct {
	Format   int        `json:"format"`
	Group    string     `json:"group"`
	Revision int64      `json:"revision"`
	State    groupState `json:"state"`
}

type groupState struct {
	Servers  []stateServer         `json:"servers"`
	Settings groupSettings         `json:"settings"`
	Models   map[string]stateModel `json:"models"`
	Keys     []stateKey            `json:"keys"`
	Members  []stateMember         `json:"members"`
}

// stateMember is one team member of the group: berth-shell resolves a key's rights from it, never from the key line.
type stateMember struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Role      string `json:"role"` // viewer | deployer | admin
	PublicKey string `json:"publicKey"`
	// Models limits a deployer to these models of the group (a viewer on the others); absent: every model.
	Models []string `json:"models"` // null or absent: every model; [] none
}

type stateServer struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
	Host string `json:"host"`
}

type groupSettings struct {
	Webhooks []string `json:"webhooks"`
	// PeerToken is what the group's agents show each other; without it the group's peer features are off.
	PeerToken string `json:"peerToken"`
	// RequestLog bounds the inference log kept until a Berth pulls it; nil keeps the defaults.
	RequestLog *requestLogBound `json:"requestLog"`
	// TLS is "https" for a group whose gateways refuse plain HTTP; "off" or absent: HTTP is still served.
	TLS string `json:"tls"`
}

type requestLogBound struct {
	MaxMB   int `json:"maxMb"`
	MaxDays int `json:"maxDays"`
}

type stateModel struct {
	Public   bool             `json:"public"`
	Versions []stateVersion   `json:"versions"`
	Aliases  map[string]int64 `json:"aliases"`
}

type stateVersion struct {
	Number     int                       `json:"number"`
	ImageID    string                    `json:"imageId"`
	State      string                    `json:"state"`
	Resources  versionResources          `json:"resources"`
	Placements map[string][]stateReplica `json:"placements"`
}

type versionResources struct {
	Replicas int     `json:"replicas"`
	MemoryMB int     `json:"memoryMb"`
	CPUs     float64 `json:"cpus"`
	// GPUs per replica as the deploy asked; absent: none.
	GPUs gpuRequest `json:"gpus"`
}

// gpuRequest is shared/deploy.ts GpuRequest: a count (any free GPUs) or GPU indexes (those). A value of another
// shape is kept as Unreadable rather than failing the whole state: stand-ins of that version are then skipped.
type gpuRequest struct {
	Count      int
	Devices    []string
	Unreadable bool
}

func (g *gpuRequest) UnmarshalJSON(data []byte) error {
	*g = gpuRequest{}
	if string(data) == "null" || json.Unmarshal(data, &g.Count) == nil && g.Count >= 0 {
		return nil
	}
	g.Count = 0
	if json.Unmarshal(data, &g.Devices) != nil || len(g.Devices) == 0 || !validGPUs(g.Devices) {
		*g = gpuRequest{Unreadable: true}
	}
	return nil
}

// perReplica is how many GPUs each replica takes; 0: none.
func (g gpuRequest) perReplica() int {
	if len(g.Devices) > 0 {
		return len(g.Devices)
	}
	return g.Count
}

var gpuIndexPattern = regexp.MustCompile(`^[0-9]{1,3}$`)

// validGPUs: every id is a GPU index as nvidia-smi numbers them (what Berth places by), and none twice.
func validGPUs(ids []string) bool {
	seen := map[string]bool{}
	for _, id := range ids {
		if !gpuIndexPattern.MatchString(id) || seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

type stateReplica struct {
	Name string `json:"name"`
	Port int    `json:"port"`
	// GPUs are the indexes of the GPUs this replica was given on its server; no other replica there has them.
	GPUs []string `json:"gpus"`
}

type stateKey struct {
	ID        string   `json:"id"`
	SHA256    string   `json:"sha256"`
	Scope     keyScope `json:"scope"`
	ExpiresAt *string  `json:"expiresAt"`
	RevokedAt *string  `json:"revokedAt"`
}

type keyScope struct {
	Kind     string   `json:"kind"` // all | model | versions
	Model    string   `json:"model"`
	Versions []string `json:"versions"`
}

// revocation is one line of revoked.jsonl: a right taken away, merged by union, never brought back.
type revocation struct {
	Kind string `json:"kind"` // key | member
	ID   string `json:"id"`
	At   string `json:"at"`
	By   string `json:"by"`
}

func (r revocation) identity() string { return r.Kind + "\x00" + r.ID }

// groupCopy is one group's state.json as found on disk, verified or with the reason it is not.
type groupCopy struct {
	Name    string
	Text    []byte // the file's bytes, served to peers as they are
	File    stateFile
	Rev     stateRevision
	Problem string // empty: verified
}

func (c *groupCopy) verified() bool { return c.Problem == "" }

// revisionNumber is the copy's revision, 0 when it does not verify (any verified copy is newer).
func (c *groupCopy) revisionNumber() int64 {
	if c == nil || !c.verified() {
		return 0
	}
	return c.Rev.Revision
}

func (c *groupCopy) names(uid string) bool {
	for _, s := range c.Rev.State.Servers {
		if s.UID == uid {
			return true
		}
	}
	return false
}

// checkState verifies one state file of the group named by its folder: shape, hash and group name.
func checkState(group string, text []byte) *groupCopy {
	c := &groupCopy{Name: group, Text: text}
	c.Problem = verifyState(c, group, text)
	return c
}

func verifyState(c *groupCopy, group string, text []byte) string {
	if err := json.Unmarshal(text, &c.File); err != nil || len(c.File.Revision) == 0 {
		return "the state file is not a state file (damaged)"
	}
	if !sha256Pattern.MatchString(c.File.Hash) {
		return "the state file's hash is not 64 hex digits"
	}
	if err := json.Unmarshal(c.File.Revision, &c.Rev); err != nil {
		return fmt.Sprintf("the revision does not match the schema: %v", err)
	}
	if c.Rev.Format != stateFormat || c.Rev.Revision < 1 || len(c.Rev.State.Servers) == 0 {
		return "the revision does not match the schema (format, revision or servers)"
	}
	if c.Rev.Group != group {
		return fmt.Sprintf("the state file names group %q, not %q", c.Rev.Group, group)
	}
	hash, err := revisionHash(c.File.Revision)
	if err != nil {
		return fmt.Sprintf("the revision cannot be canonicalized: %v", err)
	}
	if hash != c.File.Hash {
		return fmt.Sprintf("revision %d does not match its hash (damaged or edited)", c.Rev.Revision)
	}
	return ""
}

// stateStore is the groups folder of one berthDir.
type stateStore struct{ berthDir string }

func (s stateStore) groupsDir() string            { return filepath.Join(s.berthDir, "groups") }
func (s stateStore) groupDir(group string) string { return filepath.Join(s.groupsDir(), group) }
func (s stateStore) statePath(group string) string {
	return filepath.Join(s.groupDir(group), "state.json")
}
func (s stateStore) revokedPath(group string) string {
	return filepath.Join(s.groupDir(group), "revoked.jsonl")
}

// readServerUID reads server.json, which Berth writes once.
func (s stateStore) readServerUID() (string, error) {
	data, err := os.ReadFile(filepath.Join(s.berthDir, "server.json"))
	if err != nil {
		return "", err
	}
	var identity struct {
		UID string `json:"uid"`
	}
	if json.Unmarshal(data, &identity) != nil || !serverUIDPattern.MatchString(identity.UID) {
		return "", errors.New("server.json holds no server uid")
	}
	return identity.UID, nil
}

// readGroups reads every groups/<g>/state.json, verified or not, by group name.
func (s stateStore) readGroups() map[string]*groupCopy {
	copies := map[string]*groupCopy{}
	paths, _ := filepath.Glob(filepath.Join(s.groupsDir(), "*", "state.json"))
	for _, path := range paths {
		group := filepath.Base(filepath.Dir(path))
		if !groupNamePattern.MatchString(group) {
			continue
		}
		if text, err := os.ReadFile(path); err == nil {
			copies[group] = checkState(group, bytes.TrimRight(text, "\n"))
		}
	}
	return copies
}

// readRevocations reads revoked.jsonl; a damaged line is skipped (each revocation is also in the revisions).
func (s stateStore) readRevocations(group string) []revocation {
	f, err := os.Open(s.revokedPath(group))
	if err != nil {
		return nil
	}
	defer f.Close()
	var list []revocation
	lines := bufio.NewScanner(f)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		var r revocation
		if json.Unmarshal(lines.Bytes(), &r) == nil && (r.Kind == "key" || r.Kind == "member") && r.ID != "" {
			list = append(list, r)
		}
	}
	return list
}

// addRevocations appends those of found that the group's file lacks; it reports how many it added.
func (s stateStore) addRevocations(group string, found []revocation) (int, error) {
	known := map[string]bool{}
	for _, r := range s.readRevocations(group) {
		known[r.identity()] = true
	}
	var lines []byte
	added := 0
	for _, r := range found {
		if known[r.identity()] || (r.Kind != "key" && r.Kind != "member") || r.ID == "" {
			continue
		}
		known[r.identity()] = true
		line, _ := json.Marshal(r)
		lines = append(append(lines, line...), '\n')
		added++
	}
	if added == 0 {
		return 0, nil
	}
	if err := os.MkdirAll(s.groupDir(group), 0o755); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(s.revokedPath(group), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_, err = f.Write(lines) // one write: a concurrent Berth append never lands inside a line
	return added, err
}

// replaceState installs a newer verified copy: the replaced file goes to history/<its revision>.json (newest
// 50 kept), the new one is renamed into place.
func (s stateStore) replaceState(current, newer *groupCopy) error {
	dir := s.groupDir(newer.Name)
	if err := os.MkdirAll(filepath.Join(dir, "history"), 0o755); err != nil {
		return err
	}
	if current != nil && current.verified() {
		history := filepath.Join(dir, "history", strconv.FormatInt(current.Rev.Revision, 10)+".json")
		if err := writeFileAtomic(history, append(current.Text, '\n'), 0o644); err != nil {
			return err
		}
	}
	if err := writeFileAtomic(s.statePath(newer.Name), append(newer.Text, '\n'), 0o644); err != nil {
		return err
	}
	s.pruneHistory(newer.Name)
	return nil
}

func (s stateStore) pruneHistory(group string) {
	dir := filepath.Join(s.groupDir(group), "history")
	entries, _ := os.ReadDir(dir)
	var numbers []int64
	for _, e := range entries {
		if n, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".json"), 10, 64); err == nil {
			numbers = append(numbers, n)
		}
	}
	sort.Slice(numbers, func(i, j int) bool { return numbers[i] < numbers[j] })
	for i := 0; i+historyKept < len(numbers); i++ {
		os.Remove(filepath.Join(dir, strconv.FormatInt(numbers[i], 10)+".json"))
	}
}

// writeFileAtomic writes a temporary file in the same folder and renames it over path, so a reader sees the
// old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), mode)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
