package main

import (
	"errors"
	"io/fs"
	"log"
	"os"
	"syscall"
	"time"
)

// fileStamp identifies one version of a watched file. Berth and the agent replace files with a rename, so the
// inode changes on every write even when size and mtime happen to match.
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

// readChanged reads path when its stamp differs from *last; changed is false when the file is as last read.
// A file that cannot be stat'ed forgets *last, so it is read again as soon as it is back.
func readChanged(path string, last *fileStamp) (data []byte, changed bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		*last = fileStamp{}
		return nil, false, err
	}
	stamp := stampOf(fi)
	if stamp == *last {
		return nil, false, nil
	}
	*last = stamp
	data, err = os.ReadFile(path)
	return data, err == nil, err
}

// problem is a file's current trouble, read by /_berth/health; each new one is logged once, not every poll.
type problem struct{ atomicString }

func (p *problem) set(prefix, msg string) {
	if p.Load() != msg {
		log.Printf("%s: %s", prefix, msg)
	}
	p.Store(msg)
}

// routesWatcher polls routes.json and hands every valid new version to apply; an invalid one is logged and
// reported by err while the previous table keeps serving.
type routesWatcher struct {
	path    string
	compile func([]byte) (*table, error)
	apply   func(*table)
	last    fileStamp
	// data is the last valid file, compiled again when the agent's stand-ins change.
	data []byte
	// Set from the poll goroutine, read by /_berth/health.
	err problem
}

// poll checks the file once; it reports whether a new table was applied.
func (w *routesWatcher) poll() bool {
	data, changed, err := readChanged(w.path, &w.last)
	if errors.Is(err, fs.ErrNotExist) {
		w.err.set("routes", "routes file "+w.path+" does not exist; keeping the current table")
		return false
	}
	if err != nil {
		w.err.set("routes", "cannot read "+w.path+": "+err.Error())
		return false
	}
	if !changed {
		return false
	}
	t, err := w.compile(data)
	if err != nil {
		w.err.set("routes", w.path+" rejected, keeping the previous table: "+err.Error())
		return false
	}
	w.data = data
	w.err.Store("")
	w.apply(t)
	log.Printf("routes: loaded revision %d (%d models, %d keys)", t.revision, len(t.models), len(t.keys))
	return true
}

// recompile builds the table again from the last valid file, leaving err to say how the file on disk is.
func (w *routesWatcher) recompile() {
	if w.data == nil {
		return
	}
	t, err := w.compile(w.data)
	if err != nil {
		log.Printf("routes: cannot apply the agent's stand-ins, keeping the previous table: %v", err)
		return
	}
	w.apply(t)
	log.Printf("routes: revision %d rebuilt with the agent's stand-ins", t.revision)
}
