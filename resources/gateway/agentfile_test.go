package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCompileMergesStandIns(t *testing.T) {
	doc := `{"revision":2,"models":{"iris":{"versions":{"1":{"replicas":["127.0.0.1:9101"]},"2":{"replicas":[]}}}}}`
	standIns := map[string]map[string][]string{
		"iris": {"1": {"127.0.0.1:9101", "127.0.0.1:9107"}, "2": {"127.0.0.1:9108"}, "9": {"127.0.0.1:9109"}},
		"wine": {"1": {"127.0.0.1:9110"}},
	}
	tb, err := compileRoutes([]byte(doc), standIns, newReplicaSet())
	if err != nil {
		t.Fatal(err)
	}
	addrs := func(v string) []string {
		var list []string
		for _, r := range tb.models["iris"].versions[v].replicas {
			list = append(list, r.addr)
		}
		return list
	}
	if got := strings.Join(addrs("1"), ","); got != "127.0.0.1:9101,127.0.0.1:9107" {
		t.Fatalf("v1: a stand-in joins the replicas once: %s", got)
	}
	if got := strings.Join(addrs("2"), ","); got != "127.0.0.1:9108" {
		t.Fatalf("v2: %s", got)
	}
	if tb.models["iris"].versions["9"] != nil || tb.models["wine"] != nil {
		t.Fatal("stand-ins for versions or models routes.json lacks must be ignored")
	}
	if len(tb.replicas) != 3 {
		t.Fatalf("stand-ins are health-checked like replicas: %d", len(tb.replicas))
	}
}

func (tg *testGateway) writeAgent(t *testing.T, a any) {
	t.Helper()
	writeRoutes(t, tg.opts.agentPath, a)
}

func TestStandInsServeAndInvalidAgentFileKeepsThem(t *testing.T) {
	standIn := newReplica(t, "stand-in")
	tg := startGateway(t, irisRoutes([]string{deadAddr(t)}, []string{deadAddr(t)}, true))
	if r := tg.get(t, "/iris/v1/p"); r.status != 503 {
		t.Fatalf("no agent yet, the only replica is dead: %+v", r)
	}
	tg.writeAgent(t, agentFile{At: time.Now().UnixMilli(), StandIns: map[string]map[string][]string{"iris": {"1": {standIn.addr()}}}})
	eventually(t, 2*time.Second, "the stand-in serves", func() bool { return tg.get(t, "/iris/v1/p").echo.Name == "stand-in" })
	if h := tg.healthJSON(t); !h.Ready || h.Gate != gateNone || h.AgentError != nil || h.Models["iris"].Versions["1"].Replicas != 2 {
		t.Fatalf("no agent.json at start: no gate; the stand-in counts as a replica: %+v", h)
	}

	tg.writeAgent(t, `{"at": 1, "standIns": {`)
	eventually(t, time.Second, "bad agent.json reported", func() bool { return tg.healthJSON(t).AgentError != nil })
	if h := tg.healthJSON(t); !strings.Contains(*h.AgentError, "not valid agent JSON") || h.ConfigError != nil {
		t.Fatalf("health: %+v", h)
	}
	for i := 0; i < 5; i++ {
		if r := tg.get(t, "/iris/v1/p"); r.status != 200 || r.echo.Name != "stand-in" {
			t.Fatalf("the previous stand-ins must stay: %+v", r)
		}
	}

	// Routes change under an unchanged overlay: the stand-in is kept in the new table.
	routes := irisRoutes([]string{deadAddr(t)}, []string{deadAddr(t)}, true)
	routes["revision"] = 2
	writeRoutes(t, tg.routes, routes)
	eventually(t, time.Second, "revision 2", func() bool { return tg.table.Load().revision == 2 })
	if r := tg.get(t, "/iris/v1/p"); r.echo.Name != "stand-in" {
		t.Fatalf("a reloaded routes.json keeps the stand-ins: %+v", r)
	}

	tg.writeAgent(t, agentFile{At: time.Now().UnixMilli()})
	eventually(t, 2*time.Second, "a stand-in gone from agent.json stops serving", func() bool {
		return tg.get(t, "/iris/v1/p").status == 503 && tg.healthJSON(t).AgentError == nil
	})
}

