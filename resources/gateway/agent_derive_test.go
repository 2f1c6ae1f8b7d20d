package main

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"
)

// TestDeriveRoutesMatchesBerth compares the Go twin with deriveRoutes' own output (testdata/agent_fixtures.mts).
func TestDeriveRoutesMatchesBerth(t *testing.T) {
	data, err := os.ReadFile("testdata/agent_derive.json")
	if err != nil {
		t.Fatal(err)
	}
	var fixture struct {
		Now   time.Time `json:"now"`
		Cases []struct {
			UID         string                  `json:"uid"`
			States      map[string]groupState   `json:"states"`
			Revocations map[string][]revocation `json:"revocations"`
			Routes      json.RawMessage         `json:"routes"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &fixture); err != nil {
		t.Fatal(err)
	}
	for _, c := range fixture.Cases {
		got, _ := json.Marshal(deriveRoutes(c.States, c.Revocations, c.UID, fixture.Now))
		var gotValue, wantValue map[string]any
		json.Unmarshal(got, &gotValue)
		json.Unmarshal(c.Routes, &wantValue)
		delete(gotValue, "revision")
		if !reflect.DeepEqual(gotValue, wantValue) {
			t.Errorf("%s:\n got %s\nwant %s", c.UID, got, c.Routes)
		}
	}
	if len(fixture.Cases) != 4 {
		t.Fatalf("%d cases", len(fixture.Cases))
	}
}

func TestRoutesWriterStampsAGrowingRevision(t *testing.T) {
	dir := t.TempDir()
	w := routesWriter{berthDir: dir, gatewayDir: dir + "/gateway"}
	os.MkdirAll(w.gatewayDir, 0o755)
	future := time.Now().Add(time.Hour).UnixMilli()
	os.WriteFile(w.path(), []byte(`{"revision":`+itoa(future)+`,"models":{},"keys":[]}`), 0o644)
	routes := routesFile{Models: map[string]modelFile{}, Keys: []keyFile{}}
	if err := w.write(routes, time.Now()); err != nil {
		t.Fatal(err)
	}
	got, ok := w.current()
	if !ok || got.Revision != future+1 {
		t.Fatalf("revision %d, want %d", got.Revision, future+1)
	}
	if fi, _ := os.Stat(w.path()); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if _, err := os.Stat(dir + "/groups/.derive.lock"); err != nil {
		t.Fatal("no derive lock file:", err)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
