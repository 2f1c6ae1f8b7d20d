package main

// A minimal Docker Engine API client over the server's unix socket: just what the agent's runtime needs.
// Paths carry no version prefix so the daemon answers in its own current version (engines from 29 on refuse
// old pinned versions such as /v1.41).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

const (
	dockerCallTimeout   = 10 * time.Second
	dockerCreateTimeout = 30 * time.Second
	// The stream of events has no overall timeout (it is meant to stay open); only its answer must come quickly.
	dockerEventsHeaderTimeout = 10 * time.Second
)

type dockerClient struct {
	calls  *http.Client
	stream *http.Client
}

// dockerContainer is one entry of GET /containers/json.
type dockerContainer struct {
	ID     string            `json:"Id"`
	Names  []string          `json:"Names"`
	Labels map[string]string `json:"Labels"`
	State  string            `json:"State"`
}

// dockerInspect is the part of GET /containers/{id}/json the runtime reads.
type dockerInspect struct {
	ID           string `json:"Id"`
	Name         string `json:"Name"`
	RestartCount int    `json:"RestartCount"`
	State        struct {
		Status     string `json:"Status"`
		Running    bool   `json:"Running"`
		Restarting bool   `json:"Restarting"`
		OOMKilled  bool   `json:"OOMKilled"`
		FinishedAt string `json:"FinishedAt"`
	} `json:"State"`
	Config struct {
		Labels map[string]string `json:"Labels"`
	} `json:"Config"`
	HostConfig struct {
		Memory int64 `json:"Memory"`
	} `json:"HostConfig"`
}

// finishedAt is when the container last exited; the zero time if it never did (Docker says 0001-01-01).
func (c dockerInspect) finishedAt() time.Time {
	at, err := time.Parse(time.RFC3339Nano, c.State.FinishedAt)
	if err != nil {
		return time.Time{}
	}
	return at
}

// dockerCreate is the body of POST /containers/create.
type dockerCreate struct {
	Image      string            `json:"Image"`
	Env        []string          `json:"Env"`
	Labels     map[string]string `json:"Labels"`
	HostConfig dockerHostConfig  `json:"HostConfig"`
}

type dockerHostConfig struct {
	NetworkMode   string              `json:"NetworkMode"`
	RestartPolicy dockerRestartPolicy `json:"RestartPolicy"`
	Memory        int64               `json:"Memory"`
	MemorySwap    int64               `json:"MemorySwap"`
	NanoCpus      int64               `json:"NanoCpus"`
	LogConfig     dockerLogConfig     `json:"LogConfig"`
	// DeviceRequests is what `docker run --gpus "device=…"` sends.
	DeviceRequests []dockerDeviceRequest `json:"DeviceRequests,omitempty"`
}

type dockerDeviceRequest struct {
	Driver       string     `json:"Driver"`
	Count        int        `json:"Count"`
	DeviceIDs    []string   `json:"DeviceIDs"`
	Capabilities [][]string `json:"Capabilities"`
}

type dockerRestartPolicy struct {
	Name string `json:"Name"`
}

type dockerLogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config"`
}

// dockerEvent is one message of GET /events.
type dockerEvent struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	Time     int64 `json:"time"`
	TimeNano int64 `json:"timeNano"`
}

// dockerError is a non-2xx answer of the Engine API.
type dockerError struct {
	Status  int
	Message string
}

func (e *dockerError) Error() string { return fmt.Sprintf("docker: %d %s", e.Status, e.Message) }

func newDockerClient(socketPath string) *dockerClient {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socketPath)
	}
	return &dockerClient{
		calls:  &http.Client{Transport: &http.Transport{DialContext: dial, MaxIdleConns: 4}},
		stream: &http.Client{Transport: &http.Transport{DialContext: dial, ResponseHeaderTimeout: dockerEventsHeaderTimeout}},
	}
}

