package devpki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

func TestCreateWritesAWorkingPKI(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := Create(Options{Dir: dir, Service: "billing", TrustDomain: "dev.test"}); err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	load := func(name string) *x509.Certificate {
		kp, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(kp.Certificate[0])
		return c
	}
	for _, tc := range []struct {
		desc, name, host string
		usage            x509.ExtKeyUsage
	}{
		{"the server certificate covers localhost", "server", "localhost", x509.ExtKeyUsageServerAuth},
		{"the server certificate covers 127.0.0.1", "server", "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{"the edge client certificate", "client", "", x509.ExtKeyUsageClientAuth},
		{"the gateway's client certificate", "gateway-client", "", x509.ExtKeyUsageClientAuth},
	} {
		if _, err := load(tc.name).Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s: %v", tc.desc, err)
		}
	}
	// The service certificate is a valid X.509-SVID of its SPIFFE ID.
	td := spiffeid.RequireTrustDomainFromString("dev.test")
	ca, _ := x509.ParseCertificate(mustPEM(t, caPEM))
	id, _, err := x509svid.Verify([]*x509.Certificate{load("service")}, x509bundle.FromX509Authorities(td, []*x509.Certificate{ca}))
	if err != nil || id.String() != "spiffe://dev.test/ns/dev/sa/billing" {
		t.Fatalf("service SVID: %v %v", id, err)
	}
	// Existing files are not replaced without Force.
	if _, err := Create(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "use --force") {
		t.Fatalf("second run: %v", err)
	}
	if _, err := Create(Options{Dir: dir, Force: true}); err != nil {
		t.Fatalf("with Force: %v", err)
	}
	for _, k := range []string{"ca.key", "assertion.key", "service.key"} {
		if st, err := os.Stat(filepath.Join(dir, k)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s after Force: %v %v", k, st.Mode().Perm(), err)
		}
	}
}

func mustPEM(t *testing.T, b []byte) []byte {
	t.Helper()
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block")
	}
	return blk.Bytes
}
