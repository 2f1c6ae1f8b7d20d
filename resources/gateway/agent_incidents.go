package main

// A group's incidents, kept the same on every agent: an incident is identified by what it is about (a lost
// server; a model version's crash loop or OOM kill, whichever servers report it), so agents that see it
// separately agree on one incident, and only the group's leader sends its one "open" and one "resolved".

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"sort"
	"strconv"
	"time"
)

const (
	kindServerLost = "server_lost"
	kindCrashLoop  = "replica_crash_loop"
	kindOOM        = "replica_oom"
)

// condition is something that holds now and makes an incident: a lost peer, or a replica incident some server
// of the group reports open.
type condition struct {
	Kind    string
	Server  *stateServer // the lost server; for replica incidents the first server reporting it
	Model   *string
	Version *int
	Text    string
}

func (c condition) key() string { return incidentKey(c.Kind, c.Server, c.Model, c.Version) }

func incidentKey(kind string, server *stateServer, model *string, version *int) string {
	if kind == kindServerLost {
		uid := ""
		if server != nil {
			uid = server.UID
		}
		return kind + "\x00" + uid
	}
	m, v := "", 0
	if model != nil {
		m = *model
	}
	if version != nil {
		v = *version
	}
	return kind + "\x00" + m + "\x00" + strconv.Itoa(v)
}

func keyOfIncident(i incident) string {
	return incidentKey(i.Kind, &stateServer{UID: i.Server}, i.Model, i.Version)
}

// trackedIncident is an incident with what was sent for it. In a view, Notified says the webhook of its current
// status was sent; a resolved incident whose open was never sent is dropped, so "resolved, not notified" always
// means a resolution is owed.
type trackedIncident struct {
	incident
	key          string
	server       *stateServer
	openSent     bool
	resolvedSent bool
}

func (t *trackedIncident) shown() incident {
	shown := t.incident
	shown.Notified = t.openSent
	if shown.ResolvedAt != nil {
		shown.Notified = t.resolvedSent
	}
	return shown
}

// incidentBook is one group's incidents on this agent.
type incidentBook struct {
	open     map[string]*trackedIncident // by key
	resolved []*trackedIncident
	keep     time.Duration // how long a resolved incident stays in the view
}

func newIncidentBook(keep time.Duration) *incidentBook {
	return &incidentBook{open: map[string]*trackedIncident{}, keep: keep}
}

// notice is one webhook to send.
type notice struct {
	Incident incident
	Server   *stateServer
	Status   string // open | resolved
}

// update takes what holds now and what the group's other agents show, and returns the webhooks this agent
// owes (only when it leads).
func (b *incidentBook) update(now time.Time, holds []condition, shownByPeers []incident, leading bool, leaderShows []incident) []notice {
	peers := mergeShown(shownByPeers)
	if leading {
		b.adopt(peers)
	}
	current := map[string]condition{}
	for _, c := range holds {
		current[c.key()] = c
		if b.open[c.key()] == nil {
			b.open[c.key()] = b.opened(c, now, peers)
		}
	}
	b.follow(leaderShows)
	b.syncSent(peers)
	b.resolveEnded(now, current)
	b.prune(now)
	if !leading {
		return nil
	}
	return b.owed()
}

// mergeShown folds the copies of each incident (by id) the peers show: resolved if any says so, and a webhook
// counts as sent if any shows it sent.
func mergeShown(shown []incident) map[string]*trackedIncident {
	merged := map[string]*trackedIncident{}
	for _, i := range shown {
		t := merged[i.ID]
		if t == nil {
			t = &trackedIncident{incident: i, key: keyOfIncident(i)}
			t.Notified = false
			merged[i.ID] = t
		}
		if i.ResolvedAt == nil {
			t.openSent = t.openSent || i.Notified
			continue
		}
		t.openSent = true // shown resolved: its open was sent (see trackedIncident)
		t.resolvedSent = t.resolvedSent || i.Notified
		if t.ResolvedAt == nil {
			t.ResolvedAt = i.ResolvedAt
		}
	}
	return merged
}

// adopt: a leader takes over the incidents an earlier leader notified, so it resolves them, or sends the
// resolution that is owed, instead of opening them again.
func (b *incidentBook) adopt(peers map[string]*trackedIncident) {
	for _, id := range sortedIncidentIDs(peers) {
		t := peers[id]
		if b.knows(id) || !t.openSent {
			continue
		}
		adopted := *t
		if adopted.ResolvedAt != nil {
			b.resolved = append(b.resolved, &adopted)
		} else if b.open[t.key] == nil {
			b.open[t.key] = &adopted
		}
	}
}

// opened is the incident for a condition that just began to hold: the one a peer already shows notified, or a
// new one.
func (b *incidentBook) opened(c condition, now time.Time, peers map[string]*trackedIncident) *trackedIncident {
	for _, id := range sortedIncidentIDs(peers) {
		if t := peers[id]; t.key == c.key() && t.ResolvedAt == nil && t.openSent {
			adopted := *t
			return &adopted
		}
	}
	serverUID := ""
	if c.Server != nil {
		serverUID = c.Server.UID
	}
	subject := serverUID
	if c.Kind != kindServerLost {
		subject = fmt.Sprintf("%s:%d", *c.Model, *c.Version)
	}
	return &trackedIncident{
		incident: incident{
			ID: fmt.Sprintf("%s:%s:%d", c.Kind, subject, now.UnixMilli()), Kind: c.Kind, Server: serverUID,
			Model: c.Model, Version: c.Version, OpenedAt: now, Text: c.Text,
		},
		key: c.key(), server: c.Server,
	}
}

