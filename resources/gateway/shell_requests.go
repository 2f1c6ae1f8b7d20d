package main

// berth-shell's verbs for the app's pull of inference logs (docs/AGENT.md, "berth-shell (the verbs)"). Each prints
// exactly what the app's shell command for it prints, since the app parses that output unchanged
// (electron/main/services/logs/gateway-pull.ts and replica-pull.ts).

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
)

const (
	requestLogFileRE = `^requests\.jsonl(\.[0-9]{1,6})?$`
	maxRequestBytes  = 16 << 20
	// seqHeadBytes is how much of a line the app's `head -c 40 | sed` looks at for its seq.
	seqHeadBytes = 40
	// tailChunk is how far back one read goes looking for the start of a file's last line.
	tailChunk = 64 << 10
)

// requestLine is the app's `grep -E '"type": ?"request"'`: a replica's request line.
var requestLine = regexp.MustCompile(`"type": ?"request"`)

func (s *shellSession) requestLogDir() string {
	return filepath.Join(s.env.berthDir, "logs", "gateway")
}

// requestLogList prints `@file <inode> <size> <name> <first seq|->` per log file, then `@last <seq|->`.
func (s *shellSession) requestLogList() error {
	if err := s.noArgs("request-log-list"); err != nil {
		return err
	}
	dir := s.requestLogDir()
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return nil // the script's `cd "$dir" || exit 0`
	}
	var out bytes.Buffer
	for _, name := range requestLogNames(dir) {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err != nil || !info.Mode().IsRegular() {
			continue // [ -f "$f" ]
		}
		link, err := os.Lstat(path) // stat -c without -L: a link's own inode and size
		if err != nil {
			continue
		}
		fmt.Fprintf(&out, "@file %d %d %s %s\n", inodeOf(link), link.Size(), name, orDash(seqOf(readHead(path, seqHeadBytes))))
	}
	last := ""
	for _, name := range []string{requestLogName, requestLogName + ".1"} {
		if last = seqOf(lastLineHead(filepath.Join(dir, name), seqHeadBytes)); last != "" {
			break
		}
	}
	fmt.Fprintf(&out, "@last %s\n", orDash(last))
	_, err := s.env.stdout.Write(out.Bytes())
	return err
}

// requestLogNames is the script's `requests.jsonl requests.jsonl.[0-9]*`: the current file, then the glob's
// matches in byte order (so .10 before .2). The glob takes any name after the digit, as the shell does.
func requestLogNames(dir string) []string {
	names := []string{requestLogName}
	entries, _ := os.ReadDir(dir) // sorted by name, byte for byte
	prefix := requestLogName + "."
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, prefix) && len(n) > len(prefix) && n[len(prefix)] >= '0' && n[len(prefix)] <= '9' {
			names = append(names, n)
		}
	}
	return names
}

