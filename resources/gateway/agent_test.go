package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testPeerToken = "c0ffee0000000000000000000000000000000000000000000000000000000000"

func testUID(n int) string { return fmt.Sprintf("srv_%016x", n) }

func mkdirAll(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	mkdirAll(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, into any) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	return err == nil && json.Unmarshal(data, into) == nil
}

// fakeRuntime reports what the test sets and records what the agent asks for.
type fakeRuntime struct {
	mu     sync.Mutex
	report runtimeReport
	last   desired
}

func (f *fakeRuntime) Observe(context.Context) (runtimeReport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.report, nil
}

func (f *fakeRuntime) Reconcile(_ context.Context, want desired) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = want
	return nil
}

func (f *fakeRuntime) set(change func(*runtimeReport)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(&f.report)
}

func (f *fakeRuntime) desired() desired {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// revisionSpec builds one revision of the group "prod" as Berth would write it.
type revisionSpec struct {
	revision int64
	servers  int
	webhooks []string
	keys     []map[string]any
	// placements of iris v3: server number → ports
	placements map[int][]int
}

func (s revisionSpec) text(t *testing.T) string {
	t.Helper()
	servers := []map[string]any{}
	for n := 1; n <= s.servers; n++ {
		servers = append(servers, map[string]any{"uid": testUID(n), "name": fmt.Sprintf("fb%d", n), "host": fmt.Sprintf("10.0.0.%d", n), "port": 22})
	}
	placements := map[string]any{}
	for n, ports := range s.placements {
		replicas := []map[string]any{}
		for i, port := range ports {
			replicas = append(replicas, map[string]any{"name": fmt.Sprintf("berth-iris-v3-r%d", i+1), "port": port})
		}
		placements[testUID(n)] = replicas
	}
	keys := s.keys
	if keys == nil {
		keys = []map[string]any{}
	}
	webhooks := s.webhooks
	if webhooks == nil {
		webhooks = []string{}
	}
	revision := map[string]any{
		"format": 1, "group": "prod", "revision": s.revision, "prev": nil, "at": "2026-12-01T12:00:00Z",
		"by": map[string]any{"holder": "alice", "machine": "laptop"}, "change": "test",
		"state": map[string]any{
			"servers":  servers,
			"settings": map[string]any{"replicas": 1, "webhooks": webhooks, "peerToken": testPeerToken},
			"models": map[string]any{"iris": map[string]any{
				"public": false, "keepVersions": 5, "createdBy": "alice", "createdAt": "2026-12-01T10:00:00Z", "aliases": map[string]any{"latest": 3},
				"versions": []any{map[string]any{
					"number": 3, "imageRef": "berth/iris:3", "imageId": "sha256:iris3", "notebookHash": nil, "dockerfile": nil, "requirements": nil,
					"createdBy": "alice", "createdAt": "2026-12-01T10:00:00Z", "state": "live",
					"resources": map[string]any{"replicas": 1, "memoryMb": 512, "cpus": 0.5}, "placements": placements,
				}},
			}},
			"keys": keys, "members": []any{},
		},
	}
	return shellStateText(t, revision)
}

func testKey(id string) map[string]any {
	return map[string]any{"id": id, "name": id, "sha256": strings.Repeat("a", 64), "scope": map[string]any{"kind": "all"}, "expiresAt": nil,
		"createdBy": "alice", "createdAt": "2026-12-01T10:00:00Z", "revokedAt": nil, "revokedBy": nil}
}

// testServer is one server of a test group: its folder, its agent's address and runtime.
type testServer struct {
	uid     string
	dir     string
	addr    string
	runtime *fakeRuntime
	agent   *agent
	stop    func()
}

type testCluster struct {
	t       *testing.T
	servers []*testServer
	addrs   map[string]string
}

// newTestCluster makes n servers whose folders hold the same revision; none runs yet.
func newTestCluster(t *testing.T, n int, spec revisionSpec) *testCluster {
	c := &testCluster{t: t, addrs: map[string]string{}}
	spec.servers = n
	text := spec.text(t)
	for i := 1; i <= n; i++ {
		s := &testServer{uid: testUID(i), dir: t.TempDir(), runtime: &fakeRuntime{}}
		writeFile(t, filepath.Join(s.dir, "server.json"), fmt.Sprintf(`{"uid":%q}`+"\n", s.uid))
		writeFile(t, filepath.Join(s.dir, "groups/prod/state.json"), text+"\n")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.addr = ln.Addr().String()
		ln.Close()
		c.addrs[s.uid] = s.addr
		c.servers = append(c.servers, s)
	}
	t.Cleanup(func() {
		for _, s := range c.servers {
			if s.stop != nil {
				s.stop()
			}
		}
	})
	return c
}

func (c *testCluster) options(s *testServer) agentOptions {
	o := defaultAgentOptions()
	o.berthDir, o.gatewayDir, o.listen = s.dir, filepath.Join(s.dir, "gateway"), s.addr
	o.probeInterval, o.probeTimeout = 20*time.Millisecond, 100*time.Millisecond
	o.catchUpInterval, o.catchUpTimeout, o.observeTimeout = 100*time.Millisecond, 300*time.Millisecond, 100*time.Millisecond
	o.webhookTimeout, o.webhookDelays = time.Second, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
	addrs := c.addrs
	o.peerAddress = func(p stateServer) string { return addrs[p.UID] }
	return o
}

// start runs server i's agent (again) on its address.
func (c *testCluster) start(i int) *testServer {
	s := c.servers[i]
	var ln net.Listener
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the address was just released
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	s.agent = newAgent(c.options(s), s.uid, s.runtime)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.agent.run(ctx, ln) }()
	s.stop = func() { cancel(); <-done; s.stop = nil }
	return s
}

