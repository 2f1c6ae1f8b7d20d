package main

// The agent's hand on this server's containers (docs/AGENT.md "Reconcile", "Stand-ins", replica incidents):
// serverRuntime over the Docker Engine API. Only containers labelled berth.model are ever looked at or touched.

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// containerLabels are Berth's container labels (electron/main/services/remote/layout.ts), plus the stand-in mark.
var containerLabels = struct{ model, version, replica, port, operation, standIn string }{
	"berth.model", "berth.version", "berth.replica", "berth.port", "berth.operation", "berth.standin",
}

const (
	firstReplicaPort = 9100
	// Docker restarts a crashed replica itself; the agent steps in only when it has not within this long.
	dockerRestartGrace = 5 * time.Second
	// A missing replica may be one a Berth is removing right now, about to write a new revision.
	missingReplicaGrace = 30 * time.Second
	// The agent drops a stand-in from agent.json first; the gateway stops routing to it within this long.
	standInDrain     = 2 * time.Second
	standInStopGrace = 3 * time.Second
	// Creating containers is slow and a bad plan must not flood the server: the rest waits for the next pass.
	maxCreatesPerPass = 3

	crashLoopRestarts = 3
	crashLoopWindow   = 5 * time.Minute
	stableToResolve   = 60 * time.Second
	keepResolved      = 10 * time.Minute
	readyProbeTimeout = 500 * time.Millisecond

	eventsRetryMax = 30 * time.Second
)

type runtimeOptions struct {
	now         func() time.Time
	meminfoPath string
	// gpusDir lists one entry per NVIDIA GPU (/proc/driver/nvidia/gpus, one folder per PCI address).
	gpusDir  string
	portFree func(port int) bool
	// eventsRetry is the first pause before reconnecting the events stream; it doubles up to eventsRetryMax.
	eventsRetry time.Duration
}

// versionKey is one model version: replica incidents are per (kind, model, version).
type versionKey struct {
	model   string
	version int
}

type localIncidentKey struct {
	kind string
	versionKey
}

// trackedContainer is what the runtime remembers of one container between observations.
type trackedContainer struct {
	versionKey
	restartCount int
	// upSince is when the container was first seen running without a restart since; zero while it is not running.
	upSince time.Time
	// oomFinishedAt is the exit time of the last OOM kill already counted, so a stale OOMKilled is not counted twice.
	oomFinishedAt string
}

// streamedEvents is what the events stream saw since the last observation.
type streamedEvents struct {
	ooms     map[string]versionKey // by container id
	restarts map[string]int        // start events after a die, by container id
	died     map[string]bool
	lastNano int64
}

type missingSince struct {
	revision string
	since    time.Time
}

type dockerRuntime struct {
	docker *dockerClient
	opts   runtimeOptions
	probe  *http.Client

	mu        sync.Mutex // guards what Observe and the events stream share
	events    streamedEvents
	tracked   map[string]*trackedContainer // by container id
	restarts  map[versionKey][]time.Time   // restarts within the crash-loop window
	open      map[localIncidentKey]*incident
	resolved  []incident
	reconcile sync.Mutex              // one pass at a time; guards the two maps below
	missing   map[string]missingSince // wanted replicas not found, by container name
	unwanted  map[string]time.Time    // stand-ins no longer wanted, by container name
}

// newDockerRuntime is the runtime of this server's Docker daemon at socketPath; it watches Docker's events for good.
func newDockerRuntime(socketPath string) serverRuntime {
	return startDockerRuntime(context.Background(), newDockerClient(socketPath), runtimeOptions{
		now: time.Now, meminfoPath: "/proc/meminfo", gpusDir: "/proc/driver/nvidia/gpus", portFree: portFree, eventsRetry: time.Second,
	})
}

func startDockerRuntime(ctx context.Context, docker *dockerClient, opts runtimeOptions) *dockerRuntime {
	r := &dockerRuntime{
		docker:  docker,
		opts:    opts,
		probe:   &http.Client{Timeout: readyProbeTimeout},
		events:  streamedEvents{ooms: map[string]versionKey{}, restarts: map[string]int{}, died: map[string]bool{}},
		tracked: map[string]*trackedContainer{}, restarts: map[versionKey][]time.Time{},
		open: map[localIncidentKey]*incident{}, missing: map[string]missingSince{}, unwanted: map[string]time.Time{},
	}
	go r.watchEvents(ctx)
	return r
}

