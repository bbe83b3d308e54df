package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// benchGateway compiles a one-route gateway in front of a loopback
// upstream answering "ok", without binding public listeners: the handler is
// driven directly so the figures are the gateway's own work plus the
// upstream round trip.
func benchGateway(b *testing.B, accessLog string) *proxyHandler {
	b.Helper()
	return benchGatewayWith(b, accessLog, "")
}

// benchGatewayWith is benchGateway with extra top-level config lines.
func benchGatewayWith(b *testing.B, accessLog, extra string) *proxyHandler {
	b.Helper()
	return benchGatewayTo(b, benchUpstream(b), accessLog, extra)
}

// benchUpstream starts a loopback upstream answering "ok" and returns its
// address.
func benchUpstream(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = up.Serve(l) }()
	b.Cleanup(func() { _ = up.Close() })
	return l.Addr().String()
}

// benchPlainRoute is the one route of benchGateway: routing and proxying,
// no policy.
const benchPlainRoute = `routes:
  - name: ok
    paths: [{prefix: /}]
    service: svc
`

// benchGatewayTo is benchGatewayWith in front of the upstream at addr.
func benchGatewayTo(b *testing.B, addr, accessLog, extra string) *proxyHandler {
	b.Helper()
	return benchGatewayConfig(b, addr, accessLog, extra+benchPlainRoute)
}

// benchGatewayConfig compiles a gateway whose service svc points at addr,
// with the given top-level lines (which must include its routes).
func benchGatewayConfig(b *testing.B, addr, accessLog, extra string) *proxyHandler {
	b.Helper()
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://%s"}]}]
ops: {disable: true}
access_log: {output: %q}
%s
`, addr, accessLog, extra)
	path := filepath.Join(b.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	g, err := New(Options{ConfigPath: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.reg.Close() })
	return &proxyHandler{gw: g}
}

// BenchmarkProxyHandler is the per-request cost of the request path (one
// plain route, access log off), with allocations.
func BenchmarkProxyHandler(b *testing.B) {
	for _, tc := range []struct{ name, log string }{{"log-off", "off"}, {"log-on", os.DevNull}} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGateway(b, tc.log)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/ok", nil)
					req.RemoteAddr = "127.0.0.1:40000"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}

// BenchmarkProxyMetrics compares the request path with per-request metrics
// on (the default) and off; run with -count and compare the two with
// benchstat or by ratio.
func BenchmarkProxyMetrics(b *testing.B) {
	for _, tc := range []struct{ name, extra string }{{"on", ""}, {"off", "observability: {metrics: {disable: true}}\n"}} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGatewayWith(b, "off", tc.extra)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/ok", nil)
					req.RemoteAddr = "127.0.0.1:40000"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}

// BenchmarkProxyTracing is the request path without a tracing block
// (absent), with one that is disabled (off), with every trace recorded and
// exported to a loopback collector that discards them (on), and with
// tracing on but no trace sampled (unsampled: propagation only). Off must
// allocate no more than absent.
func BenchmarkProxyTracing(b *testing.B) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(collector.Close)
	for _, tc := range []struct{ name, extra string }{
		{"absent", ""},
		{"off", fmt.Sprintf("observability: {tracing: {disable: true, endpoint: %q}}\n", collector.URL)},
		{"on", fmt.Sprintf("observability: {tracing: {endpoint: %q}}\n", collector.URL)},
		{"unsampled", fmt.Sprintf("observability: {tracing: {endpoint: %q, sample: 0}}\n", collector.URL)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGatewayWith(b, "off", tc.extra)
			b.Cleanup(func() { h.gw.tracer.Load().Close() })
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/ok", nil)
					req.RemoteAddr = "127.0.0.1:40000"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}

// BenchmarkProxyObservability is the per-request cost of metrics and
// tracing together against neither: the figure docs/performance.md quotes
// for "metrics and tracing on every request".
func BenchmarkProxyObservability(b *testing.B) {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(collector.Close)
	for _, tc := range []struct{ name, extra string }{
		{"none", "observability: {metrics: {disable: true}}\n"},
		{"metrics", ""},
		{"metrics+tracing", fmt.Sprintf("observability: {tracing: {endpoint: %q}}\n", collector.URL)},
		{"metrics+tracing-unsampled", fmt.Sprintf("observability: {tracing: {endpoint: %q, sample: 0}}\n", collector.URL)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchGatewayWith(b, "off", tc.extra)
			b.Cleanup(func() { h.gw.tracer.Load().Close() })
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/ok", nil)
					req.RemoteAddr = "127.0.0.1:40000"
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}
