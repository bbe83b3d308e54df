package auth

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

func fingerprintHex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// mtlsFixture is a set of certificates and a policy whose consumers map
// them in every supported way.
type mtlsFixture struct {
	ca *testCA
	// listener is an HTTPS listener with client_auth (its files load, as
	// the config's loader requires; the auth policy does not use them).
	listener                                     string
	alice, bob, carol, dave, erin, nobody, ambig *x509.Certificate
}

func newMTLSFixture(t testing.TB) *mtlsFixture {
	t.Helper()
	ca := newTestCA(t)
	dir := t.TempDir()
	tlspolicytest.WriteKeyPair(t, filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), "s.example.test")
	tlspolicytest.WriteKeyPair(t, filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key"))
	f := &mtlsFixture{ca: ca, listener: fmt.Sprintf(`listeners: [{name: public, address: "127.0.0.1:0", tls: {certificates: [{cert_file: %q, key_file: %q}], client_auth: {mode: request, ca_file: %q}}}]`,
		filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"), filepath.Join(dir, "ca.pem"))}
	f.alice = ca.clientCert(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "alice", Organization: []string{"Example"}}
	})
	f.bob = ca.clientCert(t, func(c *x509.Certificate) { c.DNSNames = []string{"other.example.test", "Bob.Example.Test"} })
	f.carol = ca.clientCert(t, func(c *x509.Certificate) {
		c.URIs = append(c.URIs, mustURL(t, "spiffe://example.test/ns/prod/sa/Carol"))
	})
	f.dave = ca.clientCert(t, func(c *x509.Certificate) { c.EmailAddresses = []string{"dave@example.test"} })
	// erin's certificate carries alice's subject: the fingerprint, the
	// more specific mapping, wins.
	f.erin = ca.clientCert(t, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "alice", Organization: []string{"Example"}}
	})
	f.nobody = ca.clientCert(t, func(c *x509.Certificate) { c.DNSNames = []string{"nobody.example.test"} })
	f.ambig = ca.clientCert(t, func(c *x509.Certificate) {
		c.DNSNames = []string{"bob.example.test"}
		c.URIs = append(c.URIs, mustURL(t, "spiffe://example.test/ns/prod/sa/Carol"))
	})
	return f
}

func (f *mtlsFixture) consumersYAML() string {
	return fmt.Sprintf(`consumers:
  - {name: alice, groups: [admins], credentials: {mtls: [{subject: "CN=alice,O=Example"}]}}
  - {name: bob, groups: [ops], credentials: {mtls: [{san: bob.example.test}]}}
  - {name: carol, credentials: {mtls: [{san: "spiffe://example.test/ns/prod/sa/Carol"}]}}
  - {name: dave, credentials: {mtls: [{san: dave@example.test}]}}
  - {name: erin, groups: [a, b], credentials: {mtls: [{fingerprint_sha256: %q}]}}
  - {name: guest}
`, strings.ToUpper(colonHex(fingerprintHex(f.erin))))
}

