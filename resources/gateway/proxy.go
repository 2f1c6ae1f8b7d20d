package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Header values shared by every request; never appended to (cap == len), so sharing is safe.
var (
	jsonContentType = []string{"application/json"}
	publicCaller    = []string{"public"}
	bearerChallenge = []string{`Bearer realm="berth"`}
)

// hopHeaders are connection-scoped and never forwarded (RFC 7230 §6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// dialError marks a failure to connect: nothing of the request reached the replica, so another may get it.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// newUpstreamTransport reaches replicas (plain HTTP on loopback) and peer gateways (HTTPS when this server holds the
// group CA); a failure to connect or to shake hands is a dialError either way.
func newUpstreamTransport(o options, tlsFiles *tlsWatcher) *http.Transport {
	dialer := &net.Dialer{Timeout: o.dialTimeout, KeepAlive: 30 * time.Second}
	asDialError := func(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil && ctx.Err() == nil {
				return nil, &dialError{err}
			}
			return c, err
		}
	}
	return &http.Transport{
		Proxy:               nil, // never send model traffic through an environment proxy
		DialContext:         asDialError(dialer.DialContext),
		DialTLSContext:      asDialError(tlsFiles.dialTLS(dialer.DialContext)),
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 512,
		// Shorter than the serving wrapper's 30 s keep-alive, so the gateway, not the replica, closes idle connections.
		IdleConnTimeout:       20 * time.Second,
		ResponseHeaderTimeout: o.upstreamTimeout,
		ExpectContinueTimeout: 0,
		DisableCompression:    true, // pass Accept-Encoding and encoded bodies through untouched
		ForceAttemptHTTP2:     false,
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// bodyBuf holds a buffered request body for replay on another replica. The transport may close (and stop
// reading) a body after RoundTrip returned, so the buffer goes back to the pool only when every reader handed
// to the transport is closed and the handler is done with it.
type bodyBuf struct {
	buf  bytes.Buffer
	refs int32
}

var bodyBufs = sync.Pool{New: func() any { return new(bodyBuf) }}

func (b *bodyBuf) release() {
	if atomic.AddInt32(&b.refs, -1) == 0 {
		if b.buf.Cap() <= 1<<20 {
			b.buf.Reset()
			bodyBufs.Put(b)
		}
	}
}

type bodyReader struct {
	bytes.Reader
	owner  *bodyBuf
	closed int32
}

func (b *bodyBuf) reader() io.ReadCloser {
	atomic.AddInt32(&b.refs, 1)
	r := &bodyReader{owner: b}
	r.Reset(b.buf.Bytes())
	return r
}

func (r *bodyReader) Close() error {
	if atomic.CompareAndSwapInt32(&r.closed, 0, 1) {
		r.owner.release()
	}
	return nil
}

// ServeHTTP is the whole hot path: route, authenticate, pick a healthy replica, forward, log.
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_berth/") {
		if r.TLS == nil && g.table.Load().httpsOnly && !fromLoopback(r) {
			g.refusePlainHTTP(w, r, &logEntry{})
			return
		}
		g.serveInternal(w, r)
		return
	}
	e := logEntry{start: time.Now(), method: r.Method, path: r.URL.Path}
	// Deferred so a request aborted mid-response (panic(http.ErrAbortHandler)) is logged too.
	defer func() { g.log.write(&e, time.Now()) }()
	g.proxy(w, r, &e)
}

