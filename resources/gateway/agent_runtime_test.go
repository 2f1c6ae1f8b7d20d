package main

// Tests of the agent's hand on Docker (agent_runtime.go) against the fake Engine API of agent_docker_test.go.
// Time is the test's: every grace period is crossed by moving runtimeClock, never by sleeping.

import (
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runtimeClock is the runtime's now, moved by hand.
type runtimeClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *runtimeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *runtimeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// runtimeFixture is a dockerRuntime on a fake Docker, with its clock and meminfo file.
type runtimeFixture struct {
	t       *testing.T
	docker  *fakeDocker
	clock   *runtimeClock
	rt      *dockerRuntime
	meminfo string
	gpusDir string
}

// newRuntimeFixture starts a runtime whose portFree says busy for busyPorts (something not Berth's listens there).
func newRuntimeFixture(t *testing.T, busyPorts ...int) *runtimeFixture {
	t.Helper()
	f := &runtimeFixture{t: t, docker: newFakeDocker(t), clock: &runtimeClock{at: time.Unix(1733150000, 0)},
		meminfo: filepath.Join(t.TempDir(), "meminfo"), gpusDir: filepath.Join(t.TempDir(), "gpus")}
	busy := map[int]bool{}
	for _, port := range busyPorts {
		busy[port] = true
	}
	f.rt = startDockerRuntime(testContext(t), newDockerClient(f.docker.socket), runtimeOptions{
		now: f.clock.now, meminfoPath: f.meminfo, gpusDir: f.gpusDir, portFree: func(port int) bool { return !busy[port] },
		eventsRetry: 10 * time.Millisecond,
	})
	return f
}

// labelsOf are the labels Berth puts on replica index of model version on port.
func labelsOf(model string, version, index, port int) map[string]string {
	return map[string]string{"berth.model": model, "berth.version": strconv.Itoa(version),
		"berth.replica": strconv.Itoa(index), "berth.port": strconv.Itoa(port), "berth.operation": "op_1"}
}

// container adds a Berth replica container named as Berth names it.
func (f *runtimeFixture) container(model string, version, index, port int, status string, change ...func(*fakeContainer)) *fakeContainer {
	c := fakeContainer{Name: berthContainerName(model, version, index), Labels: labelsOf(model, version, index, port), Status: status}
	for _, ch := range change {
		ch(&c)
	}
	return f.docker.add(c)
}

// standInContainer adds a stand-in container for the lost server.
func (f *runtimeFixture) standInContainer(model string, version, index, port int, lost string) *fakeContainer {
	return f.container(model, version, index, port, "running", func(c *fakeContainer) { c.Labels["berth.standin"] = lost })
}

func wantReplica(model string, version, index, port int) wantedReplica {
	return wantedReplica{Group: "prod", Model: model, Version: version, Index: index, Name: berthContainerName(model, version, index),
		Port: port, ImageID: "sha256:" + model, MemoryMB: 512, CPUs: 1.5}
}

func wantStandIn(model string, version, index int, lost string) wantedStandIn {
	return wantedStandIn{standIn: standIn{Model: model, Version: version, For: lost, On: "srv_self", Index: index},
		ImageID: "sha256:" + model, MemoryMB: 256, CPUs: 0.5}
}

func (f *runtimeFixture) reconcile(want desired) {
	f.t.Helper()
	if err := f.rt.Reconcile(testContext(f.t), want); err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
}

func (f *runtimeFixture) observe() runtimeReport {
	f.t.Helper()
	report, err := f.rt.Observe(testContext(f.t))
	if err != nil {
		f.t.Fatalf("observe: %v", err)
	}
	return report
}

// expectActions fails unless the runtime's requests to Docker (creates, starts, stops, removals) are exactly want.
func (f *runtimeFixture) expectActions(when string, want ...string) {
	f.t.Helper()
	got := f.docker.recorded()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		f.t.Fatalf("%s: docker requests\n  %q\nwant\n  %q", when, got, want)
	}
}