// colonHex writes a hex string as openssl prints fingerprints: AB:CD:...
func colonHex(h string) string {
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

func (f *mtlsFixture) policy(t testing.TB, methodYAML, extra string) *policy {
	t.Helper()
	return miMustCompile(t, f.config("      - kind: auth\n        methods: ["+methodYAML+"]\n"+extra), nil)
}

// config is miConfig with the fixture's consumers and HTTPS listener.
func (f *mtlsFixture) config(policyYAML string) string {
	return strings.Replace(miConfig(f.consumersYAML(), policyYAML), miListener, f.listener, 1)
}

// verifiedRequest is a request on a connection whose handshake verified
// leaf against the CA.
func (f *mtlsFixture) verifiedRequest(leaf *x509.Certificate) *pipeline.Context {
	r := httptest.NewRequest("GET", "https://api.example.test/", nil)
	r.TLS = &tls.ConnectionState{
		HandshakeComplete: true,
		PeerCertificates:  []*x509.Certificate{leaf},
		VerifiedChains:    [][]*x509.Certificate{{leaf, f.ca.cert}},
	}
	return miContext(r)
}

func TestMTLSMapsVerifiedCertificates(t *testing.T) {
	f := newMTLSFixture(t)
	p := f.policy(t, "mtls: {}", "")
	m := p.methods[0].(*mtlsMethod)
	for _, tc := range []struct {
		name     string
		cert     *x509.Certificate
		consumer string
		groups   []string
	}{
		{"subject", f.alice, "alice", []string{"admins"}},
		{"DNS SAN, any of several, case-insensitive", f.bob, "bob", []string{"ops"}},
		{"URI SAN, exact", f.carol, "carol", nil},
		{"e-mail SAN", f.dave, "dave", nil},
		{"fingerprint before subject", f.erin, "erin", []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.verifiedRequest(tc.cert)
			if prob := p.Handle(c); prob != nil {
				t.Fatalf("refused: %d %s", prob.Status, prob.Reason)
			}
			id := c.Identity
			if id.Consumer != tc.consumer || id.Method != "mtls" || fmt.Sprint(id.Groups) != fmt.Sprint(tc.groups) {
				t.Fatalf("identity %+v, want consumer %s groups %v", id, tc.consumer, tc.groups)
			}
			if want := fingerprintHex(tc.cert)[:16]; id.CredentialID != want {
				t.Errorf("credential id %q, want %q", id.CredentialID, want)
			}
		})
	}
	// A URI SAN differing only in case is another identity.
	carolish := f.ca.clientCert(t, func(c *x509.Certificate) {
		c.URIs = append(c.URIs, mustURL(t, "spiffe://example.test/ns/prod/sa/carol"))
	})
	if _, err := m.Authenticate(f.verifiedRequest(carolish)); !isFailure(err, "unknown certificate") {
		t.Errorf("URI SAN in another case: %v", err)
	}
}

func isFailure(err error, reason string) bool {
	var f *Failure
	return errors.As(err, &f) && f.Reason == reason
}

func TestMTLSRefusals(t *testing.T) {
	f := newMTLSFixture(t)
	p := f.policy(t, "mtls: {}", "")
	m := p.methods[0].(*mtlsMethod)

	plain := miContext(httptest.NewRequest("GET", "http://api.example.test/", nil))
	if _, err := m.Authenticate(plain); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("plain HTTP: %v, want ErrNoCredentials", err)
	}
	noCert := f.verifiedRequest(f.alice)
	noCert.Request.TLS = &tls.ConnectionState{HandshakeComplete: true}
	if _, err := m.Authenticate(noCert); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("TLS without certificate: %v, want ErrNoCredentials", err)
	}
	// A certificate the handshake did not verify is never trusted, even
	// one whose fingerprint is mapped.
	unverified := f.verifiedRequest(f.erin)
	unverified.Request.TLS.VerifiedChains = nil
	if _, err := m.Authenticate(unverified); !isFailure(err, "unverified certificate") {
		t.Errorf("unverified: %v", err)
	}
	if _, err := m.Authenticate(f.verifiedRequest(f.nobody)); !isFailure(err, "unknown certificate") {
		t.Errorf("unmapped: %v", err)
	}
	if _, err := m.Authenticate(f.verifiedRequest(f.ambig)); !isFailure(err, "ambiguous certificate") {
		t.Errorf("SANs of two consumers: %v", err)
	}
	for _, at := range []time.Time{f.alice.NotAfter.Add(time.Second), f.alice.NotBefore.Add(-time.Second)} {
		m.now = func() time.Time { return at }
		if _, err := m.Authenticate(f.verifiedRequest(f.alice)); !isFailure(err, "certificate not valid now") {
			t.Errorf("at %v: %v", at, err)
		}
	}
	m.now = time.Now

	// Through the policy: 401, problem detail without the reason, no
	// challenge (certificates are not asked for over HTTP).
	c := f.verifiedRequest(f.nobody)
	prob := p.Handle(c)
	if prob == nil || prob.Status != 401 || c.Identity != nil {
		t.Fatalf("unmapped certificate through the policy: %+v", prob)
	}
	if prob.Reason != "mtls: unknown certificate" || strings.Contains(prob.Detail, "certificate") {
		t.Errorf("reason %q detail %q", prob.Reason, prob.Detail)
	}
	if prob.Header.Get("WWW-Authenticate") != "" {
		t.Errorf("unexpected challenge %q", prob.Header.Get("WWW-Authenticate"))
	}
	if prob := p.Handle(plain); prob == nil || prob.Status != 401 {
		t.Fatalf("no certificate through the policy: %+v", prob)
	}
}

