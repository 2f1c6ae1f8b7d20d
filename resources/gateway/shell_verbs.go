package main

// berth-shell's viewer verbs and the verbs on one container (docs/AGENT.md, "berth-shell (the verbs)").

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The patterns every word is checked against; a refusal quotes them.
const (
	containerRE = `^berth-[a-z0-9][a-z0-9_.-]{0,100}$`
	imageRE     = `^berth/[a-z0-9][a-z0-9_.-]{0,62}:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`
	imageIDRE   = `^sha256:[0-9a-f]{64}$`
	modelRE     = `^[a-z0-9][a-z0-9_.-]{0,62}$`
	groupRE     = `^[a-z0-9][a-z0-9-]{0,31}$`
	tailRE      = `^([0-9]{1,6}|all)$`
	sinceRE     = `^[0-9]{1,12}[smh]?$|^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{2,18}(Z|[+-][0-9]{2}:[0-9]{2})?$`
)

var imageModelOf = regexp.MustCompile(`^berth/([a-z0-9][a-z0-9_.-]{0,62}):`)

func matches(pattern, value string) bool { return regexp.MustCompile(pattern).MatchString(value) }

// check refuses (exit 64) a value that does not match its pattern.
func check(value, pattern, what string) error {
	if matches(pattern, value) {
		return nil
	}
	return invalid("invalid %s '%s' (must match %s)", what, clip(value, 80), pattern)
}

// imageModel is the model of berth/<model>:<tag>.
func imageModel(image string) string {
	if m := imageModelOf.FindStringSubmatch(image); m != nil {
		return m[1]
	}
	return ""
}

func (s *shellSession) noArgs(usage string) error {
	if len(s.args) != 0 {
		return invalid("usage: %s", usage)
	}
	return nil
}

type whoamiAnswer struct {
	Member string                     `json:"member"`
	Name   string                     `json:"name"`
	Role   string                     `json:"role"`
	Groups map[string]shellMembership `json:"groups"`
	Host   string                     `json:"host"`
}

func (s *shellSession) whoami() error {
	answer := whoamiAnswer{Member: s.member, Name: s.who.Name, Role: roleName(s.role), Groups: s.who.Groups, Host: s.env.hostname}
	return s.printJSON(answer)
}

func (s *shellSession) printJSON(v any) error {
	enc := json.NewEncoder(s.env.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (s *shellSession) help() error {
	fmt.Fprintf(s.env.stdout, "role %s may run: %s\n", roleName(s.role), verbsOf(s.role))
	return nil
}

func (s *shellSession) ps() error {
	if err := s.noArgs("ps"); err != nil {
		return err
	}
	return s.docker("ps", "-a", "--no-trunc", "--filter", "name=^berth-", "--format", "{{json .}}")
}

func (s *shellSession) images() error {
	if err := s.noArgs("images"); err != nil {
		return err
	}
	return s.docker("image", "ls", "--no-trunc", "--filter", "reference=berth/*", "--format", "{{json .}}")
}

func (s *shellSession) stats() error {
	if err := s.noArgs("stats"); err != nil {
		return err
	}
	out, err := s.dockerOutput(s.env.stderr, "ps", "--filter", "name=^berth-", "--format", "{{.Names}}")
	if err != nil {
		return err
	}
	names := strings.Fields(string(out))
	if len(names) == 0 {
		return nil
	}
	return s.docker(append([]string{"stats", "--no-stream", "--format", "{{json .}}"}, names...)...)
}

func (s *shellSession) health() error {
	if err := s.noArgs("health"); err != nil {
		return err
	}
	version, err := s.dockerOutput(io.Discard, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		fmt.Fprintln(s.env.stdout, `{"docker":null}`)
		return exitStatus(1)
	}
	running, _ := s.dockerOutput(s.env.stderr, "ps", "-q", "--filter", "name=^berth-")
	var fs syscall.Statfs_t
	var free uint64
	if syscall.Statfs("/", &fs) == nil {
		free = fs.Bavail * uint64(fs.Frsize) / 1024 * 1024 // df -Pk's available, in bytes
	}
	v, _ := json.Marshal(strings.TrimSpace(string(version)))
	fmt.Fprintf(s.env.stdout, `{"docker":%s,"running":%d,"diskFreeBytes":%d}`+"\n", v, bytes.Count(running, []byte("\n")), free)
	return nil
}

func (s *shellSession) locks() error {
	if err := s.noArgs("locks"); err != nil {
		return err
	}
	dir := filepath.Join(s.env.berthDir, "lock")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if info, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !info.IsDir() {
			continue
		}
		note := readHead(filepath.Join(dir, e.Name(), "info.json"), 4096)
		fmt.Fprintf(s.env.stdout, "%s\t%s\n", e.Name(), bytes.ReplaceAll(note, []byte("\n"), nil))
	}
	return nil
}

// readHead is at most n bytes of a file; nothing when it cannot be read.
func readHead(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	data, _ := io.ReadAll(io.LimitReader(f, n))
	return data
}

// cat copies a file of the berth folder to the client.
func (s *shellSession) cat(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return failed(1, "cannot read %s: %v", path, errTextOf(err))
	}
	defer f.Close()
	_, err = io.Copy(s.env.stdout, f)
	return err
}

