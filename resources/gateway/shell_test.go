package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shellFixture is one server's berth folder with group states, and a fake docker first in PATH that records
// its argv (one line per call), answers inspect with the labels (and state) set per container, image inspect and
// image ls with the images set, logs with a container's logs/<name> (and logs-stderr/<name> on stderr; with a
// logs-hang file it then hangs, as a busy docker), and load -i like docker.
type shellFixture struct {
	t      *testing.T
	dir    string // berthDir
	fake   string
	syslog []string
}

const shellFakeDocker = `#!/bin/bash
fake=%q
printf '%%s\n' "$*" >> "$fake/argv"
case "$1" in
  inspect)
    name=${!#}
    case "$*" in *Mounts*)
      if [ -f "$fake/mounts/$name" ]; then cat "$fake/mounts/$name"; exit 0; fi
      echo "Error: No such object: $name" >&2; exit 1 ;;
    esac
    if [ -f "$fake/labels/$name" ]; then
      case "$*" in *State.Status*) printf '%%s ' "$(cat "$fake/state/$name" 2>/dev/null || echo running 0)" ;; esac
      cat "$fake/labels/$name"; echo; exit 0
    fi
    echo "Error: No such object: $name" >&2
    exit 1 ;;
  image)
    case "$2" in
      ls) if [ -f "$fake/image-ls-fails" ]; then echo "Cannot connect to the Docker daemon" >&2; exit 1; fi
          [ -f "$fake/image-ls" ] && cat "$fake/image-ls" ;;
      inspect)
        format=$4; shift 5; rc=0
        for name in "$@"; do
          if [ ! -f "$fake/image/$name" ]; then echo "Error: No such image: $name" >&2; rc=1; continue; fi
          id=$(cat "$fake/image/$name")
          case "$format" in layers=*) echo "layers=$(cat "$fake/layers/$id")" ;; *) echo "$id" ;; esac
        done
        exit $rc ;;
    esac ;;
  info) cat "$fake/info" ;;
  load)
    cp -- "$3" "$fake/loaded.tar"
    for tag in $(tar -xOf "$3" manifest.json | grep -o '"[a-z0-9/._-]\+:[A-Za-z0-9._-]\+"' | tr -d '"'); do
      echo "Loaded image: $tag"
    done ;;
  run) echo 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef ;;
  version) echo 24.0.7 ;;
  logs)
    name=${!#}
    [ -f "$fake/logs-stderr/$name" ] && cat "$fake/logs-stderr/$name" >&2
    [ -f "$fake/logs/$name" ] && cat "$fake/logs/$name"
    [ -f "$fake/logs-hang" ] && exec sleep 30 ;;
  ps) case "$*" in *label=berth.port*) cat "$fake/ports" ;; *) [ -f "$fake/ps" ] && cat "$fake/ps" ;; esac ;;
esac
exit 0
`

func newShellFixture(t *testing.T) *shellFixture {
	t.Helper()
	root := t.TempDir()
	f := &shellFixture{t: t, dir: filepath.Join(root, "berth"), fake: filepath.Join(root, "fake")}
	mkdirAll(t, filepath.Join(f.fake, "labels"))
	if err := os.WriteFile(filepath.Join(f.fake, "docker"), []byte(fmt.Sprintf(shellFakeDocker, f.fake)), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.dir, "server.json"), fmt.Sprintf(`{"uid":%q}`, testUID(1)))
	return f
}

type shellResult struct {
	code           int
	stdout, stderr string
}

// ssh runs berth-shell as sshd would for the key line's args, with the client's request.
func (f *shellFixture) ssh(args []string, request, stdin string) shellResult {
	return f.exec(args, map[string]string{"SSH_ORIGINAL_COMMAND": request}, stdin)
}

// as runs a request for a member id, the new key line.
func (f *shellFixture) as(member, request string, stdin ...string) shellResult {
	return f.ssh([]string{member}, request, strings.Join(stdin, ""))
}

func (f *shellFixture) exec(args []string, vars map[string]string, stdin string) shellResult {
	var stdout, stderr bytes.Buffer
	env := shellEnv{
		berthDir: f.dir,
		path:     f.fake + ":" + shellPATH,
		environ:  []string{"HOME=" + f.dir},
		lookup:   func(name string) (string, bool) { v, ok := vars[name]; return v, ok },
		stdin:    strings.NewReader(stdin),
		stdout:   &stdout, stderr: &stderr,
		hostname: "fb1",
		syslog:   func(line string) { f.syslog = append(f.syslog, line) },
		now:      time.Now,
	}
	code := runShell(args, env)
	return shellResult{code: code, stdout: stdout.String(), stderr: strings.TrimSpace(stderr.String())}
}

// argv is every docker call so far.
func (f *shellFixture) argv() []string {
	data, _ := os.ReadFile(filepath.Join(f.fake, "argv"))
	if len(data) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func (f *shellFixture) noDocker() {
	f.t.Helper()
	if calls := f.argv(); len(calls) != 0 {
		f.t.Fatalf("docker was called: %q", calls)
	}
}

// onlyGatewayLookups fails unless docker was asked nothing but whether berth-gateway serves the folder (state-apply's last step).
func (f *shellFixture) onlyGatewayLookups() {
	f.t.Helper()
	for _, call := range f.argv() {
		if call != "inspect --type container -f {{.State.Running}} {{range .Mounts}}{{.Source}} {{end}} -- berth-gateway" {
			f.t.Fatalf("docker was called: %q", call)
		}
	}
}

// labels sets what inspect answers for a container; model "" gives a container without berth.model.
func (f *shellFixture) labels(container, model string) {
	labels := `{"maintainer":"berth"}`
	if model != "" {
		labels = fmt.Sprintf(`{"berth.model":%q,"berth.version":"1"}`, model)
	}
	writeFile(f.t, filepath.Join(f.fake, "labels", container), labels)
}

// image makes an image known to image inspect (by id and each ref) and listed by image ls, with its diff ids.
func (f *shellFixture) image(id, layers string, refs ...string) {
	for _, name := range append(refs, id) {
		writeFile(f.t, filepath.Join(f.fake, "image", name), id)
	}
	writeFile(f.t, filepath.Join(f.fake, "layers", id), layers)
	listed, _ := os.ReadFile(filepath.Join(f.fake, "image-ls"))
	writeFile(f.t, filepath.Join(f.fake, "image-ls"), string(listed)+id+"\n")
}

// shellGroup is one group's state: its members and models (each with v1 live on server 1, port 9101…).
type shellGroup struct {
	name     string
	revision int64
	members  []map[string]any
	models   []string
	keys     []map[string]any
}

func shellMember(id, name, role string, models ...string) map[string]any {
	m := map[string]any{"id": id, "name": name, "role": role, "publicKey": "ssh-ed25519 AAAA" + id, "keyType": "ssh-ed25519",
		"fingerprint": "SHA256:" + id, "createdAt": "2026-12-01T10:00:00Z", "updatedAt": "2026-12-01T10:00:00Z"}
	if models != nil {
		m["models"] = models
	}
	return m
}

func shellStateModel(name string, port int) map[string]any {
	return map[string]any{
		"public": false, "keepVersions": 5, "createdBy": "alice", "createdAt": "2026-12-01T10:00:00Z", "aliases": map[string]any{"latest": 1},
		"versions": []any{map[string]any{
			"number": 1, "imageRef": "berth/" + name + ":1", "imageId": "sha256:" + strings.Repeat("1", 64), "notebookHash": nil,
			"dockerfile": nil, "requirements": nil, "createdBy": "alice", "createdAt": "2026-12-01T10:00:00Z", "state": "live",
			"resources":  map[string]any{"replicas": 1, "memoryMb": 256, "cpus": 0.5},
			"placements": map[string]any{testUID(1): []any{map[string]any{"name": "berth-" + name + "-v1-r1", "port": port}}},
		}},
	}
}

// writeGroup writes groups/<name>/state.json as Berth would: the hash over the revision's canonical JSON.
func (f *shellFixture) writeGroup(g shellGroup) {
	f.t.Helper()
	writeFile(f.t, stateStore{f.dir}.statePath(g.name), shellStateText(f.t, shellRevision(g))+"\n")
}

// shellRevision is the revision of a group as Berth writes it (v1 of each model live on server 1).
func shellRevision(g shellGroup) map[string]any {
	models := map[string]any{}
	for i, name := range g.models {
		models[name] = shellStateModel(name, 9101+i)
	}
	if g.revision == 0 {
		g.revision = 1
	}
	for _, list := range []*[]map[string]any{&g.members, &g.keys} {
		if *list == nil {
			*list = []map[string]any{}
		}
	}
	return map[string]any{
		"format": 1, "group": g.name, "revision": g.revision, "prev": nil, "at": "2026-12-01T12:00:00Z",
		"by": map[string]any{"holder": "alice", "machine": "laptop"}, "change": "test",
		"state": map[string]any{
			"servers":  []any{map[string]any{"uid": testUID(1), "name": "fb1", "host": "10.0.0.1", "port": 22}},
			"settings": map[string]any{"replicas": 1, "webhooks": []string{}, "peerToken": testPeerToken},
			"models":   models, "keys": g.keys, "members": g.members,
		},
	}
}

// shellStateText is the state file (one line, without its newline) of a revision: its hash and itself.
func shellStateText(t *testing.T, revision map[string]any) string {
	t.Helper()
	raw, _ := json.Marshal(revision)
	hash, err := revisionHash(raw)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := json.Marshal(map[string]any{"hash": hash, "revision": json.RawMessage(raw)})
	return string(file)
}

func (f *shellFixture) revoke(group, kind, id string) {
	f.t.Helper()
	if _, err := (stateStore{f.dir}).addRevocations(group, []revocation{{Kind: kind, ID: id, At: "2026-12-02T00:00:00Z", By: "alice"}}); err != nil {
		f.t.Fatal(err)
	}
}

func expectShell(t *testing.T, got shellResult, code int, stderr string) {
	t.Helper()
	if got.code != code || (stderr != "" && !strings.Contains(got.stderr, stderr)) {
		t.Fatalf("got exit %d, stderr %q, stdout %q; want exit %d, stderr containing %q", got.code, got.stderr, got.stdout, code, stderr)
	}
}

const (
	memberVera = "m_vera01"
	memberDan  = "m_dan001"
	memberAda  = "m_ada001"
)

// shellProdTeam: group prod with models m1 and m2, Vera viewer, Dan deployer, Ada admin.
func shellProdTeam(t *testing.T) *shellFixture {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1", "m2"}, members: []map[string]any{
		shellMember(memberVera, "Vera Viewer", "viewer"), shellMember(memberDan, "Dan Deployer", "deployer"), shellMember(memberAda, "Ada Admin", "admin"),
	}})
	return f
}

