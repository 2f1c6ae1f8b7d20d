package main

// The agent's shared shapes (docs/AGENT.md): the file it writes for the gateway, the view it shows peers and
// Berth, and the boundary between the agent's group logic and the server's container runtime.

import (
	"context"
	"time"
)

// agentFile is agent.json, the agent's word to the gateway beside routes.json.
type agentFile struct {
	At             int64                          `json:"at"`
	CaughtUp       bool                           `json:"caughtUp"`
	RoutesRevision int64                          `json:"routesRevision"`
	Self           string                         `json:"self"`
	Peers          []agentPeer                    `json:"peers"`
	StandIns       map[string]map[string][]string `json:"standIns"`
}

type agentPeer struct {
	UID     string `json:"uid"`
	Name    string `json:"name"`
	Gateway string `json:"gateway"`
}

// agentView is what an agent reports: served to peers at /_agent/view and written to view.json for Berth.
type agentView struct {
	UID          string    `json:"uid"`
	Version      string    `json:"version"`
	StartedAt    time.Time `json:"startedAt"`
	At           time.Time `json:"at"`
	CaughtUp     bool      `json:"caughtUp"`
	FreeMemoryMB int64     `json:"freeMemoryMb"`
	// GPUs is how many NVIDIA GPUs the server has (0: none, or no driver loaded).
	GPUs           int                  `json:"gpus"`
	Groups         map[string]groupView `json:"groups"`
	Replicas       []replicaReport      `json:"replicas"`
	LocalIncidents []incident           `json:"localIncidents"`
}

type groupView struct {
	Revision  int64      `json:"revision"`
	Leader    string     `json:"leader"`
	Peers     []peerView `json:"peers"`
	Incidents []incident `json:"incidents"`
	StandIns  []standIn  `json:"standIns"`
	// StandInShortfalls say which lost replicas the plan could not give a survivor, and why (GPU versions only).
	StandInShortfalls []string `json:"standInShortfalls,omitempty"`
}

type peerView struct {
	UID    string    `json:"uid"`
	Name   string    `json:"name"`
	Host   string    `json:"host"`
	State  string    `json:"state"` // up | lost | unknown
	Missed int       `json:"missed"`
	Since  time.Time `json:"since"`
}

type incident struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"` // server_lost | replica_crash_loop | replica_oom
	Server     string     `json:"server,omitempty"`
	Model      *string    `json:"model"`
	Version    *int       `json:"version"`
	OpenedAt   time.Time  `json:"openedAt"`
	ResolvedAt *time.Time `json:"resolvedAt"`
	Text       string     `json:"text"`
	Notified   bool       `json:"notified"`
}

// standIn is one replica the leader assigned to a survivor (On) for a lost server (For).
type standIn struct {
	Model   string `json:"model"`
	Version int    `json:"version"`
	For     string `json:"for"`
	On      string `json:"on"`
	Index   int    `json:"index"`
	// GPUs are the survivor's GPUs this stand-in gets (a GPU version's only).
	GPUs []string `json:"gpus,omitempty"`
}

// replicaReport is one Berth replica container on this server as Docker reports it.
type replicaReport struct {
	Name       string  `json:"name"`
	Model      string  `json:"model"`
	Version    int     `json:"version"`
	Port       int     `json:"port"`
	Running    bool    `json:"running"`
	Ready      bool    `json:"ready"`
	Restarts   int     `json:"restarts"`
	OOMKilled  bool    `json:"oomKilled"`
	StandInFor *string `json:"standInFor"`
}

// wantedReplica is a replica the group state places on this server (a live version's placements[self]).
type wantedReplica struct {
	Group    string
	Model    string
	Version  int
	Index    int
	Name     string
	Port     int
	ImageID  string
	MemoryMB int
	CPUs     float64
	GPUs     []string
}

// wantedStandIn is a stand-in the leader's plan gives this server, with what it takes to run it.
type wantedStandIn struct {
	standIn
	ImageID  string
	MemoryMB int
	CPUs     float64
}

// desired is everything the runtime should make true on this server in one reconcile pass.
type desired struct {
	// Revision identifies the state the replicas were derived from (a missing one is re-created only after it
	// has been missing 30 s under the same revision).
	Revision string
	Replicas []wantedReplica
	StandIns []wantedStandIn
	// LockedModels are models whose operation lock is held: left alone.
	LockedModels map[string]bool
}

// runtimeReport is one observation of the server's Berth containers.
type runtimeReport struct {
	Replicas     []replicaReport
	Incidents    []incident // this server's replica incidents (crash loops, OOM kills), open and recently resolved
	FreeMemoryMB int64
	GPUs         int
}

// serverRuntime is the agent's view of and hand on the server's containers (Docker over its socket).
type serverRuntime interface {
	// Observe lists Berth's replica containers (stand-ins included), probes their /readyz and updates incidents.
	Observe(ctx context.Context) (runtimeReport, error)
	// Reconcile starts what is wanted and not running and removes stand-ins no longer wanted (after drain).
	Reconcile(ctx context.Context, want desired) error
}
