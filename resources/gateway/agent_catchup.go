package main

// Catch-up (docs/AGENT.md): at start and then every few seconds, compare each group's state with the peers'
// copies, adopt a newer verified one, take the union of the revocations, and derive routes.json again.

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"sync"
	"time"
)

func (a *agent) catchUpLoop(ctx context.Context) {
	for atStart := true; ; atStart = false {
		a.catchUp(ctx, atStart)
		a.caughtUp.Store(true)
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.opts.catchUpInterval):
		}
	}
}

// catchUp runs one round over every group this server is in; at start it also writes routes.json when it
// differs from what the states derive (a key may have expired or been revoked while the agent was down).
func (a *agent) catchUp(ctx context.Context, atStart bool) {
	changed := false
	local := a.store.readGroups()
	for _, group := range sortedGroupNames(local) {
		c := local[group]
		if !c.verified() || !c.names(a.uid) || c.Rev.State.Settings.PeerToken == "" {
			continue
		}
		if a.catchUpGroup(c, a.fetchStates(ctx, c)) {
			changed = true
		}
	}
	if changed || atStart {
		a.deriveRoutesFile(time.Now())
	} else if _, ok := a.routes.current(); ok {
		a.routesRevision.Store(a.routes.last)
	}
}

// fetchStates asks every other server of the group for its copy, all at once, each bounded by the timeout.
func (a *agent) fetchStates(ctx context.Context, c *groupCopy) []peerState {
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		answers []peerState
	)
	for _, s := range c.Rev.State.Servers {
		if s.UID == a.uid {
			continue
		}
		wg.Add(1)
		go func(s stateServer) {
			defer wg.Done()
			var answer peerState
			if _, err := a.peers.get(ctx, s, "/_agent/state", c.Name, c.Rev.State.Settings.PeerToken, a.opts.catchUpTimeout, &answer); err == nil {
				mu.Lock()
				answers = append(answers, answer)
				mu.Unlock()
			}
		}(s)
	}
	wg.Wait()
	return answers
}

// catchUpGroup adopts the newest verified copy above ours and adds the revocations we lack; it reports
// whether anything on disk changed.
func (a *agent) catchUpGroup(local *groupCopy, answers []peerState) bool {
	changed := false
	var newest *groupCopy
	var revoked []revocation
	for _, answer := range answers {
		revoked = append(revoked, answer.Revoked...)
		candidate := peerCopy(local.Name, answer.File)
		if candidate == nil {
			continue
		}
		if !candidate.verified() {
			log.Printf("catch-up: refusing a copy of group %s from a peer: %s", local.Name, candidate.Problem)
			continue
		}
		if candidate.Rev.Revision > local.revisionNumber() && candidate.Rev.Revision > newest.revisionNumber() {
			newest = candidate
		}
	}
	if newest != nil {
		if err := a.store.replaceState(local, newest); err != nil {
			log.Printf("catch-up: cannot write revision %d of group %s: %v", newest.Rev.Revision, local.Name, err)
		} else {
			log.Printf("catch-up: group %s is now at revision %d (was %d)", local.Name, newest.Rev.Revision, local.Rev.Revision)
			changed = true
		}
	}
	added, err := a.store.addRevocations(local.Name, revoked)
	if err != nil {
		log.Printf("catch-up: cannot add revocations to group %s: %v", local.Name, err)
	}
	if added > 0 {
		log.Printf("catch-up: group %s has %d revocation(s) more", local.Name, added)
		changed = true
	}
	return changed
}

// peerCopy checks a copy a peer sent; nil when it sent none. Its text is stored as one compact line.
func peerCopy(group string, file json.RawMessage) *groupCopy {
	if len(file) == 0 || string(file) == "null" {
		return nil
	}
	var line bytes.Buffer
	if err := json.Compact(&line, file); err != nil {
		return &groupCopy{Name: group, Problem: "the copy is not JSON"}
	}
	return checkState(group, line.Bytes())
}

// deriveRoutesFile writes routes.json from the states on disk when its content would change. Like Berth, it
// derives nothing while a group's copy here is damaged, and nothing for a server in no group (its table may
// come from a Berth without groups).
func (a *agent) deriveRoutesFile(now time.Time) {
	local := a.store.readGroups()
	states := map[string]groupState{}
	revocations := map[string][]revocation{}
	for _, group := range sortedGroupNames(local) {
		c := local[group]
		if !c.verified() {
			log.Printf("routes: group %s's state here is damaged (%s): routes.json keeps its table", group, c.Problem)
			return
		}
		if c.names(a.uid) {
			states[group] = c.Rev.State
			revocations[group] = a.store.readRevocations(group)
		}
	}
	current, found := a.routes.current()
	if len(states) > 0 {
		routes := deriveRoutes(states, revocations, a.uid, now)
		if !found || !sameRoutes(current, routes) {
			if err := a.routes.write(routes, now); err != nil {
				log.Printf("routes: cannot write routes.json: %v", err)
			} else {
				log.Printf("routes: wrote revision %d (%d models, %d keys)", a.routes.last, len(routes.Models), len(routes.Keys))
			}
		}
	}
	a.routesRevision.Store(a.routes.last)
}
