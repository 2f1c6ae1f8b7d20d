package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

func entry(i int) *logEntry {
	return &logEntry{
		start: time.Now(), requestID: fmt.Sprintf("r%d", i), model: "iris", version: "1", caller: "k",
		method: "POST", path: "/iris/v1/predict", status: 200, upstream: "127.0.0.1:9101", bytesIn: 10, bytesOut: 20,
	}
}

// seqsIn reads every log file, oldest first, and returns all seq values in file order.
func seqsIn(t *testing.T, dir string) ([]uint64, []string) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, requestLogName+"*"))
	sort.Slice(names, func(i, j int) bool { return rank(names[i]) > rank(names[j]) })
	var seqs []uint64
	for _, name := range names {
		for _, line := range readLines(t, name) {
			var v struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Fatalf("%s: bad line %q", name, line)
			}
			seqs = append(seqs, v.Seq)
		}
	}
	return seqs, names
}

// rank: requests.jsonl is 0 (newest), requests.jsonl.N is N.
func rank(name string) int {
	n := 0
	fmt.Sscanf(strings.TrimPrefix(filepath.Base(name), requestLogName+"."), "%d", &n)
	return n
}

func TestRequestLogRotationAndSeq(t *testing.T) {
	dir := t.TempDir()
	l, err := openRequestLog(dir, 4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 500; i++ {
		l.write(entry(i), time.Now())
	}
	l.close()
	seqs, names := seqsIn(t, dir)
	if len(names) != 3 {
		t.Fatalf("at most 3 files are kept: %v", names)
	}
	for _, name := range names {
		if fi, _ := os.Stat(name); fi.Size() > 4096 {
			t.Fatalf("%s is %d bytes, over the limit", name, fi.Size())
		}
	}
	if len(seqs) == 0 || seqs[len(seqs)-1] != 500 {
		t.Fatalf("the newest line is seq 500: %v", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("seq must grow by one across files: %d then %d", seqs[i-1], seqs[i])
		}
	}

	// Restart: seq resumes after the newest line on disk, even after a crash left half a line.
	f, _ := os.OpenFile(filepath.Join(dir, requestLogName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"seq":501,"ts":"2024-01-01T00:00:0`)
	f.Close()
	l, err = openRequestLog(dir, 4096, 3)
	if err != nil {
		t.Fatal(err)
	}
	l.write(entry(501), time.Now())
	l.close()
	lines := readLines(t, filepath.Join(dir, requestLogName))
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, `{"seq":501,`) {
		t.Fatalf("seq must resume at 501 on its own line: %q", last)
	}

	// Restart right after a rotation (empty current file): resume from requests.jsonl.1.
	os.Rename(filepath.Join(dir, requestLogName), filepath.Join(dir, requestLogName+".1"))
	os.WriteFile(filepath.Join(dir, requestLogName), nil, 0o644)
	if got := lastSeq(dir); got != 501 {
		t.Fatalf("lastSeq after rotation: %d", got)
	}
	if got := lastSeq(t.TempDir()); got != 0 {
		t.Fatalf("empty folder starts at 0, got %d", got)
	}
}

func TestRequestLogFlushesWithinInterval(t *testing.T) {
	dir := t.TempDir()
	l, err := openRequestLog(dir, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go l.run(stop, 200*time.Millisecond)
	l.write(entry(1), time.Now())
	start := time.Now()
	for {
		if b, _ := os.ReadFile(filepath.Join(dir, requestLogName)); len(b) > 0 {
			break
		}
		if time.Since(start) > 500*time.Millisecond {
			t.Fatal("a buffered line must reach the file within the flush interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.close()
}

func TestGracefulShutdownFinishesRequestsInFlight(t *testing.T) {
	slow := newReplica(t, "slow")
	slow.delay = 400 * time.Millisecond
	dir := t.TempDir()
	o := testOptions(dir)
	writeRoutes(t, o.config, irisRoutes([]string{slow.addr()}, []string{slow.addr()}, true))
	g, err := newGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, g, ln) }()

	got := make(chan int, 1)
	go func() {
		resp, err := client.Get("http://" + ln.Addr().String() + "/iris/v1/slow")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(150 * time.Millisecond) // the request is now waiting on the replica
	cancel()
	if status := <-got; status != 200 {
		t.Fatalf("the request in flight must complete during shutdown, got %d", status)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 200*time.Millisecond); err == nil {
		t.Fatal("the listener must be closed after shutdown")
	}
	if lines := readLines(t, filepath.Join(o.logDir, requestLogName)); len(lines) != 1 {
		t.Fatalf("the log is flushed on shutdown: %v", lines)
	}
}

func TestHealthcheckMode(t *testing.T) {
	a := newReplica(t, "a")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{a.addr()}, true))
	if code := runHealthcheck(tg.srv.URL + "/_berth/health"); code != 0 {
		t.Fatalf("healthy gateway: exit %d", code)
	}
	if code := runHealthcheck("http://" + deadAddr(t) + "/_berth/health"); code != 1 {
		t.Fatalf("no gateway: exit %d", code)
	}
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }))
	defer broken.Close()
	if code := runHealthcheck(broken.URL); code != 1 {
		t.Fatalf("500: exit %d", code)
	}
	t.Setenv("BERTH_GATEWAY_LISTEN", ":9876")
	_, hc, url, err := parseFlags([]string{"-healthcheck"})
	if err != nil || !hc || url != "http://127.0.0.1:9876/_berth/health" {
		t.Fatalf("healthcheck URL follows BERTH_GATEWAY_LISTEN: %v %v %q", err, hc, url)
	}
	o, _, _, _ := parseFlags([]string{"-listen", "127.0.0.1:1", "-log-max-files", "7"})
	if o.listen != "127.0.0.1:1" || o.logMaxFiles != 7 || o.logMaxBytes != 10<<20 {
		t.Fatalf("flags: %+v", o)
	}
}

