package main

// A fake Docker Engine API on a unix socket, recording what the runtime asks of it.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeContainer struct {
	ID           string
	Name         string
	Labels       map[string]string
	Status       string // created | running | restarting | exited
	OOMKilled    bool
	FinishedAt   time.Time
	RestartCount int
	Memory       int64
}

type fakeCreate struct {
	Name string
	Body map[string]any
}

type fakeDocker struct {
	socket string
	server *httptest.Server

	mu         sync.Mutex
	containers map[string]*fakeContainer // by id
	requests   []string                  // "METHOD /path?query" of every request but the listing and inspects
	creates    []fakeCreate
	streams    []string // the URL of every events request
	nextID     int
	// refused events requests left, each answered 500 after refuseAfter (a daemon slow to come back)
	refused     int
	refuseAfter time.Duration

	events chan dockerEvent
	drop   chan struct{} // ends the open events streams
	done   chan struct{}
}

var versionPrefix = regexp.MustCompile(`^/v1\.[0-9]+`)

func newFakeDocker(t *testing.T) *fakeDocker {
	t.Helper()
	dir, err := os.MkdirTemp("", "fakedocker") // short: unix socket paths are limited to about 100 bytes
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDocker{socket: filepath.Join(dir, "docker.sock"), containers: map[string]*fakeContainer{},
		events: make(chan dockerEvent, 16), drop: make(chan struct{}), done: make(chan struct{})}
	ln, err := net.Listen("unix", f.socket)
	if err != nil {
		t.Fatal(err)
	}
	f.server = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.server.Listener = ln
	f.server.Start()
	t.Cleanup(func() {
		close(f.done)
		f.server.Close()
		os.RemoveAll(dir)
	})
	return f
}

func (f *fakeDocker) add(c fakeContainer) *fakeContainer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ID == "" {
		f.nextID++
		c.ID = fmt.Sprintf("id%d", f.nextID)
	}
	f.containers[c.ID] = &c
	return &c
}

// update changes a container under the fake's lock.
func (f *fakeDocker) update(id string, change func(*fakeContainer)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f.containers[id])
}

func (f *fakeDocker) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.requests...)
}

func (f *fakeDocker) created() []fakeCreate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCreate{}, f.creates...)
}

func (f *fakeDocker) eventStreams() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string{}, f.streams...)
}

func (f *fakeDocker) byRef(ref string) *fakeContainer {
	if c := f.containers[ref]; c != nil {
		return c
	}
	for _, c := range f.containers {
		if c.Name == ref {
			return c
		}
	}
	return nil
}

func (f *fakeDocker) serve(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	if path == "/events" {
		f.stream(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && path == "/containers/json":
		f.list(w)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[2] == "json":
		f.inspect(w, parts[1])
	case r.Method == http.MethodPost && path == "/containers/create":
		f.requests = append(f.requests, r.Method+" "+r.URL.RequestURI())
		f.create(w, r)
	default:
		f.requests = append(f.requests, r.Method+" "+path)
		f.act(w, r, parts)
	}
}

func (f *fakeDocker) list(w http.ResponseWriter) {
	// Deliberately unfiltered: the runtime must skip containers without berth.model itself too.
	list := []dockerContainer{}
	for _, c := range f.containers {
		list = append(list, dockerContainer{ID: c.ID, Names: []string{"/" + c.Name}, Labels: c.Labels, State: c.Status})
	}
	json.NewEncoder(w).Encode(list)
}

func (f *fakeDocker) inspect(w http.ResponseWriter, ref string) {
	c := f.byRef(ref)
	if c == nil {
		http.Error(w, `{"message":"no such container"}`, http.StatusNotFound)
		return
	}
	finished := "0001-01-01T00:00:00Z"
	if !c.FinishedAt.IsZero() {
		finished = c.FinishedAt.UTC().Format(time.RFC3339Nano)
	}
	json.NewEncoder(w).Encode(map[string]any{
		"Id": c.ID, "Name": "/" + c.Name, "RestartCount": c.RestartCount,
		"State": map[string]any{"Status": c.Status, "Running": c.Status == "running", "Restarting": c.Status == "restarting",
			"OOMKilled": c.OOMKilled, "FinishedAt": finished},
		"Config":     map[string]any{"Labels": c.Labels},
		"HostConfig": map[string]any{"Memory": c.Memory},
	})
}

func (f *fakeDocker) create(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	name := r.URL.Query().Get("name")
	f.creates = append(f.creates, fakeCreate{Name: name, Body: body})
	labels := map[string]string{}
	for k, v := range body["Labels"].(map[string]any) {
		labels[k] = v.(string)
	}
	f.nextID++
	c := &fakeContainer{ID: fmt.Sprintf("id%d", f.nextID), Name: name, Labels: labels, Status: "created"}
	f.containers[c.ID] = c
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"Id": c.ID})
}