// waitEvents waits until the runtime has taken in what the fake's events stream sent.
func (f *runtimeFixture) waitEvents(what string, cond func(streamedEvents) bool) {
	f.t.Helper()
	eventually(f.t, 5*time.Second, what, func() bool {
		f.rt.mu.Lock()
		defer f.rt.mu.Unlock()
		return cond(f.rt.events)
	})
}

func startOf(c *fakeContainer) string { return "POST /containers/" + c.ID + "/start" }

func createOf(name string) string { return "POST /containers/create?name=" + url.QueryEscape(name) }

// deadPort is a local port nothing listens on: a probe of it fails at once.
func deadPort(t *testing.T) int { return portOfAddr(deadAddr(t)) }

func portOfAddr(addr string) int {
	port, _ := strconv.Atoi(addr[strings.LastIndex(addr, ":")+1:])
	return port
}

// named is the fake's container of that name, read under the fake's lock.
func (f *runtimeFixture) named(name string) *fakeContainer {
	f.docker.mu.Lock()
	defer f.docker.mu.Unlock()
	return f.docker.byRef(name)
}

// vanish removes a container from the fake, as `docker rm` by someone else does.
func (f *runtimeFixture) vanish(c *fakeContainer) {
	f.docker.mu.Lock()
	defer f.docker.mu.Unlock()
	delete(f.docker.containers, c.ID)
}

// Rule (Reconcile): a replica of placements[self] that exited is started only once Docker has not restarted it
// for 5 s; one never started is started at once; one Docker is restarting is left to Docker.
func TestReconcileStartsAnExitedReplicaAfterDockerRestartGrace(t *testing.T) {
	f := newRuntimeFixture(t)
	exited := f.container("iris", 3, 1, 9100, "exited", func(c *fakeContainer) { c.FinishedAt = f.clock.now().Add(-4 * time.Second) })
	f.container("iris", 3, 2, 9101, "restarting", func(c *fakeContainer) { c.FinishedAt = f.clock.now().Add(-time.Minute) })
	neverStarted := f.container("iris", 3, 3, 9102, "created")
	want := desired{Revision: "prod:1", Replicas: []wantedReplica{
		wantReplica("iris", 3, 1, 9100), wantReplica("iris", 3, 2, 9101), wantReplica("iris", 3, 3, 9102)}}

	f.reconcile(want)
	f.expectActions("exited 4 s ago", startOf(neverStarted))

	f.clock.advance(time.Second)
	f.reconcile(want)
	f.expectActions("exited 5 s ago", startOf(neverStarted), startOf(exited))

	f.clock.advance(time.Minute)
	f.reconcile(want)
	f.expectActions("once running", startOf(neverStarted), startOf(exited))
}

// Rule (Reconcile): a model whose lock is held (desired.LockedModels) is never touched, whether its replica
// exited, is missing or is a stand-in no longer wanted; nor is a container of a version not in the desired state.
func TestReconcileLeavesLockedModelsAndUndesiredContainersAlone(t *testing.T) {
	f := newRuntimeFixture(t)
	long := func(c *fakeContainer) { c.FinishedAt = f.clock.now().Add(-time.Hour) }
	f.container("rose", 1, 1, 9100, "exited", long)
	f.standInContainer("rose", 1, 101, 9101, "srv_lost")
	f.container("lily", 2, 1, 9102, "exited", long) // lily v2 is not live (not desired)
	want := desired{Revision: "prod:1",
		Replicas: []wantedReplica{wantReplica("rose", 1, 1, 9100), wantReplica("rose", 1, 2, 9103)}, // r2 is missing
		StandIns: []wantedStandIn{wantStandIn("rose", 1, 102, "srv_lost")},
		// The same desired state, rose unlocked, would start r1, create r2 and r102 and remove r101.
		LockedModels: map[string]bool{"rose": true}}

	for i := 0; i < 3; i++ {
		f.reconcile(want)
		f.clock.advance(31 * time.Second) // past the restart grace, the missing grace and the drain
	}
	f.expectActions("locked rose, undesired lily")
}