// follow: an agent that does not lead takes the leader's id for an incident both see, so the two stay one.
func (b *incidentBook) follow(leaderShows []incident) {
	for _, i := range leaderShows {
		t := b.open[keyOfIncident(i)]
		if i.ResolvedAt != nil || t == nil {
			continue
		}
		t.ID, t.OpenedAt = i.ID, i.OpenedAt
		t.openSent = t.openSent || i.Notified
	}
}

func (b *incidentBook) syncSent(peers map[string]*trackedIncident) {
	for _, t := range b.all() {
		if p := peers[t.ID]; p != nil {
			t.openSent = t.openSent || p.openSent
			t.resolvedSent = t.resolvedSent || p.resolvedSent
		}
	}
}

// resolveEnded resolves the open incidents whose condition no longer holds.
func (b *incidentBook) resolveEnded(now time.Time, current map[string]condition) {
	for key, t := range b.open {
		if _, holds := current[key]; holds {
			continue
		}
		delete(b.open, key)
		if !t.openSent {
			continue // never announced: nothing to resolve
		}
		at := now
		t.ResolvedAt = &at
		b.resolved = append(b.resolved, t)
	}
}

func (b *incidentBook) prune(now time.Time) {
	kept := b.resolved[:0]
	for _, t := range b.resolved {
		if now.Sub(*t.ResolvedAt) < b.keep {
			kept = append(kept, t)
		}
	}
	b.resolved = kept
}

// owed marks and returns the webhooks not yet sent: each incident's open, then its resolution.
func (b *incidentBook) owed() []notice {
	var notices []notice
	for _, t := range b.all() {
		switch {
		case t.ResolvedAt == nil && !t.openSent:
			t.openSent = true
			notices = append(notices, notice{Incident: t.incident, Server: t.server, Status: "open"})
		case t.ResolvedAt != nil && !t.resolvedSent:
			t.resolvedSent = true
			notices = append(notices, notice{Incident: t.incident, Server: t.server, Status: "resolved"})
		}
	}
	return notices
}

func (b *incidentBook) knows(id string) bool {
	for _, t := range b.all() {
		if t.ID == id {
			return true
		}
	}
	return false
}

// all is every incident, open ones by key then resolved ones by time.
func (b *incidentBook) all() []*trackedIncident {
	keys := make([]string, 0, len(b.open))
	for key := range b.open {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	list := make([]*trackedIncident, 0, len(keys)+len(b.resolved))
	for _, key := range keys {
		list = append(list, b.open[key])
	}
	return append(list, b.resolved...)
}

func (b *incidentBook) shown() []incident {
	list := []incident{}
	for _, t := range b.all() {
		list = append(list, t.shown())
	}
	return list
}

func sortedIncidentIDs(m map[string]*trackedIncident) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// webhookPayload is what a group's webhooks receive; text makes it a Slack message as it is.
type webhookPayload struct {
	Source   string         `json:"source"`
	Group    string         `json:"group"`
	Kind     string         `json:"kind"`
	Status   string         `json:"status"`
	Incident string         `json:"incident"`
	Server   *webhookServer `json:"server"`
	Model    *string        `json:"model"`
	Version  *int           `json:"version"`
	At       time.Time      `json:"at"`
	Text     string         `json:"text"`
}

type webhookServer struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
	Host string `json:"host"`
}

func payloadOf(group string, n notice) webhookPayload {
	p := webhookPayload{
		Source: "berth-agent", Group: group, Kind: n.Incident.Kind, Status: n.Status, Incident: n.Incident.ID,
		Model: n.Incident.Model, Version: n.Incident.Version, At: n.Incident.OpenedAt, Text: n.Incident.Text,
	}
	if n.Server != nil {
		p.Server = &webhookServer{UID: n.Server.UID, Name: n.Server.Name, Host: n.Server.Host}
	}
	if n.Status == "resolved" {
		p.At = *n.Incident.ResolvedAt
		p.Text = "Resolved: " + n.Incident.Text
	}
	return p
}

// webhookSender posts each notice to every webhook in the background: a timeout per attempt and a fixed number
// of attempts, so an unreachable endpoint costs bounded time and never a storm.
type webhookSender struct {
	client *http.Client
	delays []time.Duration // between attempts; len+1 attempts in all
}

func (s *webhookSender) send(ctx context.Context, urls []string, payload webhookPayload, done func()) {
	body, _ := json.Marshal(payload)
	for _, u := range urls {
		go func(u string) {
			defer done()
			s.deliver(ctx, u, body, payload)
		}(u)
	}
}

func (s *webhookSender) deliver(ctx context.Context, u string, body []byte, payload webhookPayload) {
	for attempt := 0; ; attempt++ {
		err := s.post(ctx, u, body)
		if err == nil {
			return
		}
		if attempt >= len(s.delays) {
			log.Printf("webhook %s for %s (%s) failed after %d attempts: %v", u, payload.Incident, payload.Status, attempt+1, err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.delays[attempt]):
		}
	}
}

func (s *webhookSender) post(ctx context.Context, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("answered %s", resp.Status)
	}
	return nil
}
