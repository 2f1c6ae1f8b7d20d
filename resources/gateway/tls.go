package main

// HTTPS at the gateway (docs/ARCHITECTURE.md, "The gateway"): Berth writes a certificate issued by the group's
// certificate authority to <tlsDir>/cert.pem and key.pem, and the CA certificate to ca.pem. While they are there,
// the gateway's port speaks TLS and plain HTTP alike (the first byte of a connection tells which), so switching a
// group to HTTPS never needs a second port; routes.json's httpsOnly then says which plain requests are refused.

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// tlsRecordHandshake is the first byte of every TLS connection (a ClientHello record); no HTTP method starts with it.
const tlsRecordHandshake = 0x16

// tlsWatcher polls the certificate, its key and the group CA like routes.json: a new pair that loads replaces the
// served one at once (new handshakes use it, open connections keep theirs); one that does not load is reported and
// the previous pair keeps serving, so a half-written renewal never takes HTTPS down.
type tlsWatcher struct {
	dir                 string
	certStamp, keyStamp fileStamp
	caStamp             fileStamp
	// The files as last read: a pair is loaded again when either one changes.
	certData, keyData []byte
	certificate       atomic.Pointer[tls.Certificate] // nil: no certificate, TLS handshakes fail
	leaf              atomic.Pointer[x509.Certificate]
	authorities       atomic.Pointer[x509.CertPool] // nil: no ca.pem, peers are reached over plain HTTP
	// Set from the poll goroutine, read by /_berth/health.
	err problem
}

func (w *tlsWatcher) certPath() string { return filepath.Join(w.dir, "cert.pem") }
func (w *tlsWatcher) keyPath() string  { return filepath.Join(w.dir, "key.pem") }
func (w *tlsWatcher) caPath() string   { return filepath.Join(w.dir, "ca.pem") }

// poll checks the files once.
func (w *tlsWatcher) poll() {
	w.pollPair()
	w.pollAuthorities()
}

func (w *tlsWatcher) pollPair() {
	cert, certChanged, certErr := readChanged(w.certPath(), &w.certStamp)
	key, keyChanged, keyErr := readChanged(w.keyPath(), &w.keyStamp)
	if errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist) {
		w.drop("no certificate in " + w.dir)
		return
	}
	// Kept even while the other file is missing: it is not read again until it changes.
	if certChanged {
		w.certData = cert
	}
	if keyChanged {
		w.keyData = key
	}
	if certErr != nil {
		w.err.set("tls", "cannot read "+w.certPath()+": "+certErr.Error())
		return
	}
	if keyErr != nil {
		w.err.set("tls", "cannot read "+w.keyPath()+": "+keyErr.Error())
		return
	}
	if !certChanged && !keyChanged {
		return
	}
	pair, err := tls.X509KeyPair(w.certData, w.keyData)
	if err != nil {
		w.err.set("tls", w.dir+": the certificate and key do not load, keeping the previous pair: "+err.Error())
		return
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		w.err.set("tls", w.dir+": the certificate does not parse, keeping the previous pair: "+err.Error())
		return
	}
	pair.Leaf = leaf
	w.certificate.Store(&pair)
	w.leaf.Store(leaf)
	w.err.Store("")
	log.Printf("tls: serving the certificate for %v %v, valid until %s", leaf.DNSNames, leaf.IPAddresses, leaf.NotAfter.UTC().Format(time.RFC3339))
}

// drop stops serving TLS when Berth removed the files (a group switched back and cleaned up).
func (w *tlsWatcher) drop(reason string) {
	w.certData, w.keyData = nil, nil
	if w.certificate.Swap(nil) != nil {
		log.Printf("tls: %s; no longer serving HTTPS", reason)
	}
	w.leaf.Store(nil)
	w.err.Store("")
}

func (w *tlsWatcher) pollAuthorities() {
	data, changed, err := readChanged(w.caPath(), &w.caStamp)
	if errors.Is(err, fs.ErrNotExist) {
		w.authorities.Store(nil)
		return
	}
	if err != nil || !changed {
		return
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		w.err.set("tls", w.caPath()+" holds no certificate; peers keep the previous one")
		return
	}
	w.authorities.Store(pool)
}

