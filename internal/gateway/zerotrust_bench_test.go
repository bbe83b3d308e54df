package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
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

// BenchmarkProxyAssertion is the request path without and with the
// identity assertion (cached, and bind_request: signed per request), the
// three routes on one gateway, so `-count N` interleaves them.
func BenchmarkProxyAssertion(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })}
	go func() { _ = up.Serve(l) }()
	b.Cleanup(func() { _ = up.Close() })
	dir := b.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "k.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
identity_assertion: {keys: [{id: k1, private_key_file: %[2]q}]}
services:
  - {name: plain, targets: [{url: "http://%[1]s"}]}
  - {name: asserted, targets: [{url: "http://%[1]s"}], identity_assertion: {}}
  - {name: bound, targets: [{url: "http://%[1]s"}], identity_assertion: {bind_request: true}}
routes:
  - {name: plain, paths: [{prefix: /plain/}], service: plain, auth: none}
  - {name: asserted, paths: [{prefix: /asserted/}], service: asserted, auth: none}
  - {name: bound, paths: [{prefix: /bound/}], service: bound, auth: none}
ops: {disable: true}
access_log: {output: "off"}
`, l.Addr(), keyFile)
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	g, err := New(Options{ConfigPath: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.reg.Close() })
	h := &proxyHandler{gw: g}
	for _, route := range []string{"plain", "asserted", "bound"} {
		b.Run(route, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/"+route+"/ok", nil)
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
