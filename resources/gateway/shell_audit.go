package main

// berth-shell's audit-append: the Go twin of resources/server/berth-audit-append, byte for byte, except that the
// server, not the client, says who the entry is from. Each line is {"hash":H,"seq":N,"prev":P,"entry":E} where P
// is the previous line's H (64 zeros for the first) and H = sha256 of '{"entry":E,"prev":"P","seq":N}' (the
// canonical JSON of those three, keys sorted), appended under the flock of <berthDir>/audit/.lock.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

const auditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// auditLockWait is how long an append waits for another writer (flock -w 10).
var auditLockWait = 10 * time.Second

var auditLastLine = regexp.MustCompile(`^\{"hash":"([0-9a-f]{64})","seq":([0-9]{1,15}),"prev":"[0-9a-f]{64}","entry":\{`)

func (s *shellSession) auditAppend() error {
	if err := s.noArgs("audit-append (one canonical JSON entry on stdin)"); err != nil {
		return err
	}
	entry, err := s.auditEntry()
	if err != nil {
		return err
	}
	seq, hash, err := appendAudit(s.env.berthDir, entry, s.env.hostname)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.env.stdout, "%d %s\n", seq, hash)
	return nil
}

// auditEntry reads one JSON object (at most 64 KiB, one line) and sets actor and member to the member's.
func (s *shellSession) auditEntry() ([]byte, error) {
	data, _ := io.ReadAll(io.LimitReader(s.env.stdin, 65537))
	data = bytes.TrimRight(data, "\n")
	if len(data) > 65536 {
		return nil, invalid("audit entry longer than 64 KiB")
	}
	if bytes.ContainsAny(data, "\r\n") {
		return nil, invalid("an audit entry is one line of JSON")
	}
	entry, err := stampedObject(data, map[string]string{"actor": s.who.Name, "member": s.member})
	if err != nil {
		return nil, invalid("an audit entry is one JSON object")
	}
	return entry, nil
}

// appendAudit chains entry to the last line of <berthDir>/audit/audit.jsonl; it returns the new line's seq and hash.
func appendAudit(berthDir string, entry []byte, host string) (int64, string, error) {
	dir := filepath.Join(berthDir, "audit")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return 0, "", err
	}
	defer lock.Close()
	if !flockWait(lock, auditLockWait) {
		return 0, "", failed(exitBusy, "the audit log of %s is locked by another writer for more than 10 s", host)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	path := filepath.Join(dir, "audit.jsonl")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	return chainAudit(f, path, entry)
}

func chainAudit(f *os.File, path string, entry []byte) (int64, string, error) {
	last, size, err := lastLine(f)
	if err != nil {
		return 0, "", err
	}
	prev, seq := auditGenesis, int64(1)
	if size > 0 {
		m := auditLastLine.FindSubmatch(last)
		if m == nil {
			return 0, "", failed(65, "the last line of %s is damaged, so a new entry cannot be chained to it; verify the audit log in Berth", path)
		}
		n, _ := strconv.ParseInt(string(m[2]), 10, 64)
		prev, seq = string(m[1]), n+1
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf(`{"entry":%s,"prev":"%s","seq":%d}`, entry, prev, seq)))
	hash := hex.EncodeToString(sum[:])
	var line []byte
	if size > 0 && !auditEndsWithNewline(f, size) {
		line = append(line, '\n') // a file edited without its final newline would glue the new line to the old one
	}
	line = append(line, fmt.Sprintf(`{"hash":"%s","seq":%d,"prev":"%s","entry":%s}`+"\n", hash, seq, prev, entry)...)
	if _, err := f.Write(line); err != nil {
		return 0, "", err
	}
	return seq, hash, nil
}

// lastLine is the file's last line without its newline (tail -n 1), and the file's size.
func lastLine(f *os.File) ([]byte, int64, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := info.Size()
	end := size
	if auditEndsWithNewline(f, size) {
		end--
	}
	var line []byte
	for pos := end; pos > 0; {
		n := int64(64 << 10)
		if n > pos {
			n = pos
		}
		chunk := make([]byte, n)
		if _, err := f.ReadAt(chunk, pos-n); err != nil && !errors.Is(err, io.EOF) {
			return nil, 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return append(chunk[i+1:], line...), size, nil
		}
		line = append(chunk, line...)
		pos -= n
	}
	return line, size, nil
}

func auditEndsWithNewline(f *os.File, size int64) bool {
	if size == 0 {
		return false
	}
	b := make([]byte, 1)
	_, err := f.ReadAt(b, size-1)
	return err == nil && b[0] == '\n'
}

// flockWait takes an exclusive flock, waiting at most wait.
func flockWait(f *os.File, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return true
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
