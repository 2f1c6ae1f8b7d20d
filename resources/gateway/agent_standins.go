package main

// The stand-in plan: which survivor runs which replica of a lost server, computed by the group's leader and
// followed by the others from its view.

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// firstStandInIndex: stand-ins are numbered r101, r102, … so they never take a placed replica's name.
const firstStandInIndex = 100

// planInput is what the leader plans from.
type planInput struct {
	State    groupState
	Previous []standIn
	// Lost are the lost peers.
	Lost map[string]bool
	// FreeMemoryMB is each survivor's free memory (this server and the peers that are up and show a view).
	FreeMemoryMB map[string]int64
	// GPUs is how many GPUs each survivor has (absent: none).
	GPUs map[string]int
	// Returned reports whether a server that is back shows its own replicas of a version ready.
	Returned func(uid, model string, version int) bool
}

// standInPlan is the leader's plan, and the lost replicas it found no survivor for (with the reason).
type standInPlan struct {
	StandIns   []standIn
	Shortfalls []string
}

// planStandIns gives every live version's replicas on a lost server as many stand-ins on the survivors. An
// assignment that still holds is kept (moving a running stand-in helps nobody); a new one goes to the survivor
// with the most free memory left after what this plan newly gives it (ties: lower uid) and, for a GPU version, only
// to one with as many GPUs free as a replica asks (none shared); without one it is skipped and named in Shortfalls.
// Stand-ins stay until their server is back and shows its own replicas of that version ready.
func planStandIns(in planInput) standInPlan {
	p := &planning{in: in, newlyAssignedMB: map[string]int64{}, freeGPUs: freeGPUsOf(in)}
	plan := standInPlan{StandIns: []standIn{}}
	for _, name := range sortedModelNames(in.State.Models) {
		for _, v := range in.State.Models[name].Versions {
			if v.State != "live" {
				continue
			}
			plan.StandIns = append(plan.StandIns, p.version(name, v)...)
		}
	}
	plan.Shortfalls = p.shortfalls
	return plan
}

// planning is one planStandIns: what it has given each survivor so far.
type planning struct {
	in              planInput
	newlyAssignedMB map[string]int64
	// freeGPUs are each survivor's GPUs that no replica or stand-in of the group holds, lowest index first.
	freeGPUs   map[string][]string
	shortfalls []string
}

// freeGPUsOf is each survivor's GPUs minus those the group's replicas (of versions that keep containers) and the
// previous plan's stand-ins hold there: a stand-in no longer wanted keeps its GPUs until it is removed.
func freeGPUsOf(in planInput) map[string][]string {
	held := map[string]map[string]bool{}
	hold := func(uid string, gpus []string) {
		if held[uid] == nil {
			held[uid] = map[string]bool{}
		}
		for _, g := range gpus {
			held[uid][g] = true
		}
	}
	for _, m := range in.State.Models {
		for _, v := range m.Versions {
			if v.State == "live" || v.State == "stopped" {
				for uid, replicas := range v.Placements {
					for _, r := range replicas {
						hold(uid, r.GPUs)
					}
				}
			}
		}
	}
	for _, s := range in.Previous {
		hold(s.On, s.GPUs)
	}
	free := map[string][]string{}
	for uid := range in.FreeMemoryMB {
		for i := 0; i < in.GPUs[uid]; i++ {
			if g := strconv.Itoa(i); !held[uid][g] {
				free[uid] = append(free[uid], g)
			}
		}
	}
	return free
}

// version plans one version; it keeps what still holds first, so a new stand-in never takes a kept one's index.
func (p *planning) version(model string, v stateVersion) []standIn {
	in := p.in
	used := map[int]bool{}
	var plan []standIn
	missing := map[string]int{}
	absentUIDs := sortedPlacementUIDs(v.Placements)
	for _, absent := range absentUIDs {
		count := len(v.Placements[absent])
		if count == 0 || !needsStandIns(in, absent, model, v.Number) {
			continue
		}
		kept := keptStandIns(in, absent, model, v.Number, count)
		for _, s := range kept {
			used[s.Index] = true
		}
		plan = append(plan, kept...)
		missing[absent] = count - len(kept)
	}
	for _, absent := range absentUIDs {
		for i := 0; i < missing[absent]; i++ {
			on, gpus := p.survivorFor(v, absent)
			if on == "" && !needsGPUs(v) {
				return plan // no survivor: nothing to plan on
			}
			if on == "" {
				p.shortfalls = append(p.shortfalls, gpuShortfall(model, v, missing[absent]-i, absent))
				break // no survivor has the GPUs for this one, so none for the rest either
			}
			p.newlyAssignedMB[on] += int64(v.Resources.MemoryMB)
			plan = append(plan, standIn{Model: model, Version: v.Number, For: absent, On: on, Index: nextFreeIndex(used), GPUs: gpus})
		}
	}
	return plan
}

