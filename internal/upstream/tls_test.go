package upstream

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

func writePEM(t *testing.T, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// otherCA writes a self-signed CA certificate unrelated to httptest's
// and returns its file.
func otherCA(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "other-ca.pem")
	tlspolicytest.WriteKeyPair(t, ca, filepath.Join(dir, "other-ca.key"), "other test CA")
	return ca
}

func TestHTTPSTarget(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ua := r.Header["User-Agent"]
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Had-UA", map[bool]string{true: "yes", false: "no"}[ua])
		io.WriteString(w, "secure "+r.Host)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)

	r := testRegistry(t)
	good := withTLS(svcConfig(up.URL), writePEM(t, up.Certificate().Raw))
	s := mustService(t, r, good)
	tg, _ := s.Pick("")
	defer tg.Release()
	if tg.Scheme() != "https" {
		t.Fatalf("scheme %q", tg.Scheme())
	}
	req := newReq(context.Background(), tg, "GET", "/", nil)
	req.Host = "api.example.com"
	resp, err := tg.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "secure api.example.com" {
		t.Fatalf("body %q", body)
	}
	if resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Errorf("proto %q, want HTTP/2.0", resp.Header.Get("X-Proto"))
	}
	if resp.Header.Get("X-Had-UA") != "no" {
		t.Error("a default User-Agent was sent")
	}

	// server_name: httptest's certificate is valid for example.com.
	named := withTLS(svcConfig(up.URL), writePEM(t, up.Certificate().Raw))
	named.TLS.ServerName = "example.com"
	if code, body := get(t, mustService(t, r, named), "/"); code != 200 || body == "" {
		t.Fatalf("server_name: %d %q", code, body)
	}
	named.TLS.ServerName = "wrong.example.org"
	s3 := mustService(t, r, named)
	tg3, _ := s3.Pick("")
	defer tg3.Release()
	if _, err := tg3.RoundTrip(newReq(context.Background(), tg3, "GET", "/", nil)); err == nil {
		t.Fatal("a name the certificate does not cover was accepted")
	}

	// The wrong CA fails verification, and so do the system roots.
	for _, cfg := range []config.Service{withTLS(svcConfig(up.URL), otherCA(t)), svcConfig(up.URL)} {
		bad := mustService(t, r, cfg)
		btg, _ := bad.Pick("")
		_, err := btg.RoundTrip(newReq(context.Background(), btg, "GET", "/", nil))
		btg.Release()
		if err == nil {
			t.Fatal("a certificate from an untrusted CA was accepted")
		}
		if IsTimeout(err) {
			t.Fatalf("verification failure reported as timeout: %v", err)
		}
	}
}

// TestHTTPSTargetHoldsToTheTLSPolicy: with min_version 1.2, the upstream
// client's real ClientHello offers only the gateway's TLS policy, reaches
// a modern target, and cannot reach a target that speaks only a CBC or a
// static-RSA suite.
func TestHTTPSTargetHoldsToTheTLSPolicy(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	r := testRegistry(t)
	svc := func(s *tlspolicytest.Server) config.Service {
		c := withTLS(svcConfig(s.URL), writePEM(t, s.Cert.Raw))
		c.TLS.MinVersion = "1.2"
		return c
	}
	good := tlspolicytest.NewServer(t, ok, 0)
	if code, body := get(t, mustService(t, r, svc(good)), "/"); code != 200 || body != "ok" {
		t.Fatalf("a modern target: %d %q", code, body)
	}
	tlspolicytest.CheckHello(t, good, "the upstream client")
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256} {
		weak := tlspolicytest.NewServer(t, ok, suite)
		s := mustService(t, r, svc(weak))
		tg, _ := s.Pick("")
		resp, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/", nil))
		tg.Release()
		if err == nil {
			resp.Body.Close()
			t.Errorf("the upstream client reached a target speaking only %s", tls.CipherSuiteName(suite))
		}
	}
}
