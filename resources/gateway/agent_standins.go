package main

// The stand-in plan: which survivor runs which replica of a lost server, computed by the group's leader and
// followed by the others from its view.

import (
	"fmt"
	"sort"
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
	// Returned reports whether a server that is back shows its own replicas of a version ready.
	Returned func(uid, model string, version int) bool
}

// planStandIns gives every live version's replicas on a lost server as many stand-ins on the survivors. An
// assignment that still holds is kept (moving a running stand-in helps nobody); a new one goes to the survivor
// with the most free memory left after what this plan newly gives it (ties: lower uid). Stand-ins stay until
// their server is back and shows its own replicas of that version ready.
func planStandIns(in planInput) []standIn {
	newlyAssignedMB := map[string]int64{}
	plan := []standIn{}
	for _, name := range sortedModelNames(in.State.Models) {
		for _, v := range in.State.Models[name].Versions {
			if v.State != "live" {
				continue
			}
			plan = append(plan, planVersion(in, name, v, newlyAssignedMB)...)
		}
	}
	return plan
}

// planVersion keeps what still holds first, so a new stand-in never takes a kept one's index.
func planVersion(in planInput, model string, v stateVersion, newlyAssignedMB map[string]int64) []standIn {
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
			on := roomiest(in.FreeMemoryMB, newlyAssignedMB, absent)
			if on == "" {
				return plan // no survivor: nothing to plan on
			}
			newlyAssignedMB[on] += int64(v.Resources.MemoryMB)
			plan = append(plan, standIn{Model: model, Version: v.Number, For: absent, On: on, Index: nextFreeIndex(used)})
		}
	}
	return plan
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

// roomiest is the survivor (never the absent server itself) with the most free memory left; ties: lower uid.
func roomiest(freeMB, newlyAssignedMB map[string]int64, absent string) string {
	best, bestLeft := "", int64(0)
	for _, uid := range sortedKeys(freeMB) {
		left := freeMB[uid] - newlyAssignedMB[uid]
		if uid != absent && (best == "" || left > bestLeft) {
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