func TestMTLSRequireFalse(t *testing.T) {
	f := newMTLSFixture(t)
	p := f.policy(t, "mtls: {require: false}", "        anonymous: guest\n")
	c := f.verifiedRequest(f.nobody)
	if prob := p.Handle(c); prob != nil || c.Identity == nil || c.Identity.Consumer != "guest" {
		t.Fatalf("an unmapped certificate with require: false falls through to anonymous: %+v %+v", prob, c.Identity)
	}
	// A certificate that is present but unverified is still refused.
	c = f.verifiedRequest(f.nobody)
	c.Request.TLS.VerifiedChains = nil
	if prob := p.Handle(c); prob == nil || prob.Status != 401 {
		t.Fatalf("unverified certificate: %+v", prob)
	}
	// The default refuses the unmapped certificate even with anonymous.
	p = f.policy(t, "mtls: {}", "        anonymous: guest\n")
	if prob := p.Handle(f.verifiedRequest(f.nobody)); prob == nil || prob.Status != 401 {
		t.Fatalf("require: true: %+v", prob)
	}
}

func TestMTLSIndexRefusesBadCredentials(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	cons := func(name string, creds ...config.MTLSCredential) config.Consumer {
		return config.Consumer{Name: name, Credentials: config.Credentials{MTLS: creds}}
	}
	for _, tc := range []struct {
		name      string
		consumers []config.Consumer
		want      string // substring of the error; "" for no error
	}{
		{"empty", []config.Consumer{cons("a", config.MTLSCredential{})}, "exactly one"},
		{"two properties", []config.Consumer{cons("a", config.MTLSCredential{Subject: "CN=a", SAN: "a.test"})}, "exactly one"},
		{"short fingerprint", []config.Consumer{cons("a", config.MTLSCredential{FingerprintSHA256: "abcd"})}, "64 hex digits"},
		{"not hex", []config.Consumer{cons("a", config.MTLSCredential{FingerprintSHA256: strings.Repeat("zz", 32)})}, "64 hex digits"},
		{"prefixed", []config.Consumer{cons("a", config.MTLSCredential{FingerprintSHA256: "sha256:" + fp})}, "64 hex digits"},
		{"spaces in subject", []config.Consumer{cons("a", config.MTLSCredential{Subject: " CN=a"})}, "spaces"},
		{"spaces in SAN", []config.Consumer{cons("a", config.MTLSCredential{SAN: "a b.test"})}, "spaces"},
		{"fingerprint of two consumers", []config.Consumer{
			cons("a", config.MTLSCredential{FingerprintSHA256: fp}),
			cons("b", config.MTLSCredential{FingerprintSHA256: strings.ToUpper(colonHex(fp))}),
		}, `already mapped to consumer "a"`},
		{"subject of two consumers", []config.Consumer{
			cons("a", config.MTLSCredential{Subject: "CN=x"}), cons("b", config.MTLSCredential{Subject: "CN=x"}),
		}, "already mapped"},
		{"DNS SAN of two consumers, in other case", []config.Consumer{
			cons("a", config.MTLSCredential{SAN: "x.test"}), cons("b", config.MTLSCredential{SAN: "X.Test."}),
		}, "already mapped"},
		{"same consumer twice is fine", []config.Consumer{
			cons("a", config.MTLSCredential{Subject: "CN=x"}, config.MTLSCredential{Subject: "CN=x"}),
		}, ""},
		{"URIs differing in case are distinct", []config.Consumer{
			cons("a", config.MTLSCredential{SAN: "spiffe://t/A"}), cons("b", config.MTLSCredential{SAN: "spiffe://t/a"}),
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := buildMTLSIndex(tc.consumers, nil)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected error: %v", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", errs, tc.want)
			}
			if !strings.Contains(errs.Error(), "consumers[") {
				t.Errorf("error %v does not name the credential's path", errs)
			}
		})
	}
}

