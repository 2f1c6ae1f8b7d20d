// Command gateway is Berth's per-server API gateway: it routes /<model>/v<n>/... and /<model>/<alias>/... to
// healthy replicas, checks API keys, and logs every request. Its only input is routes.json, which Berth
// rewrites atomically; see docs/ARCHITECTURE.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// gatewayVersion is set at build time (-ldflags "-X main.gatewayVersion=...").
var gatewayVersion = "dev"

type options struct {
	listen          string // one address, or several separated by commas (an address and loopback)
	config          string
	tlsDir          string // cert.pem, key.pem, ca.pem; "" means tls/ beside routes.json
	agentPath       string // agent.json; "" means beside routes.json
	logDir          string
	logMaxBytes     int64
	logMaxFiles     int
	maxBodyBytes    int64
	upstreamTimeout time.Duration
	dialTimeout     time.Duration
	shutdownTimeout time.Duration
	pollInterval    time.Duration
	healthInterval  time.Duration
	healthTimeout   time.Duration
	flushInterval   time.Duration
	catchUpHold     time.Duration // longest a request waits for the readiness gate
	catchUpTimeout  time.Duration // since start: then the gate opens without the agent
	peerInterval    time.Duration
	peerTimeout     time.Duration
}

func defaultOptions() options {
	return options{
		listen:          ":8700",
		config:          "/etc/berth-gateway/routes.json",
		logDir:          "/var/log/berth-gateway",
		logMaxBytes:     10 << 20,
		logMaxFiles:     5,
		maxBodyBytes:    10 << 20,
		upstreamTimeout: 120 * time.Second,
		dialTimeout:     2 * time.Second,
		shutdownTimeout: 8 * time.Second,
		pollInterval:    200 * time.Millisecond,
		healthInterval:  time.Second,
		healthTimeout:   500 * time.Millisecond,
		flushInterval:   200 * time.Millisecond,
		catchUpHold:     20 * time.Second,
		catchUpTimeout:  60 * time.Second,
		peerInterval:    time.Second,
		peerTimeout:     500 * time.Millisecond,
	}
}

type gateway struct {
	opts      options
	table     atomic.Pointer[table]
	replicas  *replicaSet
	transport *http.Transport
	log       *requestLog
	watcher   *routesWatcher
	tls       *tlsWatcher
	agent     *agentWatcher
	gate      *readinessGate
	health    *healthChecker
	peers     *peerChecker
	idPrefix  string
	idCounter atomic.Uint64
	started   time.Time
}

// newGateway opens the request log and loads agent.json and routes.json once (a missing or bad routes.json
// starts an empty table). An agent.json present at start means this server has a group to catch up with first.
func newGateway(o options) (*gateway, error) {
	if o.agentPath == "" {
		o.agentPath = filepath.Join(filepath.Dir(o.config), "agent.json")
	}
	if o.tlsDir == "" {
		o.tlsDir = tlsDirOf(o.config)
	}
	_, agentErr := os.Stat(o.agentPath)
	rl, err := openRequestLog(o.logDir, o.logMaxBytes, o.logMaxFiles)
	if err != nil {
		return nil, err
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	tlsFiles := &tlsWatcher{dir: o.tlsDir}
	g := &gateway{
		opts:      o,
		replicas:  newReplicaSet(),
		transport: newUpstreamTransport(o, tlsFiles),
		tls:       tlsFiles,
		log:       rl,
		idPrefix:  "gw" + hex.EncodeToString(rnd[:]) + "-",
		started:   time.Now(),
	}
	g.table.Store(emptyTable)
	g.health = newHealthChecker(func() *table { return g.table.Load() }, o.healthInterval, o.healthTimeout)
	g.agent = &agentWatcher{path: o.agentPath}
	g.gate = newReadinessGate(agentErr == nil)
	g.peers = newPeerChecker(g.agent.peers, o.peerInterval, o.peerTimeout, tlsFiles)
	g.watcher = &routesWatcher{
		path:    o.config,
		compile: func(b []byte) (*table, error) { return compileRoutes(b, g.agent.standIns(), g.replicas) },
		apply:   g.swap,
	}
	g.pollFiles()
	return g, nil
}

// swap installs a new table in one pointer store; requests already running keep the table they loaded.
func (g *gateway) swap(t *table) {
	g.table.Store(t)
	g.replicas.retain(t.replicas)
	g.health.checkSoon()
}

// start runs the background loops until ctx ends.
func (g *gateway) start(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); g.watchFiles(ctx) }()
	go func() { defer wg.Done(); g.health.run(ctx) }()
	go func() { defer wg.Done(); g.peers.run(ctx) }()
	go func() { defer wg.Done(); g.log.run(ctx.Done(), g.opts.flushInterval) }()
	return &wg
}

func (g *gateway) close() {
	g.log.close()
	g.transport.CloseIdleConnections()
	g.health.client.CloseIdleConnections()
	g.peers.client.CloseIdleConnections()
}