// Rule (Reconcile): a missing replica is re-created only after it has been missing 30 s under the same
// revision, as replicas.ts `run` creates it (name, labels, image, memory limit, restart policy), and started.
func TestReconcileRecreatesAMissingReplicaAfter30s(t *testing.T) {
	f := newRuntimeFixture(t)
	want := desired{Revision: "prod:7", Replicas: []wantedReplica{wantReplica("iris", 3, 2, 9101)}}

	f.reconcile(want)
	f.clock.advance(29 * time.Second)
	f.reconcile(want)
	f.expectActions("missing 29 s")

	f.clock.advance(time.Second)
	f.reconcile(want)
	created := f.docker.created()
	if len(created) != 1 {
		t.Fatalf("creates = %+v, want 1", created)
	}
	c := f.named("berth-iris-v3-r2")
	f.expectActions("missing 30 s", createOf("berth-iris-v3-r2"), startOf(c))
	body := created[0].Body
	host := body["HostConfig"].(map[string]any)
	checks := []struct {
		what      string
		got, want any
	}{
		{"name", created[0].Name, "berth-iris-v3-r2"},
		{"labels", body["Labels"], map[string]any{"berth.model": "iris", "berth.version": "3", "berth.replica": "2",
			"berth.port": "9101", "berth.operation": "agent"}},
		{"image", body["Image"], "sha256:iris"},
		{"env", body["Env"], []any{"PORT=9101", "BERTH_HOST=127.0.0.1", "BERTH_MODEL_NAME=iris", "BERTH_MODEL_VERSION=3"}},
		{"network", host["NetworkMode"], "host"},
		{"memory", host["Memory"], float64(512 << 20)},
		{"memory+swap", host["MemorySwap"], float64(512 << 20)},
		{"cpus", host["NanoCpus"], float64(1.5e9)},
		{"restart policy", host["RestartPolicy"], map[string]any{"Name": "unless-stopped"}},
		{"log config", host["LogConfig"], map[string]any{"Type": "json-file", "Config": map[string]any{"max-size": "20m", "max-file": "5"}}},
	}
	for _, check := range checks {
		if !reflect.DeepEqual(check.got, check.want) {
			t.Errorf("create %s = %#v, want %#v", check.what, check.got, check.want)
		}
	}

	f.clock.advance(time.Minute)
	f.reconcile(want)
	f.expectActions("once it exists", createOf("berth-iris-v3-r2"), startOf(c))
}

// Rule (Reconcile): the 30 s of a missing replica count under one revision: a new revision (a Berth removing it
// writes one) starts them again.
func TestReconcileMissingGraceRestartsOnANewRevision(t *testing.T) {
	f := newRuntimeFixture(t)
	replicas := []wantedReplica{wantReplica("iris", 3, 2, 9101)}

	f.reconcile(desired{Revision: "prod:7", Replicas: replicas})
	f.clock.advance(20 * time.Second)
	f.reconcile(desired{Revision: "prod:8", Replicas: replicas})
	f.clock.advance(20 * time.Second)
	f.reconcile(desired{Revision: "prod:8", Replicas: replicas})
	f.expectActions("40 s missing, 20 s under prod:8")
	f.clock.advance(10 * time.Second)
	f.reconcile(desired{Revision: "prod:8", Replicas: replicas})
	f.expectActions("30 s under prod:8", createOf("berth-iris-v3-r2"), startOf(f.named("berth-iris-v3-r2")))
}

// Rule (Reconcile): the 30 s are of one absence: a replica that shows up (a Berth re-created it) and goes again
// is missing from its second disappearance.
func TestReconcileMissingGraceRestartsWhenTheReplicaShowsUp(t *testing.T) {
	f := newRuntimeFixture(t)
	want := desired{Revision: "prod:8", Replicas: []wantedReplica{wantReplica("iris", 3, 2, 9101)}}

	f.reconcile(want)
	f.clock.advance(10 * time.Second)
	back := f.container("iris", 3, 2, 9101, "running")
	f.reconcile(want)
	f.clock.advance(10 * time.Second)
	f.vanish(back)
	f.reconcile(want)
	f.clock.advance(29 * time.Second)
	f.reconcile(want)
	f.expectActions("49 s after it first went, 29 s after it went again")
	f.clock.advance(time.Second)
	f.reconcile(want)
	f.expectActions("30 s after it went again", createOf("berth-iris-v3-r2"), startOf(f.named("berth-iris-v3-r2")))
}