// watchEvents keeps the events stream open so an OOM kill between two observations is never missed; after a
// drop it reconnects with a capped backoff and replays from when the stream was lost.
func (r *dockerRuntime) watchEvents(ctx context.Context) {
	retry := r.opts.eventsRetry
	var since int64
	for {
		connected, err := r.docker.events(ctx, since, r.noteEvent)
		if ctx.Err() != nil {
			return
		}
		if connected || since == 0 {
			// Replay from the loss of a stream (or the first attempt), not from a later failed reconnect.
			since = time.Now().Unix() - 1
		}
		if connected {
			retry = r.opts.eventsRetry
		}
		log.Printf("docker events stream ended (%v); reconnecting in %s", err, retry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
		retry *= 2
		if retry > eventsRetryMax {
			retry = eventsRetryMax
		}
	}
}

func (r *dockerRuntime) noteEvent(e dockerEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.TimeNano != 0 && e.TimeNano <= r.events.lastNano {
		return // replayed after a reconnect
	}
	r.events.lastNano = e.TimeNano
	id := e.Actor.ID
	switch e.Action {
	case "oom":
		r.events.ooms[id] = versionOf(e.Actor.Attributes)
	case "die":
		r.events.died[id] = true
	case "start":
		if r.events.died[id] {
			r.events.restarts[id]++
			delete(r.events.died, id)
		}
	}
}

// Observe reports every Berth container, probes the running ones' /readyz and updates the replica incidents.
func (r *dockerRuntime) Observe(ctx context.Context) (runtimeReport, error) {
	list, err := r.docker.berthContainers(ctx)
	if err != nil {
		return runtimeReport{}, err
	}
	containers := r.inspectAll(ctx, list)
	ready := r.probeAll(ctx, containers)
	now := r.opts.now()

	r.mu.Lock()
	defer r.mu.Unlock()
	replicas := make([]replicaReport, 0, len(containers))
	for i, c := range containers {
		replicas = append(replicas, r.observe(c, ready[i], now))
	}
	r.forgetVanished(containers, now)
	r.updateIncidents(now)
	return runtimeReport{Replicas: replicas, Incidents: r.currentIncidents(now), FreeMemoryMB: freeMemoryMB(r.opts.meminfoPath),
		GPUs: gpuCount(r.opts.gpusDir)}, nil
}

// inspectAll inspects Berth's containers; one removed meanwhile is left out.
func (r *dockerRuntime) inspectAll(ctx context.Context, list []dockerContainer) []dockerInspect {
	var containers []dockerInspect
	for _, summary := range list {
		if summary.Labels[containerLabels.model] == "" {
			continue
		}
		c, err := r.docker.inspect(ctx, summary.ID)
		if err == nil && c.Config.Labels[containerLabels.model] != "" {
			containers = append(containers, c)
		}
	}
	return containers
}

// probeAll asks every running container's /readyz at once, so one slow replica does not hold up the rest.
func (r *dockerRuntime) probeAll(ctx context.Context, containers []dockerInspect) []bool {
	ready := make([]bool, len(containers))
	var wg sync.WaitGroup
	for i, c := range containers {
		if !c.State.Running {
			continue
		}
		wg.Add(1)
		go func(i, port int) {
			defer wg.Done()
			ready[i] = r.isReady(ctx, port)
		}(i, labelInt(c.Config.Labels, containerLabels.port))
	}
	wg.Wait()
	return ready
}

func (r *dockerRuntime) isReady(ctx context.Context, port int) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), nil)
	if err != nil {
		return false
	}
	res, err := r.probe.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// observe updates what is remembered of one container (restarts, OOM kills) and reports it.