type versionHealth struct {
	Healthy  int `json:"healthy"`
	Replicas int `json:"replicas"`
}

type modelHealth struct {
	Public   bool                     `json:"public"`
	Versions map[string]versionHealth `json:"versions"`
	Aliases  map[string]string        `json:"aliases"`
}

// serveInternal answers /_berth/*; no key needed (Berth's monitor and the Docker healthcheck use it).
func (g *gateway) serveInternal(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_berth/health" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		w.Header()["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusNotFound)
		w.Write(errorBody("NotFound", "The gateway's own endpoint is GET /_berth/health.", nil))
		return
	}
	t := g.table.Load()
	models := make(map[string]modelHealth, len(t.models))
	for name, m := range t.models {
		mh := modelHealth{Public: m.public, Versions: map[string]versionHealth{}, Aliases: map[string]string{}}
		for vn, v := range m.versions {
			vh := versionHealth{Replicas: len(v.replicas)}
			for _, rep := range v.replicas {
				if rep.healthy.Load() {
					vh.Healthy++
				}
			}
			mh.Versions[vn] = vh
		}
		for an, a := range m.aliases {
			mh.Aliases[an] = a.target.name
		}
		models[name] = mh
	}
	// 200 while the gate holds requests too: Docker's healthcheck must not restart a catching-up gateway.
	b, _ := json.Marshal(map[string]any{
		"status":        "ok",
		"version":       gatewayVersion,
		"revision":      t.revision,
		"models":        models,
		"keys":          len(t.keys),
		"configError":   nullable(g.watcher.err.Load()),
		"uptimeSeconds": int64(time.Since(g.started).Seconds()),
		"ready":         g.gate.ready(),
		"gate":          g.gate.state.Load(),
		"agentError":    nullable(g.agent.err.Load()),
		"peers":         g.peerHealth(),
		"tls":           g.tls.health(t.httpsOnly),
	})
	w.Header()["Content-Type"] = jsonContentType
	w.Header().Set("Cache-Control", "no-store")
	w.Write(append(b, '\n'))
}

type peerStatus struct {
	UID       string `json:"uid"`
	Name      string `json:"name"`
	Gateway   string `json:"gateway"`
	Reachable bool   `json:"reachable"`
}

func (g *gateway) peerHealth() []peerStatus {
	peers := g.agent.peers()
	list := make([]peerStatus, 0, len(peers))
	for _, p := range peers {
		list = append(list, peerStatus{UID: p.UID, Name: p.Name, Gateway: p.Gateway, Reachable: g.peers.reachable(p.Gateway)})
	}
	return list
}

// nullable is nil for "" (JSON null).
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func envDuration(name string, fallback time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
		log.Printf("ignoring %s=%q: not a duration", name, v)
	}
	return fallback
}

func envInt(name string, fallback int64) int64 {
	if v := os.Getenv(name); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
		log.Printf("ignoring %s=%q: not an integer", name, v)
	}
	return fallback
}

// parseFlags: every flag also has a BERTH_GATEWAY_* variable (the flag wins), so the Docker HEALTHCHECK, which
// gets no arguments, sees the same listen address as the server.
func parseFlags(args []string) (options, bool, string, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.StringVar(&o.listen, "listen", envOr("BERTH_GATEWAY_LISTEN", o.listen), "address to listen on, or several separated by commas (env BERTH_GATEWAY_LISTEN)")
	fs.StringVar(&o.config, "config", envOr("BERTH_GATEWAY_CONFIG", o.config), "routes.json path (env BERTH_GATEWAY_CONFIG)")
	fs.StringVar(&o.tlsDir, "tls-dir", envOr("BERTH_GATEWAY_TLS_DIR", o.tlsDir), "folder of cert.pem, key.pem and ca.pem, default tls/ beside routes.json (env BERTH_GATEWAY_TLS_DIR)")
	fs.StringVar(&o.agentPath, "agent-file", envOr("BERTH_GATEWAY_AGENT_FILE", o.agentPath), "agent.json path, default beside routes.json (env BERTH_GATEWAY_AGENT_FILE)")
	fs.DurationVar(&o.catchUpHold, "catch-up-hold", envDuration("BERTH_GATEWAY_CATCH_UP_HOLD", o.catchUpHold), "longest a request waits for the server to catch up before 503 (env BERTH_GATEWAY_CATCH_UP_HOLD)")
	fs.DurationVar(&o.catchUpTimeout, "catch-up-timeout", envDuration("BERTH_GATEWAY_CATCH_UP_TIMEOUT", o.catchUpTimeout), "serve anyway this long after start if the agent has not caught up (env BERTH_GATEWAY_CATCH_UP_TIMEOUT)")
	fs.StringVar(&o.logDir, "log-dir", envOr("BERTH_GATEWAY_LOG_DIR", o.logDir), "request log folder (env BERTH_GATEWAY_LOG_DIR)")
	fs.Int64Var(&o.logMaxBytes, "log-max-bytes", envInt("BERTH_GATEWAY_LOG_MAX_BYTES", o.logMaxBytes), "rotate the request log at this size (env BERTH_GATEWAY_LOG_MAX_BYTES)")
	maxFiles := fs.Int64("log-max-files", envInt("BERTH_GATEWAY_LOG_MAX_FILES", int64(o.logMaxFiles)), "request log files kept, current one included (env BERTH_GATEWAY_LOG_MAX_FILES)")
	fs.Int64Var(&o.maxBodyBytes, "max-body-bytes", envInt("BERTH_GATEWAY_MAX_BODY_BYTES", o.maxBodyBytes), "largest request body; larger ones get 413 (env BERTH_GATEWAY_MAX_BODY_BYTES)")
	fs.DurationVar(&o.upstreamTimeout, "upstream-timeout", o.upstreamTimeout, "longest wait for a replica's response headers")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout, "how long SIGTERM waits for requests in flight")
	showVersion := fs.Bool("version", false, "print the version and exit")
	healthcheck := fs.Bool("healthcheck", false, "probe a running gateway's /_berth/health (optionally at the URL given as argument) and exit 0 if it answers 200")
	if err := fs.Parse(args); err != nil {
		return o, false, "", err
	}
	o.logMaxFiles = int(*maxFiles)
	if *showVersion {
		fmt.Println("berth-gateway", gatewayVersion)
		os.Exit(0)
	}
	url := ""
	if *healthcheck {
		url = fs.Arg(0)
		if url == "" {
			url = "http://" + loopbackOf(o.listen) + "/_berth/health"
		}
	}
	return o, *healthcheck, url, nil
}

