package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPeerHysteresis(t *testing.T) {
	now := time.Now()
	h := newPeerWatch(now)
	steps := []struct {
		answered bool
		want     string
	}{
		{true, peerUnknown}, {true, peerUp}, // up after 2 answers
		{false, peerUp}, {false, peerUp}, {false, peerLost}, // 2 misses: still up; the 3rd: lost
		{true, peerLost}, {false, peerLost}, {true, peerLost}, {true, peerUp}, // an answer between misses does not count
		{false, peerUp}, {true, peerUp}, {false, peerUp}, {false, peerUp}, // misses must be consecutive
	}
	for i, s := range steps {
		h.record(s.answered, now.Add(time.Duration(i)*time.Second), 3, 2)
		if h.State != s.want {
			t.Fatalf("step %d (answered %v): %s, want %s", i, s.answered, h.State, s.want)
		}
	}
}

func TestLeaderIsTheLowestUIDNotLost(t *testing.T) {
	a := &agent{uid: "srv_0000000000000002"}
	peer := func(uid, state string) *peerRecord {
		return &peerRecord{Server: stateServer{UID: uid}, Health: peerWatch{State: state}}
	}
	cases := []struct {
		peers []*peerRecord
		want  string
	}{
		{nil, "srv_0000000000000002"},
		{[]*peerRecord{peer("srv_0000000000000001", peerUp), peer("srv_0000000000000003", peerUp)}, "srv_0000000000000001"},
		{[]*peerRecord{peer("srv_0000000000000001", peerLost), peer("srv_0000000000000003", peerUp)}, "srv_0000000000000002"},
		{[]*peerRecord{peer("srv_0000000000000001", peerUnknown)}, "srv_0000000000000001"},
	}
	for i, c := range cases {
		if got := a.leaderOf(c.peers); got != c.want {
			t.Errorf("case %d: leader %s, want %s", i, got, c.want)
		}
	}
}

func planState(placements map[string][]stateReplica) groupState {
	return groupState{Models: map[string]stateModel{"iris": {Versions: []stateVersion{
		{Number: 3, State: "live", ImageID: "sha256:i3", Resources: versionResources{MemoryMB: 1000, CPUs: 1}, Placements: placements},
		{Number: 2, State: "stopped", Resources: versionResources{MemoryMB: 1000}, Placements: placements},
	}}}}
}

func TestStandInPlanGoesToTheMostFreeMemory(t *testing.T) {
	replicas := []stateReplica{{Name: "berth-iris-v3-r1", Port: 9101}, {Name: "berth-iris-v3-r2", Port: 9102}, {Name: "berth-iris-v3-r3", Port: 9103}}
	state := planState(map[string][]stateReplica{"srv_a": replicas, "srv_b": replicas[:1], "srv_c": replicas[:1]})
	in := planInput{
		State: state, Lost: map[string]bool{"srv_a": true},
		FreeMemoryMB: map[string]int64{"srv_b": 2500, "srv_c": 1500}, Returned: func(string, string, int) bool { return false },
	}
	plan := planStandIns(in).StandIns
	// b has 2500 → takes the first (1500 left), tie with c at 1500 → lower uid b (500 left), then c.
	want := []standIn{
		{Model: "iris", Version: 3, For: "srv_a", On: "srv_b", Index: 101},
		{Model: "iris", Version: 3, For: "srv_a", On: "srv_b", Index: 102},
		{Model: "iris", Version: 3, For: "srv_a", On: "srv_c", Index: 103},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Fatalf("plan %+v\nwant %+v", plan, want)
	}

	// Next cycle the stand-ins hold memory: the plan keeps them where they are.
	in.Previous, in.FreeMemoryMB = plan, map[string]int64{"srv_b": 500, "srv_c": 500}
	if again := planStandIns(in).StandIns; !reflect.DeepEqual(again, want) {
		t.Fatalf("the plan moved: %+v", again)
	}

	// Back but not ready: kept; ready: gone.
	in.Lost = map[string]bool{}
	in.FreeMemoryMB["srv_a"] = 4000
	if kept := planStandIns(in).StandIns; !reflect.DeepEqual(kept, want) {
		t.Fatalf("stand-ins dropped before the server's own replicas were ready: %+v", kept)
	}
	in.Returned = func(uid, model string, version int) bool { return uid == "srv_a" && model == "iris" && version == 3 }
	if done := planStandIns(in).StandIns; len(done) != 0 {
		t.Fatalf("stand-ins kept after the server came back ready: %+v", done)
	}
}