func (r *dockerRuntime) observe(c dockerInspect, ready bool, now time.Time) replicaReport {
	key := versionOf(c.Config.Labels)
	t := r.tracked[c.ID]
	if t == nil {
		t = &trackedContainer{versionKey: key, restartCount: c.RestartCount}
		r.tracked[c.ID] = t
	}
	r.noteRestarts(c, t, now)
	_, oomEvent := r.events.ooms[c.ID]
	delete(r.events.ooms, c.ID)
	if oomEvent || (c.State.OOMKilled && c.State.FinishedAt != t.oomFinishedAt) {
		r.openIncident(localIncidentKey{kindOOM, key}, now, oomText(key, c.HostConfig.Memory))
	}
	if c.State.OOMKilled {
		t.oomFinishedAt = c.State.FinishedAt
	}
	report := replicaReport{
		Name: strings.TrimPrefix(c.Name, "/"), Model: key.model, Version: key.version,
		Port: labelInt(c.Config.Labels, containerLabels.port), Running: c.State.Running, Ready: ready,
		Restarts: c.RestartCount, OOMKilled: c.State.OOMKilled || oomEvent,
	}
	if lost := c.Config.Labels[containerLabels.standIn]; lost != "" {
		report.StandInFor = &lost
	}
	return report
}

// noteRestarts counts the restarts since the last observation: the larger of Docker's RestartCount delta and
// the die→start pairs of the events stream (RestartCount goes back to 0 on a manual start; the stream may be down).
func (r *dockerRuntime) noteRestarts(c dockerInspect, t *trackedContainer, now time.Time) {
	counted := c.RestartCount - t.restartCount
	if counted < 0 {
		counted = 0
	}
	if streamed := r.events.restarts[c.ID]; streamed > counted {
		counted = streamed
	}
	delete(r.events.restarts, c.ID)
	t.restartCount = c.RestartCount
	for i := 0; i < counted; i++ {
		r.restarts[t.versionKey] = append(r.restarts[t.versionKey], now)
	}
	switch {
	case !c.State.Running:
		t.upSince = time.Time{}
	case counted > 0 || t.upSince.IsZero():
		t.upSince = now
	}
}

// forgetVanished drops what is remembered of containers that are gone; an OOM kill streamed for one of them
// still opens its incident (the event carries the container's labels).
func (r *dockerRuntime) forgetVanished(containers []dockerInspect, now time.Time) {
	present := map[string]bool{}
	for _, c := range containers {
		present[c.ID] = true
	}
	for id, key := range r.events.ooms {
		r.openIncident(localIncidentKey{kindOOM, key}, now, oomText(key, 0))
		delete(r.events.ooms, id)
	}
	for id := range r.tracked {
		if !present[id] {
			delete(r.tracked, id)
		}
	}
	for id := range r.events.restarts {
		if !present[id] {
			delete(r.events.restarts, id)
		}
	}
	for id := range r.events.died {
		if !present[id] {
			delete(r.events.died, id)
		}
	}
}

func (r *dockerRuntime) updateIncidents(now time.Time) {
	for key, times := range r.restarts {
		recent := times[:0]
		for _, at := range times {
			if now.Sub(at) < crashLoopWindow {
				recent = append(recent, at)
			}
		}
		r.restarts[key] = recent
		if len(recent) >= crashLoopRestarts {
			r.openIncident(localIncidentKey{kindCrashLoop, key}, now, crashLoopText(key, len(recent)))
		}
		if len(recent) == 0 {
			delete(r.restarts, key)
		}
	}
	for key, open := range r.open {
		if r.stable(key.versionKey, open.OpenedAt, now) {
			r.resolve(key, now)
		}
	}
}

// openIncident opens the incident of key unless it is open already: one incident however many restarts or kills.
func (r *dockerRuntime) openIncident(key localIncidentKey, now time.Time, text string) {
	if r.open[key] != nil {
		return
	}
	model, version := key.model, key.version
	r.open[key] = &incident{
		ID:   fmt.Sprintf("%s:%s:v%d:%d", key.kind, key.model, key.version, now.UnixNano()/int64(time.Millisecond)),
		Kind: key.kind, Model: &model, Version: &version, OpenedAt: now, Text: text,
	}
}

