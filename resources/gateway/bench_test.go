package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkProxy measures the gateway's own cost per request (handler only; client and replica are in-process).
func BenchmarkProxy(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"prediction":[1]}`))
	}))
	defer upstream.Close()
	addr := strings.TrimPrefix(upstream.URL, "http://")
	routes := irisRoutes([]string{addr}, []string{addr}, false)
	routes["keys"] = []m{{"id": "k1", "sha256": sha("secret")}, {"id": "k2", "sha256": sha("other")}}
	tg := startGateway(b, routes)
	body := `{"rows":[[5.1,3.5,1.4,0.2]]}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest(http.MethodPost, tg.srv.URL+"/iris/latest/predict", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}