func (s *testServer) groupView() groupView { return s.agent.view.Load().Groups["prod"] }

func (s *testServer) seesAllUp() bool {
	gv := s.groupView()
	for _, p := range gv.Peers {
		if p.State != peerUp {
			return false
		}
	}
	return len(gv.Peers) > 0
}

// hookRecorder is a webhook endpoint that keeps what it receives.
type hookRecorder struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []webhookPayload
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p webhookPayload
		json.NewDecoder(r.Body).Decode(&p)
		h.mu.Lock()
		h.payloads = append(h.payloads, p)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookRecorder) count(kind, status string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, p := range h.payloads {
		if p.Kind == kind && p.Status == status {
			n++
		}
	}
	return n
}

func (h *hookRecorder) all() []webhookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhookPayload{}, h.payloads...)
}

func TestOneWebhookPerIncidentAcrossThreeAgents(t *testing.T) {
	hook := newHookRecorder(t)
	c := newTestCluster(t, 3, revisionSpec{revision: 1, webhooks: []string{hook.URL}, placements: map[int][]int{1: {9101}, 2: {9101}, 3: {9101}}})
	for i := range c.servers {
		c.start(i)
	}
	for _, s := range c.servers {
		eventually(t, 3*time.Second, s.uid+" sees every peer up", s.seesAllUp)
	}

	// A crash loop reported by two servers is one incident, announced once by the leader, resolved once.
	model, version := "iris", 3
	crash := incident{ID: "local", Kind: kindCrashLoop, Model: &model, Version: &version, OpenedAt: time.Now(), Text: "crash"}
	for _, s := range c.servers[1:] {
		s.runtime.set(func(r *runtimeReport) { r.Incidents = []incident{crash} })
	}
	eventually(t, 3*time.Second, "the crash loop is announced", func() bool { return hook.count(kindCrashLoop, "open") > 0 })
	for _, s := range c.servers[1:] {
		s.runtime.set(func(r *runtimeReport) { r.Incidents = nil })
	}
	eventually(t, 3*time.Second, "the crash loop is resolved", func() bool { return hook.count(kindCrashLoop, "resolved") > 0 })
	// A leader that dies between sending a webhook and its peers reading its view is the one case of a repeat
	// (docs/AGENT.md): this test stops the leader only once the others know the resolution went out.
	for _, s := range c.servers[1:] {
		eventually(t, 3*time.Second, s.uid+" knows the resolution was sent", func() bool {
			for _, i := range s.groupView().Incidents {
				if i.Kind == kindCrashLoop && i.ResolvedAt != nil && i.Notified {
					return true
				}
			}
			return false
		})
	}

	// The leader (the lowest uid) stops: the next one announces it, once.
	c.servers[0].stop()
	eventually(t, 3*time.Second, "server_lost is announced", func() bool { return hook.count(kindServerLost, "open") > 0 })
	time.Sleep(300 * time.Millisecond)
	gv := c.servers[2].groupView()
	if gv.Leader != testUID(2) || len(gv.Incidents) != 2 || gv.Incidents[0].Kind != kindServerLost || !gv.Incidents[0].Notified || gv.Incidents[0].ResolvedAt != nil {
		t.Fatalf("the follower's view of the group: %+v", gv)
	}

	// It comes back: one resolution, although the agent that announced it no longer leads.
	c.start(0)
	eventually(t, 3*time.Second, "server_lost is resolved", func() bool { return hook.count(kindServerLost, "resolved") > 0 })
	time.Sleep(400 * time.Millisecond)

	payloads := hook.all()
	counts := map[string]int{}
	ids := map[string]string{}
	for _, p := range payloads {
		counts[p.Kind+" "+p.Status]++
		if p.Kind == kindServerLost {
			if ids[p.Status] = p.Incident; p.Server == nil || p.Server.UID != testUID(1) || p.Server.Host != "10.0.0.1" {
				t.Errorf("server_lost names %+v", p.Server)
			}
		}
		if p.Source != "berth-agent" || p.Group != "prod" || p.Text == "" {
			t.Errorf("payload %+v", p)
		}
	}
	want := map[string]int{"replica_crash_loop open": 1, "replica_crash_loop resolved": 1, "server_lost open": 1, "server_lost resolved": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Fatalf("webhooks %v, want %v: %+v", counts, want, payloads)
	}
	if ids["open"] != ids["resolved"] {
		t.Fatalf("open %s and resolved %s are not one incident", ids["open"], ids["resolved"])
	}
}