func (g *gateway) proxy(w http.ResponseWriter, r *http.Request, e *logEntry) {
	h := r.Header
	rid := requestID(h)
	if rid == "" {
		rid = g.newRequestID()
	}
	e.requestID = rid
	ridHeader := []string{rid}
	w.Header()["X-Request-Id"] = ridHeader
	// Held before the table is loaded, so a request released by the gate runs on the caught-up table.
	if !g.gate.wait(r.Context(), g.opts.catchUpHold) {
		if r.Context().Err() != nil {
			e.status, e.errKind = 499, "ClientClosed"
			return
		}
		g.fail(w, e, http.StatusServiceUnavailable, "CatchingUp", nil, catchingUpMessage)
		return
	}
	t := g.table.Load()
	// A request another gateway forwarded is served here or not at all: never a second hop.
	forwarded := h["X-Berth-Via"] != nil

	// /<model>/<selector>/<rest>
	p := r.URL.Path
	modelName, selector, rest := splitRoute(p)
	m := t.models[modelName]
	if m != nil {
		e.model = m.name // the log is the operator's: a refused call still counts against its model
	}
	// Refused before any key is read: a key sent in clear is never checked, so plain HTTP is no oracle for keys.
	if r.TLS == nil && (t.httpsOnly || m != nil && m.httpsOnly) {
		g.refusePlainHTTP(w, r, e)
		return
	}

	var key *apiKey
	// An unknown model is answered like a private one, so a caller without a valid key learns no model names.
	if m == nil || !m.public {
		var status int
		var kind, msg string
		key, status, kind, msg = t.authenticate(h, e.start)
		if key == nil {
			w.Header()["Www-Authenticate"] = bearerChallenge
			g.fail(w, e, status, kind, nil, msg)
			return
		}
		e.caller = key.id
		if m == nil {
			g.fail(w, e, http.StatusNotFound, "NotFound", nil,
				"No model named \""+modelName+"\" on this gateway. Call /<model>/v<n>/<path> or /<model>/<alias>/<path>.")
			return
		}
		if !key.allowsModel(m.name) {
			g.fail(w, e, http.StatusForbidden, "Forbidden", nil, "The API key "+key.id+" may not call model \""+m.name+"\".")
			return
		}
	} else {
		e.caller = "public"
	}

	var v *version
	var aliasHeader []string
	if len(selector) > 1 && selector[0] == 'v' {
		v = m.versions[selector[1:]]
	}
	if v == nil {
		if a := m.aliases[selector]; a != nil {
			v, aliasHeader = a.target, a.header
			e.alias = selector
		}
	}
	if v == nil {
		g.failBody(w, e, http.StatusNotFound, "NotFound", m.notFound)
		return
	}
	e.version = v.name
	w.Header()["X-Berth-Version"] = v.header
	if key != nil && !key.allowsVersion(m.name, v.name) {
		g.fail(w, e, http.StatusForbidden, "Forbidden", nil, "The API key "+key.id+" may not call version "+v.name+" of model \""+m.name+"\".")
		return
	}

	// Buffer the body so a dial failure can be retried on another replica.
	var body *bodyBuf
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if r.ContentLength > g.opts.maxBodyBytes {
			g.fail(w, e, http.StatusRequestEntityTooLarge, "PayloadTooLarge", nil, tooLarge(g.opts.maxBodyBytes))
			return
		}
		body = bodyBufs.Get().(*bodyBuf)
		body.refs = 1
		defer body.release()
		if r.ContentLength > 0 {
			body.buf.Grow(int(r.ContentLength) + bytes.MinRead) // ReadFrom wants MinRead spare bytes at the end
		}
		n, err := body.buf.ReadFrom(io.LimitReader(r.Body, g.opts.maxBodyBytes+1))
		e.bytesIn = n
		if n > g.opts.maxBodyBytes {
			g.fail(w, e, http.StatusRequestEntityTooLarge, "PayloadTooLarge", nil, tooLarge(g.opts.maxBodyBytes))
			return
		}
		if err != nil {
			g.fail(w, e, http.StatusBadRequest, "BadRequest", nil, "Could not read the request body: "+err.Error())
			return
		}
	}

	// Upstream headers: the key never reaches a replica; identity comes from the gateway, not the caller. A peer
	// gateway gets the key back, to check it itself.
	dropHopHeaders(h)
	authorization, apiKey := h["Authorization"], h["X-Api-Key"]
	delete(h, "Authorization")
	delete(h, "X-Api-Key")
	if key != nil {
		h["X-Berth-Caller"] = key.header
	} else {
		h["X-Berth-Caller"] = publicCaller
	}
	h["X-Request-Id"] = ridHeader
	h["X-Berth-Version"] = v.header
	if aliasHeader != nil {
		h["X-Berth-Alias"] = aliasHeader
	} else {
		delete(h, "X-Berth-Alias")
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	// No idempotency marker: a request that was written to a replica is never resent, so an input that crashes
	// the model cannot take down the other replicas one after another. (A request nothing of which was written
	// is still retried by the transport, since its buffered body can be replayed.)

	rawRest := ""
	if r.URL.RawPath != "" {
		_, _, rawRest = splitRoute(r.URL.RawPath)
	}

	var tried uint64 // bitmask of replicas tried (the first 64)
	var lastErr error
	attempts := 0
	for attempts < len(v.replicas) {
		rep, idx := v.pick(tried)
		if rep == nil {
			break
		}
		if idx < 64 {
			tried |= 1 << uint(idx)
		}
		attempts++
		e.upstream = rep.addr
		resp, err := g.transport.RoundTrip(upstreamRequest(r, rep.addr, rest, rawRest, body))
		if err == nil {
			rep.served()
			g.relay(w, resp, e, v.header, ridHeader)
			return
		}
		lastErr = err
		var de *dialError
		if errors.As(err, &de) {
			rep.markDown(err)
			continue // nothing was sent: try another replica
		}
		g.failUpstream(w, r, e, "Replica "+rep.addr+" of "+m.name+" v"+v.name, err)
		return
	}
	e.upstream = ""
	if !forwarded {
		fwd := peerForward{model: m.name, version: v, rest: rest, rawRest: rawRest, body: body, ridHeader: ridHeader,
			authorization: authorization, apiKey: apiKey}
		done, err := g.forwardToPeer(w, r, e, fwd)
		if done {
			return
		}
		if err != nil {
			lastErr = err
		}
	}
	msg := "No healthy replica of " + m.name + " v" + v.name + " (" + strconv.Itoa(len(v.replicas)) + " configured)"
	if lastErr != nil {
		msg += "; last error: " + lastErr.Error()
	}
	g.fail(w, e, http.StatusServiceUnavailable, "NoHealthyReplica", nil, msg+".")
}

