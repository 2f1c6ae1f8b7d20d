package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func (tg *testGateway) addr() string { return strings.TrimPrefix(tg.srv.URL, "http://") }

func peersAgent(self string, gateways ...string) agentFile {
	a := agentFile{At: time.Now().UnixMilli(), CaughtUp: true, Self: self}
	for i, gw := range gateways {
		a.Peers = append(a.Peers, agentPeer{UID: "srv_peer" + string(rune('a'+i)), Name: "fb" + string(rune('a'+i)), Gateway: gw})
	}
	return a
}

func (tg *testGateway) waitPeersReachable(t *testing.T, n int) {
	t.Helper()
	eventually(t, 2*time.Second, "peers reachable", func() bool {
		count := 0
		for _, p := range tg.healthJSON(t).Peers {
			if p.Reachable {
				count++
			}
		}
		return count == n
	})
}

func (tg *testGateway) logLines(t *testing.T) []map[string]any {
	t.Helper()
	time.Sleep(60 * time.Millisecond) // > flush interval
	var lines []map[string]any
	for _, line := range readLines(t, filepath.Join(tg.dir, "logs", requestLogName)) {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("bad log line %q", line)
		}
		lines = append(lines, v)
	}
	return lines
}

func TestPeerServesWhenLocalReplicasAreDown(t *testing.T) {
	remote := newReplica(t, "remote")
	keys := []m{{"id": "k1", "sha256": sha("secret")}}
	peerRoutes := irisRoutes([]string{deadAddr(t)}, []string{remote.addr()}, false)
	peerRoutes["keys"] = keys
	peer := startGateway(t, peerRoutes)
	localRoutes := irisRoutes([]string{deadAddr(t)}, []string{deadAddr(t)}, false)
	localRoutes["keys"] = keys
	local := startGateway(t, localRoutes)
	local.writeAgent(t, peersAgent("srv_local", peer.addr()))
	local.waitPeersReachable(t, 1)
	if h := local.healthJSON(t); h.Peers[0].UID != "srv_peera" || h.Peers[0].Name != "fba" || h.Peers[0].Gateway != peer.addr() {
		t.Fatalf("health lists the peers: %+v", h.Peers)
	}

	r := local.do(t, http.MethodPost, "/iris/latest/predict?x=1", `{"rows":[1]}`, "Authorization", "Bearer secret")
	if r.status != 200 || r.echo.Name != "remote" || r.echo.Path != "/predict" || r.echo.Query != "x=1" || r.echo.Body != `{"rows":[1]}` {
		t.Fatalf("served by the peer's replica: %+v", r)
	}
	if r.echo.Caller != "k1" || r.echo.Via != "srv_local" || r.echo.Version != "2" || r.echo.Auth != "" || r.header.Get("X-Berth-Version") != "2" {
		t.Fatalf("the peer checks the key itself and sees where the request came from: %+v", r.echo)
	}
	if r := local.get(t, "/iris/v2/predict", "Authorization", "Bearer wrong"); r.status != 401 {
		t.Fatalf("a bad key is refused before any forwarding: %+v", r)
	}
	if r := local.get(t, "/iris/v1/predict", "Authorization", "Bearer secret"); r.status != 503 || r.err.Kind != "NoHealthyReplica" {
		t.Fatalf("no peer serves v1 either: %+v", r)
	}
	hits := remote.hits.Load()
	if r := local.get(t, "/iris/v2/predict", "Authorization", "Bearer secret", "X-Berth-Via", "srv_other"); r.status != 503 ||
		r.err.Kind != "NoHealthyReplica" || remote.hits.Load() != hits {
		t.Fatalf("a forwarded request is never forwarded again: %+v", r)
	}

	localLog, peerLog := local.logLines(t), peer.logLines(t)
	if first := localLog[0]; first["via"] != peer.addr() || first["upstream"] != nil || first["alias"] != "latest" || first["status"] != 200.0 {
		t.Fatalf("the local log names the peer: %v", first)
	}
	if localLog[1]["via"] != nil {
		t.Fatalf("via is null when not forwarded: %v", localLog[1])
	}
	if len(peerLog) != 1 || peerLog[0]["path"] != "/iris/v2/predict" || peerLog[0]["alias"] != nil || peerLog[0]["upstream"] != remote.addr() {
		t.Fatalf("the peer gets the resolved version's path: %v", peerLog)
	}
}

// fakePeer is a peer gateway reporting iris v1 healthy; answer handles the model requests it gets.
type fakePeer struct {
	*httptest.Server
	hits atomic.Int64
}

func newFakePeer(t *testing.T, answer http.HandlerFunc) *fakePeer {
	t.Helper()
	p := &fakePeer{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_berth/health" {
			w.Write([]byte(`{"status":"ok","ready":true,"models":{"iris":{"versions":{"1":{"healthy":1,"replicas":1}}}}}`))
			return
		}
		p.hits.Add(1)
		io.ReadAll(r.Body)
		answer(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *fakePeer) addr() string { return strings.TrimPrefix(p.URL, "http://") }

// dropConnection accepts the request, then fails without an answer.
func dropConnection(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func TestPeerThatTookTheRequestIsNotReplayed(t *testing.T) {
	p1, p2 := newFakePeer(t, dropConnection), newFakePeer(t, dropConnection)
	tg := startGateway(t, irisRoutes([]string{deadAddr(t)}, []string{deadAddr(t)}, true), func(o *options) { o.peerInterval = time.Hour })
	tg.writeAgent(t, peersAgent("srv_local", p1.addr(), p2.addr()))
	tg.waitPeersReachable(t, 2)
	r := tg.do(t, http.MethodPost, "/iris/v1/predict", `{"x":1}`)
	if r.status != 502 || r.err.Kind != "UpstreamError" || !strings.Contains(r.err.Message, "Peer gateway") {
		t.Fatalf("a peer that failed after accepting gives 502: %+v", r)
	}
	if total := p1.hits.Load() + p2.hits.Load(); total != 1 {
		t.Fatalf("a request that reached a peer is never replayed: %d hits", total)
	}
}

func TestPeerDialFailureTriesTheNext(t *testing.T) {
	ok := func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"name":"peer"}`)) }
	p1, p2 := newFakePeer(t, ok), newFakePeer(t, ok)
	tg := startGateway(t, irisRoutes([]string{deadAddr(t)}, []string{deadAddr(t)}, true), func(o *options) { o.peerInterval = time.Hour })
	tg.writeAgent(t, peersAgent("srv_local", p1.addr(), p2.addr()))
	tg.waitPeersReachable(t, 2)
	// The first forward starts at the lowest address: stop that peer after its last health said it serves.
	gone, alive := p1, p2
	if p2.addr() < p1.addr() {
		gone, alive = p2, p1
	}
	gone.Close()
	r := tg.do(t, http.MethodPost, "/iris/v1/predict", `{"x":1}`)
	if r.status != 200 || r.echo.Name != "peer" || alive.hits.Load() != 1 {
		t.Fatalf("a peer that could not be dialled hands over to the next: %+v", r)
	}
	if h := tg.healthJSON(t); len(h.Peers) != 2 {
		t.Fatalf("peers: %+v", h.Peers)
	}
	if tg.peers.reachable(gone.addr()) || !tg.peers.reachable(alive.addr()) {
		t.Fatal("a failed dial marks the peer unreachable until its next check")
	}
	if lines := tg.logLines(t); lines[0]["via"] != alive.addr() {
		t.Fatalf("via names the peer that answered: %v", lines[0])
	}
}