const shellNoMember = "berth: this key belongs to no member of this server's groups (offboarded, or this server has not caught up yet); ask an admin"

func TestShellUnknownMember(t *testing.T) {
	f := shellProdTeam(t)
	got := f.as("m_nobody1", "ps")
	if got.code != 126 || got.stderr != shellNoMember || got.stdout != "" {
		t.Fatalf("%+v", got)
	}
	expectShell(t, f.ssh([]string{"viewer", "alice"}, "ps", ""), 126, "berth: this key has no valid Berth member id; ask an admin to push the team again")
	expectShell(t, f.ssh([]string{"root", memberVera}, "ps", ""), 126, "no valid Berth member id")
	expectShell(t, f.ssh(nil, "ps", ""), 126, "no valid Berth member id")
	f.noDocker()
	if len(f.syslog) == 0 || !strings.HasPrefix(f.syslog[0], "member=m_nobody1 role=none refused: this key belongs to no member") {
		t.Fatalf("syslog %q", f.syslog)
	}
}

func TestShellOffboardedMemberIsRefused(t *testing.T) {
	f := shellProdTeam(t)
	expectShell(t, f.as(memberVera, "whoami"), 0, "")
	f.revoke("prod", "key", memberVera) // a key revocation of the same id is not an offboarding
	expectShell(t, f.as(memberVera, "whoami"), 0, "")
	f.revoke("prod", "member", memberVera)
	got := f.as(memberVera, "whoami")
	if got.code != 126 || got.stderr != shellNoMember {
		t.Fatalf("%+v", got)
	}
	// A damaged state gives no rights either.
	path := stateStore{f.dir}.statePath("prod")
	data, _ := os.ReadFile(path)
	writeFile(t, path, strings.Replace(string(data), `"role":"viewer"`, `"role":"admin"`, 1))
	expectShell(t, f.as(memberDan, "whoami"), 126, shellNoMember)
}

func TestShellOldKeyLineIgnoresItsRoleWord(t *testing.T) {
	f := shellProdTeam(t)
	f.labels("berth-m1-v1-r1", "m1")
	who := f.ssh([]string{"admin", memberVera}, "whoami", "")
	var answer whoamiAnswer
	if who.code != 0 || json.Unmarshal([]byte(who.stdout), &answer) != nil || answer.Role != "viewer" || answer.Member != memberVera || answer.Name != "Vera Viewer" {
		t.Fatalf("%+v", who)
	}
	viewerVerbs := "whoami help ps ports logs inspect replica-state stats health facts images image-id image-inventory audit-read locks routes-read state-read state-list view request-log-list request-log-read request-lines"
	shell := f.ssh([]string{"admin", memberVera}, "id", "")
	if shell.code != 126 || shell.stderr != "berth: role viewer may not run 'id': not a Berth verb; role viewer may run: "+viewerVerbs {
		t.Fatalf("a lying role word got a shell: %+v", shell)
	}
	expectShell(t, f.ssh([]string{"deployer", memberVera}, "stop berth-m1-v1-r1", ""), 126,
		"berth: role viewer may not run 'stop' (role deployer is needed); role viewer may run: "+viewerVerbs)
	f.noDocker()
	// Without SSH_ORIGINAL_COMMAND the words after the member id are the request (how Berth runs a verb as root).
	got := f.exec([]string{"viewer", memberVera, "help"}, nil, "")
	if got.code != 0 || got.stdout != "role viewer may run: "+viewerVerbs+"\n" {
		t.Fatalf("%+v", got)
	}
	if got := f.exec([]string{memberDan, "whoami"}, nil, ""); !strings.Contains(got.stdout, `"role":"deployer"`) {
		t.Fatalf("%+v", got)
	}
}

func TestShellBerthDirFromTheKeyLine(t *testing.T) {
	f := shellProdTeam(t)
	elsewhere := newShellFixture(t) // the default folder holds no group: only the named one can say who Dan is
	got := elsewhere.ssh([]string{"--berth-dir=" + f.dir, memberDan}, "whoami", "")
	if got.code != 0 || !strings.Contains(got.stdout, `"member":"m_dan001"`) {
		t.Fatalf("%+v", got)
	}
	expectShell(t, elsewhere.ssh([]string{memberDan}, "whoami", ""), 126, shellNoMember)
	expectShell(t, elsewhere.ssh([]string{"--berth-dir=var/lib", memberDan}, "whoami", ""), 126, "relative Berth folder")
}

func TestShellRolesArePerGroup(t *testing.T) {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1"}, members: []map[string]any{shellMember(memberVera, "Vera", "viewer")}})
	f.writeGroup(shellGroup{name: "dev", models: []string{"d1"}, members: []map[string]any{shellMember(memberVera, "Vera", "deployer")}})
	f.labels("berth-m1-v1-r1", "m1")
	f.labels("berth-d1-v1-r1", "d1")
	who := f.as(memberVera, "whoami")
	want := `{"member":"m_vera01","name":"Vera","role":"deployer","groups":{"dev":{"role":"deployer","models":null},"prod":{"role":"viewer","models":null}},"host":"fb1"}` + "\n"
	if who.stdout != want {
		t.Fatalf("whoami %q", who.stdout)
	}
	expectShell(t, f.as(memberVera, "stop berth-d1-v1-r1"), 0, "")
	expectShell(t, f.as(memberVera, "stop berth-m1-v1-r1"), 126,
		"berth: role deployer on model m1 is needed to stop berth-m1-v1-r1 (you have: viewer in group prod)")
	expectShell(t, f.as(memberVera, "logs berth-m1-v1-r1 --tail 5"), 0, "")
	expectShell(t, f.as(memberVera, "state-read dev"), 0, "")
	expectShell(t, f.as(memberVera, "state-read staging"), 126, "only members of group staging may read its state (you are in: dev, prod)")
	want2 := []string{
		"inspect --type container -f {{json .Config.Labels}} -- berth-d1-v1-r1", "stop -- berth-d1-v1-r1",
		"inspect --type container -f {{json .Config.Labels}} -- berth-m1-v1-r1",
		"inspect --type container -f {{json .Config.Labels}} -- berth-m1-v1-r1", "logs --tail 5 -- berth-m1-v1-r1",
	}
	if got := f.argv(); strings.Join(got, "\n") != strings.Join(want2, "\n") {
		t.Fatalf("docker calls\n%s", strings.Join(got, "\n"))
	}
}

func TestShellDeployerLimitedToModels(t *testing.T) {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1", "m2"}, members: []map[string]any{shellMember(memberDan, "Dan", "deployer", "m1")}})
	f.labels("berth-m1-v1-r1", "m1")
	f.labels("berth-m2-v1-r1", "m2")
	expectShell(t, f.as(memberDan, "restart berth-m1-v1-r1"), 0, "")
	expectShell(t, f.as(memberDan, "stop berth-m2-v1-r1"), 126,
		"berth: role deployer on model m2 is needed to stop berth-m2-v1-r1 (you have: viewer in group prod (deployer only on m1))")
	expectShell(t, f.as(memberDan, "logs berth-m2-v1-r1"), 0, "") // a viewer on the group's other models
	expectShell(t, f.as(memberDan, "run --name berth-m2-v2-r1 --label berth.model=m2 berth/m2:2"), 126, "role deployer on model m2 is needed to run berth-m2-v2-r1")
	expectShell(t, f.as(memberDan, "lock m2 60", "{}"), 126, "role deployer on model m2 is needed to lock m2")
	expectShell(t, f.as(memberDan, "rmi berth/m1:1 berth/m2:1"), 126, "role deployer on model m2 is needed to remove berth/m2:1")
	expectShell(t, f.as(memberDan, "tag sha256:"+strings.Repeat("a", 64)+" berth/m2:3"), 126, "role deployer on model m2 is needed to tag berth/m2:3")
	expectShell(t, f.as(memberDan, "tag berth/m2:1 berth/m1:3"), 0, "")
	// A model in no group's state yet (a first deploy): only a deployer whose list names it.
	expectShell(t, f.as(memberDan, "run --name berth-new-v1-r1 --label berth.model=new berth/new:1"), 126, "role deployer on model new is needed")
	if calls := f.argv(); len(calls) != 6 || calls[1] != "restart -- berth-m1-v1-r1" || calls[4] != "logs -- berth-m2-v1-r1" || calls[5] != "tag berth/m2:1 berth/m1:3" {
		t.Fatalf("docker calls %q", calls)
	}
}