// stable says every container of the version has run stableToResolve without a restart (and the incident is
// at least that old, so one whose containers are gone does not resolve the moment it opens).
func (r *dockerRuntime) stable(key versionKey, openedAt, now time.Time) bool {
	if now.Sub(openedAt) < stableToResolve {
		return false
	}
	for _, t := range r.tracked {
		if t.versionKey == key && (t.upSince.IsZero() || now.Sub(t.upSince) < stableToResolve) {
			return false
		}
	}
	return true
}

func (r *dockerRuntime) resolve(key localIncidentKey, now time.Time) {
	resolved := *r.open[key]
	resolved.ResolvedAt = &now
	r.resolved = append(r.resolved, resolved)
	delete(r.open, key)
	if key.kind == kindCrashLoop {
		delete(r.restarts, key.versionKey) // only restarts after the resolution count toward a new crash loop
	}
}

// currentIncidents lists the open incidents and those resolved within keepResolved, oldest first.
func (r *dockerRuntime) currentIncidents(now time.Time) []incident {
	kept := r.resolved[:0]
	for _, done := range r.resolved {
		if now.Sub(*done.ResolvedAt) < keepResolved {
			kept = append(kept, done)
		}
	}
	r.resolved = kept
	list := append([]incident{}, kept...)
	for _, open := range r.open {
		list = append(list, *open)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].OpenedAt.Equal(list[j].OpenedAt) {
			return list[i].OpenedAt.Before(list[j].OpenedAt)
		}
		return list[i].ID < list[j].ID
	})
	return list
}

func oomText(key versionKey, memoryBytes int64) string {
	if memoryBytes <= 0 {
		return fmt.Sprintf("Model %s v%d was killed for running out of memory on this server", key.model, key.version)
	}
	return fmt.Sprintf("Model %s v%d was killed for exceeding its memory limit (%d MB) on this server",
		key.model, key.version, memoryBytes/(1<<20))
}

func crashLoopText(key versionKey, restarts int) string {
	return fmt.Sprintf("Model %s v%d is crash-looping: %d restarts within %d minutes on this server",
		key.model, key.version, restarts, int(crashLoopWindow/time.Minute))
}

// Reconcile starts wanted replicas and stand-ins that are not running, re-creates missing ones (a replica only
// after its grace), and removes stand-ins no longer wanted after their drain. Locked models are left alone.
func (r *dockerRuntime) Reconcile(ctx context.Context, want desired) error {
	r.reconcile.Lock()
	defer r.reconcile.Unlock()
	list, err := r.docker.berthContainers(ctx)
	if err != nil {
		return err
	}
	pass := &reconcilePass{r: r, ctx: ctx, now: r.opts.now(), want: want, byName: map[string]dockerContainer{},
		ports: map[int]bool{}, creates: maxCreatesPerPass}
	for _, c := range list {
		if c.Labels[containerLabels.model] != "" {
			pass.byName[nameOf(c)] = c
			pass.ports[labelInt(c.Labels, containerLabels.port)] = true
		}
	}
	for _, w := range want.Replicas {
		pass.ports[w.Port] = true // a replica placed here keeps its port while it is missing, for its re-creation
	}
	pass.keepReplicas()
	pass.keepStandIns()
	pass.removeUnwantedStandIns()
	return pass.result()
}

// reconcilePass is one Reconcile: what Docker listed and what the pass has done so far.
type reconcilePass struct {
	r       *dockerRuntime
	ctx     context.Context
	now     time.Time
	want    desired
	byName  map[string]dockerContainer // Berth's containers only
	ports   map[int]bool               // berth.port of every Berth container, of the wanted replicas and of those created in this pass
	creates int                        // creates left in this pass
	failed  []error
}