func TestIncidentBookSendsOneOpenAndOneResolved(t *testing.T) {
	book := newIncidentBook(time.Hour)
	now := time.Now()
	lost := condition{Kind: kindServerLost, Server: &stateServer{UID: "srv_c", Name: "c"}, Text: "c is lost"}
	var sent []string
	for i := 0; i < 3; i++ {
		for _, n := range book.update(now, []condition{lost}, nil, true, nil) {
			sent = append(sent, n.Status)
		}
	}
	for i := 0; i < 3; i++ {
		for _, n := range book.update(now, nil, nil, true, nil) {
			sent = append(sent, n.Status)
		}
	}
	if !reflect.DeepEqual(sent, []string{"open", "resolved"}) {
		t.Fatalf("sent %v", sent)
	}
	shown := book.shown()
	if len(shown) != 1 || shown[0].ResolvedAt == nil || !shown[0].Notified {
		t.Fatalf("shown %+v", shown)
	}

	// A new leader that sees this resolution already sent adopts it and sends nothing.
	next := newIncidentBook(time.Hour)
	if n := next.update(now, nil, shown, true, nil); len(n) != 0 {
		t.Fatalf("a new leader re-sent %+v", n)
	}
	// One that sees a notified open whose condition no longer holds sends the resolution, once.
	open := shown[0]
	open.ResolvedAt, open.Notified = nil, true
	third := newIncidentBook(time.Hour)
	if n := third.update(now, nil, []incident{open}, true, nil); len(n) != 1 || n[0].Status != "resolved" {
		t.Fatalf("a new leader did not resolve the adopted incident: %+v", n)
	}
	if n := third.update(now, nil, []incident{open}, true, nil); len(n) != 0 {
		t.Fatalf("resolved twice: %+v", n)
	}
}

func TestLockedModels(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	writeLock := func(model, expires string) {
		mkdirAll(t, dir+"/lock/"+model)
		if expires != "" {
			writeFile(t, dir+"/lock/"+model+"/expires", expires+"\n")
		}
	}
	writeLock("iris", "never")
	writeLock("wine", itoa(now.Unix()+60))
	writeLock("cars", itoa(now.Unix()-60))
	writeLock("dogs", "")
	writeFile(t, dir+"/lock/iris.guard", "")
	got := lockedModels(dir, now)
	want := map[string]bool{"iris": true, "wine": true, "dogs": true}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("locked %v, want %v", got, want)
	}
}

