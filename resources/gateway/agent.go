package main

// The server agent (docs/AGENT.md): `gateway agent …`. Every cycle it probes its peers, observes the server's
// replicas, keeps each group's incidents and stand-in plan, writes agent.json and view.json, and hands the
// runtime what to make true; every few seconds it catches up with its peers' group states.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type agentOptions struct {
	berthDir   string
	gatewayDir string
	// requestLogDir holds the gateway's requests.jsonl and its rotations, pruned by the groups' maxDays.
	requestLogDir string
	pruneInterval time.Duration
	listen        string
	gatewayPort   int
	dockerSocket  string

	probeInterval   time.Duration
	probeTimeout    time.Duration
	lostAfter       int
	upAfter         int
	catchUpInterval time.Duration
	catchUpTimeout  time.Duration
	observeTimeout  time.Duration
	webhookTimeout  time.Duration
	webhookDelays   []time.Duration
	resolvedKept    time.Duration
	// peerAddress is where a peer's agent listens: by default its host and this agent's own listen port.
	peerAddress func(stateServer) string
}

func defaultAgentOptions() agentOptions {
	return agentOptions{
		berthDir:        "/var/lib/berth",
		listen:          ":8701",
		gatewayPort:     8700,
		dockerSocket:    "/var/run/docker.sock",
		probeInterval:   time.Second,
		probeTimeout:    800 * time.Millisecond,
		lostAfter:       3,
		upAfter:         2,
		catchUpInterval: 5 * time.Second,
		catchUpTimeout:  3 * time.Second,
		observeTimeout:  time.Second,
		webhookTimeout:  5 * time.Second,
		webhookDelays:   []time.Duration{time.Second, 3 * time.Second},
		resolvedKept:    10 * time.Minute,
		pruneInterval:   time.Minute,
	}
}

// parseAgentFlags: every flag also has a BERTH_AGENT_* variable (the flag wins).
func parseAgentFlags(args []string) (agentOptions, error) {
	o := defaultAgentOptions()
	fs := flag.NewFlagSet("gateway agent", flag.ContinueOnError)
	fs.StringVar(&o.berthDir, "berth-dir", envOr("BERTH_AGENT_BERTH_DIR", o.berthDir), "Berth's folder on this server (env BERTH_AGENT_BERTH_DIR)")
	fs.StringVar(&o.gatewayDir, "gateway-dir", os.Getenv("BERTH_AGENT_GATEWAY_DIR"), "the gateway's folder (routes.json, agent.json); default <berth-dir>/gateway (env BERTH_AGENT_GATEWAY_DIR)")
	fs.StringVar(&o.requestLogDir, "request-log-dir", os.Getenv("BERTH_AGENT_REQUEST_LOG_DIR"), "the gateway's inference log folder; default <berth-dir>/logs/gateway (env BERTH_AGENT_REQUEST_LOG_DIR)")
	fs.StringVar(&o.listen, "listen", envOr("BERTH_AGENT_LISTEN", o.listen), "peer API address (env BERTH_AGENT_LISTEN)")
	gatewayPort := fs.Int64("gateway-port", envInt("BERTH_AGENT_GATEWAY_PORT", int64(o.gatewayPort)), "the gateways' port, for agent.json's peers (env BERTH_AGENT_GATEWAY_PORT)")
	fs.StringVar(&o.dockerSocket, "docker", envOr("BERTH_AGENT_DOCKER", o.dockerSocket), "Docker's socket (env BERTH_AGENT_DOCKER)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.gatewayPort = int(*gatewayPort)
	if o.gatewayDir == "" {
		o.gatewayDir = filepath.Join(o.berthDir, "gateway")
	}
	if o.requestLogDir == "" {
		o.requestLogDir = filepath.Join(o.berthDir, "logs", "gateway")
	}
	_, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return o, errors.New("-listen must be host:port or :port")
	}
	o.peerAddress = func(s stateServer) string { return net.JoinHostPort(s.Host, port) }
	return o, nil
}

