package main

// berth-shell: the only program a team member's SSH key may run on a Berth server (docs/AGENT.md, "berth-shell").
// sshd runs it as the key's forced command,
//   restrict,command="/usr/local/lib/berth/berth-shell <member-id>" ssh-ed25519 AAAA… berth-member:<member-id>
// and the client's request arrives in $SSH_ORIGINAL_COMMAND (without it, the words after the member id are the
// request: how Berth itself runs a verb as root). Who the member is and what they may do come from the verified
// group states on this server, never from the key line or the client. The request is a small verb protocol:
// split into words, every word checked, every command rebuilt as an argument array. Nothing the client sends is
// ever given to a shell, except an admin's.
//
// Exit codes: 126 refused, 64 invalid arguments, 75 busy, otherwise the exit code of the command that ran.

import (
	"errors"
	"fmt"
	"io"
	"log/syslog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// shellPATH is the only PATH berth-shell and what it runs see.
const shellPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

const (
	exitRefused = 126
	exitUsage   = 64
	exitBusy    = 75
)

var (
	memberIDPattern = regexp.MustCompile(`^m_[a-z0-9]{4,32}$`)
	// Plain words only: no quotes, $, `, ;, |, &, <, >, (, ), *, ?, ~, !, #, \ or control characters.
	safeLinePattern = regexp.MustCompile(`^[A-Za-z0-9 ._:=/,@+%-]*$`)
	// The one word outside them: `state-list *` (every group of the member), never given to a shell either.
	stateListAll = regexp.MustCompile(`^ *(berth +)?state-list +\* *$`)
)

// shellEnv is everything berth-shell takes from the world, so tests can give it their own.
type shellEnv struct {
	berthDir string
	path     string   // PATH searched for docker and bash, and given to them
	environ  []string // the environment of the commands run (PATH and LC_ALL are replaced)
	lookup   func(name string) (string, bool)
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	hostname string
	syslog   func(line string)
	now      func() time.Time
	// replace: the admin shell replaces this process (as the script's exec did), so a terminal's signals and job
	// control reach bash alone.
	replace bool
}

// osShellEnv is the environment of the installed berth-shell.
func osShellEnv() shellEnv {
	syscall.Umask(0o022)
	host, _ := os.Hostname()
	return shellEnv{
		berthDir: envOr("BERTH_SHELL_BERTH_DIR", "/var/lib/berth"),
		path:     shellPATH,
		environ:  os.Environ(),
		lookup:   os.LookupEnv,
		stdin:    os.Stdin, stdout: os.Stdout, stderr: os.Stderr,
		hostname: host,
		syslog:   syslogLine,
		now:      time.Now,
		replace:  true,
	}
}

// syslogLine logs to the auth facility, best effort.
func syslogLine(line string) {
	w, err := syslog.New(syslog.LOG_AUTH|syslog.LOG_NOTICE, "berth-shell")
	if err != nil {
		return
	}
	w.Notice(line)
	w.Close()
}

// childEnv is environ with the fixed PATH and LC_ALL=C.
func (e shellEnv) childEnv() []string {
	env := make([]string, 0, len(e.environ)+2)
	for _, kv := range e.environ {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "LC_ALL=") {
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+e.path, "LC_ALL=C")
}

// program finds name in the shell's PATH (never the caller's).
func (e shellEnv) program(name string) (string, error) {
	for _, dir := range filepath.SplitList(e.path) {
		candidate := filepath.Join(dir, name)
		if info, err := os.Stat(candidate); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%s is not installed in %s", name, e.path)
}

// shellError ends a request with a message: refused (126) or invalid (64), or busy (75).
type shellError struct {
	code int
	kind string
	msg  string
}

func (e *shellError) Error() string { return e.msg }

func refused(format string, a ...any) error {
	return &shellError{code: exitRefused, kind: "refused", msg: fmt.Sprintf(format, a...)}
}

func invalid(format string, a ...any) error {
	return &shellError{code: exitUsage, kind: "invalid", msg: fmt.Sprintf(format, a...)}
}

func failed(code int, format string, a ...any) error {
	return &shellError{code: code, kind: "failed", msg: fmt.Sprintf(format, a...)}
}

// exitStatus is the exit code of a command that ran; its output already went to the client.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// shellSession is one request of one member.
type shellSession struct {
	env    shellEnv
	member string
	who    *shellIdentity
	role   int // the member's highest role in any group
	verb   string
	args   []string
}

// runShell is berth-shell: args are `<member-id> [request…]` or the old `<role> <member-id> [request…]`.
func runShell(args []string, env shellEnv) int {
	s := &shellSession{env: env}
	err := s.serve(args)
	var se *shellError
	var status exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		fmt.Fprintf(env.stderr, "berth: %s\n", se.msg)
		s.log(se.kind + ": " + se.msg)
		return se.code
	case errors.As(err, &status):
		return int(status)
	}
	fmt.Fprintf(env.stderr, "berth: %v\n", err)
	return 1
}

// parseShellArgs takes the member id; the role word of the old key lines is ignored.
func parseShellArgs(args []string) (string, []string, bool) {
	if len(args) >= 2 && roleRank(args[0]) > 0 && memberIDPattern.MatchString(args[1]) {
		return args[1], args[2:], true
	}
	if len(args) >= 1 && memberIDPattern.MatchString(args[0]) {
		return args[0], args[1:], true
	}
	return "", nil, false
}

func (s *shellSession) serve(args []string) error {
	// Berth writes the folder into every member's key line when it is not the default (a test layout).
	if len(args) > 0 && strings.HasPrefix(args[0], "--berth-dir=") {
		dir := strings.TrimPrefix(args[0], "--berth-dir=")
		if !filepath.IsAbs(dir) {
			return refused("this key's berth-shell line names a relative Berth folder; ask an admin to push the team again")
		}
		s.env.berthDir, args = filepath.Clean(dir), args[1:]
	}
	member, rest, ok := parseShellArgs(args)
	if !ok {
		return refused("this key has no valid Berth member id; ask an admin to push the team again")
	}
	s.member = member
	request, fromClient := s.env.lookup("SSH_ORIGINAL_COMMAND")
	if !fromClient {
		request = strings.Join(rest, " ")
	}
	s.who = loadIdentity(stateStore{s.env.berthDir}, member)
	if len(s.who.Groups) == 0 {
		return refused("this key belongs to no member of this server's groups (offboarded, or this server has not caught up yet); ask an admin")
	}
	s.role = s.who.highest()
	if s.role == roleAdmin && request != "berth" && !strings.HasPrefix(request, "berth ") {
		return s.adminShell(request)
	}
	if err := s.parseRequest(request); err != nil {
		return err
	}
	s.log("verb: " + clip(request, 200))
	return shellHandlers()[s.verb](s)
}

// parseRequest checks the request is plain words naming a verb the member's role may run.
func (s *shellSession) parseRequest(request string) error {
	role := roleName(s.role)
	if request == "" {
		return refused("role %s has no interactive shell on this server; run one of: %s", role, verbsOf(s.role))
	}
	if !safeLinePattern.MatchString(request) && !stateListAll.MatchString(request) {
		return refused("refused '%s': berth-shell accepts plain words only (no quotes, $, ;, |, &, redirections or globs); role %s may run: %s",
			clip(request, 60), role, verbsOf(s.role))
	}
	words := strings.Fields(request)
	if len(words) > 0 && words[0] == "berth" {
		words = words[1:]
	}
	if len(words) == 0 {
		return refused("no verb given; role %s may run: %s", role, verbsOf(s.role))
	}
	s.verb, s.args = words[0], words[1:]
	need, known := verbRole(s.verb)
	if !known {
		shown := s.verb
		if len(words) > 1 {
			shown += " " + words[1]
		}
		return refused("role %s may not run '%s': not a Berth verb; role %s may run: %s", role, clip(shown, 60), role, verbsOf(s.role))
	}
	if s.role < need {
		return refused("role %s may not run '%s' (role %s is needed); role %s may run: %s", role, s.verb, roleName(need), role, verbsOf(s.role))
	}
	return nil
}

// adminShell runs an admin's request as `bash -c <request>`, or a login shell without one.
func (s *shellSession) adminShell(request string) error {
	bash, err := s.env.program("bash")
	if err != nil {
		return failed(127, "%v", err)
	}
	argv := []string{"bash", "-l"}
	if request == "" {
		s.log("interactive shell")
	} else {
		s.log("shell: " + clip(request, 200))
		argv = []string{"bash", "-c", request}
	}
	if s.env.replace {
		err := syscall.Exec(bash, argv, s.env.childEnv())
		return failed(126, "cannot start bash: %v", err)
	}
	cmd := exec.Command(bash, argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.env.stdin, s.env.stdout, s.env.stderr
	return s.wait(cmd)
}

// command runs a program of the fixed PATH with the session's output; its exit code is the request's.
func (s *shellSession) command(name string, args ...string) error {
	program, err := s.env.program(name)
	if err != nil {
		return failed(127, "%v", err)
	}
	cmd := exec.Command(program, args...)
	cmd.Stdout, cmd.Stderr = s.env.stdout, s.env.stderr
	return s.wait(cmd)
}

func (s *shellSession) docker(args ...string) error { return s.command("docker", args...) }

// dockerOutput runs docker and returns its standard output; its errors go to the client.
func (s *shellSession) dockerOutput(stderr io.Writer, args ...string) ([]byte, error) {
	program, err := s.env.program("docker")
	if err != nil {
		return nil, failed(127, "%v", err)
	}
	cmd := exec.Command(program, args...)
	cmd.Env = s.env.childEnv()
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return out, statusOf(err)
	}
	return out, nil
}

func (s *shellSession) wait(cmd *exec.Cmd) error {
	cmd.Env = s.env.childEnv()
	return statusOf(cmd.Run())
}

func statusOf(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if code := exit.ExitCode(); code >= 0 {
			return exitStatus(code)
		}
		return exitStatus(128 + 9) // killed by a signal
	}
	return err
}

