package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func irisRoutes(v1, v2 []string, public bool) m {
	return routesOf(m{
		"iris": m{
			"public":   public,
			"versions": m{"1": replicasOf(v1...), "2": replicasOf(v2...)},
			"aliases":  m{"latest": "2", "stable": "1"},
		},
	})
}

func TestRoutesByVersionAndAlias(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{b.addr()}, true))

	r := tg.get(t, "/iris/v1/predict?x=1&y=%20z")
	if r.status != 200 || r.echo.Name != "a" || r.echo.Path != "/predict" || r.echo.Query != "x=1&y=%20z" {
		t.Fatalf("v1: %+v", r)
	}
	if r.echo.Version != "1" || r.echo.Alias != "" || r.header.Get("X-Berth-Version") != "1" {
		t.Fatalf("v1 headers: echo %+v, response version %q", r.echo, r.header.Get("X-Berth-Version"))
	}
	r = tg.do(t, http.MethodPost, "/iris/latest/predict", `{"x":[1,2]}`)
	if r.status != 200 || r.echo.Name != "b" || r.echo.Alias != "latest" || r.echo.Version != "2" || r.echo.Body != `{"x":[1,2]}` {
		t.Fatalf("latest: %+v", r)
	}
	if got := r.header.Get("X-Berth-Version"); got != "2" {
		t.Fatalf("the gateway's X-Berth-Version must win over the replica's, got %q", got)
	}
	if r := tg.get(t, "/iris/stable/deep/er/path"); r.echo.Name != "a" || r.echo.Path != "/deep/er/path" || r.echo.Alias != "stable" {
		t.Fatalf("stable: %+v", r)
	}
	if r := tg.get(t, "/iris/v2"); r.status != 200 || r.echo.Path != "/" {
		t.Fatalf("no rest: %+v", r)
	}
	if r := tg.get(t, "/iris/v2/a%2Fb/c"); r.echo.RawPath != "/a%2Fb/c" || r.echo.Path != "/a/b/c" {
		t.Fatalf("escaped path must reach the replica as sent: %+v", r.echo)
	}
	if r.echo.Idem != "" {
		t.Fatalf("the idempotency marker must not be sent on the wire")
	}
}

func TestUnknownModelVersionAlias(t *testing.T) {
	a := newReplica(t, "a")
	routes := irisRoutes([]string{a.addr()}, []string{a.addr()}, true)
	routes["keys"] = []m{{"id": "key_any", "sha256": sha("any-secret"), "models": nil}}
	tg := startGateway(t, routes)
	key := []string{"Authorization", "Bearer any-secret"}
	r := tg.get(t, "/nosuch/v1/predict", key...)
	if r.status != 404 || r.err.Kind != "NotFound" || !strings.Contains(r.err.Message, `"nosuch"`) {
		t.Fatalf("unknown model: %+v", r)
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("errors are JSON: %v", r.header)
	}
	for _, path := range []string{"/iris/v9/predict", "/iris/canary/predict", "/iris", "/iris/"} {
		r = tg.get(t, path)
		if r.status != 404 || r.err.Kind != "NotFound" {
			t.Fatalf("%s: %+v", path, r)
		}
		if strings.Join(r.err.Versions, ",") != "1,2" || r.err.Aliases["latest"] != "2" || r.err.Aliases["stable"] != "1" {
			t.Fatalf("%s: the 404 must say which versions and aliases exist: %s", path, r.raw)
		}
		if !strings.Contains(r.err.Message, "v1, v2") || !strings.Contains(r.err.Message, "latest → v2") {
			t.Fatalf("%s: message %q", path, r.err.Message)
		}
	}
	if r := tg.get(t, "/", key...); r.status != 404 {
		t.Fatalf("root: %+v", r)
	}
	if r := tg.get(t, "/_berth/nope"); r.status != 404 {
		t.Fatalf("internal 404: %+v", r)
	}
}

func TestRoundRobin(t *testing.T) {
	reps := []*testReplica{newReplica(t, "a"), newReplica(t, "b"), newReplica(t, "c")}
	tg := startGateway(t, irisRoutes([]string{reps[0].addr(), reps[1].addr(), reps[2].addr()}, []string{reps[0].addr()}, true))
	counts := map[string]int{}
	for i := 0; i < 30; i++ {
		counts[tg.get(t, "/iris/v1/predict").echo.Name]++
	}
	if counts["a"] != 10 || counts["b"] != 10 || counts["c"] != 10 {
		t.Fatalf("round robin must spread evenly: %v", counts)
	}
}