// runAgent is `gateway agent …`: it runs until SIGTERM.
func runAgent(args []string) int {
	log.SetPrefix("agent: ")
	o, err := parseAgentFlags(args)
	if err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	uid, err := waitForIdentity(ctx, stateStore{o.berthDir})
	if err != nil {
		return 1
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		log.Printf("cannot listen on %s: %v", o.listen, err)
		return 1
	}
	log.Printf("berth-agent %s for %s, peer API on %s, berth dir %s, gateway dir %s", gatewayVersion, uid, ln.Addr(), o.berthDir, o.gatewayDir)
	if err := newAgent(o, uid, newDockerRuntime(o.dockerSocket)).run(ctx, ln); err != nil {
		log.Print(err)
		return 1
	}
	log.Printf("stopped")
	return 0
}

// waitForIdentity waits for server.json: Berth writes it when it first reaches the server.
func waitForIdentity(ctx context.Context, store stateStore) (string, error) {
	for logged := false; ; logged = true {
		uid, err := store.readServerUID()
		if err == nil {
			return uid, nil
		}
		if !logged {
			log.Printf("waiting for this server's identity (%v)", err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

type cachedCopy struct {
	stamp fileStamp
	copy  *groupCopy
}

type agent struct {
	opts      agentOptions
	runtime   serverRuntime
	store     stateStore
	routes    routesWriter
	uid       string
	startedAt time.Time
	peers     *peerClient
	hooks     *webhookSender

	// Owned by the cycle goroutine.
	cache   map[string]cachedCopy
	records map[string]*peerRecord
	books   map[string]*incidentBook
	plans   map[string][]standIn
	report  runtimeReport
	logged  map[string]string // last line logged per subject, so a lasting condition is logged once

	mine           atomic.Value // map[string]*groupCopy: verified copies naming this server, for the peer API
	view           atomic.Pointer[agentView]
	caughtUp       atomic.Bool
	routesRevision atomic.Int64
	want           chan desired
	background     sync.WaitGroup
}

func newAgent(o agentOptions, uid string, runtime serverRuntime) *agent {
	a := &agent{
		opts: o, runtime: runtime, store: stateStore{o.berthDir}, uid: uid, startedAt: time.Now(),
		routes:  routesWriter{berthDir: o.berthDir, gatewayDir: o.gatewayDir},
		peers:   newPeerClient(o.peerAddress),
		hooks:   &webhookSender{client: &http.Client{Timeout: o.webhookTimeout}, delays: o.webhookDelays},
		cache:   map[string]cachedCopy{},
		records: map[string]*peerRecord{}, books: map[string]*incidentBook{}, plans: map[string][]standIn{},
		logged: map[string]string{}, want: make(chan desired, 1),
	}
	a.mine.Store(map[string]*groupCopy{})
	a.view.Store(&agentView{UID: uid, Version: gatewayVersion, StartedAt: a.startedAt, At: a.startedAt, Groups: map[string]groupView{},
		Replicas: []replicaReport{}, LocalIncidents: []incident{}})
	return a
}

// run serves the peer API on ln and runs the loops until ctx ends.
func (a *agent) run(ctx context.Context, ln net.Listener) error {
	api := &peerAPI{groups: a.mineNow, view: a.view.Load, store: a.store}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var loops sync.WaitGroup
	loops.Add(3)
	go func() { defer loops.Done(); a.catchUpLoop(ctx) }()
	go func() { defer loops.Done(); a.reconcileLoop(ctx) }()
	go func() { defer loops.Done(); a.pruneLoop(ctx) }()
	a.cycleLoop(ctx)
	srv.Close()
	loops.Wait()
	a.background.Wait()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *agent) mineNow() map[string]*groupCopy { return a.mine.Load().(map[string]*groupCopy) }

func (a *agent) cycleLoop(ctx context.Context) {
	tick := time.NewTicker(a.opts.probeInterval)
	defer tick.Stop()
	for {
		a.cycle(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// cycle is one round: groups, probes, observation, each group's leader, incidents and plan, then the files.
func (a *agent) cycle(ctx context.Context) {
	now := time.Now()
	mine := a.loadGroups()
	a.mine.Store(mine)
	a.syncRecords(mine, now)
	a.probe(ctx, now)
	a.observe(ctx)
	view := &agentView{
		UID: a.uid, Version: gatewayVersion, StartedAt: a.startedAt, At: now, CaughtUp: a.caughtUp.Load(),
		FreeMemoryMB: a.report.FreeMemoryMB, GPUs: a.report.GPUs, Groups: map[string]groupView{},
		Replicas: nonNil(a.report.Replicas), LocalIncidents: nonNil(a.report.Incidents),
	}
	var standIns []wantedStandIn
	for _, group := range sortedGroupNames(mine) {
		gv, wanted := a.evaluate(ctx, group, mine[group].Rev, now)
		view.Groups[group] = gv
		standIns = append(standIns, wanted...)
	}
	a.view.Store(view)
	a.writeFiles(view, mine, standIns, now)
	a.requestReconcile(a.desiredOf(mine, standIns, now))
}

// loadGroups reads the groups' state files, verifying only those that changed since the last cycle.
func (a *agent) loadGroups() map[string]*groupCopy {
	mine := map[string]*groupCopy{}
	paths, _ := filepath.Glob(filepath.Join(a.store.groupsDir(), "*", "state.json"))
	for _, path := range paths {
		group := filepath.Base(filepath.Dir(path))
		fi, err := os.Stat(path)
		if err != nil || !groupNamePattern.MatchString(group) {
			continue
		}
		cached, ok := a.cache[group]
		if !ok || cached.stamp != stampOf(fi) {
			text, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			cached = cachedCopy{stamp: stampOf(fi), copy: checkState(group, trimNewline(text))}
			a.cache[group] = cached
		}
		a.logOnce("state "+group, cached.copy.Problem, "the state of group %s is not used: %s", group, cached.copy.Problem)
		if cached.copy.verified() && cached.copy.names(a.uid) {
			mine[group] = cached.copy
		}
	}
	return mine
}

// syncRecords keeps one record per other server of this server's groups.
func (a *agent) syncRecords(mine map[string]*groupCopy, now time.Time) {
	seen := map[string]bool{}
	for _, group := range sortedGroupNames(mine) {
		state := mine[group].Rev.State
		for _, s := range state.Servers {
			if s.UID == a.uid {
				continue
			}
			r := a.records[s.UID]
			if r == nil {
				r = &peerRecord{Health: newPeerWatch(now), Views: map[string]*agentView{}}
				a.records[s.UID] = r
			}
			if !seen[s.UID] {
				r.Server, r.Groups = s, nil
			}
			seen[s.UID] = true
			if state.Settings.PeerToken != "" {
				r.Groups = append(r.Groups, group)
			}
		}
	}
	for uid := range a.records {
		if !seen[uid] {
			delete(a.records, uid)
		}
	}
}

// probe sends each peer one request (for one of the groups shared with it, in turn), all at once and each
// bounded by the probe timeout, then applies the hysteresis.
func (a *agent) probe(ctx context.Context, now time.Time) {
	type outcome struct {
		answered bool
		view     *agentView
		group    string
	}
	outcomes := map[string]*outcome{}
	var wg sync.WaitGroup
	mine := a.mineNow()
	for _, uid := range sortedPeerUIDs(a.records) {
		r := a.records[uid]
		if len(r.Groups) == 0 {
			continue
		}
		group := r.Groups[r.nextGroup%len(r.Groups)]
		r.nextGroup++
		o := &outcome{group: group}
		outcomes[uid] = o
		wg.Add(1)
		go func(server stateServer, token string) {
			defer wg.Done()
			o.answered, o.view = a.peers.probe(ctx, server, o.group, token, a.opts.probeTimeout)
		}(r.Server, mine[group].Rev.State.Settings.PeerToken)
	}
	wg.Wait()
	for uid, o := range outcomes {
		r := a.records[uid]
		if r.Health.record(o.answered, now, a.opts.lostAfter, a.opts.upAfter) {
			log.Printf("peer %s (%s, %s) is %s", r.Server.Name, uid, r.Server.Host, r.Health.State)
		}
		if o.view != nil {
			r.Views[o.group], r.FreeMemoryMB, r.GPUs, r.HasView = o.view, o.view.FreeMemoryMB, o.view.GPUs, true
		}
	}
}

// observe asks the runtime for the server's replicas; on failure the last report stands.
func (a *agent) observe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.observeTimeout)
	defer cancel()
	report, err := a.runtime.Observe(ctx)
	problem := ""
	if err != nil {
		problem = err.Error()
	} else {
		a.report = report
	}
	a.logOnce("observe", problem, "cannot observe the replicas: %s", problem)
}

// logOnce logs format when problem changes to a non-empty text, so a lasting condition is one line.
func (a *agent) logOnce(subject, problem, format string, args ...any) {
	if a.logged[subject] == problem {
		return
	}
	a.logged[subject] = problem
	if problem != "" {
		log.Printf(format, args...)
	}
}

func trimNewline(b []byte) []byte { return []byte(strings.TrimRight(string(b), "\n")) }

func sortedGroupNames(m map[string]*groupCopy) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// writeFiles writes view.json for Berth and agent.json for the gateway.
func (a *agent) writeFiles(view *agentView, mine map[string]*groupCopy, standIns []wantedStandIn, now time.Time) {
	data, _ := json.Marshal(view)
	dir := filepath.Join(a.opts.berthDir, "agent")
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		err = writeFileAtomic(filepath.Join(dir, "view.json"), append(data, '\n'), 0o644)
	}
	a.logOnce("view.json", errText(err), "cannot write view.json: %v", err)
	data, _ = json.Marshal(a.agentFileOf(mine, standIns, now))
	err = os.MkdirAll(a.opts.gatewayDir, 0o755)
	if err == nil {
		err = writeFileAtomic(filepath.Join(a.opts.gatewayDir, "agent.json"), append(data, '\n'), 0o644)
	}
	a.logOnce("agent.json", errText(err), "cannot write agent.json: %v", err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// agentFileOf is agent.json: the stand-ins are the ready ones the plan still wants (one the plan dropped
// leaves agent.json before the runtime drains and removes it).
func (a *agent) agentFileOf(mine map[string]*groupCopy, standIns []wantedStandIn, now time.Time) agentFile {
	f := agentFile{
		At: now.UnixMilli(), CaughtUp: a.caughtUp.Load(), RoutesRevision: a.routesRevision.Load(), Self: a.uid,
		Peers: []agentPeer{}, StandIns: map[string]map[string][]string{},
	}
	seen := map[string]bool{a.uid: true}
	for _, group := range sortedGroupNames(mine) {
		for _, s := range mine[group].Rev.State.Servers {
			if !seen[s.UID] {
				seen[s.UID] = true
				f.Peers = append(f.Peers, agentPeer{UID: s.UID, Name: s.Name, Gateway: net.JoinHostPort(s.Host, strconv.Itoa(a.opts.gatewayPort))})
			}
		}
	}
	sort.Slice(f.Peers, func(i, j int) bool { return f.Peers[i].UID < f.Peers[j].UID })
	wanted := map[string]bool{}
	for _, s := range standIns {
		wanted[standInName(s.standIn)] = true
	}
	for _, r := range a.report.Replicas {
		if r.StandInFor == nil || !r.Ready || !wanted[r.Name] {
			continue
		}
		if f.StandIns[r.Model] == nil {
			f.StandIns[r.Model] = map[string][]string{}
		}
		version := strconv.Itoa(r.Version)
		f.StandIns[r.Model][version] = append(f.StandIns[r.Model][version], "127.0.0.1:"+strconv.Itoa(r.Port))
	}
	return f
}