// Rule (Stand-ins): a wanted stand-in is created at once, labelled berth.standin=<lost uid>, on the first port
// from 9100 that no Berth container claims and nothing listens on; at most maxCreatesPerPass creates a pass.
func TestReconcileCreatesStandInsOnFreePortsAFewAPass(t *testing.T) {
	f := newRuntimeFixture(t, 9102) // something else listens on 9102
	f.container("iris", 3, 1, 9100, "running")
	f.container("lily", 1, 1, 9101, "exited") // not placed here any more, but its port is claimed
	const lost = "srv_00000000000000ff"
	want := desired{Revision: "prod:1", Replicas: []wantedReplica{wantReplica("iris", 3, 1, 9100)},
		StandIns: []wantedStandIn{wantStandIn("iris", 3, 101, lost), wantStandIn("iris", 3, 102, lost),
			wantStandIn("iris", 3, 103, lost), wantStandIn("iris", 3, 104, lost)}}

	f.reconcile(want)
	if n := len(f.docker.created()); n != maxCreatesPerPass {
		t.Fatalf("first pass created %d, want %d", n, maxCreatesPerPass)
	}
	f.reconcile(want)
	created := f.docker.created()
	if len(created) != 4 {
		t.Fatalf("after two passes: %d creates, want 4", len(created))
	}
	for i, c := range created {
		index, port := 101+i, 9103+i
		labels := labelsOf("iris", 3, index, port)
		labels["berth.operation"], labels["berth.standin"] = "agent", lost
		wantLabels := map[string]any{}
		for k, v := range labels {
			wantLabels[k] = v
		}
		if c.Name != berthContainerName("iris", 3, index) || !reflect.DeepEqual(c.Body["Labels"], wantLabels) {
			t.Errorf("create %d = %s %v, want %s %v", i, c.Name, c.Body["Labels"], berthContainerName("iris", 3, index), wantLabels)
		}
		if mem := c.Body["HostConfig"].(map[string]any)["Memory"]; mem != float64(256<<20) {
			t.Errorf("create %d memory = %v", i, mem)
		}
	}
	f.clock.advance(time.Minute)
	f.reconcile(want)
	if n := len(f.docker.created()); n != 4 {
		t.Fatalf("a third pass created again: %d creates", n)
	}
}

// Rule (Stand-ins, Reconcile): a stand-in never takes the port of a replica placed here, even while that replica
// is missing within its 30 s (its re-creation would then share a host port with the stand-in).
func TestReconcileStandInSkipsThePortOfAMissingReplica(t *testing.T) {
	f := newRuntimeFixture(t)
	f.container("iris", 3, 1, 9100, "running")
	want := desired{Revision: "prod:1", Replicas: []wantedReplica{wantReplica("iris", 3, 1, 9100), wantReplica("iris", 3, 2, 9101)},
		StandIns: []wantedStandIn{wantStandIn("lily", 1, 101, "srv_lost")}}

	f.reconcile(want)
	f.clock.advance(30 * time.Second)
	f.reconcile(want)
	ports := map[string]string{}
	for _, c := range f.docker.created() {
		ports[c.Name] = c.Body["Labels"].(map[string]any)["berth.port"].(string)
	}
	if !reflect.DeepEqual(ports, map[string]string{"berth-lily-v1-r101": "9102", "berth-iris-v3-r2": "9101"}) {
		t.Fatalf("created ports = %v, want the stand-in on 9102 and iris r2 back on 9101", ports)
	}
}