func TestRetryOnDeadReplica(t *testing.T) {
	live := newReplica(t, "live")
	dead := deadAddr(t)
	// Active checks off so only the passive check and the retry are exercised.
	tg := startGateway(t, routesOf(m{
		"iris": m{"public": true, "versions": m{"1": replicasOf(dead, live.addr()), "2": replicasOf(deadAddr(t))}},
	}), func(o *options) { o.healthInterval = 0 })
	for i := 0; i < 10; i++ {
		body := `{"n":` + string(rune('0'+i)) + `}`
		r := tg.do(t, http.MethodPost, "/iris/v1/predict", body, "Content-Type", "application/json")
		if r.status != 200 || r.echo.Name != "live" || r.echo.Body != body {
			t.Fatalf("request %d must be retried on the live replica with its body: %+v", i, r)
		}
	}
	if tg.replicas.get(dead).healthy.Load() {
		t.Fatal("a refused connection must mark the replica unhealthy")
	}
	r := tg.get(t, "/iris/v2/predict")
	if r.status != 503 || r.err.Kind != "NoHealthyReplica" || !strings.Contains(r.err.Message, "iris v2") {
		t.Fatalf("all replicas dead: %+v", r)
	}
	if r := tg.get(t, "/iris/v2/predict"); r.status != 503 || r.err.Kind != "NoHealthyReplica" {
		t.Fatalf("all replicas unhealthy: %+v", r)
	}
}

func TestBodyLimit(t *testing.T) {
	a := newReplica(t, "a")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{a.addr()}, true), func(o *options) { o.maxBodyBytes = 1000 })
	if r := tg.do(t, http.MethodPost, "/iris/v1/predict", strings.Repeat("x", 1000)); r.status != 200 || len(r.echo.Body) != 1000 {
		t.Fatalf("a body at the limit passes: %d", r.status)
	}
	if r := tg.do(t, http.MethodPost, "/iris/v1/predict", strings.Repeat("x", 1001)); r.status != 413 || r.err.Kind != "PayloadTooLarge" {
		t.Fatalf("content-length over the limit: %+v", r)
	}
	// Chunked (no Content-Length): the limit applies while reading.
	req, _ := http.NewRequest(http.MethodPost, tg.srv.URL+"/iris/v1/predict", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("y", 5000))})
	req.ContentLength = -1
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked body over the limit: %d", resp.StatusCode)
	}
	if a.hits.Load() != 1 {
		t.Fatalf("refused bodies must not reach the replica (hits %d)", a.hits.Load())
	}
}