func TestShellModelInNoStateWhileAGroupIsDamaged(t *testing.T) {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1"}, members: []map[string]any{shellMember(memberDan, "Dan", "deployer")}})
	run := "run --name berth-new-v1-r1 --label berth.model=new berth/new:1"
	expectShell(t, f.as(memberDan, run), 0, "")
	writeFile(t, stateStore{f.dir}.statePath("other"), `{"hash":"damaged"}`)
	expectShell(t, f.as(memberDan, run), 126, "the state of group other here does not verify")
	expectShell(t, f.as(memberDan, "run --name berth-m1-v2-r1 --label berth.model=m1 berth/m1:2"), 0, "")
}

func TestShellContainersWithoutModelAreForAdmins(t *testing.T) {
	f := shellProdTeam(t)
	f.labels("berth-gateway", "")
	expectShell(t, f.as(memberDan, "stop berth-gateway"), 126, "berth: berth-gateway is not a model replica; only an admin may touch it")
	expectShell(t, f.as(memberVera, "logs berth-gateway"), 126, "berth: berth-gateway is not a model replica; only an admin may touch it")
	expectShell(t, f.as(memberAda, "berth restart berth-gateway"), 0, "")
	expectShell(t, f.as(memberAda, "berth logs berth-gateway -f"), 0, "")
	calls := f.argv()
	if len(calls) != 6 || calls[3] != "restart -- berth-gateway" || calls[5] != "logs --follow -- berth-gateway" {
		t.Fatalf("docker calls %q", calls)
	}
	// A container that does not exist: docker's answer and exit code; rm counts it as removed (as rm --force).
	expectShell(t, f.as(memberDan, "stop berth-m1-v9-r1"), 1, "No such object: berth-m1-v9-r1")
	expectShell(t, f.as(memberDan, "rm berth-m1-v9-r1"), 0, "")
}

func TestShellRun(t *testing.T) {
	f := shellProdTeam(t)
	good := "run --name berth-m1-v2-r1 --network host --restart on-failure:5 -m 64m --cpus 0.5 --label berth.model=m1 " +
		"--label=berth.version=2 --env PORT=9101 --log-driver json-file --log-opt max-size=1m --init berth/m1:2"
	got := f.as(memberDan, good)
	if got.code != 0 || !strings.HasPrefix(got.stdout, "0123456789abcdef") {
		t.Fatalf("%+v", got)
	}
	want := "run --detach --network host --restart on-failure:5 --memory 64m --cpus 0.5 --label berth.model=m1 --label berth.version=2 " +
		"--env PORT=9101 --log-driver json-file --log-opt max-size=1m --init --name berth-m1-v2-r1 -- berth/m1:2"
	if calls := f.argv(); len(calls) != 1 || calls[0] != want {
		t.Fatalf("docker calls %q", calls)
	}
	id := "sha256:" + strings.Repeat("c", 64)
	expectShell(t, f.as(memberDan, "run --name berth-m2-v1-r2 --label berth.model=m2 "+id), 0, "")
	for request, refusal := range map[string]string{
		"run --name berth-m1-v2-r1 --label berth.model=m1 berth/m2:2":                   "run: image berth/m2:2 is not of model m1",
		"run --name berth-m1-v2-r1 --label berth.model=m2 berth/m1:2":                   "run: label berth.model=m2 does not match the name's model m1",
		"run --name berth-m1-v2-r1 berth/m1:2":                                          "run: --label berth.model=m1 is required",
		"run --name berth-x --label berth.model=x berth/x:1":                            "run: the name 'berth-x' is not a replica's",
		"run --name berth-m1-v2-r1 --privileged berth/m1:2":                             "run: option '--privileged' is not allowed for deployers",
		"run --name berth-m1-v2-r1 -v /:/host berth/m1:2":                               "option '-v' is not allowed",
		"run --name berth-m1-v2-r1 --network bridge berth/m1:2":                         "only --network host",
		"run --name berth-m1-v2-r1 debian:12":                                           "invalid image (berth/<model>:<version>) 'debian:12'",
		"run --name berth-m1-v2-r1 --label berth.model=m1 berth/m1:2 sh":                "no command may follow the image",
		"run --name other berth/m1:2":                                                   "invalid container name 'other'",
		"run berth/m1:2":                                                                "--name berth-… is required",
		"run --name berth-m1-v2-r1 --label com.evil=1 berth/m1:2":                       "invalid label",
		"run --name berth-m1-v2-r1 --label berth.model=m1 --memory":                     "run: --memory needs a value",
		"run --name berth-m1-v2-r1 --label berth.model=m1 -l berth.model=m2 berth/m1:2": "label berth.model=m2 does not match",
	} {
		expectShell(t, f.as(memberDan, request), 64, refusal)
	}
	expectShell(t, f.as(memberVera, good), 126, "berth: role viewer may not run 'run'")
	if calls := f.argv(); len(calls) != 2 {
		t.Fatalf("a refused run called docker: %q", calls)
	}
}

// A replica's GPUs: by index only, passed to docker in the quotes its CSV reading of --gpus needs for several.
func TestShellRunGPUs(t *testing.T) {
	f := shellProdTeam(t)
	expectShell(t, f.as(memberDan, "run --name berth-m1-v2-r1 --cpus 1 --gpus device=0,1 --label berth.model=m1 berth/m1:2"), 0, "")
	expectShell(t, f.as(memberDan, "run --name berth-m1-v2-r2 --gpus=device=3 --label berth.model=m1 berth/m1:2"), 0, "")
	want := []string{
		`run --detach --cpus 1 --gpus "device=0,1" --label berth.model=m1 --name berth-m1-v2-r1 -- berth/m1:2`,
		`run --detach --gpus "device=3" --label berth.model=m1 --name berth-m1-v2-r2 -- berth/m1:2`,
	}
	if calls := f.argv(); !reflect.DeepEqual(calls, want) {
		t.Fatalf("docker calls %q\nwant %q", calls, want)
	}
	for request, refusal := range map[string]string{
		"run --name berth-m1-v2-r1 --gpus all --label berth.model=m1 berth/m1:2":                      "invalid GPU request",
		"run --name berth-m1-v2-r1 --gpus count=2 --label berth.model=m1 berth/m1:2":                  "invalid GPU request",
		"run --name berth-m1-v2-r1 --gpus device=GPU-3f2a --label berth.model=m1 berth/m1:2":          "invalid GPU request",
		"run --name berth-m1-v2-r1 --gpus device=0,driver=x --label berth.model=m1 berth/m1:2":        "invalid GPU request",
		"run --name berth-m1-v2-r1 --gpus device=0 --gpus device=1 --label berth.model=m1 berth/m1:2": "run: --gpus may be given once",
		"run --name berth-m1-v2-r1 --device /dev/nvidia0 --label berth.model=m1 berth/m1:2":           "option '--device' is not allowed",
		"run --name berth-m1-v2-r1 --label berth.model=m1 --gpus":                                     "run: --gpus needs a value",
	} {
		expectShell(t, f.as(memberDan, request), 64, refusal)
	}
	// The quotes docker needs are berth-shell's to add: a word carrying them is no plain word.
	expectShell(t, f.as(memberDan, `run --name berth-m1-v2-r1 --gpus "device=0,1" --label berth.model=m1 berth/m1:2`), 126, "plain words only")
	if calls := f.argv(); len(calls) != 2 {
		t.Fatalf("a refused run called docker: %q", calls)
	}
}

// shellImageArchive is a docker save archive with the given tags (extra entries after the manifest).
func shellImageArchive(t *testing.T, tags []string, extra ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tar.NewWriter(&buf)
	manifest, _ := json.Marshal([]map[string]any{{"Config": "cfg.json", "RepoTags": tags, "Layers": []string{}}})
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	add(&tar.Header{Name: "cfg.json"}, []byte(`{}`))
	for _, h := range extra {
		add(h, nil)
	}
	add(&tar.Header{Name: "manifest.json"}, manifest)
	w.Close()
	return buf.Bytes()
}

