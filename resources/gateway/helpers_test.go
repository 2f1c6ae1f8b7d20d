package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echo is what a test replica answers: who it is and what reached it.
type echo struct {
	Name      string `json:"name"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	RawPath   string `json:"rawPath"`
	Query     string `json:"query"`
	Caller    string `json:"caller"`
	Version   string `json:"version"`
	Alias     string `json:"alias"`
	RequestID string `json:"requestId"`
	Auth      string `json:"auth"`
	APIKey    string `json:"apiKey"`
	Idem      string `json:"idem"`
	Body      string `json:"body"`
	Via       string `json:"via"`
}

type testReplica struct {
	*httptest.Server
	name  string
	ready atomic.Bool
	hits  atomic.Int64
	delay time.Duration
}

func (r *testReplica) addr() string { return strings.TrimPrefix(r.URL, "http://") }

func newReplica(t *testing.T, name string) *testReplica {
	t.Helper()
	r := &testReplica{name: name}
	r.ready.Store(true)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/readyz" {
			if r.ready.Load() {
				w.Write([]byte(`{"ready":true}`))
			} else {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		r.hits.Add(1)
		if r.delay > 0 {
			time.Sleep(r.delay)
		}
		body, _ := io.ReadAll(req.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Berth-Version", "spoofed-by-replica")
		_, idem := req.Header["X-Idempotency-Key"]
		json.NewEncoder(w).Encode(echo{
			Name: name, Method: req.Method, Path: req.URL.Path, RawPath: req.URL.RawPath, Query: req.URL.RawQuery,
			Caller: req.Header.Get("X-Berth-Caller"), Version: req.Header.Get("X-Berth-Version"),
			Alias: req.Header.Get("X-Berth-Alias"), RequestID: req.Header.Get("X-Request-Id"),
			Auth: req.Header.Get("Authorization"), APIKey: req.Header.Get("X-Api-Key"), Body: string(body),
			Idem: map[bool]string{true: "present", false: ""}[idem], Via: req.Header.Get("X-Berth-Via"),
		})
	}))
	t.Cleanup(r.Close)
	return r
}

// deadAddr is a local address nothing listens on (connections are refused).
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func sha(secret string) string {
	s := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(s[:])
}

type testGateway struct {
	*gateway
	srv    *httptest.Server
	routes string
	dir    string
}

func testOptions(dir string) options {
	o := defaultOptions()
	o.config = filepath.Join(dir, "routes.json")
	o.agentPath = filepath.Join(dir, "agent.json")
	o.logDir = filepath.Join(dir, "logs")
	o.pollInterval = 10 * time.Millisecond
	o.healthInterval = 100 * time.Millisecond
	o.healthTimeout = 300 * time.Millisecond
	o.flushInterval = 20 * time.Millisecond
	return o
}

func startGateway(t testing.TB, routes any, tweak ...func(*options)) *testGateway {
	t.Helper()
	dir := t.TempDir()
	o := testOptions(dir)
	for _, f := range tweak {
		f(&o)
	}
	tg := &testGateway{routes: o.config, dir: dir}
	writeRoutes(t, o.config, routes)
	g, err := newGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	if g.watcher.err.Load() != "" {
		t.Fatalf("routes rejected: %s", g.watcher.err.Load())
	}
	tg.gateway = g
	ctx, cancel := context.WithCancel(context.Background())
	loops := g.start(ctx)
	tg.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		tg.srv.Close()
		cancel()
		loops.Wait()
		g.close()
	})
	return tg
}

// writeRoutes replaces the file the way Berth does: write a temporary file, then rename over.
func writeRoutes(t testing.TB, path string, routes any) {
	t.Helper()
	var data []byte
	switch r := routes.(type) {
	case string:
		data = []byte(r)
	default:
		var err error
		if data, err = json.Marshal(r); err != nil {
			t.Fatal(err)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type result struct {
	status int
	header http.Header
	echo   echo
	err    errorJSON
	raw    string
}

type errorJSON struct {
	Kind     string            `json:"kind"`
	Message  string            `json:"message"`
	Versions []string          `json:"versions"`
	Aliases  map[string]string `json:"aliases"`
}

var client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}

func (tg *testGateway) do(t testing.TB, method, path string, body string, headers ...string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, tg.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	res := result{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if resp.StatusCode < 300 {
		json.Unmarshal(raw, &res.echo)
	} else {
		var wrapper struct {
			Error errorJSON `json:"error"`
		}
		json.Unmarshal(raw, &wrapper)
		res.err = wrapper.Error
	}
	return res
}

func (tg *testGateway) get(t testing.TB, path string, headers ...string) result {
	t.Helper()
	return tg.do(t, http.MethodGet, path, "", headers...)
}

// eventually polls cond every 20 ms for up to limit.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type m = map[string]any

func routesOf(models m, keys ...m) m {
	ks := []m{}
	ks = append(ks, keys...)
	return m{"revision": 1, "models": models, "keys": ks}
}

func replicasOf(addrs ...string) m { return m{"replicas": addrs} }
