package e2e

// mTLS toward services through the real binary: real upstreams that
// require client certificates; the gateway with the right certificate
// gets through, without one or with one from another CA it is refused at
// the service's handshake; an upstream whose certificate carries the wrong
// DNS name or SPIFFE ID, or that speaks only TLS 1.2 when 1.3 is required,
// is refused by the gateway; the gateway's client certificate is reloaded
// from disk without dropping a request in flight.

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// ztUpstream is an HTTPS upstream that requires a client certificate
// from clientCA and reports the serial of the one it got.
type ztUpstream struct {
	URL  string
	hits atomic.Int64
	srv  *http.Server
}

func newZTUpstream(t testing.TB, cert tls.Certificate, clientCA *tlsTestCA, maxVersion uint16, h http.HandlerFunc) *ztUpstream {
	t.Helper()
	u := &ztUpstream{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.pool, MaxVersion: maxVersion}
	u.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // refused handshakes are expected
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u.hits.Add(1)
			if len(r.TLS.PeerCertificates) > 0 {
				w.Header().Set("X-Client-Serial", r.TLS.PeerCertificates[0].SerialNumber.String())
			}
			if h != nil {
				h(w, r)
				return
			}
			_, _ = io.WriteString(w, "service ok")
		}),
	}
	go func() { _ = u.srv.Serve(tls.NewListener(l, tc)) }()
	t.Cleanup(func() { _ = u.srv.Close() })
	u.URL = "https://" + l.Addr().String()
	return u
}

