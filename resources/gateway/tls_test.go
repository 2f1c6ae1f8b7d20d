package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testAuthority stands in for a group CA: it issues server certificates as Berth does (ECDSA P-256, IP SANs).
type testAuthority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestAuthority(t *testing.T) *testAuthority {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Berth group test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testAuthority{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key for 127.0.0.1, with this serial number.
func (a *testAuthority) issue(t *testing.T, serial int64) (certPEM, keyPEM []byte) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "gateway"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(12 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, a.cert, &key.PublicKey, a.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// install writes the files the way Berth does (key first, certificate last), into the gateway's tls/ folder.
func (a *testAuthority) install(t *testing.T, tg *testGateway, certPEM, keyPEM []byte) {
	t.Helper()
	dir := tg.gateway.tls.dir
	os.MkdirAll(dir, 0o700)
	for _, f := range []struct {
		name string
		data []byte
	}{{"ca.pem", a.pem}, {"key.pem", keyPEM}, {"cert.pem", certPEM}} {
		tmp := filepath.Join(dir, "."+f.name)
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, f.name)); err != nil {
			t.Fatal(err)
		}
	}
}

// servedTLS serves tg's gateway on a second port through the listener main() uses, which takes TLS and plain
// connections alike; it returns that port's address.
func servedTLS(t *testing.T, tg *testGateway) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: tg.gateway, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(newSniffingListener(ln, tg.gateway.tls.serverConfig(), time.Second))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func clientTrusting(pemData []byte) *http.Client {
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{}}
	if pemData != nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pemData)
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

type answer struct {
	status int
	kind   string
	body   string
	serial string
	echo   echo
}

func send(t *testing.T, c *http.Client, url string, headers ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, body: string(raw)}
	if resp.TLS != nil {
		a.serial = resp.TLS.PeerCertificates[0].SerialNumber.String()
	}
	var wrapper struct {
		Error struct {
			Kind string `json:"kind"`
		} `json:"error"`
	}
	json.Unmarshal(raw, &wrapper)
	a.kind = wrapper.Error.Kind
	json.Unmarshal(raw, &a.echo)
	return a
}

func TestServesHTTPSWithTheCertificateFilesAndPlainHTTPOnTheSamePort(t *testing.T) {
	ca := newTestAuthority(t)
	a := newReplica(t, "a")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{a.addr()}, true))
	cert, key := ca.issue(t, 7)
	ca.install(t, tg, cert, key)
	addr := servedTLS(t, tg)
	trusting := clientTrusting(ca.pem)
	eventually(t, 2*time.Second, "the certificate is served", func() bool {
		_, err := trusting.Get("https://" + addr + "/_berth/health")
		return err == nil
	})

	if r := send(t, trusting, "https://"+addr+"/iris/v1/predict"); r.status != 200 || r.echo.Name != "a" || r.serial != "7" {
		t.Fatalf("HTTPS with the group CA: %+v", r)
	}
	if _, err := clientTrusting(nil).Get("https://" + addr + "/_berth/health"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client without the group CA must fail to verify the certificate, got %v", err)
	}
	if r := send(t, client, "http://"+addr+"/iris/v1/predict"); r.status != 200 {
		t.Fatalf("a group not (yet) HTTPS-only still answers plain HTTP on the same port: %+v", r)
	}
	h := tg.healthJSON(t)
	if !h.TLS.Serving || h.TLS.HTTPSOnly || h.TLS.NotAfter == nil || strings.Join(h.TLS.Names, ",") != "localhost,127.0.0.1" || h.TLS.Error != nil {
		t.Fatalf("health tells what is served: %+v", h.TLS)
	}
}