// log writes one line to syslog: who ran what.
func (s *shellSession) log(text string) {
	if s.env.syslog == nil {
		return
	}
	role := "none"
	if s.role > 0 {
		role = roleName(s.role)
	}
	s.env.syslog(fmt.Sprintf("member=%s role=%s %s", s.member, role, text))
}

// clip is at most n bytes of s (the script's ${s:0:n}).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Roles, per group: viewer < deployer < admin.
const (
	roleViewer   = 1
	roleDeployer = 2
	roleAdmin    = 3
)

func roleRank(name string) int {
	switch name {
	case "viewer":
		return roleViewer
	case "deployer":
		return roleDeployer
	case "admin":
		return roleAdmin
	}
	return 0
}

func roleName(rank int) string {
	return [...]string{"none", "viewer", "deployer", "admin"}[rank]
}

// shellVerbList is every verb, in the order help shows them, with the role it needs.
var shellVerbList = []struct {
	name string
	role int
}{
	{"whoami", roleViewer}, {"help", roleViewer}, {"ps", roleViewer}, {"ports", roleViewer}, {"logs", roleViewer},
	{"inspect", roleViewer}, {"replica-state", roleViewer}, {"stats", roleViewer}, {"health", roleViewer}, {"facts", roleViewer},
	{"images", roleViewer}, {"image-id", roleViewer}, {"image-inventory", roleViewer}, {"audit-read", roleViewer},
	{"locks", roleViewer}, {"routes-read", roleViewer}, {"state-read", roleViewer}, {"state-list", roleViewer}, {"view", roleViewer},
	{"request-log-list", roleViewer}, {"request-log-read", roleViewer}, {"request-lines", roleViewer},
	{"run", roleDeployer}, {"start", roleDeployer}, {"stop", roleDeployer}, {"restart", roleDeployer},
	{"rm", roleDeployer}, {"load", roleDeployer}, {"rmi", roleDeployer}, {"tag", roleDeployer},
	{"lock", roleDeployer}, {"extend", roleDeployer}, {"unlock", roleDeployer},
	{"group-lock", roleDeployer}, {"group-extend", roleDeployer}, {"group-unlock", roleDeployer},
	{"state-apply", roleDeployer}, {"audit-append", roleDeployer}, {"probe", roleDeployer}, {"routes-derive", roleDeployer},
	{"break-lock", roleAdmin}, {"group-break-lock", roleAdmin},
}