var errNoCertificate = errors.New("this gateway has no certificate yet")

// serverConfig serves whatever pair is current at each handshake. HTTP/1.1 only, like the plain port.
func (w *tlsWatcher) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := w.certificate.Load(); c != nil {
				return c, nil
			}
			return nil, errNoCertificate
		},
	}
}

// peerConfig verifies a peer gateway's certificate against the group CA, by the address agent.json names it by.
func (w *tlsWatcher) peerConfig(addr string) (*tls.Config, error) {
	pool := w.authorities.Load()
	if pool == nil {
		return nil, errors.New("no group CA in " + w.caPath())
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, ServerName: host, NextProtos: []string{"http/1.1"}}, nil
}

// peerScheme: a gateway that holds the group CA reaches its peers over HTTPS, so a caller's key forwarded to a peer
// never crosses the network in clear; a peer that serves no certificate is then simply not used.
func (w *tlsWatcher) peerScheme() string {
	if w.authorities.Load() != nil {
		return "https"
	}
	return "http"
}

// dialTLS is the DialTLSContext of the transports that reach peer gateways: the CA is read at each dial, so a
// renewed CA applies at once. Nothing of a request is sent before the handshake succeeds.
func (w *tlsWatcher) dialTLS(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		config, err := w.peerConfig(addr)
		if err != nil {
			return nil, err
		}
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn := tls.Client(raw, config)
		if err := conn.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return conn, nil
	}
}

// tlsHealth is the "tls" part of /_berth/health.
type tlsHealth struct {
	Serving   bool     `json:"serving"`
	HTTPSOnly bool     `json:"httpsOnly"`
	NotAfter  *string  `json:"notAfter"`
	Names     []string `json:"names"`
	Error     *string  `json:"error"`
}

func (w *tlsWatcher) health(httpsOnly bool) tlsHealth {
	h := tlsHealth{HTTPSOnly: httpsOnly, Names: []string{}, Error: nullable(w.err.Load())}
	if leaf := w.leaf.Load(); leaf != nil {
		h.Serving = true
		at := leaf.NotAfter.UTC().Format(time.RFC3339)
		h.NotAfter = &at
		h.Names = append(h.Names, leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			h.Names = append(h.Names, ip.String())
		}
	}
	if httpsOnly && !h.Serving && h.Error == nil {
		msg := "routes.json says HTTPS only, but there is no certificate in " + w.dir + ": no request is served"
		h.Error = &msg
	}
	return h
}

// sniffingListener hands the HTTP server TLS connections (as *tls.Conn, so requests carry r.TLS) and plain ones
// on the same port. Each connection's first byte is read in its own goroutine, bounded by a deadline, so a client
// that sends nothing holds only its own connection, never the accept loop.
type sniffingListener struct {
	net.Listener
	config  *tls.Config
	timeout time.Duration
	conns   chan net.Conn
	done    chan struct{}
	once    sync.Once
	err     error // the inner Accept's error, set before done is closed
}

func newSniffingListener(inner net.Listener, config *tls.Config, timeout time.Duration) *sniffingListener {
	l := &sniffingListener{Listener: inner, config: config, timeout: timeout, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *sniffingListener) acceptLoop() {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			l.once.Do(func() {
				l.err = err
				close(l.done)
			})
			return
		}
		go l.classify(conn)
	}
}

func (l *sniffingListener) classify(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(l.timeout))
	reader := bufio.NewReader(conn)
	first, err := reader.Peek(1)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return
	}
	var out net.Conn = &peekedConn{Conn: conn, reader: reader}
	if first[0] == tlsRecordHandshake {
		out = tls.Server(out, l.config)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		conn.Close()
	}
}

func (l *sniffingListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	}
}

func (l *sniffingListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() {
		l.err = net.ErrClosed
		close(l.done)
	})
	return err
}

// peekedConn replays the byte read to classify the connection.
type peekedConn struct {
	net.Conn
	reader *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.reader.Read(p) }

// fromLoopback: the server's own tools (Docker's healthcheck, berth-shell's probe, Berth's waits over SSH) call
// /_berth/health on 127.0.0.1 in plain HTTP; nothing on the network reaches a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

func tlsDirOf(config string) string { return filepath.Join(filepath.Dir(config), "tls") }
