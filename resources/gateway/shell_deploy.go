package main

// berth-shell's deployer verbs: replicas, images, probes and routes.json (locks and the group state: shell_state.go).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// replicaName is berth-<model>-v<n>-r<k>: the only containers run creates.
var replicaName = regexp.MustCompile(`^berth-([a-z0-9][a-z0-9_.-]{0,62})-v[0-9]{1,9}-r[0-9]{1,9}$`)

// runOption is one option of run that takes a value: checked against pattern, or equal to only.
type runOption struct {
	as      string // the option docker gets
	pattern string
	what    string
	only    string
}

var runOptions = map[string]runOption{
	"--name":               {as: "--name", pattern: containerRE, what: "container name"},
	"--network":            {as: "--network", only: "host"},
	"--net":                {as: "--network", only: "host"},
	"--restart":            {as: "--restart", pattern: `^(no|always|unless-stopped|on-failure(:[0-9]{1,2})?)$`, what: "restart policy"},
	"--memory":             {as: "--memory", pattern: `^[0-9]{1,12}[bkmgBKMG]?$`, what: "memory size"},
	"-m":                   {as: "--memory", pattern: `^[0-9]{1,12}[bkmgBKMG]?$`, what: "memory size"},
	"--memory-swap":        {as: "--memory-swap", pattern: `^[0-9]{1,12}[bkmgBKMG]?$`, what: "memory size"},
	"--memory-reservation": {as: "--memory-reservation", pattern: `^[0-9]{1,12}[bkmgBKMG]?$`, what: "memory size"},
	"--cpus":               {as: "--cpus", pattern: `^[0-9]{1,3}(\.[0-9]{1,3})?$`, what: "cpus"},
	"--pids-limit":         {as: "--pids-limit", pattern: `^[0-9]{1,6}$`, what: "pids limit"},
	"--stop-timeout":       {as: "--stop-timeout", pattern: `^[0-9]{1,4}$`, what: "stop timeout"},
	"--label":              {as: "--label", pattern: `^berth\.[a-z][a-z0-9.-]{0,40}=[A-Za-z0-9._:/@+-]{0,200}$`, what: "label (berth.<name>=<value>)"},
	"-l":                   {as: "--label", pattern: `^berth\.[a-z][a-z0-9.-]{0,40}=[A-Za-z0-9._:/@+-]{0,200}$`, what: "label (berth.<name>=<value>)"},
	"--env":                {as: "--env", pattern: `^[A-Z_][A-Z0-9_]{0,63}=[A-Za-z0-9._:/,@+%-]{0,1000}$`, what: "environment variable (NAME=value)"},
	"-e":                   {as: "--env", pattern: `^[A-Z_][A-Z0-9_]{0,63}=[A-Za-z0-9._:/,@+%-]{0,1000}$`, what: "environment variable (NAME=value)"},
	"--log-driver":         {as: "--log-driver", only: "json-file"},
	"--log-opt":            {as: "--log-opt", pattern: `^(max-size=[0-9]{1,6}[kmg]?|max-file=[0-9]{1,3})$`, what: "log option"},
	// GPUs by index only (Berth names each replica's own): never `all`, a count or another driver's options.
	"--gpus": {as: "--gpus", pattern: `^device=[0-9]{1,3}(,[0-9]{1,3}){0,63}$`, what: "GPU request (device=<index>[,<index>…])"},
}

const runAllowed = "--name --network host --restart --memory --cpus --gpus device=<index>,… --label berth.* --env --log-driver json-file --log-opt --pids-limit --stop-timeout --init --rm"

// runRequest is run's checked words: docker's options, the name, the image and the berth.model labels.
type runRequest struct {
	opts   []string
	name   string
	image  string
	models []string
	gpus   bool
}