func shellTmpEntries(t *testing.T, f *shellFixture) []string {
	entries, _ := os.ReadDir(filepath.Join(f.dir, "tmp"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestShellLoadRefusesBeforeLoading(t *testing.T) {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1", "m2"}, members: []map[string]any{shellMember(memberDan, "Dan", "deployer", "m1")}})
	expectShell(t, f.as(memberDan, "load", string(shellImageArchive(t, []string{"ubuntu:latest"}))), 126,
		"berth: role deployer may only load images named berth/<model>:<version>; refused before loading: ubuntu:latest")
	expectShell(t, f.as(memberDan, "load", string(shellImageArchive(t, []string{"berth/m1:2", "docker.io/library/ubuntu:latest"}))), 126,
		"refused before loading: docker.io/library/ubuntu:latest")
	expectShell(t, f.as(memberDan, "load", string(shellImageArchive(t, []string{"berth/m2:2"}))), 126,
		"berth: role deployer on model m2 is needed to load berth/m2:2 (you have: viewer in group prod (deployer only on m1))")
	expectShell(t, f.as(memberDan, "load", "not a tar at all"), 126, "load: refused before loading")
	expectShell(t, f.as(memberDan, "load", "\x1f\x8b\x08rest"), 126, "the archive is compressed")
	// A folder linked to the archive's root would let an entry below it replace manifest.json.
	link := &tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: "."}
	expectShell(t, f.as(memberDan, "load", string(shellImageArchive(t, []string{"berth/m1:2"}, link, &tar.Header{Name: "d/manifest.json"}))), 126,
		"the archive's d/manifest.json lies inside the link d")
	expectShell(t, f.as(memberDan, "load", string(shellImageArchive(t, []string{"berth/m1:2"}, &tar.Header{Name: "./manifest.json"}))), 126,
		"the archive holds manifest.json twice")
	f.noDocker()
	if left := shellTmpEntries(t, f); len(left) != 0 {
		t.Fatalf("spooled archives left behind: %q", left)
	}
}

func TestShellLoadGoodArchive(t *testing.T) {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1"}, members: []map[string]any{shellMember(memberDan, "Dan", "deployer", "m1")}})
	archive := shellImageArchive(t, []string{"berth/m1:2"})
	got := f.as(memberDan, "load", string(archive))
	if got.code != 0 || got.stdout != "Loaded image: berth/m1:2\n" {
		t.Fatalf("%+v", got)
	}
	calls := f.argv()
	if len(calls) != 1 || !strings.HasPrefix(calls[0], "load -i "+filepath.Join(f.dir, "tmp")+"/") {
		t.Fatalf("docker calls %q", calls)
	}
	if loaded, _ := os.ReadFile(filepath.Join(f.fake, "loaded.tar")); !bytes.Equal(loaded, archive) {
		t.Fatal("docker did not get the archive as sent")
	}
	if left := shellTmpEntries(t, f); len(left) != 0 {
		t.Fatalf("spooled archive left behind: %q", left)
	}
}

func TestShellRoutesDerive(t *testing.T) {
	f := newShellFixture(t)
	key := testKey("key_01")
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1"}, keys: []map[string]any{key, testKey("key_02")},
		members: []map[string]any{shellMember(memberDan, "Dan", "deployer", "m1"), shellMember(memberVera, "Vera", "viewer")}})
	expectShell(t, f.as(memberVera, "routes-derive"), 126, "role viewer may not run 'routes-derive'")
	got := f.as(memberDan, "routes-derive")
	if got.code != 0 || !strings.HasSuffix(got.stdout, "\n") {
		t.Fatalf("%+v", got)
	}
	var routes routesFile
	if !readJSON(t, filepath.Join(f.dir, "gateway", "routes.json"), &routes) || fmt.Sprintf("routes\t%d\ttable\n", routes.Revision) != got.stdout {
		t.Fatalf("routes.json %+v, printed %q", routes, got.stdout)
	}
	if m := routes.Models["m1"]; len(routes.Models) != 1 || m.Public || strings.Join(m.Versions["1"].Replicas, ",") != "127.0.0.1:9101" || m.Aliases["latest"] != "1" {
		t.Fatalf("models %+v", routes.Models)
	}
	if len(routes.Keys) != 2 || routes.Keys[0].ID != "key_01" || strings.Join(routes.Keys[0].Models, ",") != "m1" {
		t.Fatalf("keys %+v", routes.Keys)
	}
	if again := f.as(memberDan, "routes-derive"); again.stdout != "routes\tunchanged\n" {
		t.Fatalf("%+v", again)
	}
	f.revoke("prod", "key", "key_02")
	expectShell(t, f.as(memberDan, "routes-derive"), 0, "")
	if !readJSON(t, filepath.Join(f.dir, "gateway", "routes.json"), &routes) || len(routes.Keys) != 1 {
		t.Fatalf("a revoked key is still in routes.json: %+v", routes.Keys)
	}
	expectShell(t, f.as(memberDan, "routes-write"), 126, "berth: role deployer may not run 'routes-write': not a Berth verb")
	expectShell(t, f.as(memberDan, "routes-read"), 0, "")
	// Like state-apply, routes-derive only asks docker whether a running gateway serves the folder.
	f.onlyGatewayLookups()
}

