package e2e

// `portcullis certs dev` through the real binary: one command makes
// files that work together: the gateway serves HTTPS with server.pem,
// admits client.pem at the edge (client_auth on ca.pem), presents
// gateway-client.pem to a service that requires it, verifies the
// service's SPIFFE ID, and signs assertions with assertion.key. Keys are
// 0600, the directory 0700, and a second run does not overwrite.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/verify"
)

func TestCertsDev(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	out, err := exec.Command(binPath, "certs", "dev", "--dir", dir, "--service", "orders", "--trust-domain", "dev.test").CombinedOutput()
	if err != nil {
		t.Fatalf("certs dev: %v\n%s", err, out)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	for _, k := range []string{"ca.key", "server.key", "client.key", "gateway-client.key", "service.key", "assertion.key"} {
		st, err := os.Stat(filepath.Join(dir, k))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v (%v), want 0600", k, st.Mode().Perm(), err)
		}
	}
	if out, err := exec.Command(binPath, "certs", "dev", "--dir", dir).CombinedOutput(); err == nil || !strings.Contains(string(out), "exists; use --force") {
		t.Fatalf("a second run overwrote the files: %v\n%s", err, out)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	load := func(cert, key string) tls.Certificate {
		c, err := tls.LoadX509KeyPair(p(cert), p(key))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	caPEM, _ := os.ReadFile(p("ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	// The service: service.pem, requiring a client certificate from the CA.
	devCA := &tlsTestCA{pool: pool}
	up := newZTUpstream(t, load("service.pem", "service.key"), devCA, 0, nil)

	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    tls:
      certificates: [{cert_file: %[1]q, key_file: %[2]q}]
      client_auth: {mode: require, ca_file: %[3]q}
identity_assertion:
  keys: [{id: dev-1, private_key_file: %[4]q}]
services:
  - name: orders
    targets: [{url: %[5]q}]
    tls: {ca_file: %[3]q, cert_file: %[6]q, key_file: %[7]q, expected_identity: "spiffe://dev.test/ns/dev/sa/orders"}
    identity_assertion: {}
consumers:
  - {name: dev, credentials: {mtls: [{subject: "CN=dev-client"}]}}
routes:
  - name: orders
    paths: [{prefix: /}]
    service: orders
    policies: [{kind: auth, methods: [{mtls: {}}]}]
ops: {address: "{{ops}}"}
`, p("server.pem"), p("server.key"), p("ca.pem"), p("assertion.key"), up.URL, p("gateway-client.pem"), p("gateway-client.key"))))

	cert := load("client.pem", "client.key")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{cert}}}}
	// Host and SNI agree (the gateway refuses a Host its TLS name does not cover).
	req, _ := http.NewRequest(http.MethodGet, "https://"+gw.Addr+"/hello", nil)
	req.Host = "localhost"
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || up.hits.Load() != 1 {
		t.Fatalf("status %d, upstream hits %d\n%s", resp.StatusCode, up.hits.Load(), gw.Stdout.String())
	}
	// The assertion.key signs: the JWKS publishes its public half.
	jr, err := http.Get("http://" + gw.OpsAddr + verify.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	_ = jr.Body.Close()
	if jr.StatusCode != 200 {
		t.Fatalf("JWKS status %d", jr.StatusCode)
	}
	// Without the client certificate the edge refuses.
	c2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	req2, _ := http.NewRequest(http.MethodGet, "https://"+gw.Addr+"/hello", nil)
	req2.Host = "localhost"
	if _, err := c2.Do(req2); err == nil {
		t.Fatal("no client certificate, yet admitted")
	}
}
