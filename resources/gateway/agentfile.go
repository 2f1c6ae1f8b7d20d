package main

// The gateway's side of agent.json (docs/AGENT.md): stand-ins and peers to route to, and the readiness gate
// that keeps a restarted server from serving a stale routes.json.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"reflect"
	"sync/atomic"
	"time"
)

// agentWatcher polls agent.json. A valid new version replaces the overlay; an invalid one is reported and the
// previous overlay stays; a missing file means no agent (no stand-ins, no peers).
type agentWatcher struct {
	path    string
	last    fileStamp
	current atomic.Pointer[agentFile] // nil: no agent.json
	// Set from the poll goroutine, read by /_berth/health.
	err problem
}

// agentChange says what of agent.json changed in one poll; the heartbeat alone (at) changes neither.
type agentChange struct{ standIns, peers bool }

func (w *agentWatcher) poll() agentChange {
	data, changed, err := readChanged(w.path, &w.last)
	if errors.Is(err, fs.ErrNotExist) {
		w.err.Store("")
		return w.replace(nil)
	}
	if err != nil {
		w.err.set("agent", "cannot read "+w.path+": "+err.Error())
		return agentChange{}
	}
	if !changed {
		return agentChange{}
	}
	f, err := parseAgentFile(data)
	if err != nil {
		w.err.set("agent", w.path+" rejected, keeping the previous stand-ins and peers: "+err.Error())
		return agentChange{}
	}
	w.err.Store("")
	return w.replace(f)
}

func (w *agentWatcher) replace(f *agentFile) agentChange {
	old := w.current.Swap(f)
	var before, after agentFile
	if old != nil {
		before = *old
	}
	if f != nil {
		after = *f
	}
	c := agentChange{
		standIns: !reflect.DeepEqual(before.StandIns, after.StandIns),
		peers:    !reflect.DeepEqual(before.Peers, after.Peers),
	}
	if c.standIns || c.peers {
		log.Printf("agent: %d models with stand-ins, %d peers", len(after.StandIns), len(after.Peers))
	}
	return c
}

func (w *agentWatcher) standIns() map[string]map[string][]string {
	if f := w.current.Load(); f != nil {
		return f.StandIns
	}
	return nil
}

func (w *agentWatcher) peers() []agentPeer {
	if f := w.current.Load(); f != nil {
		return f.Peers
	}
	return nil
}

// parseAgentFile checks every address, so a bad stand-in cannot make a valid routes.json look rejected.
func parseAgentFile(data []byte) (*agentFile, error) {
	var f agentFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not valid agent JSON: %w", err)
	}
	for model, versions := range f.StandIns {
		for v, addrs := range versions {
			for _, addr := range addrs {
				if !isHostPort(addr) {
					return nil, fmt.Errorf("stand-in %q of %s v%s is not host:port", addr, model, v)
				}
			}
		}
	}
	for _, p := range f.Peers {
		if !isHostPort(p.Gateway) {
			return nil, fmt.Errorf("peer %q: gateway %q is not host:port", p.UID, p.Gateway)
		}
	}
	return &f, nil
}

func isHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != ""
}

const (
	gateNone     = "none"          // no agent.json at start: serve at once
	gateWaiting  = "waiting"       // holding model requests until the agent reports it caught up
	gateCaughtUp = "caught-up"     // the agent caught up and the table is at least its routes revision
	gateTimedOut = "agent-timeout" // the agent did not catch up in time: serving what there is
)

const catchingUpMessage = "This server is catching up with its group after a restart; try another server."

// readinessGate holds model requests after a restart until the agent says this server caught up with its group,
// so a key revoked while the server was down is refused from the first request.
type readinessGate struct {
	state  atomicString
	opened chan struct{} // closed when the gate opens
}

func newReadinessGate(waiting bool) *readinessGate {
	g := &readinessGate{opened: make(chan struct{})}
	if !waiting {
		g.state.Store(gateNone)
		close(g.opened)
		return g
	}
	g.state.Store(gateWaiting)
	return g
}

func (g *readinessGate) ready() bool { return g.state.Load() != gateWaiting }

// open is called from the poll goroutine only, so the state cannot change between the check and the close.
func (g *readinessGate) open(state string) {
	if g.ready() {
		return
	}
	g.state.Store(state)
	close(g.opened)
}

// wait reports whether the gate is open, holding the caller up to limit or until ctx ends.
func (g *readinessGate) wait(ctx context.Context, limit time.Duration) bool {
	select {
	case <-g.opened:
		return true
	default:
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case <-g.opened:
		return true
	case <-timer.C:
	case <-ctx.Done():
	}
	return false
}

// pollFiles reads agent.json, then routes.json, so a table built in this tick already has the agent's
// stand-ins; then it sees whether the readiness gate can open.
func (g *gateway) pollFiles() {
	g.tls.poll()
	change := g.agent.poll()
	if !g.watcher.poll() && change.standIns {
		g.watcher.recompile()
	}
	if change.peers {
		g.peers.checkSoon()
	}
	g.checkGate()
}

func (g *gateway) checkGate() {
	if g.gate.ready() {
		return
	}
	a := g.agent.current.Load()
	if a != nil && a.CaughtUp && a.At >= g.started.UnixMilli() && g.table.Load().revision >= a.RoutesRevision {
		log.Printf("agent caught up (routes revision %d): serving", a.RoutesRevision)
		g.gate.open(gateCaughtUp)
		return
	}
	if time.Since(g.started) >= g.opts.catchUpTimeout {
		log.Printf("the agent did not report it caught up within %g s; serving routes.json as it is", g.opts.catchUpTimeout.Seconds())
		g.gate.open(gateTimedOut)
	}
}

func (g *gateway) watchFiles(ctx context.Context) {
	tick := time.NewTicker(g.opts.pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			g.pollFiles()
		}
	}
}