func errTextOf(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (s *shellSession) routesRead() error {
	if err := s.noArgs("routes-read"); err != nil {
		return err
	}
	return s.cat(filepath.Join(s.env.berthDir, "gateway", "routes.json"))
}

// view prints the agent's view.json; with --with-age, first its age in seconds by the server's clock (or just
// "none" without a view), as the app's monitor reads it.
func (s *shellSession) view() error {
	path := filepath.Join(s.env.berthDir, "agent", "view.json")
	switch {
	case len(s.args) == 0:
		return s.cat(path)
	case len(s.args) == 1 && s.args[0] == "--with-age":
		info, err := os.Stat(path)
		if err != nil {
			fmt.Fprintln(s.env.stdout, "none")
			return nil
		}
		fmt.Fprintln(s.env.stdout, int64(s.env.now().Sub(info.ModTime()).Seconds()))
		return s.cat(path)
	}
	return invalid("usage: view [--with-age]")
}

// stateRead prints a group's state.json, to members of that group only.
func (s *shellSession) stateRead() error {
	if len(s.args) != 1 {
		return invalid("usage: state-read <group>")
	}
	group := s.args[0]
	if err := check(group, groupRE, "group name"); err != nil {
		return err
	}
	if _, ok := s.who.Groups[group]; !ok {
		return refused("only members of group %s may read its state (you are in: %s)", group, strings.Join(s.who.groupNames(), ", "))
	}
	return s.cat(stateStore{s.env.berthDir}.statePath(group))
}

func (id *shellIdentity) groupNames() []string {
	names := make([]string, 0, len(id.Groups))
	for g := range id.Groups {
		names = append(names, g)
	}
	sort.Strings(names)
	return names
}

// oneContainer checks `<verb> <container>`.
func (s *shellSession) oneContainer() (string, error) {
	if len(s.args) != 1 {
		return "", invalid("usage: %s <container>", s.verb)
	}
	return s.args[0], check(s.args[0], containerRE, "container name")
}

// checkContainer refuses unless the member has role on the model of the container's berth.model label; a
// container without one (the gateway, the agent) is an admin's alone.
func (s *shellSession) checkContainer(role int, name string) error {
	out, err := s.dockerOutput(s.env.stderr, "inspect", "--type", "container", "-f", "{{json .Config.Labels}}", "--", name)
	if err != nil {
		return err
	}
	return s.containerRule(role, name, bytes.TrimSpace(out))
}

// containerRule is checkContainer's rule on the container's labels (docker's JSON of .Config.Labels).
func (s *shellSession) containerRule(role int, name string, labelsJSON []byte) error {
	var labels map[string]string
	json.Unmarshal(labelsJSON, &labels)
	model := labels["berth.model"]
	if model == "" {
		if s.role == roleAdmin {
			return nil
		}
		return refused("%s is not a model replica; only an admin may touch it", name)
	}
	return s.who.need(role, model, s.verb+" "+name)
}

func (s *shellSession) inspect() error {
	name, err := s.oneContainer()
	if err == nil {
		err = s.checkContainer(roleViewer, name)
	}
	if err != nil {
		return err
	}
	return s.docker("container", "inspect", "--", name)
}

// maxLifecycleNames bounds one start, stop, restart or rm (a model's replicas on one server).
const maxLifecycleNames = 64

// lifecycle is start, stop, restart and rm of replicas, in one docker call; every name is checked first, so a
// refusal of one leaves them all as they were.
func (s *shellSession) lifecycle() error {
	opts, names, err := s.lifecycleArgs()
	if err != nil {
		return err
	}
	var present []string
	for _, name := range names {
		labels, err := s.dockerOutput(s.quietForRm(), "inspect", "--type", "container", "-f", "{{json .Config.Labels}}", "--", name)
		if err != nil && s.verb == "rm" {
			continue // as docker rm --force: a container already gone counts as removed (idempotent undo)
		}
		if err == nil {
			err = s.containerRule(roleDeployer, name, bytes.TrimSpace(labels))
		}
		if err != nil {
			return err
		}
		present = append(present, name)
	}
	if len(present) == 0 {
		return nil
	}
	args := append(append([]string{s.verb}, opts...), "--")
	if s.verb == "rm" {
		args = []string{"rm", "--force", "--"}
	}
	return s.docker(append(args, present...)...)
}

// quietForRm keeps docker's "No such object" from the client where a missing container is no error.
func (s *shellSession) quietForRm() io.Writer {
	if s.verb == "rm" {
		return io.Discard
	}
	return s.env.stderr
}

// lifecycleArgs checks `<verb> [-t N] <c>…`: 1 to 64 names, and a timeout for stop and restart only.
func (s *shellSession) lifecycleArgs() (opts, names []string, err error) {
	timed := s.verb == "stop" || s.verb == "restart"
	usage := s.verb + " <container>…"
	if timed {
		usage = s.verb + " [-t N] <container>…"
	}
	for i := 0; i < len(s.args); i++ {
		switch a := s.args[i]; {
		case timed && (a == "-t" || a == "--time"):
			value := ""
			if i++; i < len(s.args) {
				value = s.args[i]
			}
			opts, err = stopTimeout(value)
		case timed && strings.HasPrefix(a, "--time="):
			opts, err = stopTimeout(strings.TrimPrefix(a, "--time="))
		case strings.HasPrefix(a, "-"):
			err = invalid("%s does not accept '%s' (usage: %s)", s.verb, clip(a, 40), usage)
		default:
			names = append(names, a)
			err = check(a, containerRE, "container name")
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if len(names) == 0 || len(names) > maxLifecycleNames {
		return nil, nil, invalid("usage: %s (1 to %d containers)", usage, maxLifecycleNames)
	}
	return opts, names, nil
}

// stopTimeout is docker's --time N, N in seconds 0-600.
func stopTimeout(value string) ([]string, error) {
	n, _ := strconv.Atoi(value)
	if !matches(`^[0-9]{1,3}$`, value) || n > 600 {
		return nil, invalid("invalid timeout '%s' (seconds, 0-600)", clip(value, 20))
	}
	return []string{"--time", strconv.Itoa(n)}, nil
}

// replicaState prints `<status> <restart count>`, or `missing 0` when there is no such container (what the app
// polls while a replica starts). One inspect gives the labels too, so the answer is of the container checked.
func (s *shellSession) replicaState() error {
	name, err := s.oneContainer()
	if err != nil {
		return err
	}
	out, err := s.dockerOutput(io.Discard, "inspect", "--type", "container", "-f", "{{.State.Status}} {{.RestartCount}} {{json .Config.Labels}}", "--", name)
	var status exitStatus
	if errors.As(err, &status) {
		fmt.Fprintln(s.env.stdout, "missing 0")
		return nil
	}
	if err != nil {
		return err
	}
	fields := strings.SplitN(strings.TrimSpace(string(out)), " ", 3)
	if len(fields) != 3 {
		return failed(1, "replica-state: docker inspect answered '%s'", clip(string(out), 80))
	}
	if err := s.containerRule(roleViewer, name, []byte(fields[2])); err != nil {
		return err
	}
	fmt.Fprintf(s.env.stdout, "%s %s\n", fields[0], fields[1])
	return nil
}

// ports is the berth.port label of every container that has one, running or not: the ports in use.
func (s *shellSession) ports() error {
	if err := s.noArgs("ports"); err != nil {
		return err
	}
	return s.docker("ps", "-a", "--filter", "label=berth.port", "--format", `{{.Label "berth.port"}}`)
}

func (s *shellSession) logs() error {
	if len(s.args) < 1 {
		return invalid("usage: logs <container> [--tail N] [-f] [--since T] [--timestamps]")
	}
	name := s.args[0]
	if err := check(name, containerRE, "container name"); err != nil {
		return err
	}
	opts, err := logsOptions(s.args[1:])
	if err == nil {
		err = s.checkContainer(roleViewer, name)
	}
	if err != nil {
		return err
	}
	return s.docker(append(append([]string{"logs"}, opts...), "--", name)...)
}

func logsOptions(args []string) ([]string, error) {
	var opts []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-f", "--follow":
			opts = append(opts, "--follow")
		case "-t", "--timestamps":
			opts = append(opts, "--timestamps")
		case "--tail", "-n", "--since":
			i++
			value := ""
			if i < len(args) {
				value = args[i]
			}
			pattern, what, as := tailRE, "--tail value", "--tail"
			if a == "--since" {
				pattern, what, as = sinceRE, "--since value", "--since"
			}
			if err := check(value, pattern, what); err != nil {
				return nil, err
			}
			opts = append(opts, as, value)
		default:
			return nil, invalid("logs does not accept '%s' (use --tail N, -f, --since T, --timestamps)", clip(a, 40))
		}
	}
	return opts, nil
}

// auditRead prints the audit log, or its last N lines.
func (s *shellSession) auditRead() error {
	n := -1
	if len(s.args) > 0 {
		if len(s.args) != 2 || s.args[0] != "--tail" {
			return invalid("usage: audit-read [--tail N]")
		}
		if err := check(s.args[1], `^[0-9]{1,7}$`, "--tail value"); err != nil {
			return err
		}
		n, _ = strconv.Atoi(s.args[1])
	}
	path := filepath.Join(s.env.berthDir, "audit", "audit.jsonl")
	if _, err := os.Stat(path); err != nil {
		return nil // no audit log yet
	}
	if n < 0 {
		return s.cat(path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return failed(1, "cannot read %s: %v", path, errTextOf(err))
	}
	_, err = s.env.stdout.Write(lastLines(data, n))
	return err
}

// lastLines is what `tail -n n` prints: the last n lines, the final one possibly without its newline.
func lastLines(data []byte, n int) []byte {
	if n == 0 || len(data) == 0 {
		return nil
	}
	i := len(data) - 1
	if data[i] == '\n' {
		i--
	}
	for count := 0; i >= 0; i-- {
		if data[i] == '\n' {
			if count++; count == n {
				return data[i+1:]
			}
		}
	}
	return data
}

// factsSeparator splits facts' parts, as the app's root-login command prints them.
const factsSeparator = "---berth---"

// facts prints what the app reads of a server: docker info as JSON, a df -P -B1 line for Docker's data root (only
// its fourth field, the bytes available, is read), and the GPUs nvidia-smi lists, if it is installed.
func (s *shellSession) facts() error {
	if err := s.noArgs("facts"); err != nil {
		return err
	}
	info, err := s.dockerOutput(s.env.stderr, "info", "--format", "{{json .}}")
	if err != nil {
		return err
	}
	var engine struct{ DockerRootDir string }
	json.Unmarshal(info, &engine)
	fmt.Fprintf(s.env.stdout, "%s\n%s\n", bytes.TrimSpace(info), factsSeparator)
	var fs syscall.Statfs_t
	if engine.DockerRootDir != "" && syscall.Statfs(engine.DockerRootDir, &fs) == nil {
		size, free := fs.Blocks*uint64(fs.Bsize), fs.Bavail*uint64(fs.Bsize)
		fmt.Fprintf(s.env.stdout, "- %d %d %d - %s\n", size, size-fs.Bfree*uint64(fs.Bsize), free, engine.DockerRootDir)
	} else {
		fmt.Fprintln(s.env.stdout)
	}
	fmt.Fprintln(s.env.stdout, factsSeparator)
	if _, err := s.env.program("nvidia-smi"); err == nil {
		return s.command("nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader")
	}
	return nil
}