func TestHealthEndpoint(t *testing.T) {
	a, b := newReplica(t, "a"), newReplica(t, "b")
	tg := startGateway(t, irisRoutes([]string{a.addr(), b.addr()}, []string{deadAddr(t)}, false))
	eventually(t, 2*time.Second, "dead replica detected", func() bool {
		h := tg.healthJSON(t)
		return h.Models["iris"].Versions["2"].Healthy == 0
	})
	h := tg.healthJSON(t)
	if h.Revision != 1 || h.ConfigError != nil || h.Models["iris"].Versions["1"] != (versionHealth{Healthy: 2, Replicas: 2}) ||
		h.Models["iris"].Aliases["latest"] != "2" || h.Models["iris"].Public {
		t.Fatalf("health: %+v", h)
	}
}

func TestCompileRejectsBadFiles(t *testing.T) {
	bad := map[string]string{
		"syntax":           `{"revision":`,
		"alias to nothing": `{"models":{"iris":{"versions":{"1":{"replicas":[]}},"aliases":{"latest":"2"}}}}`,
		"bad replica":      `{"models":{"iris":{"versions":{"1":{"replicas":["localhost"]}}}}}`,
		"bad model name":   `{"models":{"a/b":{"versions":{}}}}`,
		"bad hash":         `{"models":{},"keys":[{"id":"k","sha256":"abc"}]}`,
		"bad expiry":       `{"models":{},"keys":[{"id":"k","sha256":"` + sha("x") + `","expiresAt":"tomorrow"}]}`,
		"no key id":        `{"models":{},"keys":[{"sha256":"` + sha("x") + `"}]}`,
	}
	for name, doc := range bad {
		if _, err := compileRoutes([]byte(doc), nil, newReplicaSet()); err == nil {
			t.Errorf("%s: must be rejected", name)
		}
	}
	good := `{"revision":3,"future":true,"models":{"iris":{"versions":{"1":{"replicas":["127.0.0.1:1","[::1]:2"],"weight":1}}}},"keys":[]}`
	if tb, err := compileRoutes([]byte(good), nil, newReplicaSet()); err != nil || tb.revision != 3 {
		t.Fatalf("unknown fields are ignored: %v", err)
	}
}
