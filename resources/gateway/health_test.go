package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A replica whose /readyz answers after the probe's timeout: busy, like a single-threaded model under a flood.
func slowReadyz(t *testing.T) *replica {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	r := &replica{addr: srv.Listener.Addr().String(), readyzURL: srv.URL + "/readyz"}
	r.healthy.Store(true)
	return r
}

func probeTimes(h *healthChecker, r *replica, n int, between func()) {
	for i := 0; i < n; i++ {
		r.checking.Store(true)
		between()
		h.check(context.Background(), r)
	}
}

func TestProbeTimeoutsTakeOutAReplicaThatAnswersNothing(t *testing.T) {
	r := slowReadyz(t)
	h := newHealthChecker(func() *table { return &table{replicas: []*replica{r}} }, time.Second, 50*time.Millisecond)
	probeTimes(h, r, softFailLimit, func() {})
	if r.healthy.Load() {
		t.Fatalf("%d probe timeouts in a row with no answer to any request must take the replica out", softFailLimit)
	}
}

func TestProbeTimeoutsSpareAReplicaThatKeepsAnswering(t *testing.T) {
	r := slowReadyz(t)
	h := newHealthChecker(func() *table { return &table{replicas: []*replica{r}} }, time.Second, 50*time.Millisecond)
	// The proxy relays an answer of the replica while each probe waits.
	probeTimes(h, r, 3*softFailLimit, func() { go func() { time.Sleep(10 * time.Millisecond); r.served() }() })
	if !r.healthy.Load() || r.fails.Load() != 0 {
		t.Fatalf("a replica answering proxied requests is busy, not gone: healthy %v, fails %d", r.healthy.Load(), r.fails.Load())
	}
}