func TestReloadsTheCertificateWhenItsFilesChange(t *testing.T) {
	ca := newTestAuthority(t)
	a := newReplica(t, "a")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{a.addr()}, true))
	addr := servedTLS(t, tg)
	if _, err := clientTrusting(ca.pem).Get("https://" + addr + "/_berth/health"); err == nil {
		t.Fatal("no certificate yet: a TLS handshake must fail")
	}
	cert, key := ca.issue(t, 1)
	ca.install(t, tg, cert, key)
	// A fresh client per probe: a kept-alive connection would still show the certificate it shook hands with.
	served := func() string { return send(t, clientTrusting(ca.pem), "https://"+addr+"/_berth/health").serial }
	eventually(t, 2*time.Second, "the first certificate", func() bool { return tryServed(t, ca, addr) == "1" })

	renewed, renewedKey := ca.issue(t, 2)
	ca.install(t, tg, renewed, renewedKey)
	eventually(t, 2*time.Second, "the renewed certificate, without a restart", func() bool { return tryServed(t, ca, addr) == "2" })

	// A certificate whose key does not match is refused; the pair before it keeps serving.
	_, otherKey := ca.issue(t, 3)
	third, _ := ca.issue(t, 3)
	ca.install(t, tg, third, otherKey)
	eventually(t, 2*time.Second, "the mismatched pair reported", func() bool { return tg.healthJSON(t).TLS.Error != nil })
	if got := served(); got != "2" {
		t.Fatalf("the previous pair must keep serving, got serial %s", got)
	}
	if h := tg.healthJSON(t); !strings.Contains(*h.TLS.Error, "keeping the previous pair") {
		t.Fatalf("health: %+v", h.TLS)
	}
}

func TestLoadsAPairWhoseFilesArriveOneAtATime(t *testing.T) {
	ca := newTestAuthority(t)
	w := &tlsWatcher{dir: t.TempDir()}
	cert, key := ca.issue(t, 5)
	os.WriteFile(w.keyPath(), key, 0o600)
	w.poll()
	if w.certificate.Load() != nil || w.err.Load() == "" {
		t.Fatalf("a key without its certificate serves nothing and says so: %q", w.err.Load())
	}
	os.WriteFile(w.certPath(), cert, 0o600)
	w.poll()
	if w.certificate.Load() == nil || w.leaf.Load().SerialNumber.Int64() != 5 || w.err.Load() != "" {
		t.Fatalf("the pair must load once the certificate arrives: %q", w.err.Load())
	}
	os.Remove(w.keyPath())
	os.Remove(w.certPath())
	w.poll()
	if w.certificate.Load() != nil {
		t.Fatal("removed files: no longer served")
	}
}

// tryServed is the serial the gateway presents now, or "" while it presents none.
func tryServed(t *testing.T, ca *testAuthority, addr string) string {
	resp, err := clientTrusting(ca.pem).Get("https://" + addr + "/_berth/health")
	if err != nil {
		return ""
	}
	resp.Body.Close()
	return resp.TLS.PeerCertificates[0].SerialNumber.String()
}

func httpsOnlyRoutes(replica string) m {
	routes := irisRoutes([]string{replica}, []string{replica}, false)
	routes["httpsOnly"] = true
	routes["keys"] = []m{{"id": "key_ok", "sha256": sha("good-secret")}}
	return routes
}

func TestAnHTTPSOnlyGatewayRefusesPlainHTTPWithoutCheckingTheKey(t *testing.T) {
	ca := newTestAuthority(t)
	a := newReplica(t, "a")
	tg := startGateway(t, httpsOnlyRoutes(a.addr()))
	cert, key := ca.issue(t, 1)
	ca.install(t, tg, cert, key)
	addr := servedTLS(t, tg)
	eventually(t, 2*time.Second, "the certificate is served", func() bool { return tryServed(t, ca, addr) == "1" })

	// The same refusal whatever key comes, and for models that exist or not: plain HTTP tells nothing.
	var bodies []string
	for _, path := range []string{"/iris/v1/predict", "/nosuch/v1/predict"} {
		for _, headers := range [][]string{nil, {"Authorization", "Bearer good-secret"}, {"Authorization", "Bearer wrong"}, {"X-Api-Key", "good-secret"}} {
			r := send(t, client, "http://"+addr+path, headers...)
			if r.status != http.StatusBadRequest || r.kind != "HttpsRequired" {
				t.Fatalf("%s %v over plain HTTP: %+v", path, headers, r)
			}
			bodies = append(bodies, strings.Replace(r.body, path, "<path>", 1))
		}
	}
	for _, b := range bodies {
		if b != bodies[0] {
			t.Fatalf("the refusal must not depend on the key or the model:\n%s\n%s", bodies[0], b)
		}
	}
	if a.hits.Load() != 0 {
		t.Fatal("nothing reaches a replica over plain HTTP")
	}
	if r := send(t, clientTrusting(ca.pem), "https://"+addr+"/iris/v1/predict", "Authorization", "Bearer good-secret"); r.status != 200 || r.echo.Caller != "key_ok" {
		t.Fatalf("HTTPS is served: %+v", r)
	}
	lines := tg.logLines(t)
	if refused := lines[0]; refused["error"] != "HttpsRequired" || refused["caller"] != nil {
		t.Fatalf("the refusal is logged, with no caller: %v", refused)
	}
}