// Rule (Stand-ins): a stand-in the plan no longer has is stopped and removed only after standInDrain (the gateway
// stops routing to it meanwhile); wanted again during the drain, it stays and a later drain starts over.
func TestReconcileRemovesAnUnwantedStandInAfterTheDrain(t *testing.T) {
	f := newRuntimeFixture(t)
	gone := f.standInContainer("iris", 3, 101, 9103, "srv_lost")
	back := f.standInContainer("iris", 3, 102, 9104, "srv_lost")
	f.container("iris", 3, 1, 9100, "running") // a replica, not a stand-in: never removed
	none := desired{Revision: "prod:1"}
	backWanted := desired{Revision: "prod:1", StandIns: []wantedStandIn{wantStandIn("iris", 3, 102, "srv_lost")}}

	f.reconcile(none)
	f.clock.advance(standInDrain - time.Millisecond)
	f.reconcile(backWanted)
	f.expectActions("within the drain")

	f.clock.advance(time.Millisecond)
	f.reconcile(none)
	removeGone := []string{"POST /containers/" + gone.ID + "/stop", "DELETE /containers/" + gone.ID}
	f.expectActions("after the drain", removeGone...)

	f.clock.advance(standInDrain - time.Millisecond)
	f.reconcile(none)
	f.expectActions("r102 unwanted again, within its new drain", removeGone...)
	f.clock.advance(time.Millisecond)
	f.reconcile(none)
	f.expectActions("r102 after its new drain", append(removeGone, "POST /containers/"+back.ID+"/stop", "DELETE /containers/"+back.ID)...)
	f.clock.advance(time.Minute)
	f.reconcile(none)
	if len(f.docker.recorded()) != 4 {
		t.Fatalf("the replica was touched: %q", f.docker.recorded())
	}
}

// incidentsOf are the report's incidents of kind, open ones and resolved ones.
func incidentsOf(report runtimeReport, kind string) (open, resolved []incident) {
	for _, i := range report.Incidents {
		switch {
		case i.Kind != kind:
		case i.ResolvedAt == nil:
			open = append(open, i)
		default:
			resolved = append(resolved, i)
		}
	}
	return open, resolved
}

// expectIncidents fails unless the report has exactly open and resolved incidents of kind, all of iris v3.
func (f *runtimeFixture) expectIncidents(when string, report runtimeReport, kind string, open, resolved int) {
	f.t.Helper()
	o, r := incidentsOf(report, kind)
	if len(o) != open || len(r) != resolved || len(report.Incidents) != open+resolved {
		f.t.Fatalf("%s: %d open and %d resolved %s (incidents %+v), want %d and %d", when, len(o), len(r), kind, report.Incidents, open, resolved)
	}
	for _, i := range report.Incidents {
		if i.Model == nil || *i.Model != "iris" || i.Version == nil || *i.Version != 3 {
			f.t.Fatalf("%s: incident %+v is not of iris v3", when, i)
		}
	}
}

// Rule (Incidents): OOM kills streamed by Docker's events open one replica_oom per (model, version), however many
// containers were killed; it resolves once every replica of the version has run 60 s (and not before).
func TestObserveOpensOneOOMIncidentPerVersion(t *testing.T) {
	f := newRuntimeFixture(t)
	port := deadPort(t)
	r1 := f.container("iris", 3, 1, port, "running")
	r2 := f.container("iris", 3, 2, port, "running")
	f.container("lily", 1, 1, port, "running")
	f.expectIncidents("before any kill", f.observe(), kindOOM, 0, 0)

	f.docker.emit("oom", r1)
	f.docker.emit("oom", r2)
	f.waitEvents("both OOM kills streamed", func(e streamedEvents) bool { return len(e.ooms) == 2 })
	f.clock.advance(time.Second)
	report := f.observe()
	f.expectIncidents("after two kills", report, kindOOM, 1, 0)
	opened := report.Incidents[0]
	for _, r := range report.Replicas {
		if r.OOMKilled != (r.Model == "iris") {
			t.Errorf("replica %s reported oomKilled=%v", r.Name, r.OOMKilled)
		}
	}

	f.clock.advance(stableToResolve - time.Second)
	f.expectIncidents("59 s after the kill", f.observe(), kindOOM, 1, 0)
	f.clock.advance(time.Second)
	report = f.observe()
	f.expectIncidents("60 s after the kill", report, kindOOM, 0, 1)
	if done := report.Incidents[0]; done.ID != opened.ID || !done.ResolvedAt.Equal(f.clock.now()) {
		t.Fatalf("resolved %+v, want %s resolved now", done, opened.ID)
	}
	f.clock.advance(time.Minute)
	f.expectIncidents("a minute later", f.observe(), kindOOM, 0, 1)
}

