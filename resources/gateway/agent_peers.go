package main

// Watching the other servers of this server's groups: one bounded probe per peer per interval, with hysteresis,
// and the peer API that answers the other agents' probes and catch-ups.

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

const (
	peerUp      = "up"
	peerLost    = "lost"
	peerUnknown = "unknown"
)

// peerWatch is one peer's state under hysteresis: lost only after lostAfter misses in a row, never one; up
// again only after upAfter answers in a row.
type peerWatch struct {
	State    string
	Missed   int
	Answered int
	Since    time.Time
}

func newPeerWatch(now time.Time) peerWatch { return peerWatch{State: peerUnknown, Since: now} }

// record takes one probe's outcome; it reports whether the state changed.
func (h *peerWatch) record(answered bool, now time.Time, lostAfter, upAfter int) bool {
	next := h.State
	if answered {
		h.Missed = 0
		h.Answered++
		if h.Answered >= upAfter {
			next = peerUp
		}
	} else {
		h.Answered = 0
		h.Missed++
		if h.Missed >= lostAfter {
			next = peerLost
		}
	}
	if next == h.State {
		return false
	}
	h.State, h.Since = next, now
	return true
}

// peerRecord is what this agent knows of one other server.
type peerRecord struct {
	Server stateServer
	Health peerWatch
	// Groups are the groups shared with it whose peer features are on; probes take turns among them.
	Groups    []string
	nextGroup int
	// Views is its last view per group (its view is shown to a peer one group at a time).
	Views map[string]*agentView
	// FreeMemoryMB and GPUs are from its last view; HasView says there was one.
	FreeMemoryMB int64
	GPUs         int
	HasView      bool
}

func (p *peerRecord) lost() bool { return p.Health.State == peerLost }

// peerClient makes the agent's bounded requests to other agents.
type peerClient struct {
	http    *http.Client
	address func(stateServer) string
}

func newPeerClient(address func(stateServer) string) *peerClient {
	// No proxy: peers are on the servers' own network. Few idle connections: one request per peer per second.
	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &peerClient{http: &http.Client{Transport: transport}, address: address}
}

// errNoView is a peer that answered, but not with a view (e.g. 401 before it has caught up with the token).
var errNoView = errors.New("the peer answered without a view")

// get sends one GET to a peer's API; answered is true when the peer sent any HTTP response at all.
func (c *peerClient) get(ctx context.Context, peer stateServer, path, group, token string, timeout time.Duration, into any) (answered bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := "http://" + c.address(peer) + path + "?group=" + url.QueryEscape(group)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return true, errNoView
	}
	return true, json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(into)
}

// probe asks a peer for its view of one group: a miss is no HTTP answer within the timeout.
func (c *peerClient) probe(ctx context.Context, peer stateServer, group, token string, timeout time.Duration) (bool, *agentView) {
	var view agentView
	answered, err := c.get(ctx, peer, "/_agent/view", group, token, timeout, &view)
	if err != nil || view.UID != peer.UID {
		return answered, nil
	}
	return true, &view
}

// peerState is a peer's answer to /_agent/state.
type peerState struct {
	File    json.RawMessage `json:"file"`
	Revoked []revocation    `json:"revoked"`
}

// peerAPI serves /_agent/view and /_agent/state to the agents of this server's groups.
type peerAPI struct {
	// groups returns the current verified copies naming this server.
	groups func() map[string]*groupCopy
	view   func() *agentView
	store  stateStore
}

func (api *peerAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	group := r.URL.Query().Get("group")
	copy := api.groups()[group]
	if copy == nil || !tokenMatches(copy.Rev.State.Settings.PeerToken, r.Header.Get("Authorization")) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	var body any
	switch r.URL.Path {
	case "/_agent/view":
		body = viewOfGroup(api.view(), group, copy.Rev.State.Models)
	case "/_agent/state":
		body = peerState{File: json.RawMessage(copy.Text), Revoked: nonNil(api.store.readRevocations(group))}
	default:
		http.NotFound(w, r)
		return
	}
	data, _ := json.Marshal(body)
	w.Header()["Content-Type"] = jsonContentType
	w.Write(append(data, '\n'))
}

// tokenMatches: a group without a token has its peer features off, so nothing matches it.
func tokenMatches(token, authorization string) bool {
	presented := strings.TrimPrefix(authorization, "Bearer ")
	return token != "" && presented != authorization && subtle.ConstantTimeCompare([]byte(token), []byte(presented)) == 1
}

// viewOfGroup is the view shown to a peer of one group: that group, and the replicas and incidents of its models.
func viewOfGroup(full *agentView, group string, models map[string]stateModel) agentView {
	view := *full
	view.Groups = map[string]groupView{}
	if g, ok := full.Groups[group]; ok {
		view.Groups[group] = g
	}
	view.Replicas = []replicaReport{}
	for _, r := range full.Replicas {
		if _, ok := models[r.Model]; ok {
			view.Replicas = append(view.Replicas, r)
		}
	}
	view.LocalIncidents = []incident{}
	for _, i := range full.LocalIncidents {
		if i.Model != nil {
			if _, ok := models[*i.Model]; ok {
				view.LocalIncidents = append(view.LocalIncidents, i)
			}
		}
	}
	return view
}

func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}

// sortedPeerUIDs lists the records' uids in order, so every loop over peers is deterministic.
func sortedPeerUIDs(peers map[string]*peerRecord) []string {
	uids := make([]string, 0, len(peers))
	for uid := range peers {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	return uids
}
