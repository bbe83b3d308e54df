package e2e

// mTLS client certificates through the real binary: the listener's
// client_auth (request, require, per-SNI hosts) refuses missing,
// self-signed and expired certificates in the handshake; the mtls method
// maps a verified certificate to a consumer by subject, SAN or
// fingerprint; and a Host that requires certificates on a connection
// whose SNI did not is refused with 421. Every certificate is generated
// here.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// mtlsFixture is the key material of the mTLS tests, made once per binary.
type mtlsFixture struct {
	serverCA *tlsTestCA
	server   tlsLeafPEM // public.example.test, secure.example.test
	clientCA *tlsTestCA
	// Client certificates: alice by subject, bob by DNS SAN, erin by
	// fingerprint, nobody unmapped, expired from the right CA (and
	// mapped, so expiry is the only fault), selfSigned from no CA.
	alice, bob, erin, nobody, expired, selfSigned tls.Certificate
	erinFP                                        string
}

var mtlsFixtureOnce = sync.OnceValues(func() (*mtlsFixture, error) {
	f := &mtlsFixture{}
	var err error
	if f.serverCA, err = newTLSTestCA("mTLS Test Server CA"); err != nil {
		return nil, err
	}
	if f.server, err = f.serverCA.issue(5005, time.Now().Add(24*time.Hour), false, "public.example.test", "secure.example.test"); err != nil {
		return nil, err
	}
	if f.clientCA, err = newTLSTestCA("mTLS Test Client CA"); err != nil {
		return nil, err
	}
	issue := func(edit func(*x509.Certificate)) (tls.Certificate, error) {
		return mtlsIssueClient(f.clientCA, edit)
	}
	if f.alice, err = issue(func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "alice", Organization: []string{"Example"}}
	}); err != nil {
		return nil, err
	}
	if f.bob, err = issue(func(c *x509.Certificate) { c.DNSNames = []string{"bob.clients.example.test"} }); err != nil {
		return nil, err
	}
	if f.erin, err = issue(nil); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(f.erin.Certificate[0])
	f.erinFP = hex.EncodeToString(sum[:])
	if f.nobody, err = issue(func(c *x509.Certificate) { c.DNSNames = []string{"nobody.example.test"} }); err != nil {
		return nil, err
	}
	if f.expired, err = issue(func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "expired"}
		c.NotBefore, c.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	}); err != nil {
		return nil, err
	}
	if f.selfSigned, err = mtlsIssueClient(nil, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "alice", Organization: []string{"Example"}}
	}); err != nil {
		return nil, err
	}
	return f, nil
})

func getMTLSFixture(t testing.TB) *mtlsFixture {
	t.Helper()
	f, err := mtlsFixtureOnce()
	if err != nil {
		t.Fatalf("generating test certificates: %v", err)
	}
	return f
}