// Rule (Incidents): an OOM kill streamed for a container removed before the next observation still opens its
// incident (the event carries the labels).
func TestObserveCountsTheOOMOfAVanishedContainer(t *testing.T) {
	f := newRuntimeFixture(t)
	r1 := f.container("iris", 3, 1, deadPort(t), "running")
	f.observe()
	f.docker.emit("oom", r1)
	f.waitEvents("the OOM kill streamed", func(e streamedEvents) bool { return len(e.ooms) == 1 })
	f.vanish(r1)
	f.expectIncidents("after the kill", f.observe(), kindOOM, 1, 0)
}

// Rule (Incidents): a container's OOMKilled flag stays set after Docker restarted it; one kill (one FinishedAt)
// counts once, so the incident resolves and stays resolved; a new kill opens a new one.
func TestObserveCountsAStaleOOMKilledFlagOnce(t *testing.T) {
	f := newRuntimeFixture(t)
	killedAt := f.clock.now().Add(-10 * time.Second)
	r1 := f.container("iris", 3, 1, deadPort(t), "running", func(c *fakeContainer) {
		c.OOMKilled, c.FinishedAt, c.Memory, c.RestartCount = true, killedAt, 512<<20, 1
	})
	report := f.observe()
	f.expectIncidents("the kill seen", report, kindOOM, 1, 0)
	if text := report.Incidents[0].Text; !strings.Contains(text, "512 MB") {
		t.Errorf("text %q does not name the memory limit", text)
	}

	for i := 0; i < 3; i++ {
		f.clock.advance(stableToResolve / 2)
		f.observe()
	}
	f.expectIncidents("90 s later, same flag", f.observe(), kindOOM, 0, 1)

	f.docker.update(r1.ID, func(c *fakeContainer) { c.FinishedAt, c.RestartCount = f.clock.now(), 2 })
	f.clock.advance(time.Second)
	f.expectIncidents("a new kill", f.observe(), kindOOM, 1, 1)
}

// Rule (Incidents): 3 restarts of one model version within 5 min open one replica_crash_loop (restarts that
// fell out of the window do not count); it resolves after 60 s without a restart, and its restarts are spent.
func TestObserveOpensOneCrashLoopForThreeRestartsInFiveMinutes(t *testing.T) {
	f := newRuntimeFixture(t)
	port := deadPort(t)
	r1 := f.container("iris", 3, 1, port, "running")
	r2 := f.container("iris", 3, 2, port, "running")
	restart := func(c *fakeContainer, after time.Duration) runtimeReport {
		f.docker.update(c.ID, func(c *fakeContainer) { c.RestartCount++ })
		f.clock.advance(after)
		return f.observe()
	}
	f.observe()
	restart(r1, time.Minute)
	restart(r2, time.Minute)
	f.expectIncidents("2 restarts", f.observe(), kindCrashLoop, 0, 0)
	f.expectIncidents("3 restarts, the first 5 min 1 s ago", restart(r1, 4*time.Minute+time.Second), kindCrashLoop, 0, 0)
	f.expectIncidents("3 restarts within 5 min", restart(r2, 10*time.Second), kindCrashLoop, 1, 0)
	f.expectIncidents("a 4th", restart(r1, 10*time.Second), kindCrashLoop, 1, 0)

	f.clock.advance(stableToResolve - time.Second)
	f.expectIncidents("59 s without a restart", f.observe(), kindCrashLoop, 1, 0)
	f.clock.advance(time.Second)
	f.expectIncidents("60 s without a restart", f.observe(), kindCrashLoop, 0, 1)
	f.clock.advance(time.Second)
	f.expectIncidents("after the resolution", f.observe(), kindCrashLoop, 0, 1)
	f.expectIncidents("one restart after it", restart(r2, time.Second), kindCrashLoop, 0, 1)
}