func needsGPUs(v stateVersion) bool {
	return v.Resources.GPUs.perReplica() > 0 || v.Resources.GPUs.Unreadable
}

// survivorFor is where the next stand-in of v goes and the GPUs it gets there; "" when no survivor can take it.
func (p *planning) survivorFor(v stateVersion, absent string) (string, []string) {
	request := v.Resources.GPUs
	if request.Unreadable {
		return "", nil
	}
	if request.perReplica() == 0 {
		return roomiest(p.in.FreeMemoryMB, p.newlyAssignedMB, absent, func(string) bool { return true }), nil
	}
	on := roomiest(p.in.FreeMemoryMB, p.newlyAssignedMB, absent, func(uid string) bool { return takeGPUs(p.freeGPUs[uid], request) != nil })
	if on == "" {
		return "", nil
	}
	gpus := takeGPUs(p.freeGPUs[on], request)
	p.freeGPUs[on] = without(p.freeGPUs[on], gpus)
	return on, gpus
}

// takeGPUs are the GPUs a replica of request gets from free (lowest first for a count, the named ones else); nil
// when they are not all free.
func takeGPUs(free []string, request gpuRequest) []string {
	if len(request.Devices) > 0 {
		for _, g := range request.Devices {
			if !contains(free, g) {
				return nil
			}
		}
		return append([]string{}, request.Devices...)
	}
	if request.Count == 0 || len(free) < request.Count {
		return nil
	}
	return append([]string{}, free[:request.Count]...)
}

func without(list, taken []string) []string {
	var kept []string
	for _, g := range list {
		if !contains(taken, g) {
			kept = append(kept, g)
		}
	}
	return kept
}

func gpuShortfall(model string, v stateVersion, count int, absent string) string {
	if v.Resources.GPUs.Unreadable {
		return fmt.Sprintf("%s v%d: %d replica(s) of lost server %s get no stand-in: its GPU request cannot be read", model, v.Number, count, absent)
	}
	what := fmt.Sprintf("%d GPU(s)", v.Resources.GPUs.Count)
	if len(v.Resources.GPUs.Devices) > 0 {
		what = "GPU(s) " + strings.Join(v.Resources.GPUs.Devices, ",")
	}
	return fmt.Sprintf("%s v%d: %d replica(s) of lost server %s get no stand-in: no surviving server has %s free per replica", model, v.Number, count, absent, what)
}

// needsStandIns: a lost server needs them; a returned one keeps its stand-ins until its own replicas are ready.
func needsStandIns(in planInput, uid, model string, version int) bool {
	if in.Lost[uid] {
		return true
	}
	if _, survivor := in.FreeMemoryMB[uid]; !survivor {
		return covered(in.Previous, uid, model, version) // not known to be back: keep what was planned
	}
	return covered(in.Previous, uid, model, version) && !in.Returned(uid, model, version)
}

func covered(plan []standIn, uid, model string, version int) bool {
	for _, s := range plan {
		if s.For == uid && s.Model == model && s.Version == version {
			return true
		}
	}
	return false
}

// keptStandIns are the previous plan's stand-ins for this replica set that are still on a survivor.
func keptStandIns(in planInput, absent, model string, version, count int) []standIn {
	var kept []standIn
	for _, s := range in.Previous {
		_, survivor := in.FreeMemoryMB[s.On]
		if s.For == absent && s.Model == model && s.Version == version && survivor && s.On != absent && len(kept) < count {
			kept = append(kept, s)
		}
	}
	return kept
}

// roomiest is the survivor (never the absent server itself) that fits with the most free memory left; ties: lower uid.
func roomiest(freeMB, newlyAssignedMB map[string]int64, absent string, fits func(uid string) bool) string {
	best, bestLeft := "", int64(0)
	for _, uid := range sortedKeys(freeMB) {
		left := freeMB[uid] - newlyAssignedMB[uid]
		if uid != absent && fits(uid) && (best == "" || left > bestLeft) {
			best, bestLeft = uid, left
		}
	}
	return best
}

func nextFreeIndex(used map[int]bool) int {
	index := firstStandInIndex + 1
	for used[index] {
		index++
	}
	used[index] = true
	return index
}

func standInName(s standIn) string {
	return fmt.Sprintf("berth-%s-v%d-r%d", s.Model, s.Version, s.Index)
}

func sortedPlacementUIDs(placements map[string][]stateReplica) []string {
	uids := make([]string, 0, len(placements))
	for uid := range placements {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	return uids
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