func verbRole(verb string) (int, bool) {
	for _, v := range shellVerbList {
		if v.name == verb {
			return v.role, true
		}
	}
	return 0, false
}

// verbsOf lists the verbs a role may run.
func verbsOf(role int) string {
	var names []string
	for _, v := range shellVerbList {
		if v.role <= role {
			names = append(names, v.name)
		}
	}
	return strings.Join(names, " ")
}

func shellHandlers() map[string]func(*shellSession) error {
	return map[string]func(*shellSession) error{
		"whoami": (*shellSession).whoami, "help": (*shellSession).help, "ps": (*shellSession).ps,
		"logs": (*shellSession).logs, "inspect": (*shellSession).inspect, "stats": (*shellSession).stats,
		"health": (*shellSession).health, "facts": (*shellSession).facts, "images": (*shellSession).images, "audit-read": (*shellSession).auditRead,
		"locks": (*shellSession).locks, "routes-read": (*shellSession).routesRead, "state-read": (*shellSession).stateRead,
		"view": (*shellSession).view, "ports": (*shellSession).ports, "replica-state": (*shellSession).replicaState,
		"image-id": (*shellSession).imageID, "image-inventory": (*shellSession).imageInventory,
		"run": (*shellSession).run, "start": (*shellSession).lifecycle, "stop": (*shellSession).lifecycle,
		"restart": (*shellSession).lifecycle, "rm": (*shellSession).lifecycle, "load": (*shellSession).load,
		"rmi": (*shellSession).rmi, "tag": (*shellSession).tag, "audit-append": (*shellSession).auditAppend,
		"lock": (*shellSession).lock, "extend": (*shellSession).extend, "unlock": (*shellSession).unlock,
		"break-lock": (*shellSession).breakLock, "group-lock": (*shellSession).lock, "group-extend": (*shellSession).extend,
		"group-unlock": (*shellSession).unlock, "group-break-lock": (*shellSession).breakLock,
		"state-list": (*shellSession).stateList, "state-apply": (*shellSession).stateApply,
		"probe": (*shellSession).probe, "routes-derive": (*shellSession).routesDerive,
		"request-log-list": (*shellSession).requestLogList, "request-log-read": (*shellSession).requestLogRead,
		"request-lines": (*shellSession).requestLines,
	}
}