// verifyAuditChain checks every line of the audit file the way Berth does.
func verifyAuditChain(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prev := auditGenesis
	var entries []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var l struct {
			Hash  string          `json:"hash"`
			Seq   int             `json:"seq"`
			Prev  string          `json:"prev"`
			Entry json.RawMessage `json:"entry"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Seq != i+1 || l.Prev != prev {
			t.Fatalf("line %d breaks the chain: %s", i+1, line)
		}
		want, _ := revisionHash([]byte(fmt.Sprintf(`{"entry":%s,"prev":%q,"seq":%d}`, l.Entry, l.Prev, l.Seq)))
		if l.Hash != want {
			t.Fatalf("line %d: hash %s, want %s", i+1, l.Hash, want)
		}
		var entry map[string]any
		json.Unmarshal(l.Entry, &entry)
		entries = append(entries, entry)
		prev = l.Hash
	}
	return entries
}

func TestShellAuditAppendChainsWithTheScript(t *testing.T) {
	f := shellProdTeam(t)
	script, _ := filepath.Abs("../server/berth-audit-append")
	path := filepath.Join(f.dir, "audit", "audit.jsonl")
	for i := 0; i < 6; i++ {
		if i%2 == 1 {
			got := f.as(memberDan, "audit-append", fmt.Sprintf(`{"action":"deploy","actor":"mallory","member":"m_evil","n":%d,"target":"<m1> & v%d"}`+"\n", i, i))
			if got.code != 0 || !strings.HasPrefix(got.stdout, fmt.Sprintf("%d ", i+1)) {
				t.Fatalf("%+v", got)
			}
			continue
		}
		cmd := exec.Command("bash", script, f.dir)
		cmd.Stdin = strings.NewReader(fmt.Sprintf(`{"action":"member.add","actor":"alice","n":%d}`, i))
		if out, err := cmd.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), fmt.Sprintf("%d ", i+1)) {
			t.Fatalf("berth-audit-append: %v %s", err, out)
		}
		if i == 2 { // an edit that lost the final newline
			data, _ := os.ReadFile(path)
			os.WriteFile(path, bytes.TrimSuffix(data, []byte("\n")), 0o640)
		}
	}
	entries := verifyAuditChain(t, path)
	if len(entries) != 6 || entries[1]["actor"] != "Dan Deployer" || entries[1]["member"] != memberDan || entries[0]["actor"] != "alice" || entries[3]["target"] != "<m1> & v3" {
		t.Fatalf("entries %v", entries)
	}
	if tail := f.as(memberVera, "audit-read --tail 1"); !strings.HasPrefix(tail.stdout, `{"hash":`) || strings.Count(tail.stdout, "\n") != 1 || !strings.Contains(tail.stdout, `"n":5`) {
		t.Fatalf("%+v", tail)
	}
	expectShell(t, f.as(memberDan, "audit-append", "[1]"), 64, "berth: an audit entry is one JSON object")
	expectShell(t, f.as(memberDan, "audit-append", "{\"a\":\n1}"), 64, "berth: an audit entry is one line of JSON")
	expectShell(t, f.as(memberDan, "audit-append", `{"a":"`+strings.Repeat("x", 65536)+`"}`), 64, "berth: audit entry longer than 64 KiB")
	expectShell(t, f.as(memberVera, "audit-append", "{}"), 126, "role viewer may not run 'audit-append'")
}

func TestShellAuditAppendDamagedAndBusy(t *testing.T) {
	f := shellProdTeam(t)
	path := filepath.Join(f.dir, "audit", "audit.jsonl")
	writeFile(t, path, `{"hash":"nonsense"}`+"\n")
	expectShell(t, f.as(memberDan, "audit-append", "{}"), 65, "the last line of "+path+" is damaged, so a new entry cannot be chained to it; verify the audit log in Berth")
	os.Remove(path)
	lock, err := os.OpenFile(filepath.Join(f.dir, "audit", ".lock"), os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil || !flockWait(lock, time.Second) {
		t.Fatal("cannot hold the audit lock", err)
	}
	defer lock.Close()
	defer func(wait time.Duration) { auditLockWait = wait }(auditLockWait)
	auditLockWait = 100 * time.Millisecond
	expectShell(t, f.as(memberDan, "audit-append", "{}"), 75, "berth: the audit log of fb1 is locked by another writer for more than 10 s")
}

func TestShellLockIsStampedWithTheMember(t *testing.T) {
	f := shellProdTeam(t)
	note := `{"holder":"mallory","machine":"laptop","member":"m_evil","message":"trying v2","token":"t0k"}`
	got := f.as(memberDan, "lock m1 0", note+"\n")
	if got.code != 0 || got.stdout != "acquired\n" {
		t.Fatalf("%+v", got)
	}
	stamped := `{"holder":"Dan Deployer","machine":"laptop","member":"m_dan001","message":"trying v2","token":"t0k"}`
	if data, _ := os.ReadFile(filepath.Join(f.dir, "lock", "m1", "info.json")); string(data) != stamped {
		t.Fatalf("info.json %s", data)
	}
	if held := f.as(memberAda, "berth lock m1 60", "{}"); held.code != 0 || held.stdout != "held\t"+stamped+"\n" {
		t.Fatalf("%+v", held)
	}
	if locks := f.as(memberVera, "locks"); locks.stdout != "m1\t"+stamped+"\n" {
		t.Fatalf("%+v", locks)
	}
	expectShell(t, f.as(memberDan, "lock m2 60", "not json"), 64, "lock: the note on stdin must be one JSON object")
	expectShell(t, f.as(memberDan, "lock ../../etc 60", "{}"), 64, "invalid model name")
	expectShell(t, f.as(memberDan, "lock m2", "{}"), 64, "usage: lock <model> <ttl-seconds")
	expectShell(t, f.as(memberVera, "unlock m1 t0k"), 126, "role viewer may not run 'unlock'")
	// The old one-word unlock removes the lock whoever holds it: an admin's break-lock.
	expectShell(t, f.as(memberDan, "unlock m1"), 126, "berth: role admin on model m1 is needed to break the lock of m1 (you have: deployer in group prod)")
	expectShell(t, f.as(memberDan, "break-lock m1"), 126, "berth: role deployer may not run 'break-lock'")
	if broken := f.as(memberAda, "berth break-lock m1"); broken.code != 0 || broken.stdout != "held\n" {
		t.Fatalf("%+v", broken)
	}
	expectShell(t, f.as(memberDan, "lock m1 60", "{}"), 0, "")
	if broken := f.as(memberAda, "berth unlock m1"); broken.code != 0 || broken.stdout != "held\n" {
		t.Fatalf("%+v", broken)
	}
	if again := f.as(memberAda, "berth unlock m1"); again.stdout != "free\n" {
		t.Fatalf("%+v", again)
	}
	if locks := f.as(memberVera, "locks"); locks.stdout != "" {
		t.Fatalf("%+v", locks)
	}
}

func TestShellRefusesShellSyntax(t *testing.T) {
	f := shellProdTeam(t)
	for _, request := range []string{"ps; id", "ps && id", "ps | sh", "logs $(id)", "logs `id`", "ps > /etc/passwd", "logs 'berth-x'", "ps\nid", "logs berth-*", "ps\tid"} {
		got := f.as(memberDan, request)
		if got.code != 126 || !strings.Contains(got.stderr, "berth-shell accepts plain words only (no quotes, $, ;, |, &, redirections or globs); role deployer may run: whoami") {
			t.Fatalf("%q: %+v", request, got)
		}
	}
	got := f.as(memberVera, "ps; id")
	if got.stderr != "berth: refused 'ps; id': berth-shell accepts plain words only (no quotes, $, ;, |, &, redirections or globs); role viewer may run: "+verbsOf(roleViewer) {
		t.Fatalf("%+v", got)
	}
	expectShell(t, f.as(memberAda, "berth ps; id"), 126, "accepts plain words only")
	f.noDocker()
}

func TestShellAdminShell(t *testing.T) {
	f := shellProdTeam(t)
	got := f.as(memberAda, "echo $((6*7)); echo $PATH")
	if got.code != 0 || got.stdout != "42\n"+f.fake+":"+shellPATH+"\n" {
		t.Fatalf("%+v", got)
	}
	expectShell(t, f.as(memberAda, "exit 3"), 3, "")
	if login := f.as(memberAda, "", "echo interactive\n"); login.code != 0 || !strings.Contains(login.stdout, "interactive") {
		t.Fatalf("%+v", login)
	}
	if who := f.as(memberAda, "berth whoami"); !strings.Contains(who.stdout, `"role":"admin"`) {
		t.Fatalf("%+v", who)
	}
	expectShell(t, f.as(memberAda, "berth rm nope"), 64, "invalid container name 'nope'")
	expectShell(t, f.as(memberAda, "berth"), 126, "no verb given")
	expectShell(t, f.as(memberVera, ""), 126, "berth: role viewer has no interactive shell on this server; run one of: whoami")
	expectShell(t, f.as(memberDan, ""), 126, "role deployer has no interactive shell")
	if !shellLogged(f.syslog, "member=m_ada001 role=admin shell: echo $((6*7)); echo $PATH") || !shellLogged(f.syslog, "member=m_ada001 role=admin interactive shell") {
		t.Fatalf("syslog %q", f.syslog)
	}
}

func shellLogged(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestShellViewerVerbs(t *testing.T) {
	f := shellProdTeam(t)
	f.labels("berth-m1-v1-r1", "m1")
	writeFile(t, filepath.Join(f.fake, "ps"), "berth-m1-v1-r1\nberth-m2-v1-r1\n")
	writeFile(t, filepath.Join(f.dir, "agent", "view.json"), `{"uid":"srv"}`)
	for _, request := range []string{"ps", "images", "stats", "inspect berth-m1-v1-r1", "logs berth-m1-v1-r1 -f --since 10m -t -n all"} {
		expectShell(t, f.as(memberVera, request), 0, "")
	}
	want := []string{
		"ps -a --no-trunc --filter name=^berth- --format {{json .}}",
		"image ls --no-trunc --filter reference=berth/* --format {{json .}}",
		"ps --filter name=^berth- --format {{.Names}}",
		"stats --no-stream --format {{json .}} berth-m1-v1-r1 berth-m2-v1-r1",
		"inspect --type container -f {{json .Config.Labels}} -- berth-m1-v1-r1", "container inspect -- berth-m1-v1-r1",
		"inspect --type container -f {{json .Config.Labels}} -- berth-m1-v1-r1", "logs --follow --since 10m --timestamps --tail all -- berth-m1-v1-r1",
	}
	if got := f.argv(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("docker calls\n%s", strings.Join(got, "\n"))
	}
	if health := f.as(memberVera, "health"); !strings.HasPrefix(health.stdout, `{"docker":"24.0.7","running":2,"diskFreeBytes":`) {
		t.Fatalf("%+v", health)
	}
	if view := f.as(memberVera, "view"); view.stdout != `{"uid":"srv"}` {
		t.Fatalf("%+v", view)
	}
	// The monitor's read: the view's age by the server's clock first.
	viewPath := filepath.Join(f.dir, "agent", "view.json")
	os.Chtimes(viewPath, time.Now().Add(-7*time.Second), time.Now().Add(-7*time.Second))
	if view := f.as(memberVera, "view --with-age"); view.stdout != "7\n"+`{"uid":"srv"}` && view.stdout != "8\n"+`{"uid":"srv"}` {
		t.Fatalf("%+v", view)
	}
	expectShell(t, f.as(memberVera, "view --all"), 64, "usage: view [--with-age]")
	os.Remove(viewPath)
	if view := f.as(memberVera, "view --with-age"); view.code != 0 || view.stdout != "none\n" {
		t.Fatalf("%+v", view)
	}
	if state := f.as(memberVera, "state-read prod"); !strings.HasPrefix(state.stdout, `{"hash":`) {
		t.Fatalf("%+v", state)
	}
	before := len(f.argv())
	got := f.as(memberVera, "logs postgres")
	if got.code != 64 || got.stderr != "berth: invalid container name 'postgres' (must match ^berth-[a-z0-9][a-z0-9_.-]{0,100}$)" {
		t.Fatalf("%+v", got)
	}
	expectShell(t, f.as(memberVera, "logs berth-x --tail lots"), 64, "invalid --tail value 'lots'")
	expectShell(t, f.as(memberVera, "logs berth-x --privileged"), 64, "logs does not accept '--privileged'")
	expectShell(t, f.as(memberVera, "ps -a"), 64, "usage: ps")
	expectShell(t, f.as(memberVera, "docker run --rm -it debian"), 126, "berth: role viewer may not run 'docker run': not a Berth verb")
	expectShell(t, f.as(memberVera, "audit-read --tail x"), 64, "invalid --tail value")
	if len(f.argv()) != before {
		t.Fatal("an invalid request called docker")
	}
}

func TestShellLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"a\nb\nc\n", 1, "c\n"}, {"a\nb\nc\n", 2, "b\nc\n"}, {"a\nb\nc", 1, "c"}, {"a\nb\n", 5, "a\nb\n"}, {"a\n", 0, ""}, {"", 3, ""}} {
		if got := string(lastLines([]byte(c.in), c.n)); got != c.want {
			t.Errorf("lastLines(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}

func TestShellProbe(t *testing.T) {
	f := shellProdTeam(t)
	replica := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"path":%q,"proto":%q}`, r.URL.Path, r.Proto)
	}))
	defer replica.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(replica.URL, "http://"))
	got := f.as(memberDan, "probe "+port+" /healthz")
	if got.code != 0 || !strings.HasPrefix(got.stdout, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(got.stdout, "\r\n\r\n"+`{"path":"/healthz","proto":"HTTP/1.0"}`) {
		t.Fatalf("%+v", got)
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	_, free, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()
	expectShell(t, f.as(memberDan, "probe "+free), 7, "connection refused")
	expectShell(t, f.as(memberDan, "probe 22"), 64, "port must be 1024-65535")
	// The gateway's own health, which the app waits on after a new table.
	health := f.as(memberDan, "probe "+port+" /_berth/health")
	if health.code != 0 || !strings.HasSuffix(health.stdout, `{"path":"/_berth/health","proto":"HTTP/1.0"}`) {
		t.Fatalf("%+v", health)
	}
	expectShell(t, f.as(memberDan, "probe 9100 /etc/passwd"), 64, "invalid probe path")
	expectShell(t, f.as(memberDan, "probe 9100 /_berth/routes"), 64, "invalid probe path")
	expectShell(t, f.as(memberVera, "probe 9100"), 126, "role viewer may not run 'probe'")
}

// shellCalls runs a request on a fresh docker log and checks its exit, stderr and exactly the docker calls made.
func (f *shellFixture) shellCalls(member, request string, code int, stderr string, calls ...string) shellResult {
	f.t.Helper()
	os.Remove(filepath.Join(f.fake, "argv"))
	got := f.as(member, request)
	expectShell(f.t, got, code, stderr)
	if argv := f.argv(); strings.Join(argv, "\n") != strings.Join(calls, "\n") {
		f.t.Fatalf("%s: docker calls\n%s\nwant\n%s", request, strings.Join(argv, "\n"), strings.Join(calls, "\n"))
	}
	return got
}

func TestShellLifecycleOfManyContainers(t *testing.T) {
	f := newShellFixture(t)
	f.writeGroup(shellGroup{name: "prod", models: []string{"m1", "m2"}, members: []map[string]any{shellMember(memberDan, "Dan", "deployer", "m1")}})
	f.labels("berth-m1-v1-r1", "m1")
	f.labels("berth-m1-v1-r2", "m1")
	f.labels("berth-m2-v1-r1", "m2")
	labels := "inspect --type container -f {{json .Config.Labels}} -- "
	r1, r2, both := labels+"berth-m1-v1-r1", labels+"berth-m1-v1-r2", " -- berth-m1-v1-r1 berth-m1-v1-r2"
	f.shellCalls(memberDan, "stop -t 10 berth-m1-v1-r1 berth-m1-v1-r2", 0, "", r1, r2, "stop --time 10"+both)
	f.shellCalls(memberDan, "restart berth-m1-v1-r1 berth-m1-v1-r2 --time=0", 0, "", r1, r2, "restart --time 0"+both)
	f.shellCalls(memberDan, "stop --time 600 berth-m1-v1-r2", 0, "", r2, "stop --time 600 -- berth-m1-v1-r2")
	f.shellCalls(memberDan, "start berth-m1-v1-r1 berth-m1-v1-r2", 0, "", r1, r2, "start"+both)
	f.shellCalls(memberDan, "rm berth-m1-v1-r1 berth-m1-v1-r2", 0, "", r1, r2, "rm --force"+both)
	// One refusal, or one missing container to stop, and nothing is stopped or removed.
	f.shellCalls(memberDan, "stop berth-m1-v1-r1 berth-m2-v1-r1 berth-m1-v1-r2", 126,
		"berth: role deployer on model m2 is needed to stop berth-m2-v1-r1", r1, labels+"berth-m2-v1-r1")
	f.shellCalls(memberDan, "stop berth-m1-v1-r1 berth-m1-v9-r1", 1, "No such object: berth-m1-v9-r1", r1, labels+"berth-m1-v9-r1")
	// rm removes what is there: a container already gone is no error (the app's undo is idempotent).
	f.shellCalls(memberDan, "rm berth-m1-v1-r1 berth-m1-v9-r1", 0, "", r1, labels+"berth-m1-v9-r1", "rm --force -- berth-m1-v1-r1")
	// Bad words are found before docker is asked anything.
	for request, refusal := range map[string]string{
		"stop berth-m1-v1-r1 postgres":  "berth: invalid container name 'postgres' (must match ^berth-",
		"stop -t 601 berth-m1-v1-r1":    "berth: invalid timeout '601' (seconds, 0-600)",
		"restart -t x berth-m1-v1-r1":   "invalid timeout 'x'",
		"stop --time=-1 berth-m1-v1-r1": "invalid timeout '-1'",
		"stop berth-m1-v1-r1 -t":        "invalid timeout ''",
		"start -t 5 berth-m1-v1-r1":     "berth: start does not accept '-t' (usage: start <container>…)",
		"rm --force berth-m1-v1-r1":     "rm does not accept '--force'",
		"stop":                          "berth: usage: stop [-t N] <container>… (1 to 64 containers)",
		"rm":                            "usage: rm <container>…",
	} {
		f.shellCalls(memberDan, request, 64, refusal)
	}
	var names, checks []string
	for i := 1; i <= 65; i++ {
		names = append(names, fmt.Sprintf("berth-m1-v1-r%d", i))
		checks = append(checks, labels+names[i-1])
		f.labels(names[i-1], "m1")
	}
	f.shellCalls(memberDan, "rm "+strings.Join(names, " "), 64, "usage: rm <container>… (1 to 64 containers)")
	f.shellCalls(memberDan, "stop "+strings.Join(names[:64], " "), 0, "", append(checks[:64], "stop -- "+strings.Join(names[:64], " "))...)
}

func TestShellImageInventory(t *testing.T) {
	f := shellProdTeam(t)
	id1, id2, id3, absent := "sha256:"+strings.Repeat("1", 64), "sha256:"+strings.Repeat("2", 64), "sha256:"+strings.Repeat("3", 64), "sha256:"+strings.Repeat("f", 64)
	f.image(id2, `["sha256:aa","sha256:bb"]`, "berth/m1:2")
	f.image(id1, `["sha256:aa"]`, "berth/m1:1")
	f.image(id3, `["sha256:aa"]`) // the same layers as id1: one line
	f.image(id2, `["sha256:aa","sha256:bb"]`)
	writeFile(t, filepath.Join(f.fake, "info"), `[["Backing Filesystem","extfs"],["Supports d_type","true"]]`+"\n")
	info := "info --format {{json .DriverStatus}}"
	layers := "image inspect --format layers={{json .RootFS.Layers}} -- "
	got := f.shellCalls(memberVera, "image-inventory berth/m1:2 "+id3, 0, "", "image ls -aq --no-trunc",
		"image inspect --format {{.Id}} -- berth/m1:2", "image inspect --format {{.Id}} -- "+id3, info, layers+id1+" "+id2+" "+id3)
	want := "ref=" + id2 + "\nhas-id=yes\n" + `driver=[["Backing Filesystem","extfs"],["Supports d_type","true"]]` + "\n" +
		`layers=["sha256:aa","sha256:bb"]` + "\n" + `layers=["sha256:aa"]` + "\n"
	if got.stdout != want {
		t.Fatalf("inventory\n%s\nwant\n%s", got.stdout, want)
	}
	absentRef := f.as(memberVera, "image-inventory berth/m2:9 "+absent)
	if absentRef.code != 0 || !strings.HasPrefix(absentRef.stdout, "ref=\ndriver=[[") || strings.Contains(absentRef.stdout, "has-id") || absentRef.stderr != "" {
		t.Fatalf("%+v", absentRef)
	}
	// Cut at maxLayerLines, inspected in batches.
	defer func(lines, batch int) { maxLayerLines, inspectBatch = lines, batch }(maxLayerLines, inspectBatch)
	maxLayerLines, inspectBatch = 1, 2
	got = f.shellCalls(memberVera, "image-inventory berth/m1:1 "+id1, 0, "", "image ls -aq --no-trunc",
		"image inspect --format {{.Id}} -- berth/m1:1", "image inspect --format {{.Id}} -- "+id1, info, layers+id1+" "+id2, layers+id3)
	if !strings.HasSuffix(got.stdout, "has-id=yes\n"+`driver=[["Backing Filesystem","extfs"],["Supports d_type","true"]]`+"\n"+`layers=["sha256:aa","sha256:bb"]`+"\n") {
		t.Fatalf("%+v", got)
	}
	expectShell(t, f.as(memberVera, "image-inventory ubuntu:latest "+id1), 64, "berth: invalid image 'ubuntu:latest' (must match ^berth/")
	expectShell(t, f.as(memberVera, "image-inventory berth/m1:1 abc"), 64, "invalid image id 'abc'")
	expectShell(t, f.as(memberVera, "image-inventory berth/m1:1"), 64, "usage: image-inventory <berth/model:version> <sha256:id>")
}

func TestShellImageInventoryOfAnEmptyServer(t *testing.T) {
	f := shellProdTeam(t)
	writeFile(t, filepath.Join(f.fake, "info"), `[["driver-type","io.containerd.snapshotter.v1"]]`+"\n")
	id := "sha256:" + strings.Repeat("1", 64)
	got := f.shellCalls(memberVera, "image-inventory berth/m1:1 "+id, 0, "", "image ls -aq --no-trunc",
		"image inspect --format {{.Id}} -- berth/m1:1", "image inspect --format {{.Id}} -- "+id, "info --format {{json .DriverStatus}}")
	if got.stdout != "ref=\n"+`driver=[["driver-type","io.containerd.snapshotter.v1"]]`+"\n" || got.stderr != "" {
		t.Fatalf("%+v", got)
	}
	// Only a failing image ls is an error: docker's message, and nothing printed.
	writeFile(t, filepath.Join(f.fake, "image-ls-fails"), "")
	got = f.shellCalls(memberVera, "image-inventory berth/m1:1 "+id, 1, "Cannot connect to the Docker daemon", "image ls -aq --no-trunc")
	if got.stdout != "" {
		t.Fatalf("%+v", got)
	}
}

func TestShellImageID(t *testing.T) {
	f := shellProdTeam(t)
	id := "sha256:" + strings.Repeat("1", 64)
	f.image(id, `[]`, "berth/m1:1")
	for _, name := range []string{"berth/m1:1", id} {
		got := f.shellCalls(memberVera, "image-id "+name, 0, "", "image inspect --format {{.Id}} -- "+name)
		if got.stdout != id+"\n" {
			t.Fatalf("%+v", got)
		}
	}
	got := f.shellCalls(memberVera, "image-id berth/m1:2", 1, "", "image inspect --format {{.Id}} -- berth/m1:2")
	if got.stdout != "" || got.stderr != "" {
		t.Fatalf("no such image: %+v", got)
	}
	f.shellCalls(memberVera, "image-id ubuntu", 64, "berth: invalid image 'ubuntu' (must match")
	f.shellCalls(memberVera, "image-id", 64, "usage: image-id <berth/model:version|sha256:id>")
}

func TestShellPorts(t *testing.T) {
	f := shellProdTeam(t)
	writeFile(t, filepath.Join(f.fake, "ports"), "9101\n9102\n8700\n")
	got := f.shellCalls(memberVera, "ports", 0, "", `ps -a --filter label=berth.port --format {{.Label "berth.port"}}`)
	if got.stdout != "9101\n9102\n8700\n" {
		t.Fatalf("%+v", got)
	}
	f.shellCalls(memberVera, "ports -a", 64, "usage: ports")
}

func TestShellReplicaState(t *testing.T) {
	f := shellProdTeam(t)
	f.writeGroup(shellGroup{name: "dev", models: []string{"d1"}, members: []map[string]any{shellMember(memberAda, "Ada", "admin")}})
	f.labels("berth-m1-v1-r1", "m1")
	f.labels("berth-m1-v1-r2", "m1")
	f.labels("berth-d1-v1-r1", "d1")
	f.labels("berth-gateway", "")
	writeFile(t, filepath.Join(f.fake, "state", "berth-m1-v1-r1"), "restarting 3")
	state := "inspect --type container -f {{.State.Status}} {{.RestartCount}} {{json .Config.Labels}} -- "
	for container, want := range map[string]string{"berth-m1-v1-r1": "restarting 3\n", "berth-m1-v1-r2": "running 0\n", "berth-m1-v9-r1": "missing 0\n"} {
		if got := f.shellCalls(memberVera, "replica-state "+container, 0, "", state+container); got.stdout != want || got.stderr != "" {
			t.Fatalf("%s: %+v", container, got)
		}
	}
	f.shellCalls(memberVera, "replica-state berth-d1-v1-r1", 126,
		"berth: role viewer on model d1 is needed to replica-state berth-d1-v1-r1 (you have: no role in group dev, which holds model d1)", state+"berth-d1-v1-r1")
	f.shellCalls(memberVera, "replica-state berth-gateway", 126, "berth: berth-gateway is not a model replica; only an admin may touch it", state+"berth-gateway")
	if got := f.as(memberAda, "berth replica-state berth-gateway"); got.code != 0 || got.stdout != "running 0\n" {
		t.Fatalf("%+v", got)
	}
	f.shellCalls(memberVera, "replica-state postgres", 64, "invalid container name 'postgres'")
	f.shellCalls(memberVera, "replica-state", 64, "usage: replica-state <container>")
}

func TestShellFacts(t *testing.T) {
	f := shellProdTeam(t)
	root := t.TempDir()
	info := fmt.Sprintf(`{"ServerVersion":"24.0.7","NCPU":2,"DockerRootDir":%q}`, root)
	writeFile(t, filepath.Join(f.fake, "info"), info+"\n")
	got := f.shellCalls(memberVera, "facts", 0, "", "info --format {{json .}}")
	parts := strings.Split(got.stdout, factsSeparator+"\n")
	if len(parts) != 3 || parts[0] != info+"\n" || parts[2] != "" {
		t.Fatalf("%q", got.stdout)
	}
	// The app reads the fourth field of the df line: the bytes available under Docker's data root (which other
	// processes change meanwhile, so only its order of magnitude is compared).
	var fs syscall.Statfs_t
	syscall.Statfs(root, &fs)
	fields := strings.Fields(parts[1])
	free, err := strconv.ParseUint(fields[3], 10, 64)
	want := fs.Bavail * uint64(fs.Bsize)
	if len(fields) != 6 || fields[5] != root || err != nil || free > want+want/10 || free < want-want/10 {
		t.Fatalf("df line %q", parts[1])
	}
	f.shellCalls(memberVera, "facts now", 64, "usage: facts")
}

// requestLogListScript is the app's listing command (gateway-pull.ts's listCommand) that request-log-list replaces.
const requestLogListScript = `cd "$dir" 2>/dev/null || exit 0
for f in requests.jsonl requests.jsonl.[0-9]*; do [ -f "$f" ] || continue; s=$(head -c 40 "$f" | sed -n '1s/^{"seq":\([0-9]*\).*/\1/p'); echo "@file $(stat -c '%i %s' "$f") $f ${s:--}"; done
for f in requests.jsonl requests.jsonl.1; do l=$(tail -n 1 "$f" 2>/dev/null | head -c 40 | sed -n '1s/^{"seq":\([0-9]*\).*/\1/p'); [ -n "$l" ] && break; done
echo "@last ${l:--}"
`

// expectAsScript checks request-log-list against the app's script on the same folder, where sh and its tools exist.
func expectAsScript(t *testing.T, f *shellFixture, script string, got shellResult, args ...string) {
	t.Helper()
	for _, tool := range []string{"sh", "stat", "sed", "head", "tail", "grep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Logf("no %s here: not compared with the script", tool)
			return
		}
	}
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	cmd.Env = []string{"PATH=" + f.fake + ":" + shellPATH, "LC_ALL=C", "dir=" + filepath.Join(f.dir, "logs", "gateway")}
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("the script: %v", err)
	}
	if got.code != 0 || got.stdout != string(want) {
		t.Fatalf("berth-shell printed (exit %d)\n%q\nthe script\n%q", got.code, got.stdout, want)
	}
}

