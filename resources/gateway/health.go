package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// replica is one upstream address. Its health outlives table reloads: the same address keeps its state.
type replica struct {
	addr      string
	readyzURL string
	healthy   atomic.Bool
	checking  atomic.Bool
	fails     atomic.Int32 // consecutive soft failures (timeouts, resets)
	answered  atomic.Int64 // unix nanoseconds of the last response it gave to a proxied request
}

// served records a response to a proxied request: the replica is alive however slowly it answers its probe.
func (r *replica) served() { r.answered.Store(time.Now().UnixNano()) }

// markDown is the passive check: a connection error while proxying takes the replica out at once.
func (r *replica) markDown(reason error) {
	if r.healthy.Swap(false) {
		log.Printf("replica %s unhealthy: %v", r.addr, reason)
	}
}

func (r *replica) markUp() {
	r.fails.Store(0)
	if !r.healthy.Swap(true) {
		log.Printf("replica %s healthy again", r.addr)
	}
}

type replicaSet struct {
	mu sync.Mutex
	m  map[string]*replica
}

func newReplicaSet() *replicaSet { return &replicaSet{m: map[string]*replica{}} }

// get returns the replica for addr, creating it healthy: Berth only routes to replicas it has seen ready, and
// the checker probes new ones right after a reload.
func (s *replicaSet) get(addr string) *replica {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.m[addr]
	if r == nil {
		r = &replica{addr: addr, readyzURL: "http://" + addr + "/readyz"}
		r.healthy.Store(true)
		s.m[addr] = r
	}
	return r
}

// retain forgets replicas no longer in the current table.
func (s *replicaSet) retain(keep []*replica) {
	want := make(map[*replica]bool, len(keep))
	for _, r := range keep {
		want[r] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, r := range s.m {
		if !want[r] {
			delete(s.m, addr)
		}
	}
}

// healthChecker polls each replica's /readyz: 200 is healthy; a refused connection or another status is
// unhealthy at once; timeouts and resets count, and take the replica out after softFailLimit in a row (a busy
// single-threaded model may miss one probe). A probe that times out while the replica answered proxied requests
// counts for nothing: it is busy, not gone, and taking it out would turn a load peak into an outage.
type healthChecker struct {
	client   *http.Client
	interval time.Duration
	timeout  time.Duration
	current  func() *table
	kick     chan struct{}
}

const softFailLimit = 2

func newHealthChecker(current func() *table, interval, timeout time.Duration) *healthChecker {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: timeout}).DialContext,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &healthChecker{
		client:   &http.Client{Transport: tr, Timeout: timeout},
		interval: interval,
		timeout:  timeout,
		current:  current,
		kick:     make(chan struct{}, 1),
	}
}

// checkSoon asks for an immediate round (after a reload, so new replicas are probed right away).
func (h *healthChecker) checkSoon() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

func (h *healthChecker) run(ctx context.Context) {
	if h.interval <= 0 {
		return // active checks off (tests of the passive check)
	}
	tick := time.NewTicker(h.interval)
	defer tick.Stop()
	h.round(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-h.kick:
		}
		h.round(ctx)
	}
}

func (h *healthChecker) round(ctx context.Context) {
	for _, r := range h.current().replicas {
		if r.checking.CompareAndSwap(false, true) {
			go h.check(ctx, r)
		}
	}
}

func (h *healthChecker) check(ctx context.Context, r *replica) {
	defer r.checking.Store(false)
	probed := time.Now().UnixNano()
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.readyzURL, nil)
	req.Header.Set("User-Agent", "berth-gateway-health")
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return // shutting down
		}
		if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
			r.markDown(err)
		} else if r.answered.Load() >= probed {
			r.fails.Store(0)
		} else if r.fails.Add(1) >= softFailLimit {
			r.markDown(err)
		}
		return
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		r.markUp()
	} else {
		r.markDown(errors.New("/readyz answered " + resp.Status))
	}
}