func TestAuth(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	routes := routesOf(m{
		"iris":  m{"versions": m{"1": replicasOf(a.addr()), "2": replicasOf(b.addr())}, "aliases": m{"latest": "2", "stable": "1"}},
		"wine":  m{"versions": m{"1": replicasOf(a.addr())}},
		"hello": m{"public": true, "versions": m{"1": replicasOf(b.addr())}},
	},
		m{"id": "key_all", "sha256": sha("s-all"), "models": nil, "versions": nil, "expiresAt": nil},
		m{"id": "key_iris", "sha256": sha("s-iris"), "models": []string{"iris"}, "versions": nil, "expiresAt": future},
		m{"id": "key_iris1", "sha256": sha("s-iris1"), "models": []string{"iris"}, "versions": m{"iris": []string{"1"}}},
		m{"id": "key_old", "sha256": sha("s-old"), "models": nil, "expiresAt": past},
	)
	tg := startGateway(t, routes)

	cases := []struct {
		name    string
		path    string
		headers []string
		status  int
		kind    string
		caller  string
	}{
		{"missing key", "/iris/v1/p", nil, 401, "Unauthorized", ""},
		{"basic auth is not a key", "/iris/v1/p", []string{"Authorization", "Basic Zm9vOmJhcg=="}, 401, "Unauthorized", ""},
		{"wrong key", "/iris/v1/p", []string{"Authorization", "Bearer nope"}, 401, "Unauthorized", ""},
		{"wrong key by header", "/iris/v1/p", []string{"X-Api-Key", "s-all-but-longer"}, 401, "Unauthorized", ""},
		{"expired key", "/iris/v1/p", []string{"Authorization", "Bearer s-old"}, 401, "KeyExpired", ""},
		{"model out of scope", "/wine/v1/p", []string{"Authorization", "Bearer s-iris"}, 403, "Forbidden", ""},
		{"version out of scope", "/iris/v2/p", []string{"X-Api-Key", "s-iris1"}, 403, "Forbidden", ""},
		{"alias to a version out of scope", "/iris/latest/p", []string{"X-Api-Key", "s-iris1"}, 403, "Forbidden", ""},
		{"alias to a version in scope", "/iris/stable/p", []string{"X-Api-Key", "s-iris1"}, 200, "", "key_iris1"},
		{"bearer", "/iris/v2/p", []string{"Authorization", "Bearer s-iris"}, 200, "", "key_iris"},
		{"bearer, any case", "/iris/v2/p", []string{"Authorization", "bearer   s-iris "}, 200, "", "key_iris"},
		{"x-api-key, all models", "/wine/v1/p", []string{"X-Api-Key", "s-all"}, 200, "", "key_all"},
		{"public model without key", "/hello/v1/p", nil, 200, "", "public"},
		{"public model with a spoofed caller", "/hello/v1/p", []string{"X-Berth-Caller", "key_all"}, 200, "", "public"},
		{"spoofed caller replaced", "/iris/v1/p", []string{"X-Api-Key", "s-iris", "X-Berth-Caller", "admin", "X-Berth-Alias", "x"}, 200, "", "key_iris"},
	}
	for _, c := range cases {
		r := tg.get(t, c.path, c.headers...)
		if r.status != c.status || r.err.Kind != c.kind {
			t.Errorf("%s: got %d %q (%s), want %d %q", c.name, r.status, r.err.Kind, r.err.Message, c.status, c.kind)
			continue
		}
		if c.status == 401 && r.header.Get("Www-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
		if c.status == 200 {
			if r.echo.Caller != c.caller || r.echo.Auth != "" || r.echo.APIKey != "" || r.echo.Alias == "x" {
				t.Errorf("%s: the key must be stripped and the caller set by the gateway: %+v", c.name, r.echo)
			}
		}
	}
}

func TestActiveHealthCheck(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	tg := startGateway(t, irisRoutes([]string{a.addr(), b.addr()}, []string{a.addr()}, true))
	a.ready.Store(false)
	eventually(t, 2*time.Second, "a not-ready replica is taken out", func() bool { return !tg.replicas.get(a.addr()).healthy.Load() })
	for i := 0; i < 10; i++ {
		if r := tg.get(t, "/iris/v1/p"); r.echo.Name != "b" {
			t.Fatalf("traffic must avoid the unhealthy replica: %+v", r)
		}
	}
	if r := tg.get(t, "/iris/v2/p"); r.status != 503 || r.err.Kind != "NoHealthyReplica" {
		t.Fatalf("v2's only replica is not ready: %+v", r)
	}
	health := tg.healthJSON(t)
	if v := health.Models["iris"].Versions["1"]; v.Healthy != 1 || v.Replicas != 2 {
		t.Fatalf("health counts: %+v", health)
	}
	a.ready.Store(true)
	eventually(t, 2*time.Second, "a ready replica comes back", func() bool { return tg.replicas.get(a.addr()).healthy.Load() })
	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		seen[tg.get(t, "/iris/v1/p").echo.Name] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("both replicas serve again: %v", seen)
	}
}

type healthDoc struct {
	Status      string                 `json:"status"`
	Revision    int64                  `json:"revision"`
	Models      map[string]modelHealth `json:"models"`
	ConfigError *string                `json:"configError"`
	Ready       bool                   `json:"ready"`
	Gate        string                 `json:"gate"`
	AgentError  *string                `json:"agentError"`
	Peers       []peerStatus           `json:"peers"`
	TLS         tlsHealth              `json:"tls"`
}

func (tg *testGateway) healthJSON(t *testing.T) healthDoc {
	t.Helper()
	resp, err := client.Get(tg.srv.URL + "/_berth/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthDoc
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&h) != nil || h.Status != "ok" {
		t.Fatalf("health: %d %+v", resp.StatusCode, h)
	}
	return h
}

