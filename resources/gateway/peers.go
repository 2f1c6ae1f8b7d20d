package main

// Cross-server routing: when no local replica can take a request, another server's gateway that reports the
// version healthy gets it. The peer checks the caller's key again; X-Berth-Via stops a second hop.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// peerGateway is what this gateway knows of another server's gateway from its last /_berth/health.
type peerGateway struct {
	addr      string
	checking  atomic.Bool
	reachable atomic.Bool
	serving   atomic.Pointer[map[string]bool] // "<model>/<version>" with a healthy replica there
}

// lost forgets what the peer serves until its next answer (a failed check, or a dial that failed).
func (p *peerGateway) lost() {
	p.reachable.Store(false)
	p.serving.Store(nil)
}

func (p *peerGateway) serves(model, version string) bool {
	s := p.serving.Load()
	return p.reachable.Load() && s != nil && (*s)[model+"/"+version]
}

// peerChecker asks every peer of agent.json for its health once per interval; a check still running is not
// started again, so a slow peer costs one request in flight, never a pile of them.
type peerChecker struct {
	client   *http.Client
	tls      *tlsWatcher // says whether peers are reached over HTTPS
	interval time.Duration
	timeout  time.Duration
	current  func() []agentPeer
	kick     chan struct{}
	next     atomic.Uint32 // round-robin cursor over the peers serving a version
	mu       sync.Mutex
	known    map[string]*peerGateway // by gateway address
}

func newPeerChecker(current func() []agentPeer, interval, timeout time.Duration, tlsFiles *tlsWatcher) *peerChecker {
	dial := (&net.Dialer{Timeout: timeout}).DialContext
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         dial,
		DialTLSContext:      tlsFiles.dialTLS(dial),
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
	}
	return &peerChecker{
		client:   &http.Client{Transport: tr, Timeout: timeout},
		tls:      tlsFiles,
		interval: interval,
		timeout:  timeout,
		current:  current,
		kick:     make(chan struct{}, 1),
		known:    map[string]*peerGateway{},
	}
}

// checkSoon asks for an immediate round (agent.json named other peers).
func (c *peerChecker) checkSoon() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *peerChecker) run(ctx context.Context) {
	tick := time.NewTicker(c.interval)
	defer tick.Stop()
	for {
		c.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.kick:
		}
	}
}

func (c *peerChecker) round(ctx context.Context) {
	for _, p := range c.sync() {
		if p.checking.CompareAndSwap(false, true) {
			go c.check(ctx, p)
		}
	}
}

// sync makes the known peers those agent.json names now, keeping what is known of the ones that stay.
func (c *peerChecker) sync() []*peerGateway {
	peers := c.current()
	c.mu.Lock()
	defer c.mu.Unlock()
	known := make(map[string]*peerGateway, len(peers))
	list := make([]*peerGateway, 0, len(peers))
	for _, ap := range peers {
		p := c.known[ap.Gateway]
		if p == nil {
			p = &peerGateway{addr: ap.Gateway}
		}
		if known[ap.Gateway] == nil {
			known[ap.Gateway] = p
			list = append(list, p)
		}
	}
	c.known = known
	return list
}

// peerHealth is the part of a peer's /_berth/health this gateway uses.
type peerHealth struct {
	Ready  *bool `json:"ready"` // absent from gateways older than the readiness gate: they serve at once
	Models map[string]struct {
		Versions map[string]struct {
			Healthy int `json:"healthy"`
		} `json:"versions"`
	} `json:"models"`
}

func (c *peerChecker) check(ctx context.Context, p *peerGateway) {
	defer p.checking.Store(false)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.tls.peerScheme()+"://"+p.addr+"/_berth/health", nil)
	req.Header.Set("User-Agent", "berth-gateway-peer")
	resp, err := c.client.Do(req)
	if err != nil {
		p.lost()
		return
	}
	defer resp.Body.Close()
	var h peerHealth
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h) != nil {
		p.lost()
		return
	}
	serving := map[string]bool{}
	if h.Ready == nil || *h.Ready {
		for model, mh := range h.Models {
			for v, vh := range mh.Versions {
				if vh.Healthy > 0 {
					serving[model+"/"+v] = true
				}
			}
		}
	}
	p.serving.Store(&serving)
	p.reachable.Store(true)
}

// serving lists the peers whose last health has a healthy replica of the version, starting at the next in
// round-robin order.
func (c *peerChecker) serving(model, version string) []*peerGateway {
	c.mu.Lock()
	var list []*peerGateway
	for _, p := range c.known {
		if p.serves(model, version) {
			list = append(list, p)
		}
	}
	c.mu.Unlock()
	if len(list) < 2 {
		return list
	}
	sort.Slice(list, func(i, j int) bool { return list[i].addr < list[j].addr })
	start := int(c.next.Add(1) - 1)
	rotated := make([]*peerGateway, len(list))
	for i := range list {
		rotated[i] = list[(start+i)%len(list)]
	}
	return rotated
}

func (c *peerChecker) reachable(addr string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.known[addr]
	return p != nil && p.reachable.Load()
}

// forwardToPeer sends a request no local replica took to a peer gateway serving the version, at the resolved
// version's path (not an alias), with the caller's credentials for the peer to check. It tries the next peer only
// when the dial failed; it returns false, with the last dial error, when no peer took the request.
func (g *gateway) forwardToPeer(w http.ResponseWriter, r *http.Request, e *logEntry, fwd peerForward) (bool, error) {
	peers := g.peers.serving(fwd.model, fwd.version.name)
	if len(peers) == 0 {
		return false, nil
	}
	h := r.Header
	if fwd.authorization != nil {
		h["Authorization"] = fwd.authorization
	}
	if fwd.apiKey != nil {
		h["X-Api-Key"] = fwd.apiKey
	}
	h["X-Berth-Via"] = []string{g.agentSelf()}
	prefix := "/" + fwd.model + "/v" + fwd.version.name
	rawPath := ""
	if fwd.rawRest != "" {
		rawPath = prefix + fwd.rawRest
	}
	var lastErr error
	for _, p := range peers {
		e.via = p.addr
		req := upstreamRequest(r, p.addr, prefix+fwd.rest, rawPath, fwd.body)
		req.URL.Scheme = g.tls.peerScheme()
		resp, err := g.transport.RoundTrip(req)
		if err == nil {
			g.relay(w, resp, e, fwd.version.header, fwd.ridHeader)
			return true, nil
		}
		var de *dialError
		if !errors.As(err, &de) {
			g.failUpstream(w, r, e, "Peer gateway "+p.addr+" (for "+fwd.model+" v"+fwd.version.name+")", err)
			return true, nil
		}
		p.lost()
		lastErr = err
	}
	e.via = ""
	return false, lastErr
}

// peerForward is what forwardToPeer needs of a request the proxy has already routed and authenticated.
type peerForward struct {
	model                 string
	version               *version
	rest, rawRest         string
	body                  *bodyBuf
	ridHeader             []string
	authorization, apiKey []string // the caller's, taken off before the local attempts
}

func (g *gateway) agentSelf() string {
	if f := g.agent.current.Load(); f != nil {
		return f.Self
	}
	return ""
}