func TestMTLSConfigErrors(t *testing.T) {
	f := newMTLSFixture(t)
	_, err := miCompile(t, f.config("      - kind: auth\n        methods: [{mtls: {required: true}}]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("unknown option: %v", err)
	}
	// Without a listener that asks for certificates the method could
	// never succeed: refused at load time.
	_, err = miCompile(t, miConfig(f.consumersYAML(), "      - kind: auth\n        methods: [{mtls: {}}]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "client_auth") {
		t.Fatalf("no client_auth listener: %v", err)
	}
}

// BenchmarkMTLSAuthenticate is the per-request cost of mapping a verified
// certificate (by SAN, the slowest lookup) to an identity.
func BenchmarkMTLSAuthenticate(b *testing.B) {
	f := newMTLSFixture(b)
	p := f.policy(b, "mtls: {}", "")
	for _, bc := range []struct {
		name string
		cert *x509.Certificate
	}{{"fingerprint", f.erin}, {"subject", f.alice}, {"san", f.bob}} {
		b.Run(bc.name, func(b *testing.B) {
			c := f.verifiedRequest(bc.cert)
			b.ReportAllocs()
			for b.Loop() {
				c.Identity = nil
				if prob := p.Handle(c); prob != nil {
					b.Fatal(prob.Reason)
				}
			}
		})
	}
}

// TestMTLSMemoRules: through Authenticate, the lookup result of a
// certificate is remembered by its fingerprint (a second request adds no
// entry), and a flood of distinct certificates leaves the memo at its
// bound, full (one result evicted per new one, not the whole memo
// cleared), every one of them still mapped right.
func TestMTLSMemoRules(t *testing.T) {
	f := newMTLSFixture(t)
	p := f.policy(t, "mtls: {}", "")
	m := p.methods[0].(*mtlsMethod)
	auth := func(cert *x509.Certificate) string {
		t.Helper()
		id, err := m.Authenticate(f.verifiedRequest(cert))
		if err != nil {
			t.Fatalf("authenticate: %v", err)
		}
		return id.Consumer
	}
	for range 3 {
		if got := auth(f.bob); got != "bob" {
			t.Fatalf("bob's certificate mapped to %q", got)
		}
	}
	if n := m.idx.seen.Len(); n != 1 {
		t.Fatalf("one certificate, %d remembered results", n)
	}
	// Copies of bob's certificate with other bytes: other fingerprints,
	// the same SAN (the leaf's signature is crypto/tls's business).
	flood := mtlsSeenMax + mtlsSeenMax/4
	for i := range flood {
		c := *f.bob
		c.Raw = append(append([]byte(nil), f.bob.Raw...), byte(i), byte(i>>8))
		if got := auth(&c); got != "bob" {
			t.Fatalf("copy %d mapped to %q", i, got)
		}
	}
	if n, capacity := m.idx.seen.Len(), m.idx.seen.Capacity(); n > capacity || capacity > mtlsSeenMax || n < capacity*7/8 {
		t.Errorf("after %d certificates the memo holds %d (bound %d, capacity %d)", flood, n, mtlsSeenMax, capacity)
	}
}