// upstreamRequest is the request to send to a replica or peer gateway at host, with the buffered body (replayable).
func upstreamRequest(r *http.Request, host, path, rawPath string, body *bodyBuf) *http.Request {
	out := &http.Request{
		Method:     r.Method,
		URL:        &url.URL{Scheme: "http", Host: host, Path: path, RawPath: rawPath, RawQuery: r.URL.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     r.Header,
	}
	if body != nil {
		out.Body = body.reader()
		out.ContentLength = int64(body.buf.Len())
		out.GetBody = func() (io.ReadCloser, error) { return body.reader(), nil }
	}
	return out.WithContext(r.Context())
}

// failUpstream answers for a replica or peer (what) that got the request and then failed; it is never replayed.
func (g *gateway) failUpstream(w http.ResponseWriter, r *http.Request, e *logEntry, what string, err error) {
	if r.Context().Err() != nil {
		e.status, e.errKind = 499, "ClientClosed"
		return
	}
	if isTimeout(err) {
		g.fail(w, e, http.StatusGatewayTimeout, "UpstreamTimeout", nil,
			what+" did not answer within "+g.opts.upstreamTimeout.String()+".")
		return
	}
	g.fail(w, e, http.StatusBadGateway, "UpstreamError", nil, what+" failed: "+err.Error())
}

// pick returns the next healthy, untried replica in round-robin order.
func (v *version) pick(tried uint64) (*replica, int) {
	n := len(v.replicas)
	if n == 0 {
		return nil, -1
	}
	start := int(atomic.AddUint32(&v.next, 1) - 1)
	for i := 0; i < n; i++ {
		idx := (start + i) % n
		if idx < 64 && tried&(1<<uint(idx)) != 0 {
			continue
		}
		if rep := v.replicas[idx]; rep.healthy.Load() {
			return rep, idx
		}
	}
	return nil, -1
}

// relay copies the replica's response; bodies of unknown length (streams) are flushed as they arrive.
func (g *gateway) relay(w http.ResponseWriter, resp *http.Response, e *logEntry, versionHeader, ridHeader []string) {
	defer resp.Body.Close()
	dst := w.Header()
	for k, vv := range resp.Header {
		dst[k] = vv
	}
	dropHopHeaders(dst)
	dst["X-Berth-Version"] = versionHeader
	dst["X-Request-Id"] = ridHeader
	w.WriteHeader(resp.StatusCode)
	e.status = resp.StatusCode

	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	flusher, _ := w.(http.Flusher)
	stream := resp.ContentLength < 0 && flusher != nil
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			e.bytesOut += int64(wn)
			if werr != nil {
				e.errKind = "ClientClosed"
				return
			}
			if stream {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			return
		}
		if rerr != nil {
			e.errKind = "UpstreamAborted"
			panic(http.ErrAbortHandler) // the client must see a broken response, not a short one
		}
	}
}

