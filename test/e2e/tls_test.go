package e2e

// HTTPS through the real binary: certificates chosen by SNI, protocol
// versions and cipher suites, HTTP/2 to clients, HSTS, the plain-HTTP
// redirect, certificate reload from disk and HTTPS upstreams. Every
// certificate is generated here; nothing is committed.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Serial numbers of the listener certificates, so a test can tell which
// one the gateway served.
const (
	serialA  = 1001 // a.example.test, ECDSA, the first (default) certificate
	serialB  = 2002 // *.b.example.test, RSA (for the RSA key-exchange suites)
	serialA2 = 3003 // a.example.test after rotation, new key
)

// tlsTestCA is a self-signed certificate authority; it may sign
// certificates, CRLs and OCSP answers.
type tlsTestCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
	pool *x509.CertPool
}

func newTLSTestCA(name string) (*tlsTestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tlsTestCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: pool}, nil
}

// tlsLeafPEM is an issued certificate and its private key, PEM-encoded.
type tlsLeafPEM struct {
	cert, key []byte
}

// issue signs a server certificate for names (DNS names or IP literals).
func (ca *tlsTestCA) issue(serial int64, notAfter time.Time, useRSA bool, names ...string) (tlsLeafPEM, error) {
	var key crypto.Signer
	var err error
	if useRSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return tlsLeafPEM{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tlsLeafPEM{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tlsLeafPEM{}, err
	}
	return tlsLeafPEM{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func (l tlsLeafPEM) tlsCert(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.X509KeyPair(l.cert, l.key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tlsFixture is the key material shared by the tests, generated once per
// test binary (an RSA key takes a moment under -race).
type tlsFixture struct {
	ca, otherCA  *tlsTestCA
	a, b, a2, up tlsLeafPEM
}

var tlsFixtureOnce = sync.OnceValues(func() (*tlsFixture, error) {
	f := &tlsFixture{}
	var err error
	if f.ca, err = newTLSTestCA("Portcullis Test CA"); err != nil {
		return nil, err
	}
	if f.otherCA, err = newTLSTestCA("Some Other CA"); err != nil {
		return nil, err
	}
	day := time.Now().Add(24 * time.Hour)
	if f.a, err = f.ca.issue(serialA, day, false, "a.example.test"); err != nil {
		return nil, err
	}
	if f.b, err = f.ca.issue(serialB, day, true, "*.b.example.test"); err != nil {
		return nil, err
	}
	if f.a2, err = f.ca.issue(serialA2, day.Add(time.Hour), false, "a.example.test"); err != nil {
		return nil, err
	}
	if f.up, err = f.ca.issue(4004, day, false, "127.0.0.1"); err != nil {
		return nil, err
	}
	return f, nil
})

func getTLSFixture(t testing.TB) *tlsFixture {
	t.Helper()
	f, err := tlsFixtureOnce()
	if err != nil {
		t.Fatalf("generating test certificates: %v", err)
	}
	return f
}

// tlsCertFiles is where one listener certificate lives on disk.
type tlsCertFiles struct{ cert, key string }

// tlsWriteFile replaces path by rename, so the gateway never reads a
// half-written file.
func tlsWriteFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func tlsWriteLeaf(t testing.TB, dir, name string, l tlsLeafPEM) tlsCertFiles {
	t.Helper()
	cf := tlsCertFiles{cert: filepath.Join(dir, name+".crt"), key: filepath.Join(dir, name+".key")}
	tlsWriteFile(t, cf.key, l.key)
	tlsWriteFile(t, cf.cert, l.cert)
	return cf
}

// listenerCerts writes a.example.test then *.b.example.test to a fresh
// directory.
func (f *tlsFixture) listenerCerts(t testing.TB) []tlsCertFiles {
	t.Helper()
	dir := t.TempDir()
	return []tlsCertFiles{tlsWriteLeaf(t, dir, "a", f.a), tlsWriteLeaf(t, dir, "b", f.b)}
}

// tlsGatewayConfig is a gateway whose public listener is HTTPS with certs;
// tlsExtra and listenerExtra are flow-style YAML entries added to the tls
// mapping and to the listener ("min_version: \"1.3\"", "http2: {...}"),
// moreListeners whole flow-style listener entries.
func tlsGatewayConfig(upURL string, certs []tlsCertFiles, tlsExtra, listenerExtra, moreListeners string) GatewayConfig {
	var cl []string
	for _, c := range certs {
		cl = append(cl, fmt.Sprintf("{cert_file: %q, key_file: %q}", c.cert, c.key))
	}
	tlsMap := "certificates: [" + strings.Join(cl, ", ") + "]"
	if tlsExtra != "" {
		tlsMap += ", " + tlsExtra
	}
	listener := `{name: public, address: "{{public}}", tls: {` + tlsMap + `}`
	if listenerExtra != "" {
		listener += ", " + listenerExtra
	}
	listener += "}"
	if moreListeners != "" {
		listener += ", " + moreListeners
	}
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [%s]
services: [{name: svc, targets: [{url: %q}]}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
ops: {address: "{{ops}}"}
`, listener, upURL))
}

// tlsHandshake dials addr, completes a TLS handshake and returns its state.
func tlsHandshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.(*tls.Conn).ConnectionState(), nil
}

func (f *tlsFixture) client(serverName string) *tls.Config {
	return &tls.Config{RootCAs: f.ca.pool, ServerName: serverName}
}

// servedSerial is the serial of the leaf the gateway presents for
// serverName; the chain is still verified against the test CA, only the
// name check is skipped (the default certificate does not carry unknown names).
func (f *tlsFixture) servedSerial(t testing.TB, addr, serverName string) int64 {
	t.Helper()
	cfg := &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no certificate")
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: f.ca.pool})
			return err
		},
	}
	st, err := tlsHandshake(addr, cfg)
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", serverName, err)
	}
	return st.PeerCertificates[0].SerialNumber.Int64()
}

// tlsControlHandshake runs client against a plain Go TLS server configured by
// server: it proves a client that the gateway refuses can handshake at all,
// so a refusal test cannot pass because the client offered nothing.
func tlsControlHandshake(t testing.TB, server *tls.Config, client *tls.Config) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_ = tls.Server(c, server).Handshake()
	}()
	_, err = tlsHandshake(l.Addr().String(), client)
	<-done
	return err
}

func TestTLSCertificateBySNI(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "", ""))

	// Full verification, names included, for the names the certificates carry.
	for name, want := range map[string]int64{"a.example.test": serialA, "x.b.example.test": serialB, "X.B.Example.Test": serialB} {
		st, err := tlsHandshake(gw.Addr, f.client(name))
		if err != nil {
			t.Fatalf("SNI %q: %v", name, err)
		}
		if got := st.PeerCertificates[0].SerialNumber.Int64(); got != want {
			t.Errorf("SNI %q: served serial %d, want %d", name, got, want)
		}
	}
	// Names no certificate carries get the first one. A wildcard covers
	// exactly one label: neither the bare parent nor two labels deep.
	for _, name := range []string{"unknown.example.test", "b.example.test", "y.x.b.example.test", ""} {
		if got := f.servedSerial(t, gw.Addr, name); got != serialA {
			t.Errorf("SNI %q: served serial %d, want the first certificate %d", name, got, serialA)
		}
	}
	if up.Count() != 0 {
		t.Fatalf("handshakes alone reached the upstream %d times", up.Count())
	}
}

func TestTLSVersionsAndCipherSuites(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	certs := f.listenerCerts(t)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, certs, "", "", ""))
	certA, certB := f.a.tlsCert(t), f.b.tlsCert(t)

	t.Run("tls1.1 refused", func(t *testing.T) {
		client := f.client("a.example.test")
		client.MinVersion, client.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
		if err := tlsControlHandshake(t, &tls.Config{Certificates: []tls.Certificate{certA}, MinVersion: tls.VersionTLS10}, client); err != nil {
			t.Fatalf("control: a TLS 1.1 client must be able to handshake with a server that allows it: %v", err)
		}
		_, err := tlsHandshake(gw.Addr, client)
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("TLS 1.1 handshake: err = %v, want a protocol version alert", err)
		}
	})

	t.Run("tls1.2 accepted", func(t *testing.T) {
		for _, name := range []string{"a.example.test", "x.b.example.test"} {
			client := f.client(name)
			client.MaxVersion = tls.VersionTLS12
			st, err := tlsHandshake(gw.Addr, client)
			if err != nil || st.Version != tls.VersionTLS12 {
				t.Fatalf("TLS 1.2 to %s: version %x err %v", name, st.Version, err)
			}
		}
	})

	t.Run("weak tls1.2 suites refused", func(t *testing.T) {
		for _, tc := range []struct {
			suite uint16
			sni   string
			cert  tls.Certificate
		}{
			{tls.TLS_RSA_WITH_AES_128_CBC_SHA, "x.b.example.test", certB},
			{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "x.b.example.test", certB},
			{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "x.b.example.test", certB},
			{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, "a.example.test", certA},
			{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, "a.example.test", certA},
		} {
			name := tls.CipherSuiteName(tc.suite)
			client := f.client(tc.sni)
			client.MaxVersion = tls.VersionTLS12
			client.CipherSuites = []uint16{tc.suite}
			control := &tls.Config{Certificates: []tls.Certificate{tc.cert}, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tc.suite}}
			if err := tlsControlHandshake(t, control, client); err != nil {
				t.Fatalf("control %s: the client must offer the suite: %v", name, err)
			}
			if st, err := tlsHandshake(gw.Addr, client); err == nil {
				t.Errorf("%s: handshake succeeded with suite %s", name, tls.CipherSuiteName(st.CipherSuite))
			}
		}
		// The same certificate with a modern suite works: the refusal above
		// is about the suite, not the key.
		client := f.client("x.b.example.test")
		client.MaxVersion = tls.VersionTLS12
		client.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
		if _, err := tlsHandshake(gw.Addr, client); err != nil {
			t.Fatalf("modern suite with the RSA certificate: %v", err)
		}
	})

	t.Run("min_version 1.3", func(t *testing.T) {
		gw13 := StartGateway(t, tlsGatewayConfig(up.URL, certs, `min_version: "1.3"`, "", ""))
		client := f.client("a.example.test")
		client.MaxVersion = tls.VersionTLS12
		if _, err := tlsHandshake(gw.Addr, client); err != nil {
			t.Fatalf("control: TLS 1.2 client against the default listener: %v", err)
		}
		_, err := tlsHandshake(gw13.Addr, client)
		if err == nil || !strings.Contains(err.Error(), "protocol version") {
			t.Fatalf("TLS 1.2 against min_version 1.3: err = %v, want a protocol version alert", err)
		}
		st, err := tlsHandshake(gw13.Addr, f.client("a.example.test"))
		if err != nil || st.Version != tls.VersionTLS13 {
			t.Fatalf("TLS 1.3: version %x err %v", st.Version, err)
		}
	})
	if up.Count() != 0 {
		t.Fatalf("handshakes alone reached the upstream %d times", up.Count())
	}
}

// httpsClient dials the gateway at 127.0.0.1 with serverName as SNI and
// verified name, and asks for serverName in Host as a browser would (the
// gateway answers 421 to a Host the connection was not set up for).
func (f *tlsFixture) httpsClient(serverName string, h2 bool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: sniHost{host: serverName, Transport: &http.Transport{
			TLSClientConfig:   f.client(serverName),
			ForceAttemptHTTP2: h2,
		}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// sniHost sends every request with Host set to the TLS server name.
type sniHost struct {
	*http.Transport
	host string
}

func (s sniHost) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Host = s.host
	return s.Transport.RoundTrip(r2)
}

func tlsGet(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// h2ServerSettings opens a raw TLS connection offering only h2, sends the
// client preface and returns the server's first SETTINGS frame.
func h2ServerSettings(t testing.TB, addr string, cfg *tls.Config) map[http2.SettingID]uint32 {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"h2"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN negotiated %q, want h2", p)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for {
		frame, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's SETTINGS: %v", err)
		}
		sf, ok := frame.(*http2.SettingsFrame)
		if !ok || sf.IsAck() {
			continue
		}
		out := map[http2.SettingID]uint32{}
		_ = sf.ForeachSetting(func(s http2.Setting) error { out[s.ID] = s.Val; return nil })
		return out
	}
}

func TestTLSHTTP2ToClients(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Proto", r.Proto)
		_, _ = io.WriteString(w, "ok")
	})
	certs := f.listenerCerts(t)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, certs, "", "", ""))

	resp, body := tlsGet(t, f.httpsClient("a.example.test", true), "https://"+gw.Addr+"/h2/path?x=1")
	if resp.StatusCode != 200 || body != "ok" || resp.ProtoMajor != 2 {
		t.Fatalf("status %d proto %s body %q", resp.StatusCode, resp.Proto, body)
	}
	if got := resp.Header.Get("X-Upstream-Proto"); got != "HTTP/1.1" {
		t.Errorf("upstream saw %q, want HTTP/1.1", got)
	}
	seen := up.Last(t)
	if seen.RequestURI != "/h2/path?x=1" {
		t.Errorf("upstream got %q", seen.RequestURI)
	}
	if got := seen.Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want https", got)
	}
	if got := seen.Header.Get("Forwarded"); !strings.Contains(got, "proto=https") {
		t.Errorf("Forwarded = %q, want proto=https", got)
	}
	if got := h2ServerSettings(t, gw.Addr, f.client("a.example.test"))[http2.SettingMaxConcurrentStreams]; got != 250 {
		t.Errorf("default SETTINGS_MAX_CONCURRENT_STREAMS = %d, want 250", got)
	}

	up.Reset()
	gw1 := StartGateway(t, tlsGatewayConfig(up.URL, certs, "", "http2: {disable: true}", ""))
	resp, body = tlsGet(t, f.httpsClient("a.example.test", true), "https://"+gw1.Addr+"/h1")
	if resp.StatusCode != 200 || body != "ok" || resp.ProtoMajor != 1 {
		t.Fatalf("http2 disabled: status %d proto %s body %q", resp.StatusCode, resp.Proto, body)
	}
	if got := up.Last(t).Header.Get("X-Forwarded-Proto"); got != "https" {
		t.Errorf("http2 disabled: X-Forwarded-Proto = %q", got)
	}
	cfg := f.client("a.example.test")
	cfg.NextProtos = []string{"h2", "http/1.1"}
	st, err := tlsHandshake(gw1.Addr, cfg)
	if err != nil || st.NegotiatedProtocol != "http/1.1" {
		t.Fatalf("http2 disabled: ALPN %q err %v, want http/1.1", st.NegotiatedProtocol, err)
	}
}

func TestTLSHTTP2MaxConcurrentStreams(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "http2: {max_concurrent_streams: 5}", ""))
	settings := h2ServerSettings(t, gw.Addr, f.client("a.example.test"))
	if got, ok := settings[http2.SettingMaxConcurrentStreams]; !ok || got != 5 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (present %v), want 5; settings %v", got, ok, settings)
	}
}

func TestTLSHSTS(t *testing.T) {
	f := getTLSFixture(t)
	// The upstream sends its own HSTS header: the gateway's policy wins on
	// HTTPS, and a plain listener must never pass one on (RFC 6797 7.2).
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=5")
		_, _ = io.WriteString(w, "ok")
	})
	plainAddr := freeAddr(t)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t),
		"hsts: {max_age: 8760h, include_subdomains: true}", "",
		fmt.Sprintf(`{name: plain, address: %q}`, plainAddr)))
	const want = "max-age=31536000; includeSubDomains"

	c := f.httpsClient("a.example.test", true)
	resp, body := tlsGet(t, c, "https://"+gw.Addr+"/x")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("https: status %d body %q", resp.StatusCode, body)
	}
	if got := resp.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != want {
		t.Errorf("https: Strict-Transport-Security = %q, want [%q]", got, want)
	}
	// The gateway's own answers carry it too.
	resp, _ = tlsGet(t, c, "https://"+gw.Addr+"/%2e%2e/x")
	if resp.StatusCode != 400 || resp.Header.Get("Strict-Transport-Security") != want {
		t.Errorf("https refusal: status %d Strict-Transport-Security %q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}

	for _, path := range []string{"/x", "/%2e%2e/x"} {
		resp, _ := tlsGet(t, http.DefaultClient, "http://"+plainAddr+path)
		if v, ok := resp.Header["Strict-Transport-Security"]; ok {
			t.Errorf("plain listener %s (status %d) sent Strict-Transport-Security %q", path, resp.StatusCode, v)
		}
	}
	if up.Count() != 2 {
		t.Errorf("upstream saw %d requests, want 2 (the refusals stay at the gateway)", up.Count())
	}
}

func TestTLSRedirectToHTTPS(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}", redirect_to_https: {port: 8443}}]
services: [{name: svc, targets: [{url: %q}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
ops: {address: "{{ops}}"}
`, up.URL)))
	for _, tc := range []struct{ raw, location string }{
		{"GET /same/path?q=1 HTTP/1.1\r\nHost: shop.example.test\r\n\r\n", "https://shop.example.test:8443/same/path?q=1"},
		{"GET /same/path?q=1 HTTP/1.1\r\nHost: shop.example.test:8080\r\n\r\n", "https://shop.example.test:8443/same/path?q=1"},
		{"POST /same/path?q=1 HTTP/1.1\r\nHost: shop.example.test\r\nContent-Length: 5\r\n\r\nhello", "https://shop.example.test:8443/same/path?q=1"},
	} {
		resp := rawRequest(t, gw.Addr, tc.raw)
		if resp.Status != http.StatusPermanentRedirect || resp.Header.Get("Location") != tc.location {
			t.Errorf("%q: status %d Location %q, want 308 %q", tc.raw, resp.Status, resp.Header.Get("Location"), tc.location)
		}
	}
	if up.Count() != 0 {
		t.Fatalf("the redirect listener proxied %d requests", up.Count())
	}
}

func TestTLSCertificateReload(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	certs := f.listenerCerts(t)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, certs, "", "", ""))
	if got := f.servedSerial(t, gw.Addr, "a.example.test"); got != serialA {
		t.Fatalf("initial serial %d, want %d", got, serialA)
	}

	// Requests keep flowing, each on a new connection, while the files change.
	var failures atomic.Int64
	var okCount atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := f.httpsClient("a.example.test", false)
		c.Transport.(sniHost).DisableKeepAlives = true
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get("https://" + gw.Addr + "/during-reload")
			if err != nil {
				failures.Add(1)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				} else {
					okCount.Add(1)
				}
			}
			time.Sleep(25 * time.Millisecond) // pacing, not synchronization
		}
	}()
	stopTraffic := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
	}
	t.Cleanup(stopTraffic)

	// Rotate a.example.test: new key, serial and NotAfter.
	tlsWriteFile(t, certs[0].key, f.a2.key)
	tlsWriteFile(t, certs[0].cert, f.a2.cert)
	deadline := time.Now().Add(10 * time.Second)
	for f.servedSerial(t, gw.Addr, "a.example.test") != serialA2 {
		if time.Now().After(deadline) {
			t.Fatalf("new certificate not served after 10s\nstderr:\n%s", gw.Stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := tlsHandshake(gw.Addr, f.client("a.example.test"))
	if err != nil || !st.PeerCertificates[0].NotAfter.Equal(tlsParseLeaf(t, f.a2.cert).NotAfter) {
		t.Fatalf("after reload: err %v", err)
	}
	if !gw.WaitLog("certificate reloaded", time.Second) {
		t.Error("the reload was not logged")
	}

	// A broken file keeps the last good certificate and logs an error.
	logOffset := len(gw.Stderr.String())
	tlsWriteFile(t, certs[0].cert, []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"))
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(gw.Stderr.String()[logOffset:], "certificate reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged for a broken certificate file after 10s\nstderr:\n%s", gw.Stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := f.servedSerial(t, gw.Addr, "a.example.test"); got != serialA2 {
		t.Fatalf("after a broken file: serial %d, want the last good %d", got, serialA2)
	}
	if got := f.servedSerial(t, gw.Addr, "x.b.example.test"); got != serialB {
		t.Errorf("the other certificate changed: serial %d", got)
	}
	resp, body := tlsGet(t, f.httpsClient("a.example.test", true), "https://"+gw.Addr+"/after")
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("after a broken file: status %d body %q", resp.StatusCode, body)
	}

	stopTraffic()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed during the certificate changes (%d succeeded)", n, okCount.Load())
	}
	if okCount.Load() == 0 {
		t.Error("no request ran during the certificate changes")
	}
	if strings.Contains(gw.Stderr.String(), "PRIVATE KEY") {
		t.Error("the process log contains key material")
	}
}

func tlsParseLeaf(t testing.TB, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSUpstreamHTTPS(t *testing.T) {
	f := getTLSFixture(t)
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("X-Upstream-TLS", fmt.Sprint(r.TLS != nil))
		_, _ = io.WriteString(w, "secure ok")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{f.up.tlsCert(t)}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	upAddr := strings.TrimPrefix(srv.URL, "https://")

	dir := t.TempDir()
	goodCA, otherCA := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other-ca.pem")
	tlsWriteFile(t, goodCA, f.ca.pem)
	tlsWriteFile(t, otherCA, f.otherCA.pem)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: good, targets: [{url: %[1]q}], tls: {ca_file: %[2]q}}
  - {name: wrong-ca, targets: [{url: %[1]q}], tls: {ca_file: %[3]q}}
  - {name: system-roots, targets: [{url: %[1]q}]}
routes:
  - {name: good, paths: [{prefix: /good/}], service: good}
  - {name: wrong-ca, paths: [{prefix: /wrong/}], service: wrong-ca}
  - {name: system-roots, paths: [{prefix: /system/}], service: system-roots}
ops: {address: "{{ops}}"}
`, srv.URL, goodCA, otherCA)))

	resp, body := tlsGet(t, http.DefaultClient, gw.URL("/good/x"))
	if resp.StatusCode != 200 || body != "secure ok" || resp.Header.Get("X-Upstream-TLS") != "true" {
		t.Fatalf("good CA: status %d body %q", resp.StatusCode, body)
	}
	if hits.Load() != 1 {
		t.Fatalf("upstream hits = %d, want 1", hits.Load())
	}

	for _, path := range []string{"/wrong/x", "/system/x"} {
		resp, body := tlsGet(t, http.DefaultClient, gw.URL(path))
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s: status %d type %q body %q, want 502 problem+json", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(body), &p); err != nil || p["status"] != float64(502) || p["request_id"] != resp.Header.Get("X-Request-Id") {
			t.Errorf("%s: problem body %s (err %v)", path, body, err)
		}
		low := strings.ToLower(body)
		for _, leak := range []string{"x509", "certificate", "tls", "authority", "127.0.0.1", upAddr} {
			if strings.Contains(low, strings.ToLower(leak)) {
				t.Errorf("%s: problem body leaks %q: %s", path, leak, body)
			}
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("upstream hits = %d after the refused handshakes, want still 1", hits.Load())
	}
}