func TestHealthOverPlainHTTPOnlyFromLoopbackWhenHTTPSOnly(t *testing.T) {
	a := newReplica(t, "a")
	tg := startGateway(t, httpsOnlyRoutes(a.addr()))
	for _, c := range []struct {
		remote string
		status int
	}{{"127.0.0.1:40000", 200}, {"[::1]:40000", 200}, {"10.77.8.9:40000", 400}} {
		req := httptest.NewRequest(http.MethodGet, "/_berth/health", nil)
		req.RemoteAddr = c.remote
		rec := httptest.NewRecorder()
		tg.gateway.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Fatalf("plain health from %s: %d %s", c.remote, rec.Code, rec.Body.String())
		}
	}
	if h := tg.healthJSON(t); !h.TLS.HTTPSOnly || h.TLS.Serving || h.TLS.Error == nil || !strings.Contains(*h.TLS.Error, "no request is served") {
		t.Fatalf("HTTPS only without a certificate is reported: %+v", h.TLS)
	}
}

func TestAModelOfAnHTTPSOnlyGroupRefusesPlainHTTPOnASharedServer(t *testing.T) {
	a := newReplica(t, "a")
	routes := routesOf(m{
		"secure": m{"public": true, "httpsOnly": true, "versions": m{"1": replicasOf(a.addr())}, "aliases": m{}},
		"legacy": m{"public": true, "versions": m{"1": replicasOf(a.addr())}, "aliases": m{}},
	})
	tg := startGateway(t, routes)
	if r := tg.get(t, "/secure/v1/p"); r.status != 400 || r.err.Kind != "HttpsRequired" {
		t.Fatalf("the HTTPS-only group's model: %+v", r)
	}
	if r := tg.get(t, "/legacy/v1/p"); r.status != 200 {
		t.Fatalf("the other group's model keeps HTTP: %+v", r)
	}
}

func TestWithoutAValidKeyEveryModelAnswers401WhetherOrNotItExists(t *testing.T) {
	a := newReplica(t, "a")
	routes := irisRoutes([]string{a.addr()}, []string{a.addr()}, false)
	routes["models"].(m)["open"] = m{"public": true, "versions": m{"1": replicasOf(a.addr())}, "aliases": m{}}
	routes["keys"] = []m{{"id": "key_iris", "sha256": sha("iris-secret"), "models": []string{"iris"}}}
	tg := startGateway(t, routes)
	for _, headers := range [][]string{nil, {"Authorization", "Bearer wrong"}} {
		existing, missing := tg.get(t, "/iris/v1/predict", headers...), tg.get(t, "/nosuch/v1/predict", headers...)
		if existing.status != 401 || missing.status != 401 || existing.raw != missing.raw {
			t.Fatalf("key %v: an existing and a missing model must answer alike:\n%d %s\n%d %s", headers, existing.status, existing.raw, missing.status, missing.raw)
		}
		if missing.header.Get("Www-Authenticate") == "" || strings.Contains(missing.raw, "nosuch") {
			t.Fatalf("a 401 that names nothing: %+v", missing)
		}
	}
	if r := tg.get(t, "/nosuch/v1/predict", "Authorization", "Bearer iris-secret"); r.status != 404 || r.err.Kind != "NotFound" {
		t.Fatalf("with a valid key, a missing model is 404: %+v", r)
	}
	if r := tg.get(t, "/open/v1/predict"); r.status != 200 || r.echo.Caller != "public" {
		t.Fatalf("a public model still answers without a key: %+v", r)
	}
	if r := tg.get(t, "/open/v9/predict"); r.status != 404 {
		t.Fatalf("a public model's missing version is 404 without a key: %+v", r)
	}
	// The log is the operator's: a refused call names the model it was for, and a name that is none stays unnamed.
	lines := tg.logLines(t)
	if lines[0]["model"] != "iris" || lines[0]["error"] != "Unauthorized" || lines[1]["model"] != nil {
		t.Fatalf("log: %v %v", lines[0], lines[1])
	}
}