func TestCatchUpAdoptsANewerVerifiedRevisionAndUnitesRevocations(t *testing.T) {
	c := newTestCluster(t, 3, revisionSpec{revision: 1, keys: []map[string]any{testKey("key_01")}, placements: map[int][]int{1: {9101}}})
	newer := revisionSpec{revision: 2, servers: 3, keys: []map[string]any{testKey("key_01"), testKey("key_02"), testKey("key_03")}, placements: map[int][]int{1: {9101, 9102}}}
	writeFile(t, filepath.Join(c.servers[1].dir, "groups/prod/state.json"), newer.text(t)+"\n")
	writeFile(t, filepath.Join(c.servers[0].dir, "groups/prod/revoked.jsonl"), `{"kind":"key","id":"key_03","at":"2026-12-01T12:00:00Z","by":"bob"}`+"\n")
	writeFile(t, filepath.Join(c.servers[1].dir, "groups/prod/revoked.jsonl"), `{"kind":"key","id":"key_02","at":"2026-12-01T12:00:00Z","by":"bob"}`+"\n")

	// The third peer serves a revision 5 that was edited after it was hashed.
	tampered := strings.Replace(revisionSpec{revision: 5, servers: 3, placements: map[int][]int{1: {9101}}}.text(t), `"public":false`, `"public":true`, 1)
	liar := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_agent/state" {
			fmt.Fprintf(w, `{"file":%s,"revoked":[]}`, tampered)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer liar.Close()
	c.addrs[testUID(3)] = strings.TrimPrefix(liar.URL, "http://")

	first, second := c.start(0), c.start(1)
	statePath := filepath.Join(first.dir, "groups/prod/state.json")
	eventually(t, 3*time.Second, "the newer revision is adopted", func() bool {
		data, _ := os.ReadFile(statePath)
		return checkState("prod", trimNewline(data)).revisionNumber() == 2
	})
	if data, _ := os.ReadFile(statePath); strings.Contains(string(data), `"public":true`) || !strings.HasSuffix(string(data), "}\n") {
		t.Fatalf("state.json: %s", data)
	}
	if _, err := os.Stat(filepath.Join(first.dir, "groups/prod/history/1.json")); err != nil {
		t.Fatal("the replaced revision is not in history/:", err)
	}
	for _, s := range []*testServer{first, second} {
		s := s
		eventually(t, 3*time.Second, s.uid+" holds both revocations", func() bool {
			return len(s.agent.store.readRevocations("prod")) == 2
		})
	}

	var routes routesFile
	eventually(t, 3*time.Second, "routes.json is derived from revision 2 less the revocations", func() bool {
		return readJSON(t, filepath.Join(first.dir, "gateway/routes.json"), &routes) && len(routes.Keys) == 1 &&
			len(routes.Models["iris"].Versions["3"].Replicas) == 2
	})
	if routes.Keys[0].ID != "key_01" {
		t.Fatalf("keys %+v", routes.Keys)
	}
	var file agentFile
	eventually(t, 3*time.Second, "agent.json reports the table", func() bool {
		return readJSON(t, filepath.Join(first.dir, "gateway/agent.json"), &file) && file.CaughtUp && file.RoutesRevision == routes.Revision
	})
}

