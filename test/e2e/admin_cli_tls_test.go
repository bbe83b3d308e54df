package e2e

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestAdminCLIHoldsToTheTLSPolicy: `portcullis admin` reaches an admin
// listener that speaks TLS 1.2+ with an AEAD suite, cannot reach one that
// speaks only CBC or static RSA, and its ClientHello offers nothing else.
func TestAdminCLIHoldsToTheTLSPolicy(t *testing.T) {
	run := func(srv *tlspolicytest.Server) cliResult {
		t.Helper()
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Cert.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		return runCLI(t, []string{"PORTCULLIS_ADMIN_TOKEN=pca_test-token", "PORTCULLIS_ADMIN_URL=" + srv.URL}, "admin", "--ca-file", ca, "status")
	}
	modern := tlspolicytest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}), 0)
	if r := run(modern); r.code != 0 {
		t.Fatalf("a TLS 1.2+ AEAD admin listener was not reached: exit %d, stderr %q", r.code, r.stderr)
	}
	tlspolicytest.CheckHello(t, modern, "portcullis admin")
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256} {
		weak := tlspolicytest.NewServer(t, http.NotFoundHandler(), suite)
		r := run(weak)
		if r.code == 0 || !strings.Contains(r.stderr, "handshake failure") {
			t.Errorf("%s: exit %d, stderr %q; want a handshake failure", tls.CipherSuiteName(suite), r.code, r.stderr)
		}
		tlspolicytest.CheckHello(t, weak, "portcullis admin")
	}
}

// TestAdminCLIRefusesAnEmptyCAFile: a --ca-file without a certificate is
// an error, not an empty trust store that fails every handshake later.
func TestAdminCLIRefusesAnEmptyCAFile(t *testing.T) {
	ca := writeFile(t, "ca.pem", "not a certificate\n")
	r := runCLI(t, []string{"PORTCULLIS_ADMIN_TOKEN=pca_test-token", "PORTCULLIS_ADMIN_URL=https://127.0.0.1:1"}, "admin", "--ca-file", ca, "status")
	if r.code != 2 || !strings.Contains(r.stderr, "no PEM certificate") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}