// parseRun checks every word of run against today's whitelist: only model replicas, with resource limits, GPUs
// by index and labels; no volumes, other devices, capabilities, privileged mode, user or namespaces, and no
// command override.
func parseRun(args []string) (runRequest, error) {
	r := runRequest{opts: []string{"--detach"}}
	for i := 0; i < len(args); i++ {
		a, value, hasValue := args[i], "", false
		if strings.HasPrefix(a, "--") && strings.Contains(a, "=") {
			a, value, hasValue = strings.Cut(a, "=")
		}
		var err error
		switch option, known := runOptions[a]; {
		case a == "-d" || a == "--detach":
		case a == "--rm" || a == "--init":
			r.opts = append(r.opts, a)
		case known:
			if !hasValue {
				if i++; i >= len(args) {
					return r, invalid("run: %s needs a value", a)
				}
				value = args[i]
			}
			err = r.option(option, value)
		case strings.HasPrefix(a, "-"):
			err = invalid("run: option '%s' is not allowed for deployers (allowed: %s)", clip(a, 40), runAllowed)
		default:
			err = r.setImage(a)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r *runRequest) option(o runOption, value string) error {
	if o.only != "" && value != o.only {
		return invalid("run: only %s %s is allowed", o.as, o.only)
	}
	if o.pattern != "" {
		if err := check(value, o.pattern, o.what); err != nil {
			return err
		}
	}
	switch {
	case o.as == "--name":
		r.name = value
	case o.as == "--gpus":
		if r.gpus {
			return invalid("run: --gpus may be given once")
		}
		// Docker reads the value as CSV: several indexes need quotes, which no berth-shell word carries.
		r.gpus = true
		r.opts = append(r.opts, o.as, `"`+value+`"`)
	case o.as == "--label" && strings.HasPrefix(value, "berth.model="):
		r.models = append(r.models, strings.TrimPrefix(value, "berth.model="))
		fallthrough
	default:
		r.opts = append(r.opts, o.as, value)
	}
	return nil
}

func (r *runRequest) setImage(a string) error {
	if r.image != "" {
		return invalid("run: no command may follow the image (got '%s')", clip(a, 40))
	}
	if !matches(imageRE, a) && !matches(imageIDRE, a) {
		return invalid("invalid image (berth/<model>:<version>) '%s' (must match %s or %s)", clip(a, 80), imageRE, imageIDRE)
	}
	r.image = a
	return nil
}

// model is the replica's model: the name's, which the image and the berth.model label must repeat.
func (r *runRequest) model() (string, error) {
	if r.name == "" {
		return "", invalid("run: --name berth-… is required")
	}
	if r.image == "" {
		return "", invalid("run: an image berth/<model>:<version> is required")
	}
	m := replicaName.FindStringSubmatch(r.name)
	if m == nil {
		return "", invalid("run: the name '%s' is not a replica's (berth-<model>-v<n>-r<k>)", r.name)
	}
	model := m[1]
	if im := imageModel(r.image); im != "" && im != model {
		return "", invalid("run: image %s is not of model %s (the name's model)", r.image, model)
	}
	if len(r.models) == 0 {
		return "", invalid("run: --label berth.model=%s is required", model)
	}
	for _, lm := range r.models {
		if lm != model {
			return "", invalid("run: label berth.model=%s does not match the name's model %s", lm, model)
		}
	}
	return model, nil
}

func (s *shellSession) run() error {
	r, err := parseRun(s.args)
	if err != nil {
		return err
	}
	model, err := r.model()
	if err != nil {
		return err
	}
	if err := s.who.need(roleDeployer, model, "run "+r.name); err != nil {
		return err
	}
	return s.docker(append(append([]string{"run"}, r.opts...), "--name", r.name, "--", r.image)...)
}

func (s *shellSession) rmi() error {
	if len(s.args) == 0 {
		return invalid("usage: rmi <berth/model:version>…")
	}
	for _, image := range s.args {
		if err := check(image, imageRE, "image"); err != nil {
			return err
		}
		if err := s.who.need(roleDeployer, imageModel(image), "remove "+image); err != nil {
			return err
		}
	}
	return s.docker(append([]string{"image", "rm", "--"}, s.args...)...)
}

func (s *shellSession) tag() error {
	if len(s.args) != 2 {
		return invalid("usage: tag <image-id|berth/model:version> <berth/model:version>")
	}
	source, target := s.args[0], s.args[1]
	if !matches(imageIDRE, source) && !matches(imageRE, source) {
		return invalid("invalid source image '%s'", clip(source, 80))
	}
	if err := check(target, imageRE, "target image"); err != nil {
		return err
	}
	if err := s.who.need(roleDeployer, imageModel(target), "tag "+target); err != nil {
		return err
	}
	return s.docker("tag", source, target)
}

// stampedObject is one JSON object with fields set (over the client's), in canonical form (RFC 8785).
func stampedObject(data []byte, fields map[string]string) ([]byte, error) {
	if _, err := canonicalJSON(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var object map[string]any
	if err := dec.Decode(&object); err != nil || object == nil {
		return nil, errors.New("not a JSON object")
	}
	for k, v := range fields {
		object[k] = v
	}
	raw, err := json.Marshal(object)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(raw)
}

// probe <port> [/healthz|/readyz|/metadata|/_berth/health]: one HTTP/1.0 GET to a replica (or the gateway's own
// health, which the app waits on after a new table) on this server; the raw answer.
func (s *shellSession) probe() error {
	if len(s.args) < 1 || len(s.args) > 2 {
		return invalid("usage: probe <port> [/healthz|/readyz|/metadata|/_berth/health]")
	}
	if err := check(s.args[0], `^[0-9]{2,5}$`, "port"); err != nil {
		return err
	}
	if port, _ := strconv.Atoi(s.args[0]); port < 1024 || port > 65535 {
		return invalid("probe: port must be 1024-65535")
	}
	path := "/readyz"
	if len(s.args) == 2 {
		path = s.args[1]
	}
	if err := check(path, `^/(healthz|readyz|metadata|_berth/health)$`, "probe path"); err != nil {
		return err
	}
	return s.get(net.JoinHostPort("127.0.0.1", s.args[0]), path)
}

func (s *shellSession) get(address, path string) error {
	deadline := time.Now().Add(10 * time.Second)
	conn, err := net.DialTimeout("tcp", address, 10*time.Second)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return failed(7, "probe: %s: connection refused", address)
		}
		return failed(7, "probe: %s: %v", address, err)
	}
	defer conn.Close()
	conn.SetDeadline(deadline)
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path)
	_, err = io.Copy(s.env.stdout, conn)
	var timeout net.Error
	if errors.As(err, &timeout) && timeout.Timeout() {
		return exitStatus(124) // as `timeout 10 cat` did
	}
	return err
}

