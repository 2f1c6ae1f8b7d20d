package main

// One group's part of a cycle: its leader, its incidents and webhooks, its stand-in plan, and what the runtime
// should run for it.

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// evaluate returns the group's view and the stand-ins its plan gives this server.
func (a *agent) evaluate(ctx context.Context, group string, rev stateRevision, now time.Time) (groupView, []wantedStandIn) {
	state := rev.State
	gv := groupView{Revision: rev.Revision, Peers: []peerView{}, Incidents: []incident{}, StandIns: []standIn{}}
	if state.Settings.PeerToken == "" {
		a.logOnce("token "+group, "off", "group %s has no peer token: its peer watch, alerts and stand-ins are off", group)
		return gv, nil
	}
	a.logOnce("token "+group, "", "")
	peers := a.peersOf(state)
	gv.Leader = a.leaderOf(peers)
	leading := gv.Leader == a.uid
	book := a.books[group]
	if book == nil {
		book = newIncidentBook(a.opts.resolvedKept)
		a.books[group] = book
	}
	var shown, leaderShows []incident
	for _, p := range peers {
		if v := p.Views[group]; v != nil {
			shown = append(shown, v.Groups[group].Incidents...)
			if p.Server.UID == gv.Leader {
				leaderShows = v.Groups[group].Incidents
			}
		}
	}
	notices := book.update(now, a.conditions(group, state, peers), shown, leading, leaderShows)
	a.notify(ctx, group, state, notices)
	gv.Incidents = book.shown()
	gv.StandIns, gv.StandInShortfalls = a.planFor(group, state, peers, gv.Leader)
	for _, p := range peers {
		gv.Peers = append(gv.Peers, peerView{UID: p.Server.UID, Name: p.Server.Name, Host: p.Server.Host, State: p.Health.State, Missed: p.Health.Missed, Since: p.Health.Since})
	}
	return gv, wantedStandInsOf(gv.StandIns, state, a.uid)
}

// peersOf is the records of the group's other servers, by uid.
func (a *agent) peersOf(state groupState) []*peerRecord {
	var peers []*peerRecord
	for _, s := range state.Servers {
		if r := a.records[s.UID]; r != nil {
			peers = append(peers, r)
		}
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].Server.UID < peers[j].Server.UID })
	return peers
}

// leaderOf: the lowest uid among this server and the peers not lost.
func (a *agent) leaderOf(peers []*peerRecord) string {
	leader := a.uid
	for _, p := range peers {
		if !p.lost() && p.Server.UID < leader {
			leader = p.Server.UID
		}
	}
	return leader
}

// conditions is what holds now in the group: its lost peers, and the replica incidents of its models that
// this server or a peer reports open (one condition per kind, model and version, however many report it).
func (a *agent) conditions(group string, state groupState, peers []*peerRecord) []condition {
	var holds []condition
	for _, p := range peers {
		if p.lost() {
			server := p.Server
			holds = append(holds, condition{Kind: kindServerLost, Server: &server,
				Text: fmt.Sprintf("Server %s (%s) of group %s is lost: it missed %d probes in a row.", server.Name, server.Host, group, p.Health.Missed)})
		}
	}
	type source struct {
		server    stateServer
		incidents []incident
	}
	sources := []source{{serverOf(state, a.uid), a.report.Incidents}}
	for _, p := range peers {
		if v := p.Views[group]; v != nil {
			sources = append(sources, source{p.Server, v.LocalIncidents})
		}
	}
	sort.Slice(sources, func(i, j int) bool { return sources[i].server.UID < sources[j].server.UID })
	seen := map[string]bool{}
	for _, src := range sources {
		for _, i := range src.incidents {
			if c, ok := replicaCondition(group, state, src.server, i); ok && !seen[c.key()] {
				seen[c.key()] = true
				holds = append(holds, c)
			}
		}
	}
	return holds
}

func replicaCondition(group string, state groupState, server stateServer, i incident) (condition, bool) {
	if i.ResolvedAt != nil || i.Model == nil || i.Version == nil || (i.Kind != kindCrashLoop && i.Kind != kindOOM) {
		return condition{}, false
	}
	if _, ok := state.Models[*i.Model]; !ok {
		return condition{}, false
	}
	model, version := *i.Model, *i.Version
	what := "is crash-looping (3 or more restarts within 5 minutes)"
	if i.Kind == kindOOM {
		what = "was killed for want of memory (OOM)"
	}
	return condition{Kind: i.Kind, Server: &server, Model: &model, Version: &version,
		Text: fmt.Sprintf("%s v%d of group %s %s on %s (%s).", model, version, group, what, server.Name, server.Host)}, true
}

func serverOf(state groupState, uid string) stateServer {
	for _, s := range state.Servers {
		if s.UID == uid {
			return s
		}
	}
	return stateServer{UID: uid}
}

// notify sends the notices to the group's webhooks in the background.
func (a *agent) notify(ctx context.Context, group string, state groupState, notices []notice) {
	for _, n := range notices {
		if n.Server == nil && n.Incident.Server != "" {
			s := serverOf(state, n.Incident.Server)
			n.Server = &s
		}
		log.Printf("incident %s %s: %s", n.Incident.ID, n.Status, n.Incident.Text)
		if len(state.Settings.Webhooks) == 0 {
			continue
		}
		a.background.Add(len(state.Settings.Webhooks))
		a.hooks.send(ctx, state.Settings.Webhooks, payloadOf(group, n), a.background.Done)
	}
}