func TestGateHoldsUntilCaughtUpAndNewerRoutes(t *testing.T) {
	a := newReplica(t, "a")
	routes := irisRoutes([]string{a.addr()}, []string{a.addr()}, false)
	routes["keys"] = []m{{"id": "k1", "sha256": sha("revoked-while-down")}}
	// Caught up, but written before this start: it says nothing about this process's group state.
	stale := agentFile{At: time.Now().Add(-time.Hour).UnixMilli(), CaughtUp: true}
	tg := startGateway(t, routes, func(o *options) {
		writeRoutes(t, o.agentPath, stale)
		o.catchUpTimeout = time.Minute
	})

	answer := make(chan result, 1)
	go func() { answer <- tg.get(t, "/iris/v1/p", "Authorization", "Bearer revoked-while-down") }()
	time.Sleep(150 * time.Millisecond)
	select {
	case r := <-answer:
		t.Fatalf("the request must be held until the agent caught up: %+v", r)
	default:
	}
	if h := tg.healthJSON(t); h.Ready || h.Gate != gateWaiting {
		t.Fatalf("health answers 200 during the gate and says so: %+v", h)
	}

	// Caught up now, at a routes revision the gateway has not read yet: still held.
	tg.writeAgent(t, agentFile{At: time.Now().UnixMilli(), CaughtUp: true, RoutesRevision: 2})
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-answer:
		t.Fatalf("the table must reach the agent's routes revision first: %+v", r)
	default:
	}
	routes["revision"] = 2
	routes["keys"] = []m{}
	writeRoutes(t, tg.routes, routes)
	select {
	case r := <-answer:
		if r.status != 401 {
			t.Fatalf("a key revoked while the server was down is refused from the first answer: %+v", r)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the held request must be released once caught up")
	}
	if h := tg.healthJSON(t); !h.Ready || h.Gate != gateCaughtUp {
		t.Fatalf("health after catching up: %+v", h)
	}
}

func TestGateHoldLimitAndTimeout(t *testing.T) {
	a := newReplica(t, "a")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{a.addr()}, true), func(o *options) {
		writeRoutes(t, o.agentPath, agentFile{At: time.Now().UnixMilli()})
		o.catchUpHold = 300 * time.Millisecond
		o.catchUpTimeout = 400 * time.Millisecond
	})
	started := time.Now()
	r := tg.get(t, "/iris/v1/p")
	if r.status != 503 || r.err.Kind != "CatchingUp" || !strings.Contains(r.err.Message, "try another server") {
		t.Fatalf("held past the hold limit: %+v", r)
	}
	if waited := time.Since(started); waited < 250*time.Millisecond {
		t.Fatalf("the request must be held before the 503, waited %s", waited)
	}
	if r := tg.get(t, "/iris/v1/p"); r.status != 200 {
		t.Fatalf("the gate opens after the catch-up timeout and releases the held request: %+v", r)
	}
	if h := tg.healthJSON(t); !h.Ready || h.Gate != gateTimedOut {
		t.Fatalf("health after the timeout: %+v", h)
	}
	time.Sleep(60 * time.Millisecond) // > flush interval
	lines := readLines(t, filepath.Join(tg.dir, "logs", requestLogName))
	if len(lines) != 2 || !strings.Contains(lines[0], `"status":503`) || !strings.Contains(lines[0], `"error":"CatchingUp"`) {
		t.Fatalf("the refused request is logged: %v", lines)
	}
}

func TestAgentFileFlag(t *testing.T) {
	o, _, _, err := parseFlags([]string{"-config", "/x/routes.json", "-catch-up-hold", "2s", "-catch-up-timeout", "5s"})
	if err != nil || o.agentPath != "" || o.catchUpHold != 2*time.Second || o.catchUpTimeout != 5*time.Second {
		t.Fatalf("flags: %+v %v", o, err)
	}
	t.Setenv("BERTH_GATEWAY_AGENT_FILE", "/y/agent.json")
	if o, _, _, _ := parseFlags(nil); o.agentPath != "/y/agent.json" {
		t.Fatalf("env: %q", o.agentPath)
	}
	dir := t.TempDir()
	o = testOptions(dir)
	o.agentPath = ""
	g, err := newGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()
	if g.opts.agentPath != filepath.Join(dir, "agent.json") || g.gate.state.Load() != gateNone {
		t.Fatalf("agent.json defaults to routes.json's folder: %q %s", g.opts.agentPath, g.gate.state.Load())
	}
}