func TestHotReloadUnderLoad(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	routes := func(rev int, latest string) m {
		r := irisRoutes([]string{a.addr()}, []string{b.addr()}, false)
		r["revision"] = rev
		r["models"].(m)["iris"].(m)["aliases"] = m{"latest": latest}
		r["keys"] = []m{{"id": "k1", "sha256": sha("secret")}}
		return r
	}
	tg := startGateway(t, routes(1, "1"))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodPost, tg.srv.URL+"/iris/latest/predict", strings.NewReader(`{"x":1}`))
				req.Header.Set("Authorization", "Bearer secret")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				var e echo
				json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				ok.Add(1)
				mu.Lock()
				seen[e.Name]++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 40; i++ {
		writeRoutes(t, tg.routes, routes(2+i, []string{"1", "2"}[i%2]))
		time.Sleep(25 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || ok.Load() < 100 {
		t.Fatalf("reloading must not fail requests: ok %d, failed %d", ok.Load(), failed.Load())
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("the alias must have moved back and forth: %v", seen)
	}
	eventually(t, time.Second, "last revision applied", func() bool { return tg.table.Load().revision == 41 })

	// A malformed file is refused, the previous table keeps serving, and health says why.
	writeRoutes(t, tg.routes, `{"revision": 99, "models": {"iris": {"versions": {"1": {"replicas": ["nope"]}}}}}`)
	eventually(t, time.Second, "bad file reported", func() bool { return tg.healthJSON(t).ConfigError != nil })
	if h := tg.healthJSON(t); h.Revision != 41 || !strings.Contains(*h.ConfigError, "not host:port") {
		t.Fatalf("previous table must stay: %+v", h)
	}
	if r := tg.get(t, "/iris/latest/p", "Authorization", "Bearer secret"); r.status != 200 {
		t.Fatalf("still serving: %+v", r)
	}
	writeRoutes(t, tg.routes, `{"revision": `)
	time.Sleep(100 * time.Millisecond)
	writeRoutes(t, tg.routes, routes(100, "2"))
	eventually(t, time.Second, "good file after a bad one", func() bool {
		h := tg.healthJSON(t)
		return h.Revision == 100 && h.ConfigError == nil
	})
	// Revoking the key (removing it from the file) applies on the next poll.
	revoked := routes(101, "2")
	revoked["keys"] = []m{}
	writeRoutes(t, tg.routes, revoked)
	eventually(t, time.Second, "revoked key refused", func() bool {
		return tg.get(t, "/iris/latest/p", "Authorization", "Bearer secret").status == 401
	})
}

func TestRequestIDAndLogLines(t *testing.T) {
	a := newReplica(t, "a")
	routes := irisRoutes([]string{a.addr()}, []string{a.addr()}, false)
	routes["keys"] = []m{{"id": "k1", "sha256": sha("secret")}}
	tg := startGateway(t, routes)

	r := tg.get(t, "/iris/stable/predict?q=1", "X-Request-Id", "abc-123", "X-Api-Key", "secret")
	if r.echo.RequestID != "abc-123" || r.header.Get("X-Request-Id") != "abc-123" {
		t.Fatalf("a sane request id is kept: %+v", r)
	}
	r = tg.get(t, "/iris/v1/predict", "X-Request-Id", "bad id\twith spaces", "X-Api-Key", "secret")
	if r.echo.RequestID == "" || strings.Contains(r.echo.RequestID, " ") || r.header.Get("X-Request-Id") != r.echo.RequestID {
		t.Fatalf("an insane request id is replaced: %+v", r)
	}
	generated := r.echo.RequestID
	if r2 := tg.get(t, "/iris/v1/predict", "X-Api-Key", "secret"); r2.echo.RequestID == generated {
		t.Fatal("generated ids must differ")
	}
	tg.do(t, http.MethodPost, "/iris/v2/predict", `{"x":"ü"}`, "X-Api-Key", "secret")
	tg.get(t, "/iris/v2/predict")      // 401
	tg.get(t, "/iris/%FF%0A/x")        // 404, invalid UTF-8 in the path
	tg.get(t, "/_berth/health")        // not logged
	time.Sleep(100 * time.Millisecond) // > flush interval

	lines := readLines(t, filepath.Join(tg.dir, "logs", requestLogName))
	if len(lines) != 6 {
		t.Fatalf("one line per model request, got %d: %v", len(lines), lines)
	}
	var first, post, unauth, notFound map[string]any
	json.Unmarshal([]byte(lines[0]), &first)
	json.Unmarshal([]byte(lines[3]), &post)
	json.Unmarshal([]byte(lines[4]), &unauth)
	if err := json.Unmarshal([]byte(lines[5]), &notFound); err != nil {
		t.Fatalf("invalid UTF-8 must still give valid JSON: %v %q", err, lines[5])
	}
	for _, k := range []string{"seq", "ts", "request_id", "model", "version", "alias", "caller", "method", "path", "status", "latency_ms", "upstream", "bytes_in", "bytes_out"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("log line lacks %q: %s", k, lines[0])
		}
	}
	if first["request_id"] != "abc-123" || first["model"] != "iris" || first["version"] != "1" || first["alias"] != "stable" ||
		first["caller"] != "k1" || first["method"] != "GET" || first["path"] != "/iris/stable/predict" || first["status"] != 200.0 ||
		first["upstream"] != a.addr() || first["seq"] != 1.0 {
		t.Fatalf("first line: %s", lines[0])
	}
	if _, err := time.Parse(time.RFC3339Nano, first["ts"].(string)); err != nil {
		t.Fatalf("ts: %v", err)
	}
	if post["bytes_in"] != float64(len(`{"x":"ü"}`)) || post["bytes_out"].(float64) < 10 || post["alias"] != nil || post["seq"] != 4.0 {
		t.Fatalf("post line: %s", lines[3])
	}
	if unauth["status"] != 401.0 || unauth["caller"] != nil || unauth["error"] != "Unauthorized" || unauth["upstream"] != nil {
		t.Fatalf("401 line: %s", lines[4])
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}