func TestPeersAreReachedOverHTTPSWhenTheServerHoldsTheGroupCA(t *testing.T) {
	ca := newTestAuthority(t)
	remote := newReplica(t, "remote")
	keys := []m{{"id": "k1", "sha256": sha("secret")}}
	peerRoutes := irisRoutes([]string{deadAddr(t)}, []string{remote.addr()}, false)
	peerRoutes["keys"], peerRoutes["httpsOnly"] = keys, true
	peer := startGateway(t, peerRoutes)
	localRoutes := irisRoutes([]string{deadAddr(t)}, []string{deadAddr(t)}, false)
	localRoutes["keys"] = keys
	local := startGateway(t, localRoutes)
	for i, tg := range []*testGateway{peer, local} {
		cert, key := ca.issue(t, int64(10+i))
		ca.install(t, tg, cert, key)
	}
	peerAddr := servedTLS(t, peer)
	local.writeAgent(t, peersAgent("srv_local", peerAddr))
	local.waitPeersReachable(t, 1)

	// The peer refuses plain HTTP, so an answer from its replica proves the key went over HTTPS.
	r := local.get(t, "/iris/latest/predict", "Authorization", "Bearer secret")
	if r.status != 200 || r.echo.Name != "remote" || r.echo.Via != "srv_local" {
		t.Fatalf("forwarded over HTTPS: %+v", r)
	}
}

func TestAClientThatSendsNothingDoesNotHoldTheListener(t *testing.T) {
	a := newReplica(t, "a")
	tg := startGateway(t, irisRoutes([]string{a.addr()}, []string{a.addr()}, true))
	addr := servedTLS(t, tg)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	start := time.Now()
	if r := send(t, client, "http://"+addr+"/iris/v1/p"); r.status != 200 || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("served at once beside a silent connection: %+v after %s", r, time.Since(start))
	}
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, _ := idle.Read(make([]byte, 1)); n != 0 {
		t.Fatal("the silent connection gets nothing")
	}
}

func TestServeListensOnEveryAddressOfTheList(t *testing.T) {
	a := newReplica(t, "a")
	dir := t.TempDir()
	o := testOptions(dir)
	writeRoutes(t, o.config, irisRoutes([]string{a.addr()}, []string{a.addr()}, true))
	g, err := newGateway(o)
	if err != nil {
		t.Fatal(err)
	}
	var listeners []net.Listener
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, g, listeners...) }()
	for _, ln := range listeners {
		if r := send(t, client, "http://"+ln.Addr().String()+"/iris/v1/p"); r.status != 200 {
			t.Fatalf("%s: %+v", ln.Addr(), r)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestListenListAndTheHealthcheckAddress(t *testing.T) {
	cases := map[string]string{
		":8700":                          "127.0.0.1:8700",
		"0.0.0.0:8701":                   "127.0.0.1:8701",
		"[::]:8702":                      "127.0.0.1:8702",
		"10.77.8.11:8700,127.0.0.1:8700": "127.0.0.1:8700",
		"10.77.8.11:8700":                "10.77.8.11:8700",
	}
	for listen, want := range cases {
		if got := loopbackOf(listen); got != want {
			t.Errorf("%s: %s, want %s", listen, got, want)
		}
	}
	if got := listenAddresses(" 10.0.0.5:1, 127.0.0.1:1 ,"); strings.Join(got, "|") != "10.0.0.5:1|127.0.0.1:1" {
		t.Fatalf("%q", got)
	}
}