// Rule (Incidents): restarts are counted from Docker's RestartCount or from die→start pairs of the events stream
// (a manual start resets RestartCount), whichever saw more, never both.
func TestObserveCountsStreamedRestartsOnce(t *testing.T) {
	f := newRuntimeFixture(t)
	r1 := f.container("iris", 3, 1, deadPort(t), "running")
	f.observe()
	restartSeenBy := func(count int, what string) runtimeReport {
		f.docker.update(r1.ID, func(c *fakeContainer) { c.RestartCount = count })
		f.docker.emit("die", r1)
		f.docker.emit("start", r1)
		f.waitEvents(what, func(e streamedEvents) bool { return e.restarts[r1.ID] == 1 })
		f.clock.advance(10 * time.Second)
		return f.observe()
	}
	restartSeenBy(1, "restart 1")
	f.expectIncidents("2 restarts, each both counted and streamed", restartSeenBy(2, "restart 2"), kindCrashLoop, 0, 0)
	f.expectIncidents("a 3rd, streamed only", restartSeenBy(0, "restart 3"), kindCrashLoop, 1, 0)
}

// Rule (the view's freeMemoryMb): FreeMemoryMB is MemAvailable of meminfo, in MB; 0 when it cannot be read.
func TestObserveReadsFreeMemoryFromMeminfo(t *testing.T) {
	f := newRuntimeFixture(t)
	if free := f.observe().FreeMemoryMB; free != 0 {
		t.Fatalf("without meminfo: %d MB", free)
	}
	meminfo := "MemTotal:       16384000 kB\nMemFree:          102400 kB\nMemAvailable:    3145728 kB\nBuffers:  1 kB\n"
	if err := os.WriteFile(f.meminfo, []byte(meminfo), 0o644); err != nil {
		t.Fatal(err)
	}
	if free := f.observe().FreeMemoryMB; free != 3072 {
		t.Fatalf("FreeMemoryMB = %d, want 3072 (MemAvailable)", free)
	}
}