// ztIssue signs a leaf with ca (self-signed when ca is nil) after edit.
func ztIssue(t testing.TB, ca *tlsTestCA, edit func(*x509.Certificate)) tls.Certificate {
	t.Helper()
	c, err := mtlsIssueClient(ca, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		if edit != nil {
			edit(c)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ztWriteCert writes a certificate and its key as PEM files in dir.
func ztWriteCert(t testing.TB, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	tlsWriteFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	tlsWriteFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))
	return certFile, keyFile
}

// ztNewCA makes a CA (one that may also sign CRLs and OCSP answers:
// newTLSTestCA's) or fails the test.
func ztNewCA(t testing.TB, name string) *tlsTestCA {
	t.Helper()
	ca, err := newTLSTestCA(name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestUpstreamMTLS(t *testing.T) {
	servicesCA, gatewaysCA, rogueCA := ztNewCA(t, "services CA"), ztNewCA(t, "gateways CA"), ztNewCA(t, "rogue CA")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "services-ca.pem")
	tlsWriteFile(t, caFile, servicesCA.pem)

	// The service's own certificate: a DNS name and, on a second
	// upstream, an X.509-SVID with only a SPIFFE ID.
	billing := newZTUpstream(t, ztIssue(t, servicesCA, func(c *x509.Certificate) { c.DNSNames = []string{"billing.internal"} }), gatewaysCA, 0, nil)
	spiffeID, _ := url.Parse("spiffe://example.org/ns/billing/sa/api")
	svid := newZTUpstream(t, ztIssue(t, servicesCA, func(c *x509.Certificate) { c.URIs = []*url.URL{spiffeID} }), gatewaysCA, 0, nil)
	old := newZTUpstream(t, ztIssue(t, servicesCA, func(c *x509.Certificate) { c.DNSNames = []string{"billing.internal"} }), gatewaysCA, tls.VersionTLS12, nil)

	gwCert := ztIssue(t, gatewaysCA, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "portcullis"} })
	gwCertFile, gwKeyFile := ztWriteCert(t, dir, "gateway", gwCert)
	rogueCertFile, rogueKeyFile := ztWriteCert(t, dir, "rogue", ztIssue(t, rogueCA, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "portcullis"} }))

	svc := func(name, target, tls string) string {
		return fmt.Sprintf("  - {name: %s, targets: [{url: %q}], tls: {ca_file: %q, %s}}\n", name, target, caFile, tls)
	}
	withCert := fmt.Sprintf("cert_file: %q, key_file: %q", gwCertFile, gwKeyFile)
	services := svc("good", billing.URL, withCert+", expected_identity: billing.internal") +
		svc("no-cert", billing.URL, "expected_identity: billing.internal") +
		svc("rogue-cert", billing.URL, fmt.Sprintf("cert_file: %q, key_file: %q, expected_identity: billing.internal", rogueCertFile, rogueKeyFile)) +
		svc("wrong-name", billing.URL, withCert+", expected_identity: payments.internal") +
		svc("host-name", billing.URL, withCert) + // the certificate is not valid for 127.0.0.1
		svc("spiffe", svid.URL, withCert+", expected_identity: \"spiffe://example.org/ns/billing/sa/api\"") +
		svc("spiffe-wrong", svid.URL, withCert+", expected_identity: \"spiffe://example.org/ns/payments/sa/api\"") +
		svc("spiffe-as-dns", svid.URL, withCert+", expected_identity: billing.internal") +
		svc("tls12-default", old.URL, withCert+", expected_identity: billing.internal") +
		svc("tls12-allowed", old.URL, withCert+", expected_identity: billing.internal, min_version: \"1.2\"")
	var routes strings.Builder
	for _, name := range []string{"good", "no-cert", "rogue-cert", "wrong-name", "host-name", "spiffe", "spiffe-wrong", "spiffe-as-dns", "tls12-default", "tls12-allowed"} {
		fmt.Fprintf(&routes, "  - {name: %[1]s, paths: [{prefix: /%[1]s/}], service: %[1]s, auth: none}\n", name)
	}
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
`+services+`routes:
`+routes.String()+`ops: {address: "{{ops}}"}
`))

	get := func(path string) (*http.Response, string) {
		t.Helper()
		return tlsGet(t, http.DefaultClient, gw.URL(path))
	}
	for _, tc := range []struct {
		desc, path string
		up         *ztUpstream
		status     int
	}{
		{"the gateway's certificate gets through", "/good/x", billing, 200},
		{"a SPIFFE ID matching the SVID gets through", "/spiffe/x", svid, 200},
		{"min_version 1.2 reaches a TLS 1.2 service", "/tls12-allowed/x", old, 200},
		{"no client certificate: the service refuses", "/no-cert/x", billing, 502},
		{"a certificate from another CA: the service refuses", "/rogue-cert/x", billing, 502},
		{"a service certificate for another name: the gateway refuses", "/wrong-name/x", billing, 502},
		{"without expected_identity the target's host is verified", "/host-name/x", billing, 502},
		{"an SVID with another SPIFFE ID: the gateway refuses", "/spiffe-wrong/x", svid, 502},
		{"an SVID has no DNS name to match", "/spiffe-as-dns/x", svid, 502},
		{"TLS 1.3 by default: a 1.2-only service is refused", "/tls12-default/x", old, 502},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			before := tc.up.hits.Load()
			resp, body := get(tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s\nlog:\n%s", resp.StatusCode, tc.status, body, gw.Stdout.String())
			}
			hits := tc.up.hits.Load() - before
			if tc.status == 200 {
				if body != "service ok" || hits != 1 {
					t.Fatalf("body %q, upstream hits %d", body, hits)
				}
				if got, want := resp.Header.Get("X-Client-Serial"), gwCert.Leaf.SerialNumber.String(); got != want {
					t.Fatalf("the service saw client certificate %q, want the gateway's %q", got, want)
				}
				return
			}
			if hits != 0 {
				t.Fatalf("a refused exchange reached the service's handler (%d hits)", hits)
			}
			if strings.Contains(strings.ToLower(body), "certificate") || strings.Contains(body, "127.0.0.1") {
				t.Errorf("the problem body leaks TLS details: %s", body)
			}
		})
	}
}

// TestUpstreamMTLSCertificateReload replaces the gateway's client
// certificate on disk while a request is in flight: the request finishes
// on its connection, and the next new connection presents the new
// certificate, with no reload of the config.
func TestUpstreamMTLSCertificateReload(t *testing.T) {
	servicesCA, gatewaysCA := ztNewCA(t, "services CA"), ztNewCA(t, "gateways CA")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "services-ca.pem")
	tlsWriteFile(t, caFile, servicesCA.pem)
	release := make(chan struct{})
	up := newZTUpstream(t, ztIssue(t, servicesCA, func(c *x509.Certificate) { c.DNSNames = []string{"billing.internal"} }), gatewaysCA, 0,
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/slow" {
				_, _ = io.WriteString(w, "service ok")
				return
			}
			_, _ = io.WriteString(w, "first half;")
			w.(http.Flusher).Flush()
			<-release
			_, _ = io.WriteString(w, "second half")
		})
	first := ztIssue(t, gatewaysCA, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "portcullis"} })
	second := ztIssue(t, gatewaysCA, func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: "portcullis"} })
	certFile, keyFile := ztWriteCert(t, dir, "gateway", first)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: billing, targets: [{url: %q}], tls: {ca_file: %q, cert_file: %q, key_file: %q, expected_identity: billing.internal}}
routes:
  - {name: billing, paths: [{prefix: /}], service: billing, auth: none}
ops: {address: "{{ops}}"}
`, up.URL, caFile, certFile, keyFile)))

	resp, _ := tlsGet(t, http.DefaultClient, gw.URL("/fast"))
	if resp.StatusCode != 200 || resp.Header.Get("X-Client-Serial") != first.Leaf.SerialNumber.String() {
		t.Fatalf("before rotation: status %d serial %q", resp.StatusCode, resp.Header.Get("X-Client-Serial"))
	}

	// A request in flight holds the keep-alive connection.
	slow, err := http.Get(gw.URL("/slow"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Body.Close()
	buf := make([]byte, len("first half;"))
	if _, err := io.ReadFull(slow.Body, buf); err != nil {
		t.Fatal(err)
	}

	ztWriteCert(t, dir, "gateway", second)
	if !gw.WaitLog("upstream TLS files reloaded", 10*time.Second) {
		t.Fatalf("no reload logged:\n%s", gw.Stderr.String())
	}
	// The busy connection cannot serve this one: a new connection is
	// dialled, with the new certificate.
	resp, _ = tlsGet(t, http.DefaultClient, gw.URL("/fast"))
	if resp.StatusCode != 200 || resp.Header.Get("X-Client-Serial") != second.Leaf.SerialNumber.String() {
		t.Fatalf("after rotation: status %d serial %q, want %s", resp.StatusCode, resp.Header.Get("X-Client-Serial"), second.Leaf.SerialNumber)
	}
	close(release)
	rest, err := io.ReadAll(slow.Body)
	if err != nil || string(rest) != "second half" {
		t.Fatalf("the request in flight during the rotation: %q, %v", rest, err)
	}
	if slow.Header.Get("X-Client-Serial") != first.Leaf.SerialNumber.String() {
		t.Fatalf("the request in flight ran on serial %q", slow.Header.Get("X-Client-Serial"))
	}

	// A broken file keeps the working certificate.
	tlsWriteFile(t, certFile, []byte("not a certificate"))
	if !gw.WaitLog("upstream TLS files failed to reload", 10*time.Second) {
		t.Fatalf("no reload failure logged:\n%s", gw.Stderr.String())
	}
	resp, _ = tlsGet(t, http.DefaultClient, gw.URL("/fast"))
	if resp.StatusCode != 200 {
		t.Fatalf("after a broken file: status %d", resp.StatusCode)
	}
}