// listenAddresses splits the -listen list.
func listenAddresses(listen string) []string {
	var list []string
	for _, addr := range strings.Split(listen, ",") {
		if addr = strings.TrimSpace(addr); addr != "" {
			list = append(list, addr)
		}
	}
	return list
}

// loopbackOf turns the listen list (":8700", "0.0.0.0:8700", "10.0.0.5:8700,127.0.0.1:8700") into the address to
// probe: a loopback one when the gateway listens there, since only loopback may call health in plain HTTP everywhere.
func loopbackOf(listen string) string {
	addrs := listenAddresses(listen)
	for _, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
			return net.JoinHostPort("127.0.0.1", port)
		}
	}
	if len(addrs) > 0 {
		return addrs[0]
	}
	return "127.0.0.1:8700"
}

func runHealthcheck(url string) int {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		return 1
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "unhealthy:", resp.Status)
		return 1
	}
	return 0
}

// serve runs the gateway on the listeners until ctx ends, then drains requests in flight (bounded by
// shutdownTimeout). Each listener takes TLS and plain connections alike.
func serve(ctx context.Context, g *gateway, listeners ...net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          log.New(io.Discard, "", 0), // client resets are not worth a line each
	}
	bg, stopBg := context.WithCancel(context.Background())
	loops := g.start(bg)
	errc := make(chan error, len(listeners))
	for _, ln := range listeners {
		go func(ln net.Listener) {
			errc <- srv.Serve(newSniffingListener(ln, g.tls.serverConfig(), srv.ReadHeaderTimeout))
		}(ln)
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Printf("shutting down: waiting up to %s for requests in flight", g.opts.shutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), g.opts.shutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if err != nil {
			srv.Close()
		}
	}
	stopBg()
	loops.Wait()
	g.close()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func main() {
	if filepath.Base(os.Args[0]) == "berth-shell" {
		os.Exit(runShell(os.Args[1:], osShellEnv()))
	}
	if len(os.Args) > 1 && os.Args[1] == "shell" {
		os.Exit(runShell(os.Args[2:], osShellEnv()))
	}
	log.SetFlags(log.LstdFlags | log.LUTC)
	log.SetPrefix("gateway: ")
	if len(os.Args) > 1 && os.Args[1] == "agent" {
		os.Exit(runAgent(os.Args[2:]))
	}
	o, healthcheck, url, err := parseFlags(os.Args[1:])
	if err != nil {
		os.Exit(2)
	}
	if healthcheck {
		os.Exit(runHealthcheck(url))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	g, err := newGateway(o)
	if err != nil {
		log.Fatal(err)
	}
	var listeners []net.Listener
	for _, addr := range listenAddresses(o.listen) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatalf("cannot listen on %s: %v", addr, err)
		}
		listeners = append(listeners, ln)
	}
	log.Printf("berth-gateway %s listening on %s, routes %s, agent %s, certificate %s, request log %s (%d × %d bytes)", gatewayVersion, o.listen,
		o.config, g.opts.agentPath, g.opts.tlsDir, o.logDir, o.logMaxFiles, o.logMaxBytes)
	if err := serve(ctx, g, listeners...); err != nil {
		log.Fatal(err)
	}
	log.Printf("stopped")
}