// fileLine is the @file line of a log file (stat without -L: a link's own inode and size).
func fileLine(t *testing.T, dir, name, seq string) string {
	t.Helper()
	info, err := os.Lstat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("@file %d %d %s %s\n", info.Sys().(*syscall.Stat_t).Ino, info.Size(), name, seq)
}

func TestShellRequestLogList(t *testing.T) {
	f := shellProdTeam(t)
	dir := filepath.Join(f.dir, "logs", "gateway")
	if got := f.shellCalls(memberVera, "request-log-list", 0, ""); got.stdout != "" || got.stderr != "" {
		t.Fatalf("no folder: %+v", got)
	}
	expectAsScript(t, f, requestLogListScript, f.as(memberVera, "request-log-list"))
	mkdirAll(t, dir)
	if got := f.as(memberVera, "request-log-list"); got.code != 0 || got.stdout != "@last -\n" {
		t.Fatalf("empty folder: %+v", got)
	}
	files := map[string]string{
		"requests.jsonl":      "", // just rotated: @last comes from requests.jsonl.1
		"requests.jsonl.1":    `{"seq":41,"ts":"2026-12-01T10:00:00Z"}` + "\n" + `{"seq":42,"ts":"2026-12-01T10:00:01Z"}` + "\n",
		"requests.jsonl.2":    `{"seq":31,"ts":"2026-12-01T09:00:00Z"}` + "\n",
		"requests.jsonl.10":   `{"seq":1,"ts":"2026-12-01T01:00:00Z"}` + "\n",
		"requests.jsonl.3":    "not a log line\n",
		"requests.jsonl.4":    `{"seq":` + strings.Repeat("9", 50) + "}\n", // only 40 bytes are looked at
		"requests.jsonl.5":    `{"seq":"x"}` + "\n",
		"requests.jsonl.6.gz": `{"seq":7}`, // the glob takes it, so the listing does
		"requests.jsonl.old":  `{"seq":8}`,
		"other.jsonl":         `{"seq":9}`,
	}
	for name, text := range files {
		writeFile(t, filepath.Join(dir, name), text)
	}
	mkdirAll(t, filepath.Join(dir, "requests.jsonl.7"))                    // not a file
	os.Symlink("requests.jsonl.2", filepath.Join(dir, "requests.jsonl.8")) // followed for -f and head
	os.Symlink("nowhere", filepath.Join(dir, "requests.jsonl.9"))          // dangling: skipped
	want := fileLine(t, dir, "requests.jsonl", "-") + fileLine(t, dir, "requests.jsonl.1", "41") +
		fileLine(t, dir, "requests.jsonl.10", "1") + fileLine(t, dir, "requests.jsonl.2", "31") +
		fileLine(t, dir, "requests.jsonl.3", "-") + fileLine(t, dir, "requests.jsonl.4", strings.Repeat("9", 33)) +
		fileLine(t, dir, "requests.jsonl.5", "-") + fileLine(t, dir, "requests.jsonl.6.gz", "7") +
		fileLine(t, dir, "requests.jsonl.8", "31") + "@last 42\n"
	got := f.shellCalls(memberVera, "request-log-list", 0, "")
	if got.stdout != want {
		t.Fatalf("listing\n%s\nwant\n%s", got.stdout, want)
	}
	expectAsScript(t, f, requestLogListScript, got)
	// The last line is found from the end: a long one without its newline, a file ending in an empty line.
	long := `{"seq":99,"pad":"` + strings.Repeat("x", 150<<10) + `"}`
	for text, last := range map[string]string{
		`{"seq":98}` + "\n" + long:                       "99",
		`{"seq":98}` + "\n" + long + "\n":                "99",
		long + "\n" + `{"seq":100}` + "\n":               "100",
		`{"seq":98}` + "\n\n":                            "42", // an empty last line: requests.jsonl.1's
		strings.Repeat(`{"seq":5}`+"\n", 20000) + "tail": "42",
		`{"seq":12`: "12",
	} {
		writeFile(t, filepath.Join(dir, "requests.jsonl"), text)
		got := f.as(memberVera, "request-log-list")
		if !strings.HasSuffix(got.stdout, "\n@last "+last+"\n") {
			t.Fatalf("@last of %q: %q", clip(text, 40), got.stdout)
		}
		expectAsScript(t, f, requestLogListScript, got)
	}
	os.Remove(filepath.Join(dir, "requests.jsonl"))
	os.Remove(filepath.Join(dir, "requests.jsonl.1"))
	if got := f.as(memberVera, "request-log-list"); !strings.HasPrefix(got.stdout, "@file ") || !strings.HasSuffix(got.stdout, "31\n@last -\n") {
		t.Fatalf("%+v", got)
	}
	expectAsScript(t, f, requestLogListScript, f.as(memberVera, "request-log-list"))
	expectShell(t, f.as(memberVera, "request-log-list --all"), 64, "usage: request-log-list")
	f.noDocker()
}