func TestAgentFileNamesPeersAndReadyStandIns(t *testing.T) {
	c := newTestCluster(t, 2, revisionSpec{revision: 1, placements: map[int][]int{1: {9101}, 2: {9101}}})
	lostUID := testUID(2)
	survivor := c.servers[0]
	survivor.runtime.set(func(r *runtimeReport) {
		r.FreeMemoryMB = 4096
		r.Replicas = []replicaReport{
			{Name: "berth-iris-v3-r1", Model: "iris", Version: 3, Port: 9101, Running: true, Ready: true},
			{Name: "berth-iris-v3-r101", Model: "iris", Version: 3, Port: 9150, Running: true, Ready: true, StandInFor: &lostUID},
		}
	})
	c.start(0)
	c.start(1)
	eventually(t, 3*time.Second, "both up", survivor.seesAllUp)
	agentPath := filepath.Join(survivor.dir, "gateway/agent.json")
	var file agentFile
	if !readJSON(t, agentPath, &file) || len(file.StandIns) != 0 {
		t.Fatalf("a stand-in nobody planned is announced: %+v", file)
	}
	if len(file.Peers) != 1 || file.Peers[0] != (agentPeer{UID: lostUID, Name: "fb2", Gateway: "10.0.0.2:8700"}) || file.Self != survivor.uid {
		t.Fatalf("agent.json %+v", file)
	}
	if file.At < time.Now().Add(-time.Second).UnixMilli() {
		t.Fatalf("agent.json is stale: at %d", file.At)
	}

	c.servers[1].stop()
	eventually(t, 3*time.Second, "the ready stand-in is in agent.json", func() bool {
		return readJSON(t, agentPath, &file) && fmt.Sprint(file.StandIns) == "map[iris:map[3:[127.0.0.1:9150]]]"
	})
	// the reconcile loop takes the desired state after the files are written
	var want desired
	eventually(t, 3*time.Second, "the runtime is asked for the stand-in", func() bool {
		want = survivor.runtime.desired()
		return len(want.StandIns) == 1
	})
	if want.StandIns[0].ImageID != "sha256:iris3" || want.StandIns[0].MemoryMB != 512 || want.StandIns[0].For != lostUID {
		t.Fatalf("desired stand-ins %+v", want.StandIns)
	}
	if len(want.Replicas) != 1 || want.Replicas[0].Name != "berth-iris-v3-r1" || want.Replicas[0].Index != 1 || want.Revision != "prod:1" {
		t.Fatalf("desired replicas %+v (revision %q)", want.Replicas, want.Revision)
	}
	var view agentView
	if !readJSON(t, filepath.Join(survivor.dir, "agent/view.json"), &view) || view.Groups["prod"].StandIns[0].On != survivor.uid {
		t.Fatalf("view.json %+v", view)
	}
}

func TestPeerAPIRefusesAWrongToken(t *testing.T) {
	c := newTestCluster(t, 1, revisionSpec{revision: 1})
	s := c.start(0)
	eventually(t, 2*time.Second, "the group is loaded", func() bool { return len(s.agent.mineNow()) == 1 })
	for token, want := range map[string]int{testPeerToken: 200, strings.Repeat("0", 64): 401, "": 401} {
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/_agent/state?group=prod", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %q: %d, want %d", token, resp.StatusCode, want)
		}
	}
}