func (f *fakeDocker) act(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) < 2 || parts[0] != "containers" || f.byRef(parts[1]) == nil {
		http.Error(w, `{"message":"no such container"}`, http.StatusNotFound)
		return
	}
	c := f.byRef(parts[1])
	switch {
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "start":
		c.Status = "running"
	case r.Method == http.MethodPost && len(parts) == 3 && parts[2] == "stop":
		c.Status = "exited"
	case r.Method == http.MethodDelete && len(parts) == 2:
		delete(f.containers, c.ID)
	default:
		http.Error(w, `{"message":"not faked"}`, http.StatusNotImplemented)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeDocker) stream(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.streams = append(f.streams, r.URL.RequestURI())
	drop := f.drop
	refuse, after := f.refused > 0, f.refuseAfter
	if refuse {
		f.refused--
	}
	f.mu.Unlock()
	if refuse {
		time.Sleep(after)
		http.Error(w, `{"message":"daemon is starting"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for {
		select {
		case e := <-f.events:
			json.NewEncoder(w).Encode(e)
			w.(http.Flusher).Flush()
		case <-drop:
			return
		case <-r.Context().Done():
			return
		case <-f.done:
			return
		}
	}
}

// refuseStreams answers the next n events requests 500, each after a pause.
func (f *fakeDocker) refuseStreams(n int, after time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refused, f.refuseAfter = n, after
}

// dropStreams ends every open events stream, as a restarting daemon does.
func (f *fakeDocker) dropStreams() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.drop)
	f.drop = make(chan struct{})
}

var fakeEventNano int64 = time.Now().UnixNano()

// emit sends one container event on the stream, carrying the container's labels as Docker does.
func (f *fakeDocker) emit(action string, c *fakeContainer) {
	fakeEventNano++
	e := dockerEvent{Type: "container", Action: action, Time: fakeEventNano / 1e9, TimeNano: fakeEventNano}
	e.Actor.ID = c.ID
	e.Actor.Attributes = map[string]string{"name": c.Name}
	for k, v := range c.Labels {
		e.Actor.Attributes[k] = v
	}
	f.events <- e
}

func TestDockerClientTalksEngineAPI(t *testing.T) {
	f := newFakeDocker(t)
	f.add(fakeContainer{ID: "abc", Name: "berth-iris-v3-r1", Labels: map[string]string{"berth.model": "iris"}, Status: "exited"})
	d := newDockerClient(f.socket)
	ctx := testContext(t)

	list, err := d.berthContainers(ctx)
	if err != nil || len(list) != 1 || nameOf(list[0]) != "berth-iris-v3-r1" {
		t.Fatalf("list = %+v, %v", list, err)
	}
	c, err := d.inspect(ctx, "abc")
	if err != nil || c.State.Status != "exited" || !c.finishedAt().IsZero() {
		t.Fatalf("inspect = %+v, %v", c, err)
	}
	if err := d.start(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := d.remove(ctx, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := d.remove(ctx, "abc"); err != nil {
		t.Fatalf("removing a container already gone: %v", err)
	}
	if _, err := d.inspect(ctx, "abc"); !isDockerStatus(err, http.StatusNotFound) || !strings.Contains(err.Error(), "no such container") {
		t.Fatalf("inspect of a removed container: %v", err)
	}
	want := []string{"POST /containers/abc/start", "DELETE /containers/abc", "DELETE /containers/abc"}
	if got := f.recorded(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("requests = %q, want %q", got, want)
	}
}

// testContext ends with the test, and after 30 s at most.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