func TestShellRequestLogRead(t *testing.T) {
	f := shellProdTeam(t)
	dir := filepath.Join(f.dir, "logs", "gateway")
	expectShell(t, f.as(memberVera, "request-log-read requests.jsonl 1 0 10"), 4, "")
	writeFile(t, filepath.Join(dir, "requests.jsonl"), "0123456789\n")
	inodeOfFile := func(name string) string {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strconv.FormatUint(info.Sys().(*syscall.Stat_t).Ino, 10)
	}
	ino := inodeOfFile("requests.jsonl")
	for args, want := range map[string]string{
		"0 4": "0123", "8 100": "89\n", "0 16777216": "0123456789\n", "11 5": "", "999999999999999 5": "", "3 0": "",
	} {
		if got := f.as(memberVera, "request-log-read requests.jsonl "+ino+" "+args); got.code != 0 || got.stdout != want || got.stderr != "" {
			t.Fatalf("%s: %+v, want %q", args, got, want)
		}
	}
	// The gateway rotates by renaming: the old inode is now requests.jsonl.1, and requests.jsonl is new.
	os.Rename(filepath.Join(dir, "requests.jsonl"), filepath.Join(dir, "requests.jsonl.1"))
	writeFile(t, filepath.Join(dir, "requests.jsonl"), "abc\n")
	for _, request := range []string{
		"request-log-read requests.jsonl " + ino + " 0 10", "request-log-read requests.jsonl.2 " + ino + " 0 10",
		"request-log-read requests.jsonl.1 0" + ino + " 0 10", // the inode is compared as a word, as the script's [ = ]
	} {
		if got := f.as(memberVera, request); got.code != 4 || got.stdout != "" {
			t.Fatalf("%s: %+v", request, got)
		}
	}
	if got := f.as(memberVera, "request-log-read requests.jsonl.1 "+ino+" 2 3"); got.code != 0 || got.stdout != "234" {
		t.Fatalf("%+v", got)
	}
	if got := f.as(memberVera, "request-log-read requests.jsonl "+inodeOfFile("requests.jsonl")+" 1 10"); got.stdout != "bc\n" {
		t.Fatalf("%+v", got)
	}
	for request, refusal := range map[string]string{
		"request-log-read ../../audit/audit.jsonl 1 0 1":       "invalid log file name '../../audit/audit.jsonl'",
		"request-log-read requests.jsonl.1234567 1 0 1":        "invalid log file name",
		"request-log-read requests.jsonl.gz 1 0 1":             "invalid log file name",
		"request-log-read requests.jsonl x 0 1":                "invalid inode 'x'",
		"request-log-read requests.jsonl 1 1234567890123456 1": "invalid offset",
		"request-log-read requests.jsonl 1 -1 1":               "invalid offset",
		"request-log-read requests.jsonl 1 0 16777217":         "invalid byte count '16777217' (at most 16777216)",
		"request-log-read requests.jsonl 1 0 1234567890":       "invalid byte count",
		"request-log-read requests.jsonl 1 0":                  "usage: request-log-read <name> <inode> <offset> <bytes>",
	} {
		expectShell(t, f.as(memberVera, request), 64, refusal)
	}
	f.noDocker()
}