// Rule (the view's gpus): GPUs is how many GPUs the NVIDIA driver lists (one folder each); 0 without the driver.
func TestObserveCountsTheDriversGPUs(t *testing.T) {
	f := newRuntimeFixture(t)
	if gpus := f.observe().GPUs; gpus != 0 {
		t.Fatalf("without the driver: %d GPUs", gpus)
	}
	for _, bus := range []string{"0000:01:00.0", "0000:41:00.0"} {
		if err := os.MkdirAll(filepath.Join(f.gpusDir, bus), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if gpus := f.observe().GPUs; gpus != 2 {
		t.Fatalf("GPUs = %d, want 2", gpus)
	}
}

// Rule (Reconcile, Stand-ins, GPUs): a replica or stand-in is created with its own GPUs as `--gpus "device=…"`
// asks for them (capability gpu); GPUs that are not indexes are never passed on.
func TestReconcileGivesReplicasAndStandInsTheirGPUs(t *testing.T) {
	f := newRuntimeFixture(t)
	withGPUs := func(s wantedStandIn, gpus ...string) wantedStandIn { s.GPUs = gpus; return s }
	replica := wantReplica("iris", 3, 1, 9100)
	replica.GPUs = []string{"2"}
	want := desired{Revision: "prod:1", Replicas: []wantedReplica{replica},
		StandIns: []wantedStandIn{withGPUs(wantStandIn("iris", 3, 101, "srv_lost"), "0", "1"), withGPUs(wantStandIn("iris", 3, 102, "srv_lost"), "all")}}
	f.reconcile(want)
	f.clock.advance(30 * time.Second)
	f.reconcile(want)
	devices := map[string]any{}
	for _, c := range f.docker.created() {
		devices[c.Name] = c.Body["HostConfig"].(map[string]any)["DeviceRequests"]
	}
	request := func(ids ...any) any {
		return []any{map[string]any{"Driver": "", "Count": float64(0), "DeviceIDs": ids, "Capabilities": []any{[]any{"gpu"}}}}
	}
	wantDevices := map[string]any{"berth-iris-v3-r101": request("0", "1"), "berth-iris-v3-r102": nil, "berth-iris-v3-r1": request("2")}
	if !reflect.DeepEqual(devices, wantDevices) {
		t.Fatalf("device requests %v\nwant %v", devices, wantDevices)
	}
}

// Rule (the view's replicas): Observe reports every Berth container (and nothing else), ready when its
// 127.0.0.1:<berth.port>/readyz answers 200; a stopped one is not probed and not ready.
func TestObserveReportsReplicasAndTheirReadiness(t *testing.T) {
	f := newRuntimeFixture(t)
	ready, unready := newReplica(t, "ready"), newReplica(t, "unready")
	unready.ready.Store(false)
	portOf := func(r *testReplica) int { return portOfAddr(r.addr()) }
	dead := deadPort(t)
	f.container("iris", 3, 1, portOf(ready), "running", func(c *fakeContainer) { c.RestartCount = 2 })
	f.container("iris", 3, 2, portOf(unready), "running")
	f.container("iris", 3, 3, dead, "running")
	f.container("iris", 3, 4, portOf(ready), "exited")
	f.standInContainer("iris", 3, 101, portOf(ready), "srv_lost")
	f.docker.add(fakeContainer{Name: "postgres", Labels: map[string]string{"app": "db"}, Status: "running"})

	got := map[string]replicaReport{}
	for _, r := range f.observe().Replicas {
		got[r.Name] = r
	}
	lost := "srv_lost"
	want := map[string]replicaReport{
		"berth-iris-v3-r1":   {Name: "berth-iris-v3-r1", Model: "iris", Version: 3, Port: portOf(ready), Running: true, Ready: true, Restarts: 2},
		"berth-iris-v3-r2":   {Name: "berth-iris-v3-r2", Model: "iris", Version: 3, Port: portOf(unready), Running: true},
		"berth-iris-v3-r3":   {Name: "berth-iris-v3-r3", Model: "iris", Version: 3, Port: dead, Running: true},
		"berth-iris-v3-r4":   {Name: "berth-iris-v3-r4", Model: "iris", Version: 3, Port: portOf(ready)},
		"berth-iris-v3-r101": {Name: "berth-iris-v3-r101", Model: "iris", Version: 3, Port: portOf(ready), Running: true, Ready: true, StandInFor: &lost},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replicas\n  %+v\nwant\n  %+v", got, want)
	}
}

// Rule (events stream): after a drop the runtime reconnects and asks Docker to replay from when the stream was
// lost, however long the daemon refuses it meanwhile; events streamed after the reconnect are seen.
func TestEventsStreamReplaysFromWhenItWasLost(t *testing.T) {
	f := newRuntimeFixture(t)
	r1 := f.container("iris", 3, 1, deadPort(t), "running")
	eventually(t, 5*time.Second, "the events stream opened", func() bool { return len(f.docker.eventStreams()) == 1 })
	f.docker.refuseStreams(1, 1100*time.Millisecond) // past a second boundary, whenever the drop is
	f.docker.dropStreams()
	eventually(t, 5*time.Second, "the stream reopened after a refusal", func() bool { return len(f.docker.eventStreams()) == 3 })

	sinceOf := func(uri string) string {
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("since")
	}
	streams := f.docker.eventStreams()
	if sinceOf(streams[0]) != "" || sinceOf(streams[1]) == "" || sinceOf(streams[2]) != sinceOf(streams[1]) {
		t.Fatalf("since of the three events requests = %q, %q, %q: want none, then the loss twice",
			sinceOf(streams[0]), sinceOf(streams[1]), sinceOf(streams[2]))
	}
	f.docker.emit("oom", r1)
	f.waitEvents("an OOM kill after the reconnect", func(e streamedEvents) bool { return len(e.ooms) == 1 })
}