// Rule (Stand-ins, GPUs): a GPU version's stand-in goes only to a survivor with as many GPUs free as a replica asks
// (free: not held by a replica of the group or a stand-in of the last plan), whatever its memory; the GPUs are named
// in the plan. One that no survivor can take is skipped and said why.
func TestStandInPlanGivesGPUVersionsOnlyFreeGPUs(t *testing.T) {
	gpu := func(name string, port int, gpus ...string) stateReplica {
		return stateReplica{Name: name, Port: port, GPUs: gpus}
	}
	state := groupState{Models: map[string]stateModel{
		"iris": {Versions: []stateVersion{{Number: 3, State: "live", Resources: versionResources{MemoryMB: 500, GPUs: gpuRequest{Count: 1}},
			Placements: map[string][]stateReplica{
				"srv_a": {gpu("berth-iris-v3-r1", 9101, "0"), gpu("berth-iris-v3-r2", 9102, "1")},
				"srv_b": {gpu("berth-iris-v3-r1", 9101, "0")},
				"srv_c": {gpu("berth-iris-v3-r1", 9101, "0")},
			}}}},
		"lily": {Versions: []stateVersion{{Number: 1, State: "live", Resources: versionResources{MemoryMB: 500},
			Placements: map[string][]stateReplica{"srv_a": {{Name: "berth-lily-v1-r1", Port: 9103}}}}}},
	}}
	in := planInput{
		State: state, Lost: map[string]bool{"srv_a": true}, Returned: func(string, string, int) bool { return false },
		// c has the most memory but its only GPU is taken; d has no GPU at all.
		FreeMemoryMB: map[string]int64{"srv_b": 1000, "srv_c": 8000, "srv_d": 9000},
		GPUs:         map[string]int{"srv_b": 2, "srv_c": 1},
	}
	plan := planStandIns(in)
	want := []standIn{
		{Model: "iris", Version: 3, For: "srv_a", On: "srv_b", Index: 101, GPUs: []string{"1"}},
		{Model: "lily", Version: 1, For: "srv_a", On: "srv_d", Index: 101},
	}
	wantShort := []string{"iris v3: 1 replica(s) of lost server srv_a get no stand-in: no surviving server has 1 GPU(s) free per replica"}
	if !reflect.DeepEqual(plan.StandIns, want) || !reflect.DeepEqual(plan.Shortfalls, wantShort) {
		t.Fatalf("plan %+v\nshortfalls %q\nwant %+v\nand %q", plan.StandIns, plan.Shortfalls, want, wantShort)
	}

	// Next cycle the stand-in keeps its GPU, and the one it holds is not given twice.
	in.Previous = plan.StandIns
	if again := planStandIns(in); !reflect.DeepEqual(again.StandIns, want) || !reflect.DeepEqual(again.Shortfalls, wantShort) {
		t.Fatalf("the plan changed: %+v %q", again.StandIns, again.Shortfalls)
	}

	// GPUs named by index: only a survivor where those are free.
	in.Previous = nil
	v := state.Models["iris"].Versions[0]
	v.Resources.GPUs = gpuRequest{Devices: []string{"0"}}
	state.Models["iris"] = stateModel{Versions: []stateVersion{v}}
	in.State, in.GPUs = state, map[string]int{"srv_b": 2, "srv_c": 2, "srv_d": 1}
	named := planStandIns(in)
	if len(named.StandIns) != 2 || named.StandIns[0].On != "srv_d" || !reflect.DeepEqual(named.StandIns[0].GPUs, []string{"0"}) {
		t.Fatalf("GPU 0 is free on d only: %+v %q", named.StandIns, named.Shortfalls)
	}

	// A request that cannot be read places nothing, and says so.
	v.Resources.GPUs = gpuRequest{Unreadable: true}
	state.Models["iris"] = stateModel{Versions: []stateVersion{v}}
	in.State = state
	if unread := planStandIns(in); len(unread.StandIns) != 1 || len(unread.Shortfalls) != 1 || !strings.Contains(unread.Shortfalls[0], "cannot be read") {
		t.Fatalf("%+v %q", unread.StandIns, unread.Shortfalls)
	}
}

// Rule (GPUs in the group state): resources.gpus is a count or GPU indexes; another shape is marked unreadable
// rather than failing the whole state (which would stop the agent deriving anything for the group).
func TestGPURequestReadsACountOrIndexes(t *testing.T) {
	for text, want := range map[string]gpuRequest{
		`{}`:                 {},
		`{"gpus":null}`:      {},
		`{"gpus":2}`:         {Count: 2},
		`{"gpus":["0","3"]}`: {Devices: []string{"0", "3"}},
		`{"gpus":["all"]}`:   {Unreadable: true},
		`{"gpus":["0","0"]}`: {Unreadable: true},
		`{"gpus":1.5}`:       {Unreadable: true},
		`{"gpus":-1}`:        {Unreadable: true},
		`{"gpus":"2"}`:       {Unreadable: true},
	} {
		var r versionResources
		if err := json.Unmarshal([]byte(text), &r); err != nil || !reflect.DeepEqual(r.GPUs, want) {
			t.Errorf("%s: %+v (%v), want %+v", text, r.GPUs, err, want)
		}
	}
}
