package main

import (
	"context"
	"errors"
	"io/fs"
	"log"
	"os"
	"syscall"
	"time"
)

// fileStamp identifies one version of routes.json. Berth replaces the file with `mv`, so the inode changes on
// every write even when size and mtime happen to match.
type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func stampOf(fi fs.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = uint64(st.Ino)
	}
	return s
}

// routesWatcher polls routes.json and hands every valid new version to apply; an invalid one is logged and
// reported by loadError while the previous table keeps serving.
type routesWatcher struct {
	path     string
	interval time.Duration
	compile  func([]byte) (*table, error)
	apply    func(*table)
	last     fileStamp
	missing  bool
	// Set from the poll goroutine, read by /_berth/health.
	err atomicString
}

// poll checks the file once; it reports whether a new table was applied.
func (w *routesWatcher) poll() bool {
	fi, err := os.Stat(w.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !w.missing {
				log.Printf("routes: %s does not exist (yet); keeping the current table", w.path)
				w.err.Store("routes file " + w.path + " does not exist")
			}
			w.missing = true
			w.last = fileStamp{}
			return false
		}
		w.err.Store(err.Error())
		return false
	}
	w.missing = false
	stamp := stampOf(fi)
	if stamp == w.last {
		return false
	}
	w.last = stamp
	data, err := os.ReadFile(w.path)
	if err != nil {
		log.Printf("routes: cannot read %s: %v", w.path, err)
		w.err.Store(err.Error())
		return false
	}
	t, err := w.compile(data)
	if err != nil {
		log.Printf("routes: %s rejected, keeping the previous table: %v", w.path, err)
		w.err.Store(err.Error())
		return false
	}
	w.err.Store("")
	w.apply(t)
	log.Printf("routes: loaded revision %d (%d models, %d keys)", t.revision, len(t.models), len(t.keys))
	return true
}

func (w *routesWatcher) run(ctx context.Context) {
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			w.poll()
		}
	}
}