func (p *reconcilePass) keepReplicas() {
	stillMissing := map[string]bool{}
	for _, w := range p.want.Replicas {
		if p.want.LockedModels[w.Model] {
			continue
		}
		if c, ok := p.byName[w.Name]; ok {
			p.startIfStopped(c)
			continue
		}
		stillMissing[w.Name] = true
		if p.missingLongEnough(w.Name) && p.creates > 0 {
			labels := map[string]string{containerLabels.operation: "agent"}
			if p.create(w.Name, replicaSpec{w.Model, w.Version, w.Index, w.Port, w.ImageID, w.MemoryMB, w.CPUs, w.GPUs}, labels) {
				delete(p.r.missing, w.Name)
			}
		}
	}
	for name := range p.r.missing {
		if !stillMissing[name] {
			delete(p.r.missing, name)
		}
	}
}

// missingLongEnough remembers when a replica was first found missing under the current revision.
func (p *reconcilePass) missingLongEnough(name string) bool {
	seen, ok := p.r.missing[name]
	if !ok || seen.revision != p.want.Revision {
		p.r.missing[name] = missingSince{revision: p.want.Revision, since: p.now}
		return false
	}
	return p.now.Sub(seen.since) >= missingReplicaGrace
}

func (p *reconcilePass) keepStandIns() {
	for _, s := range p.want.StandIns {
		if p.want.LockedModels[s.Model] {
			continue
		}
		name := berthContainerName(s.Model, s.Version, s.Index)
		if c, ok := p.byName[name]; ok {
			p.startIfStopped(c)
			continue
		}
		if p.creates > 0 {
			labels := map[string]string{containerLabels.operation: "agent", containerLabels.standIn: s.For}
			p.create(name, replicaSpec{s.Model, s.Version, s.Index, p.freePort(), s.ImageID, s.MemoryMB, s.CPUs, s.GPUs}, labels)
		}
	}
}

// removeUnwantedStandIns removes stand-ins the plan no longer has, once they have been unwanted standInDrain.
func (p *reconcilePass) removeUnwantedStandIns() {
	wanted := map[string]bool{}
	for _, s := range p.want.StandIns {
		wanted[berthContainerName(s.Model, s.Version, s.Index)] = true
	}
	stillUnwanted := map[string]bool{}
	for name, c := range p.byName {
		if c.Labels[containerLabels.standIn] == "" || wanted[name] || p.want.LockedModels[c.Labels[containerLabels.model]] {
			continue
		}
		stillUnwanted[name] = true
		since, ok := p.r.unwanted[name]
		if !ok {
			p.r.unwanted[name] = p.now
			continue
		}
		if p.now.Sub(since) >= standInDrain && p.removeStandIn(c) {
			delete(p.r.unwanted, name)
		}
	}
	for name := range p.r.unwanted {
		if !stillUnwanted[name] {
			delete(p.r.unwanted, name)
		}
	}
}

func (p *reconcilePass) removeStandIn(c dockerContainer) bool {
	if err := p.r.docker.stop(p.ctx, c.ID, standInStopGrace); err != nil {
		log.Printf("stopping stand-in %s: %v (removing it anyway)", nameOf(c), err)
	}
	return p.check(p.r.docker.remove(p.ctx, c.ID), "removing stand-in "+nameOf(c))
}

// startIfStopped starts a container that exited (or was never started) and that Docker has not restarted
// within dockerRestartGrace.
func (p *reconcilePass) startIfStopped(c dockerContainer) {
	if c.State != "exited" && c.State != "created" {
		return
	}
	state, err := p.r.docker.inspect(p.ctx, c.ID)
	if !p.check(err, "inspecting "+nameOf(c)) {
		return
	}
	if state.State.Running || state.State.Restarting || p.now.Sub(state.finishedAt()) < dockerRestartGrace {
		return
	}
	p.check(p.r.docker.start(p.ctx, c.ID), "starting "+nameOf(c))
}

// replicaSpec is what a replica container is made of (replicas.ts ReplicaSpec, for one replica).
type replicaSpec struct {
	Model    string
	Version  int
	Index    int
	Port     int
	Image    string
	MemoryMB int
	CPUs     float64
	// GPUs are its own GPUs on this server, by index; none: no GPU.
	GPUs []string
}