func inodeOf(info os.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// orDash is the script's ${s:--}.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// seqOf is the app's `sed -n '1s/^{"seq":\([0-9]*\).*/\1/p'` on the first line of head: the digits after a
// leading {"seq":, possibly none.
func seqOf(head []byte) string {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	prefix := []byte(`{"seq":`)
	if !bytes.HasPrefix(line, prefix) {
		return ""
	}
	rest := line[len(prefix):]
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	return string(rest[:i])
}

// lastLineHead is `tail -n 1 <path> | head -c n`: the first n bytes of the file's last line. Only the end of the
// file is read; nothing for a file that is not regular (tail would fail, or wait on a pipe).
func lastLineHead(path string, n int) []byte {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	start, ok := lastLineStart(f, info.Size())
	if !ok {
		return nil
	}
	buf := make([]byte, n)
	got, _ := f.ReadAt(buf, start)
	return buf[:got]
}

// lastLineStart reads backwards in chunks for the newline before the last line. The file's final byte is left
// out of the search: a final newline ends the last line rather than starting an empty one.
func lastLineStart(f *os.File, size int64) (int64, bool) {
	end := size - 1
	buf := make([]byte, tailChunk)
	for end > 0 {
		from := end - tailChunk
		if from < 0 {
			from = 0
		}
		chunk := buf[:end-from]
		if _, err := f.ReadAt(chunk, from); err != nil {
			return 0, false
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return from + int64(i) + 1, true
		}
		end = from
	}
	return 0, true
}

// requestLogRead prints up to <bytes> bytes from <offset> of a log file, if it is still the inode the app listed;
// else exit 4, which the app reads as "rotated". The check and the read are of the one file opened.
func (s *shellSession) requestLogRead() error {
	if len(s.args) != 4 {
		return invalid("usage: request-log-read <name> <inode> <offset> <bytes>")
	}
	name, inode, offset, count, err := requestLogReadArgs(s.args)
	if err != nil {
		return err
	}
	f, err := os.Open(filepath.Join(s.requestLogDir(), name))
	if err != nil {
		return failed(4, "%s cannot be opened (rotated?): %v", name, errTextOf(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || strconv.FormatUint(inodeOf(info), 10) != inode {
		return failed(4, "%s is no longer inode %s (rotated)", name, inode)
	}
	if offset >= info.Size() {
		return nil // tail -c past the end (a seek there may fail on a file system's size limit)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return failed(1, "cannot read %s: %v", name, errTextOf(err))
	}
	if _, err := io.CopyN(s.env.stdout, f, count); err != nil && err != io.EOF {
		return failed(1, "cannot read %s: %v", name, errTextOf(err))
	}
	return nil
}

// requestLogReadArgs checks <name> <inode> <offset> <bytes>; the inode stays a word, compared as the script's [ = ].
func requestLogReadArgs(args []string) (name, inode string, offset, count int64, err error) {
	for _, c := range []struct{ value, pattern, what string }{
		{args[0], requestLogFileRE, "log file name"}, {args[1], `^[0-9]{1,20}$`, "inode"},
		{args[2], `^[0-9]{1,15}$`, "offset"}, {args[3], `^[0-9]{1,9}$`, "byte count"},
	} {
		if err = check(c.value, c.pattern, c.what); err != nil {
			return
		}
	}
	offset, _ = strconv.ParseInt(args[2], 10, 64)
	count, _ = strconv.ParseInt(args[3], 10, 64)
	if count > maxRequestBytes {
		err = invalid("invalid byte count '%s' (at most %d)", args[3], maxRequestBytes)
	}
	return args[0], args[1], offset, count, err
}

// requestLinesArgs is what request-lines was asked for.
type requestLinesArgs struct {
	since string
	first bool
	bytes int
}

// requestLines prints a replica's request lines (`docker logs --timestamps` stdout through the app's grep), at
// most --bytes of them, cut as `head -c`; with --first, first `@first <timestamp of docker's oldest line>`.
func (s *shellSession) requestLines() error {
	usage := "usage: request-lines <container> [--since T] [--first] [--bytes N]"
	if len(s.args) < 1 {
		return invalid("%s", usage)
	}
	name := s.args[0]
	if err := check(name, containerRE, "container name"); err != nil {
		return err
	}
	opts, err := parseRequestLines(s.args[1:], usage)
	if err == nil {
		err = s.checkContainer(roleViewer, name)
	}
	if err != nil {
		return err
	}
	if opts.first {
		if err := s.firstLogStamp(name); err != nil {
			return err
		}
	}
	args := []string{"logs", "--timestamps"}
	if opts.since != "" {
		args = append(args, "--since", opts.since)
	}
	return s.dockerLines(headOfRequests(s.env.stdout, opts.bytes), append(args, "--", name)...)
}

func parseRequestLines(args []string, usage string) (requestLinesArgs, error) {
	opts := requestLinesArgs{bytes: 1 << 20}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--first" {
			opts.first = true
			continue
		}
		if a != "--since" && a != "--bytes" {
			return opts, invalid("request-lines does not accept '%s' (%s)", clip(a, 40), usage)
		}
		value := ""
		if i++; i < len(args) {
			value = args[i]
		}
		if a == "--since" {
			opts.since = value
			if err := check(value, sinceRE, "--since value"); err != nil {
				return opts, err
			}
			continue
		}
		n, _ := strconv.Atoi(value)
		if !matches(`^[0-9]{1,9}$`, value) || n < 1 || n > maxRequestBytes {
			return opts, invalid("invalid --bytes value '%s' (1 to %d)", clip(value, 20), maxRequestBytes)
		}
		opts.bytes = n
	}
	return opts, nil
}

// firstLogStamp prints `@first <first field of docker's first line>`: the oldest line docker still keeps, by
// which the app notices its rotation overtaking the pull. Only that line is read.
func (s *shellSession) firstLogStamp(name string) error {
	field := ""
	err := s.dockerLines(func(line []byte) bool {
		field = strings.TrimSuffix(string(line), "\n")
		field, _, _ = strings.Cut(field, " ") // cut -d' ' -f1
		return false
	}, "logs", "--timestamps", "--", name)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.env.stdout, "@first %s\n", field)
	return err
}

// headOfRequests writes the request lines it is given until n bytes are out, the last one cut as `head -c n`.
func headOfRequests(w io.Writer, n int) func([]byte) bool {
	return func(line []byte) bool {
		if !requestLine.Match(line) {
			return true
		}
		if !bytes.HasSuffix(line, []byte("\n")) {
			line = append(line, '\n') // grep ends every line it prints
		}
		if len(line) > n {
			line = line[:n]
		}
		if _, err := w.Write(line); err != nil {
			return false
		}
		n -= len(line)
		return n > 0
	}
}

// dockerLines runs docker and gives each line of its stdout (with its newline) to take until take says stop; then
// docker is killed rather than read to the end. Its stderr is dropped, as the app's `2>/dev/null` (so the
// container's own stderr lines, which docker logs replays there, are never request lines) and its exit code too,
// as the app's pipeline ends with head's.
func (s *shellSession) dockerLines(take func(line []byte) bool, args ...string) error {
	program, err := s.env.program("docker")
	if err != nil {
		return failed(127, "%v", err)
	}
	cmd := exec.Command(program, args...)
	cmd.Env = s.env.childEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return failed(126, "cannot start docker: %v", err)
	}
	r := bufio.NewReaderSize(stdout, tailChunk)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && !take(line) {
			cmd.Process.Kill()
			break
		}
		if err != nil {
			break
		}
	}
	cmd.Wait()
	return nil
}