// routesDerive writes routes.json from the verified group states and revocations of this server, the way the
// agent's catch-up does: no client ever writes a table. It ends like state-apply: `routes\t<revision>\t<gateway|table>`
// or `routes\tunchanged`.
func (s *shellSession) routesDerive() error {
	if err := s.noArgs("routes-derive"); err != nil {
		return err
	}
	result, err := s.deriveRoutes()
	if err != nil {
		return err
	}
	s.printRoutes(result)
	return nil
}

// deriveRoutes derives routes.json and replaces it when it differs; it returns the revision written, or
// "unchanged". Its messages name the verb that asked.
func (s *shellSession) deriveRoutes() (string, error) {
	store := stateStore{s.env.berthDir}
	uid, err := store.readServerUID()
	if err != nil {
		return "", failed(1, "%s: this server has no identity yet (%v)", s.verb, err)
	}
	states, revocations, err := serverStates(store, uid, s.verb)
	if err != nil {
		return "", err
	}
	if len(states) == 0 {
		fmt.Fprintf(s.env.stderr, "berth: %s: no group state here names this server; routes.json is left as it is\n", s.verb)
		return "unchanged", nil
	}
	now := s.env.now()
	routes := deriveRoutes(states, revocations, uid, now)
	w := &routesWriter{berthDir: s.env.berthDir, gatewayDir: filepath.Join(s.env.berthDir, "gateway")}
	if current, found := w.current(); found && sameRoutes(current, routes) {
		return "unchanged", nil
	}
	if err := w.write(routes, now); err != nil {
		return "", failed(1, "%s: cannot write routes.json: %v", s.verb, err)
	}
	return strconv.FormatInt(w.last, 10), nil
}

// serverStates are the verified states naming uid, with their revocations; like Berth and the agent, nothing is
// derived while a group's copy here is damaged.
func serverStates(store stateStore, uid, verb string) (map[string]groupState, map[string][]revocation, error) {
	states := map[string]groupState{}
	revocations := map[string][]revocation{}
	copies := store.readGroups()
	for _, group := range sortedGroupNames(copies) {
		c := copies[group]
		if !c.verified() {
			return nil, nil, failed(65, "%s: the state of group %s here is damaged (%s): routes.json keeps its table", verb, group, c.Problem)
		}
		if c.names(uid) {
			states[group] = c.Rev.State
			revocations[group] = store.readRevocations(group)
		}
	}
	return states, revocations, nil
}
