package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

const requestLogName = "requests.jsonl"

// logEntry is what the proxy records about one request; the log adds seq and ts.
type logEntry struct {
	start     time.Time
	requestID string
	model     string
	version   string
	alias     string
	caller    string
	method    string
	path      string
	status    int
	upstream  string
	via       string // the peer gateway a forwarded request went to
	bytesIn   int64
	bytesOut  int64
	errKind   string
}

// requestLog writes one JSON line per request to <dir>/requests.jsonl through a buffer flushed every
// flushEvery. When the file would pass maxBytes it becomes requests.jsonl.1 (older ones shift up to
// requests.jsonl.<maxFiles-1>, the oldest is deleted). seq grows by one per line and resumes after a restart
// from the newest line on disk, so Berth can pull "everything after seq N" without gaps or duplicates.
type requestLog struct {
	mu       sync.Mutex
	dir      string
	maxBytes int64
	maxFiles int
	f        *os.File
	w        *bufio.Writer
	size     int64
	seq      uint64
	line     []byte
	lastErr  time.Time
}

func openRequestLog(dir string, maxBytes int64, maxFiles int) (*requestLog, error) {
	if maxFiles < 1 {
		maxFiles = 1
	}
	if maxBytes < 1024 {
		maxBytes = 1024
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("request log folder %s: %w", dir, err)
	}
	l := &requestLog{dir: dir, maxBytes: maxBytes, maxFiles: maxFiles, line: make([]byte, 0, 1024)}
	l.seq = lastSeq(dir)
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *requestLog) current() string { return filepath.Join(l.dir, requestLogName) }

func (l *requestLog) rotated(n int) string {
	return filepath.Join(l.dir, requestLogName+"."+strconv.Itoa(n))
}

func (l *requestLog) open() error {
	f, err := os.OpenFile(l.current(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("request log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("request log: %w", err)
	}
	l.f, l.size = f, fi.Size()
	if l.w == nil {
		l.w = bufio.NewWriterSize(f, 64<<10)
	} else {
		l.w.Reset(f)
	}
	// A crash can leave a half-written last line; end it so the next line starts clean.
	if l.size > 0 && !endsWithNewline(l.current(), l.size) {
		l.w.WriteByte('\n')
		l.size++
	}
	return nil
}

func endsWithNewline(path string, size int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}

// write appends one line; errors (disk full) drop the line and are reported at most every 10 s.
func (l *requestLog) write(e *logEntry, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.line = appendEntry(l.line[:0], l.seq, e, now)
	if l.size > 0 && l.size+int64(len(l.line)) > l.maxBytes {
		if err := l.rotate(); err != nil {
			l.report(err)
		}
	}
	if l.f == nil {
		return
	}
	n, err := l.w.Write(l.line)
	l.size += int64(n)
	if err != nil {
		l.report(err)
	}
}

func (l *requestLog) report(err error) {
	if time.Since(l.lastErr) > 10*time.Second {
		l.lastErr = time.Now()
		log.Printf("request log: %v", err)
	}
}

func (l *requestLog) rotate() error {
	if l.f != nil {
		l.w.Flush()
		l.f.Close()
		l.f = nil
	}
	if l.maxFiles == 1 {
		os.Remove(l.current())
	} else {
		os.Remove(l.rotated(l.maxFiles - 1))
		for n := l.maxFiles - 2; n >= 1; n-- {
			os.Rename(l.rotated(n), l.rotated(n+1))
		}
		if err := os.Rename(l.current(), l.rotated(1)); err != nil {
			return err
		}
	}
	return l.open()
}

func (l *requestLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		if err := l.w.Flush(); err != nil {
			l.report(err)
		}
	}
}

func (l *requestLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.w.Flush()
		l.f.Close()
		l.f = nil
	}
}

func (l *requestLog) run(stop <-chan struct{}, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			l.flush()
		}
	}
}

func appendEntry(b []byte, seq uint64, e *logEntry, now time.Time) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"ts":"`...)
	b = e.start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, `","request_id":`...)
	b = appendJSONString(b, e.requestID)
	b = append(b, `,"model":`...)
	b = appendNullableString(b, e.model)
	b = append(b, `,"version":`...)
	b = appendNullableString(b, e.version)
	b = append(b, `,"alias":`...)
	b = appendNullableString(b, e.alias)
	b = append(b, `,"caller":`...)
	b = appendNullableString(b, e.caller)
	b = append(b, `,"method":`...)
	b = appendJSONString(b, e.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, e.path)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"latency_ms":`...)
	b = strconv.AppendFloat(b, float64(now.Sub(e.start).Microseconds())/1000, 'f', 3, 64)
	b = append(b, `,"upstream":`...)
	b = appendNullableString(b, e.upstream)
	b = append(b, `,"via":`...)
	b = appendNullableString(b, e.via)
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, e.bytesIn, 10)
	b = append(b, `,"bytes_out":`...)
	b = strconv.AppendInt(b, e.bytesOut, 10)
	if e.errKind != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, e.errKind)
	}
	return append(b, '}', '\n')
}

// lastSeq finds the seq of the newest complete line: in requests.jsonl, or in requests.jsonl.1 when the current
// file is empty (a rotation just happened).
func lastSeq(dir string) uint64 {
	for _, name := range []string{requestLogName, requestLogName + ".1"} {
		if seq, ok := lastSeqIn(filepath.Join(dir, name)); ok {
			return seq
		}
	}
	return 0
}

func lastSeqIn(path string) (uint64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return 0, false
	}
	// Read backwards in chunks until a parsable line turns up.
	const chunk = 64 << 10
	end := fi.Size()
	var tail []byte
	for end > 0 {
		start := end - chunk
		if start < 0 {
			start = 0
		}
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
			return 0, false
		}
		tail = append(buf, tail...)
		lines := bytes.Split(tail, []byte{'\n'})
		// lines[0] may be cut by the chunk boundary unless we reached the start of the file.
		first := 1
		if start == 0 {
			first = 0
		}
		for i := len(lines) - 1; i >= first; i-- {
			var v struct {
				Seq *uint64 `json:"seq"`
			}
			if len(lines[i]) > 0 && json.Unmarshal(lines[i], &v) == nil && v.Seq != nil {
				return *v.Seq, true
			}
		}
		if start == 0 || len(tail) > 16<<20 {
			break
		}
		end = start
		tail = lines[0]
	}
	return 0, false
}