// planFor: the leader computes the plan; the others take the one in the leader's last view (or keep theirs). The
// leader logs each shortfall once (a GPU version's lost replicas that no survivor has the GPUs for).
func (a *agent) planFor(group string, state groupState, peers []*peerRecord, leader string) ([]standIn, []string) {
	previous := a.plans[group]
	plan, shortfalls := previous, []string(nil)
	if leader == a.uid {
		planned := planStandIns(a.planInputOf(group, state, peers, previous))
		plan, shortfalls = planned.StandIns, planned.Shortfalls
		a.logOnce("shortfalls "+group, strings.Join(shortfalls, "\n"), "group %s: stand-ins skipped: %s", group, strings.Join(shortfalls, "; "))
	} else if r := a.records[leader]; r != nil && r.Views[group] != nil {
		plan, shortfalls = r.Views[group].Groups[group].StandIns, r.Views[group].Groups[group].StandInShortfalls
	}
	plan = nonNil(plan)
	a.plans[group] = plan
	return plan, shortfalls
}

func (a *agent) planInputOf(group string, state groupState, peers []*peerRecord, previous []standIn) planInput {
	in := planInput{State: state, Previous: previous, Lost: map[string]bool{},
		FreeMemoryMB: map[string]int64{a.uid: a.report.FreeMemoryMB}, GPUs: map[string]int{a.uid: a.report.GPUs}}
	views := map[string]*agentView{}
	for _, p := range peers {
		if p.lost() {
			in.Lost[p.Server.UID] = true
		} else if p.Health.State == peerUp && p.HasView {
			in.FreeMemoryMB[p.Server.UID] = p.FreeMemoryMB
			in.GPUs[p.Server.UID] = p.GPUs
		}
		views[p.Server.UID] = p.Views[group]
	}
	in.Returned = func(uid, model string, version int) bool {
		return ownReplicasReady(views[uid], state, uid, model, version)
	}
	return in
}

// ownReplicasReady: the server's view shows every replica the state places on it for the version ready.
func ownReplicasReady(view *agentView, state groupState, uid, model string, version int) bool {
	if view == nil {
		return false
	}
	ready := map[string]bool{}
	for _, r := range view.Replicas {
		if r.Ready && r.StandInFor == nil {
			ready[r.Name] = true
		}
	}
	for _, v := range state.Models[model].Versions {
		if v.Number != version {
			continue
		}
		for _, r := range v.Placements[uid] {
			if !ready[r.Name] {
				return false
			}
		}
	}
	return true
}

func wantedStandInsOf(plan []standIn, state groupState, self string) []wantedStandIn {
	var wanted []wantedStandIn
	for _, s := range plan {
		if s.On != self {
			continue
		}
		for _, v := range state.Models[s.Model].Versions {
			if v.Number == s.Version {
				wanted = append(wanted, wantedStandIn{standIn: s, ImageID: v.ImageID, MemoryMB: v.Resources.MemoryMB, CPUs: v.Resources.CPUs})
			}
		}
	}
	return wanted
}

// desiredOf is what the runtime should make true: the live versions' replicas placed here, the stand-ins,
// and the models it must leave alone.
func (a *agent) desiredOf(mine map[string]*groupCopy, standIns []wantedStandIn, now time.Time) desired {
	want := desired{StandIns: standIns, LockedModels: lockedModels(a.opts.berthDir, now)}
	var revisions []string
	for _, group := range sortedGroupNames(mine) {
		rev := mine[group].Rev
		revisions = append(revisions, group+":"+strconv.FormatInt(rev.Revision, 10))
		for _, name := range sortedModelNames(rev.State.Models) {
			for _, v := range rev.State.Models[name].Versions {
				if v.State == "live" {
					want.Replicas = append(want.Replicas, wantedReplicasOf(group, name, v, a.uid)...)
				}
			}
		}
	}
	want.Revision = strings.Join(revisions, ",")
	return want
}

func wantedReplicasOf(group, model string, v stateVersion, uid string) []wantedReplica {
	var wanted []wantedReplica
	for _, r := range v.Placements[uid] {
		index := 0
		if m := replicaIndexOf.FindStringSubmatch(r.Name); m != nil {
			index, _ = strconv.Atoi(m[1])
		}
		wanted = append(wanted, wantedReplica{Group: group, Model: model, Version: v.Number, Index: index, Name: r.Name, Port: r.Port,
			ImageID: v.ImageID, MemoryMB: v.Resources.MemoryMB, CPUs: v.Resources.CPUs, GPUs: r.GPUs})
	}
	return wanted
}

// lockedModels are the models whose operation lock (<berthDir>/lock/<model>/) is held: its expires file says
// "never" or a unix time still ahead. A lock without that file is being taken: held.
func lockedModels(berthDir string, now time.Time) map[string]bool {
	locked := map[string]bool{}
	entries, _ := os.ReadDir(filepath.Join(berthDir, "lock"))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(berthDir, "lock", e.Name(), "expires"))
		expires := strings.TrimSpace(string(data))
		if err != nil || expires == "" || expires == "never" {
			locked[e.Name()] = true
			continue
		}
		if at, err := strconv.ParseInt(expires, 10, 64); err != nil || at >= now.Unix() {
			locked[e.Name()] = true
		}
	}
	return locked
}

// requestReconcile hands the newest desired state to the reconcile loop, replacing one it has not taken yet.
func (a *agent) requestReconcile(want desired) {
	select {
	case <-a.want:
	default:
	}
	a.want <- want
}

// reconcileLoop runs the runtime's reconcile passes apart from the cycle, so a slow Docker never delays probes
// or the heartbeat.
func (a *agent) reconcileLoop(ctx context.Context) {
	problem := ""
	for {
		select {
		case <-ctx.Done():
			return
		case want := <-a.want:
			err := a.runtime.Reconcile(ctx, want)
			if errText(err) != problem && err != nil {
				log.Printf("reconcile: %v", err)
			}
			problem = errText(err)
		}
	}
}