// requestLinesScript is the app's replica command (replica-pull.ts) that request-lines replaces: $1 the
// container, $2 the bytes, $3 the --since value or ”.
const requestLinesScript = `if [ -n "$3" ]; then echo "@first $(docker logs --timestamps "$1" 2>/dev/null | head -n 1 | cut -d' ' -f1)"; fi
docker logs --timestamps "$1" 2>/dev/null | grep -E '"type": ?"request"' | head -c "$2"
`

func TestShellRequestLines(t *testing.T) {
	f := shellProdTeam(t)
	f.writeGroup(shellGroup{name: "dev", models: []string{"d1"}, members: []map[string]any{shellMember(memberAda, "Ada", "admin")}})
	f.labels("berth-m1-v1-r1", "m1")
	f.labels("berth-m1-v1-r2", "m1")
	f.labels("berth-d1-v1-r1", "d1")
	f.labels("berth-gateway", "")
	c := "berth-m1-v1-r1"
	writeFile(t, filepath.Join(f.fake, "logs", c), "2026-12-01T10:00:00.000000001Z listening on :9101\n"+
		`2026-12-01T10:00:01.000000000Z {"type":"request","request_id":"a"}`+"\n"+
		`2026-12-01T10:00:02.000000000Z {"type": "request","request_id":"b"}`+"\n"+
		`2026-12-01T10:00:03.000000000Z {"type":"probe","path":"/healthz"}`+"\n"+
		`2026-12-01T10:00:04.000000000Z {"type":  "request","request_id":"two spaces"}`+"\n"+
		`2026-12-01T10:00:05.000000000Z {"type":"request","request_id":"c"}`) // grep ends it with a newline
	writeFile(t, filepath.Join(f.fake, "logs-stderr", c), `2026-12-01T10:00:01.500000000Z {"type":"request","request_id":"stderr"}`+"\n")
	want := `2026-12-01T10:00:01.000000000Z {"type":"request","request_id":"a"}` + "\n" +
		`2026-12-01T10:00:02.000000000Z {"type": "request","request_id":"b"}` + "\n" +
		`2026-12-01T10:00:05.000000000Z {"type":"request","request_id":"c"}` + "\n"
	labels := "inspect --type container -f {{json .Config.Labels}} -- "
	got := f.shellCalls(memberVera, "request-lines "+c, 0, "", labels+c, "logs --timestamps -- "+c)
	if got.stdout != want || got.stderr != "" {
		t.Fatalf("request lines\n%q\nwant\n%q", got.stdout, want)
	}
	expectAsScript(t, f, requestLinesScript, got, c, "1048576", "")
	got = f.shellCalls(memberVera, "request-lines "+c+" --bytes 100", 0, "", labels+c, "logs --timestamps -- "+c)
	if got.stdout != want[:100] {
		t.Fatalf("cut at 100 bytes: %q", got.stdout)
	}
	expectAsScript(t, f, requestLinesScript, got, c, "100", "")
	since := "2026-12-01T10:00:01.000000000Z"
	got = f.shellCalls(memberVera, "request-lines "+c+" --since "+since+" --first --bytes 16777216", 0, "",
		labels+c, "logs --timestamps -- "+c, "logs --timestamps --since "+since+" -- "+c)
	if got.stdout != "@first 2026-12-01T10:00:00.000000001Z\n"+want {
		t.Fatalf("--first: %q", got.stdout)
	}
	expectAsScript(t, f, requestLinesScript, got, c, "16777216", since)
	// A container without logs: an empty @first, no lines.
	got = f.shellCalls(memberVera, "request-lines berth-m1-v1-r2 --first", 0, "",
		labels+"berth-m1-v1-r2", "logs --timestamps -- berth-m1-v1-r2", "logs --timestamps -- berth-m1-v1-r2")
	if got.stdout != "@first \n" {
		t.Fatalf("%+v", got)
	}
	// Docker is stopped once enough is read, not read to its end.
	writeFile(t, filepath.Join(f.fake, "logs-hang"), "")
	start := time.Now()
	got = f.as(memberVera, "request-lines "+c+" --first --bytes 10")
	if got.code != 0 || got.stdout != "@first 2026-12-01T10:00:00.000000001Z\n"+want[:10] || time.Since(start) > 10*time.Second {
		t.Fatalf("%+v after %v", got, time.Since(start))
	}
	os.Remove(filepath.Join(f.fake, "logs-hang"))
	f.shellCalls(memberVera, "request-lines berth-d1-v1-r1", 126,
		"berth: role viewer on model d1 is needed to request-lines berth-d1-v1-r1", labels+"berth-d1-v1-r1")
	f.shellCalls(memberVera, "request-lines berth-gateway --first", 126, "berth-gateway is not a model replica", labels+"berth-gateway")
	f.shellCalls(memberVera, "request-lines berth-m1-v9-r1", 1, "No such object: berth-m1-v9-r1", labels+"berth-m1-v9-r1")
	for request, refusal := range map[string]string{
		"request-lines":                             "usage: request-lines <container> [--since T] [--first] [--bytes N]",
		"request-lines postgres":                    "invalid container name 'postgres'",
		"request-lines " + c + " --bytes 0":         "invalid --bytes value '0' (1 to 16777216)",
		"request-lines " + c + " --bytes 16777217":  "invalid --bytes value '16777217'",
		"request-lines " + c + " --bytes x":         "invalid --bytes value 'x'",
		"request-lines " + c + " --bytes":           "invalid --bytes value ''",
		"request-lines " + c + " --since yesterday": "invalid --since value 'yesterday'",
		"request-lines " + c + " --since":           "invalid --since value ''",
		"request-lines " + c + " --tail 5":          "request-lines does not accept '--tail'",
	} {
		f.shellCalls(memberVera, request, 64, refusal)
	}
}