// call sends one request with its own timeout and decodes a JSON answer into out (when out is not nil).
func (d *dockerClient) call(ctx context.Context, timeout time.Duration, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var reader io.Reader
	if body != nil {
		encoded, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(encoded)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, reader)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := d.calls.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return readDockerError(res)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, res.Body)
		return err
	}
	return json.NewDecoder(res.Body).Decode(out)
}

func readDockerError(res *http.Response) error {
	var answer struct {
		Message string `json:"message"`
	}
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if json.Unmarshal(raw, &answer) != nil || answer.Message == "" {
		answer.Message = string(raw)
	}
	return &dockerError{Status: res.StatusCode, Message: answer.Message}
}

func filtersQuery(filters map[string][]string) string {
	encoded, _ := json.Marshal(filters)
	return url.QueryEscape(string(encoded))
}

// berthContainers lists every container carrying the berth.model label, running or not.
func (d *dockerClient) berthContainers(ctx context.Context) ([]dockerContainer, error) {
	var list []dockerContainer
	path := "/containers/json?all=1&filters=" + filtersQuery(map[string][]string{"label": {containerLabels.model}})
	err := d.call(ctx, dockerCallTimeout, http.MethodGet, path, nil, &list)
	return list, err
}

func (d *dockerClient) inspect(ctx context.Context, id string) (dockerInspect, error) {
	var c dockerInspect
	err := d.call(ctx, dockerCallTimeout, http.MethodGet, "/containers/"+url.PathEscape(id)+"/json", nil, &c)
	return c, err
}

// create makes a container and returns its id.
func (d *dockerClient) create(ctx context.Context, name string, spec dockerCreate) (string, error) {
	var created struct {
		ID string `json:"Id"`
	}
	err := d.call(ctx, dockerCreateTimeout, http.MethodPost, "/containers/create?name="+url.QueryEscape(name), spec, &created)
	return created.ID, err
}

func (d *dockerClient) start(ctx context.Context, id string) error {
	err := d.call(ctx, dockerCallTimeout, http.MethodPost, "/containers/"+url.PathEscape(id)+"/start", nil, nil)
	if isDockerStatus(err, http.StatusNotModified) { // already running
		return nil
	}
	return err
}

// stop asks the container to exit, killing it after grace.
func (d *dockerClient) stop(ctx context.Context, id string, grace time.Duration) error {
	seconds := strconv.Itoa(int(grace / time.Second))
	err := d.call(ctx, grace+dockerCallTimeout, http.MethodPost, "/containers/"+url.PathEscape(id)+"/stop?t="+seconds, nil, nil)
	if isDockerStatus(err, http.StatusNotModified) { // already stopped
		return nil
	}
	return err
}

// remove deletes a container, running or not; one already gone is fine.
func (d *dockerClient) remove(ctx context.Context, id string) error {
	err := d.call(ctx, dockerCallTimeout, http.MethodDelete, "/containers/"+url.PathEscape(id)+"?force=1", nil, nil)
	if isDockerStatus(err, http.StatusNotFound) {
		return nil
	}
	return err
}

func isDockerStatus(err error, status int) bool {
	de, ok := err.(*dockerError)
	return ok && de.Status == status
}

// events streams Berth containers' oom, die and start events to handle until the stream ends or ctx is done;
// connected says the daemon accepted the stream. since (unix seconds, 0 for none) replays what happened while a
// previous stream was down.
func (d *dockerClient) events(ctx context.Context, since int64, handle func(dockerEvent)) (connected bool, err error) {
	path := "/events?filters=" + filtersQuery(map[string][]string{
		"type": {"container"}, "event": {"oom", "die", "start"}, "label": {containerLabels.model},
	})
	if since > 0 {
		path += "&since=" + strconv.FormatInt(since, 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return false, err
	}
	res, err := d.stream.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return false, readDockerError(res)
	}
	decoder := json.NewDecoder(res.Body)
	for {
		var event dockerEvent
		if err := decoder.Decode(&event); err != nil {
			return true, err
		}
		handle(event)
	}
}
