package main

// Inference-log retention (docs/AGENT.md "Inference logs"): the gateway bounds the log by size (rotation); the
// agent removes rotated files older than the groups' maxDays. Records removed before a Berth pulled them show in
// Berth as a gap (a jump in seq), never silently.

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// defaultRequestLogDays is shared/group-state.ts DEFAULT_REQUEST_LOG.maxDays.
const defaultRequestLogDays = 30

// retentionDays is the shortest maxDays among this server's groups: each group's promise of how long its
// requests are kept is met, on the one log the server's gateway writes for all of them.
func retentionDays(mine map[string]*groupCopy) int {
	days := 0
	for _, c := range mine {
		d := defaultRequestLogDays
		if b := c.Rev.State.Settings.RequestLog; b != nil && b.MaxDays > 0 {
			d = b.MaxDays
		}
		if days == 0 || d < days {
			days = d
		}
	}
	return days
}

// pruneRequestLogs removes rotated request logs (requests.jsonl.N) last written before cutoff. The file the
// gateway writes now is never touched. It returns the names it removed.
func pruneRequestLogs(dir string, cutoff time.Time) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), requestLogName+".") {
			continue
		}
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !os.IsNotExist(err) {
			return removed, err
		}
		removed = append(removed, e.Name())
	}
	return removed, nil
}

func (a *agent) pruneLoop(ctx context.Context) {
	tick := time.NewTicker(a.opts.pruneInterval)
	defer tick.Stop()
	problem := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		days := retentionDays(a.mineNow())
		if days == 0 {
			continue // no group yet: nothing says how long to keep
		}
		removed, err := pruneRequestLogs(a.opts.requestLogDir, time.Now().Add(-time.Duration(days)*24*time.Hour))
		if len(removed) > 0 {
			log.Printf("inference log: removed %s (older than %d days)", strings.Join(removed, ", "), days)
		}
		if err != nil && err.Error() != problem {
			log.Printf("cannot prune the inference log in %s: %v", a.opts.requestLogDir, err)
		}
		problem = errText(err)
	}
}