// refusePlainHTTP answers a plain-HTTP request where HTTPS is required, and closes the connection so the client
// does not send its next request (and key) the same way.
func (g *gateway) refusePlainHTTP(w http.ResponseWriter, r *http.Request, e *logEntry) {
	w.Header().Set("Connection", "close")
	g.fail(w, e, http.StatusBadRequest, "HttpsRequired", nil,
		"This gateway serves this endpoint over HTTPS only: call https://"+r.Host+r.URL.Path+
			" and trust the group's CA certificate (berth groups ca <group>, or the Endpoints panel). "+
			"Nothing of this request was checked; if it carried an API key across a network you do not trust, revoke that key.")
}

func (g *gateway) fail(w http.ResponseWriter, e *logEntry, status int, kind string, extra map[string]any, msg string) {
	g.failBody(w, e, status, kind, errorBody(kind, msg, extra))
}

func (g *gateway) failBody(w http.ResponseWriter, e *logEntry, status int, kind string, body []byte) {
	e.status, e.errKind = status, kind
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	hdr["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	n, _ := w.Write(body)
	e.bytesOut = int64(n)
}

// dropHopHeaders removes connection-scoped headers, including those the Connection header names.
func dropHopHeaders(h http.Header) {
	for _, c := range h["Connection"] {
		for _, f := range strings.Split(c, ",") {
			if f = strings.TrimSpace(f); f != "" {
				delete(h, http.CanonicalHeaderKey(f))
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// splitRoute splits "/<model>/<selector>/<rest>" without allocating; rest keeps its leading slash ("/" if none).
func splitRoute(p string) (model, selector, rest string) {
	p = strings.TrimPrefix(p, "/")
	i := strings.IndexByte(p, '/')
	if i < 0 {
		return p, "", "/"
	}
	model, p = p[:i], p[i+1:]
	j := strings.IndexByte(p, '/')
	if j < 0 {
		return model, p, "/"
	}
	return model, p[:j], p[j:]
}

// requestID keeps a caller's X-Request-Id when it is short and plain, so ids correlate across systems.
func requestID(h http.Header) string {
	v := h["X-Request-Id"]
	if len(v) == 0 {
		return ""
	}
	s := v[0]
	if len(s) == 0 || len(s) > 128 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return ""
		}
	}
	return s
}

// newRequestID: a random per-process prefix and a counter, unique without a syscall per request.
func (g *gateway) newRequestID() string {
	b := make([]byte, 0, 32)
	b = append(b, g.idPrefix...)
	b = strconv.AppendUint(b, g.idCounter.Add(1), 36)
	return string(b)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "timeout awaiting response headers")
}

func tooLarge(limit int64) string {
	return "The request body is larger than the gateway's limit of " + strconv.FormatInt(limit, 10) + " bytes."
}