// create creates and starts one replica as replicas.ts `run` does, with extra labels; false if it failed.
func (p *reconcilePass) create(name string, spec replicaSpec, extra map[string]string) bool {
	p.creates--
	p.ports[spec.Port] = true
	id, err := p.r.docker.create(p.ctx, name, replicaContainer(spec, extra))
	if !p.check(err, "creating "+name) {
		return false
	}
	return p.check(p.r.docker.start(p.ctx, id), "starting "+name)
}

// freePort is the first port from firstReplicaPort that no Berth container claims and nothing listens on.
func (p *reconcilePass) freePort() int {
	port := firstReplicaPort
	for p.ports[port] || !p.r.opts.portFree(port) {
		port++
	}
	return port
}

func (p *reconcilePass) check(err error, what string) bool {
	if err != nil {
		p.failed = append(p.failed, fmt.Errorf("%s: %w", what, err))
	}
	return err == nil
}

func (p *reconcilePass) result() error {
	switch len(p.failed) {
	case 0:
		return nil
	case 1:
		return p.failed[0]
	default:
		return fmt.Errorf("%w (and %d more reconcile failures)", p.failed[0], len(p.failed)-1)
	}
}

// replicaContainer is the Engine API form of replicas.ts `run`.
func replicaContainer(spec replicaSpec, extra map[string]string) dockerCreate {
	model, version, index, port := spec.Model, spec.Version, spec.Index, spec.Port
	labels := map[string]string{
		containerLabels.model:   model,
		containerLabels.version: strconv.Itoa(version),
		containerLabels.replica: strconv.Itoa(index),
		containerLabels.port:    strconv.Itoa(port),
	}
	for k, v := range extra {
		labels[k] = v
	}
	memory := int64(spec.MemoryMB) << 20
	return dockerCreate{
		Image: spec.Image,
		Env: []string{"PORT=" + strconv.Itoa(port), "BERTH_HOST=127.0.0.1",
			"BERTH_MODEL_NAME=" + model, "BERTH_MODEL_VERSION=" + strconv.Itoa(version)},
		Labels: labels,
		HostConfig: dockerHostConfig{
			NetworkMode: "host",
			// Comes back after a crash and after a reboot; a crash loop is Docker-throttled and becomes an incident.
			RestartPolicy:  dockerRestartPolicy{Name: "unless-stopped"},
			Memory:         memory,
			MemorySwap:     memory,
			NanoCpus:       int64(math.Round(spec.CPUs * 1e9)),
			LogConfig:      dockerLogConfig{Type: "json-file", Config: map[string]string{"max-size": "20m", "max-file": "5"}},
			DeviceRequests: gpuRequests(spec.GPUs),
		},
	}
}

// gpuRequests is `--gpus "device=<ids>"` as the Engine API takes it (the CLI's default capability "gpu"). Only GPU
// indexes are passed on: a state a deployer wrote could name anything, "all" included.
func gpuRequests(gpus []string) []dockerDeviceRequest {
	if len(gpus) == 0 || !validGPUs(gpus) {
		return nil
	}
	return []dockerDeviceRequest{{DeviceIDs: append([]string{}, gpus...), Capabilities: [][]string{{"gpu"}}}}
}

func berthContainerName(model string, version, index int) string {
	return fmt.Sprintf("berth-%s-v%d-r%d", model, version, index)
}

func nameOf(c dockerContainer) string {
	if len(c.Names) == 0 {
		return c.ID
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

func versionOf(labels map[string]string) versionKey {
	return versionKey{model: labels[containerLabels.model], version: labelInt(labels, containerLabels.version)}
}

func labelInt(labels map[string]string, name string) int {
	n, _ := strconv.Atoi(labels[name])
	return n
}

// portFree says nothing on this host listens on port (the agent runs in the host's network).
func portFree(port int) bool {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// gpuCount is how many NVIDIA GPUs the kernel driver lists (as nvidia-smi would); 0 without the driver.
func gpuCount(dir string) int {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	return len(entries)
}

// freeMemoryMB is MemAvailable of meminfo in MB; 0 if it cannot be read.
func freeMemoryMB(meminfoPath string) int64 {
	f, err := os.Open(meminfoPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb / 1024
		}
	}
	return 0
}