// mtlsIssueClient makes a client certificate signed by ca, or self-signed
// when ca is nil.
func mtlsIssueClient(ca *tlsTestCA, edit func(*x509.Certificate)) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// mtlsConfig is a gateway with an HTTPS listener whose client_auth is
// clientAuth (a flow mapping without braces; "{ca}" is the client CA file)
// and the given routes (a YAML block list).
func (f *mtlsFixture) config(t testing.TB, up *Upstream, clientAuth, routes string) GatewayConfig {
	t.Helper()
	dir := t.TempDir()
	cf := tlsWriteLeaf(t, dir, "server", f.server)
	caFile := filepath.Join(dir, "client-ca.pem")
	if err := os.WriteFile(caFile, f.clientCA.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	clientAuth = strings.ReplaceAll(clientAuth, "{ca}", fmt.Sprintf("%q", caFile))
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    tls:
      certificates: [{cert_file: %q, key_file: %q}]
      client_auth: {%s}
services: [{name: svc, targets: [{url: %q}]}]
consumers:
  - {name: alice, groups: [admins, staff], credentials: {mtls: [{subject: "CN=alice,O=Example"}]}}
  - {name: bob, groups: [ops], credentials: {mtls: [{san: bob.clients.example.test}]}}
  - {name: erin, credentials: {mtls: [{fingerprint_sha256: %q}]}}
  - {name: old, credentials: {mtls: [{subject: "CN=expired"}]}}
routes:
%s
ops: {address: "{{ops}}"}
`, cf.cert, cf.key, clientAuth, up.URL, f.erinFP, routes))
}

// mtlsRoutes: /secure needs a certificate, /open needs nothing.
const mtlsRoutes = `  - name: secure
    paths: [{prefix: /secure}]
    service: svc
    policies:
      - kind: auth
        methods: [{mtls: {}}]
  - name: open
    paths: [{prefix: /open}]
    service: svc
    auth: none
`

// client dials the gateway with serverName as SNI, presenting cert (nil:
// none) whenever the server asks, even when its issuer is not among the
// server's acceptable CAs (Go's client would otherwise send nothing, and
// a refusal test would prove nothing). Each client opens its own
// connections.
func (f *mtlsFixture) client(serverName string, cert *tls.Certificate, h2 bool) *http.Client {
	cfg := &tls.Config{RootCAs: f.serverCA.pool, ServerName: serverName}
	if cert != nil {
		c := *cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2, DisableKeepAlives: !h2},
	}
}

// mtlsDo sends GET path with Host host ("" means the client's SNI name) and returns
// the response and its body, or the transport error.
func mtlsDo(c *http.Client, addr, host, path string) (*http.Response, string, error) {
	req, err := http.NewRequest("GET", "https://"+addr+path, nil)
	if err != nil {
		return nil, "", err
	}
	if host != "" {
		req.Host = host
	} else if tr, ok := c.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
		// The name the connection is set up for, as a browser would send.
		req.Host = tr.TLSClientConfig.ServerName
	}
	req.Header.Set("X-Consumer-Name", "forged")
	req.Header.Set("X-Auth-Method", "forged")
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// mtlsExpectProblem asserts an RFC 9457 answer with status, and that the
// upstream received nothing.
func mtlsExpectProblem(t testing.TB, up *Upstream, resp *http.Response, body string, err error, status int) {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil || p.Status != status {
		t.Fatalf("status %d, type %q, body %q; want a %d problem", resp.StatusCode, resp.Header.Get("Content-Type"), body, status)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream received %d request(s)", n)
	}
}

// mtlsExpectHandshakeRefused asserts that the TLS layer refused the
// connection with the given alert and the upstream received nothing.
func mtlsExpectHandshakeRefused(t testing.TB, up *Upstream, resp *http.Response, err error, alert string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the request got through: status %d", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "remote error: tls: "+alert) {
		t.Fatalf("want the TLS alert %q, got %v", alert, err)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream received %d request(s)", n)
	}
}

// mtlsExpectIdentity asserts a 200 and the identity headers the upstream
// received (the client's forged ones replaced).
func mtlsExpectIdentity(t testing.TB, up *Upstream, resp *http.Response, err error, consumer, groups string, cert tls.Certificate) {
	t.Helper()
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	seen := up.Last(t)
	sum := sha256.Sum256(cert.Certificate[0])
	want := map[string]string{
		"X-Consumer-Name":   consumer,
		"X-Consumer-Groups": groups,
		"X-Credential-Id":   hex.EncodeToString(sum[:8]),
		"X-Auth-Method":     "mtls",
	}
	for k, v := range want {
		if got := seen.Header.Values(k); len(got) != boolInt(v != "") || v != "" && got[0] != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAuthMTLSRequestMode(t *testing.T) {
	f := getMTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, f.config(t, up, "mode: request, ca_file: {ca}", mtlsRoutes))
	sni := "public.example.test"

	t.Run("no certificate: the handshake succeeds, the route refuses", func(t *testing.T) {
		up.Reset()
		resp, body, err := mtlsDo(f.client(sni, nil, false), gw.Addr, "", "/secure/x")
		mtlsExpectProblem(t, up, resp, body, err, 401)
		if strings.Contains(body, "certificate") {
			t.Errorf("the body tells which check failed: %s", body)
		}
		// The same client reaches a route that needs nothing.
		resp, _, err = mtlsDo(f.client(sni, nil, false), gw.Addr, "", "/open/x")
		if err != nil || resp.StatusCode != 200 || up.Count() != 1 {
			t.Fatalf("open route: %v %v", resp, err)
		}
		if up.Last(t).Header.Get("X-Consumer-Name") != "" {
			t.Error("the forged X-Consumer-Name reached the upstream")
		}
	})
	t.Run("self-signed certificate: handshake refused", func(t *testing.T) {
		up.Reset()
		resp, _, err := mtlsDo(f.client(sni, &f.selfSigned, false), gw.Addr, "", "/open/x")
		mtlsExpectHandshakeRefused(t, up, resp, err, "unknown certificate authority")
	})
	t.Run("expired certificate from the CA: handshake refused", func(t *testing.T) {
		up.Reset()
		resp, _, err := mtlsDo(f.client(sni, &f.expired, false), gw.Addr, "", "/secure/x")
		mtlsExpectHandshakeRefused(t, up, resp, err, "expired certificate")
	})
	for _, tc := range []struct {
		name, consumer, groups string
		cert                   tls.Certificate
	}{
		{"mapped by subject", "alice", "admins,staff", f.alice},
		{"mapped by SAN", "bob", "ops", f.bob},
		{"mapped by fingerprint", "erin", "", f.erin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			for _, h2 := range []bool{false, true} {
				resp, _, err := mtlsDo(f.client(sni, &tc.cert, h2), gw.Addr, "", "/secure/x")
				mtlsExpectIdentity(t, up, resp, err, tc.consumer, tc.groups, tc.cert)
				want := 1
				if h2 {
					want = 2
				}
				if resp.ProtoMajor != want {
					t.Errorf("protocol HTTP/%d, want HTTP/%d", resp.ProtoMajor, want)
				}
			}
		})
	}
	t.Run("valid certificate not mapped: 401", func(t *testing.T) {
		up.Reset()
		resp, body, err := mtlsDo(f.client(sni, &f.nobody, false), gw.Addr, "", "/secure/x")
		mtlsExpectProblem(t, up, resp, body, err, 401)
	})
}

func TestAuthMTLSRequireMode(t *testing.T) {
	f := getMTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, f.config(t, up, "mode: require, ca_file: {ca}", mtlsRoutes))
	sni := "public.example.test"

	// Without a certificate not even the open route is reachable.
	resp, _, err := mtlsDo(f.client(sni, nil, false), gw.Addr, "", "/open/x")
	mtlsExpectHandshakeRefused(t, up, resp, err, "certificate required")
	resp, _, err = mtlsDo(f.client(sni, &f.selfSigned, false), gw.Addr, "", "/open/x")
	mtlsExpectHandshakeRefused(t, up, resp, err, "unknown certificate authority")
	resp, _, err = mtlsDo(f.client(sni, &f.expired, false), gw.Addr, "", "/open/x")
	mtlsExpectHandshakeRefused(t, up, resp, err, "expired certificate")

	resp, _, err = mtlsDo(f.client(sni, &f.alice, false), gw.Addr, "", "/secure/x")
	mtlsExpectIdentity(t, up, resp, err, "alice", "admins,staff", f.alice)

	up.Reset()
	resp, body, err := mtlsDo(f.client(sni, &f.nobody, false), gw.Addr, "", "/secure/x")
	mtlsExpectProblem(t, up, resp, body, err, 401)
}

// TestAuthMTLSHostsAndSNI: client certificates are asked for only on
// connections whose SNI is in client_auth.hosts, and such a host cannot be
// reached over a connection set up for another name.
func TestAuthMTLSHostsAndSNI(t *testing.T) {
	f := getMTLSFixture(t)
	up := NewUpstream(t, nil)
	routes := `  - name: secure
    hosts: [secure.example.test]
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods: [{mtls: {}}]
  - name: public
    hosts: [public.example.test]
    paths: [{prefix: /}]
    service: svc
    auth: none
`
	gw := StartGateway(t, f.config(t, up, "mode: require, ca_file: {ca}, hosts: [secure.example.test]", routes))

	// The public name asks for no certificate.
	resp, _, err := mtlsDo(f.client("public.example.test", nil, false), gw.Addr, "public.example.test", "/x")
	if err != nil || resp.StatusCode != 200 || up.Count() != 1 {
		t.Fatalf("public host: %v %v", resp, err)
	}
	// The secure name requires one in the handshake.
	up.Reset()
	resp, _, err = mtlsDo(f.client("secure.example.test", nil, false), gw.Addr, "secure.example.test", "/x")
	mtlsExpectHandshakeRefused(t, up, resp, err, "certificate required")
	resp, _, err = mtlsDo(f.client("secure.example.test", &f.expired, false), gw.Addr, "secure.example.test", "/x")
	mtlsExpectHandshakeRefused(t, up, resp, err, "expired certificate")
	resp, _, err = mtlsDo(f.client("secure.example.test", &f.alice, false), gw.Addr, "secure.example.test", "/x")
	mtlsExpectIdentity(t, up, resp, err, "alice", "admins,staff", f.alice)

	// A connection set up for the public name cannot reach the secure
	// host, however the Host is spelled, over HTTP/1.1 or HTTP/2 (where
	// a client may reuse a connection for another name of the same
	// certificate).
	for _, host := range []string{"secure.example.test", "SECURE.example.test:443", "secure.example.test."} {
		for _, h2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s h2=%v", host, h2), func(t *testing.T) {
				up.Reset()
				resp, body, err := mtlsDo(f.client("public.example.test", nil, h2), gw.Addr, host, "/x")
				mtlsExpectProblem(t, up, resp, body, err, 421)
			})
		}
	}
	// Presenting a certificate does not help: the connection was not set
	// up with the secure host's checks.
	up.Reset()
	resp, body, err := mtlsDo(f.client("public.example.test", &f.alice, false), gw.Addr, "secure.example.test", "/x")
	mtlsExpectProblem(t, up, resp, body, err, 421)
}

// TestClientCAFileReload: a listener's client_auth.ca_file changed on disk
// is used without a restart (a partner's CA added, then the old CA taken
// out, as in a CA rotation): a certificate of the added CA is accepted
// once the file is reloaded, one of the removed CA refused at the
// handshake; a broken file keeps the previous CAs, is logged once and
// shows on /readyz; and the upstream never sees a refused client.
func TestClientCAFileReload(t *testing.T) {
	f := getMTLSFixture(t)
	up := NewUpstream(t, nil)
	cfg := f.config(t, up, "mode: require, ca_file: {ca}", mtlsRoutes)
	m := regexp.MustCompile(`ca_file: "([^"]+)"`).FindStringSubmatch(string(cfg))
	if m == nil {
		t.Fatal("no ca_file in the config")
	}
	caFile := m[1]
	gw := StartGateway(t, cfg)
	sni := "public.example.test"
	partnerCA, err := newTLSTestCA("Partner CA")
	if err != nil {
		t.Fatal(err)
	}
	partner, err := mtlsIssueClient(partnerCA, nil)
	if err != nil {
		t.Fatal(err)
	}
	get := func(cert *tls.Certificate) (*http.Response, error) {
		resp, _, err := mtlsDo(f.client(sni, cert, false), gw.Addr, "", "/open/x")
		return resp, err
	}

	resp, err := get(&partner)
	mtlsExpectHandshakeRefused(t, up, resp, err, "unknown certificate authority")

	// The partner's CA added beside the first.
	tlsWriteFile(t, caFile, append(append([]byte{}, f.clientCA.pem...), partnerCA.pem...))
	ev := waitLogEvent(t, gw, "certificate_reloaded", 1, nil)
	wantEvent(t, ev[0], "INFO", map[string]any{"listener": "public", "ca_file": caFile})
	for _, c := range []*tls.Certificate{&partner, &f.alice} {
		up.Reset()
		if resp, err := get(c); err != nil || resp.StatusCode != 200 || up.Count() != 1 {
			t.Fatalf("%s after the partner's CA was added: %v %v", c.Leaf.Issuer, resp, err)
		}
	}

	// The first CA taken out: its certificates are refused.
	tlsWriteFile(t, caFile, partnerCA.pem)
	waitLogEvent(t, gw, "certificate_reloaded", 2, nil)
	up.Reset()
	resp, err = get(&f.alice)
	mtlsExpectHandshakeRefused(t, up, resp, err, "unknown certificate authority")

	// A broken file: the partner's CA stays, the failure shows.
	tlsWriteFile(t, caFile, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	failed := waitLogEvent(t, gw, "certificate_reload_failed", 1, nil)
	wantEvent(t, failed[0], "ERROR", map[string]any{"listener": "public", "ca_file": caFile})
	up.Reset()
	if resp, err := get(&partner); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the previous CAs were not kept: %v %v", resp, err)
	}
	up.Reset()
	resp, err = get(&f.alice)
	mtlsExpectHandshakeRefused(t, up, resp, err, "unknown certificate authority")
	code, body := gw.Readyz()
	var ready struct {
		Errs []struct {
			Listener string `json:"listener"`
			CAFile   string `json:"ca_file"`
			Error    string `json:"error"`
		} `json:"certificate_errors"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	if code != 200 || len(ready.Errs) != 1 || ready.Errs[0].Listener != "public" || ready.Errs[0].CAFile != caFile || ready.Errs[0].Error == "" {
		t.Errorf("/readyz %d during the failure: %s", code, body)
	}
}
