package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestPruneRemovesOnlyOldRotations(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	files := map[string]time.Duration{
		requestLogName:        -40 * 24 * time.Hour, // the live file: never removed, however old
		requestLogName + ".1": -2 * 24 * time.Hour,
		requestLogName + ".2": -31 * 24 * time.Hour,
		requestLogName + ".3": -60 * 24 * time.Hour,
		"other.jsonl.1":       -60 * 24 * time.Hour,
	}
	for name, age := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("{}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, now.Add(age), now.Add(age)); err != nil {
			t.Fatal(err)
		}
	}
	removed, err := pruneRequestLogs(dir, now.Add(-30*24*time.Hour))
	if err != nil || !reflect.DeepEqual(removed, []string{requestLogName + ".2", requestLogName + ".3"}) {
		t.Fatalf("removed %v, %v", removed, err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 3 {
		t.Fatalf("left %v", left)
	}
	if removed, err := pruneRequestLogs(filepath.Join(dir, "absent"), now); removed != nil || err != nil {
		t.Fatalf("a missing folder: %v, %v", removed, err)
	}
}

func TestRetentionIsTheShortestGroupBound(t *testing.T) {
	withBound := func(days int) *groupCopy {
		c := &groupCopy{}
		if days > 0 {
			c.Rev.State.Settings.RequestLog = &requestLogBound{MaxMB: 50, MaxDays: days}
		}
		return c
	}
	cases := []struct {
		mine map[string]*groupCopy
		want int
	}{
		{map[string]*groupCopy{}, 0},
		{map[string]*groupCopy{"a": withBound(0)}, defaultRequestLogDays},
		{map[string]*groupCopy{"a": withBound(7), "b": withBound(0)}, 7},
		{map[string]*groupCopy{"a": withBound(90), "b": withBound(0)}, defaultRequestLogDays},
	}
	for _, c := range cases {
		if got := retentionDays(c.mine); got != c.want {
			t.Errorf("retentionDays(%v) = %d, want %d", c.mine, got, c.want)
		}
	}
}
