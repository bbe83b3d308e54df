package tlspolicy_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tlspolicy"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestCipherSuitesForwardSecretAEAD: every suite of the policy is one Go
// counts secure, with ECDHE key exchange and an AEAD; and every such TLS
// 1.2 suite Go has is in the policy (nothing modern left out).
func TestCipherSuitesForwardSecretAEAD(t *testing.T) {
	modern := func(name string) bool {
		return strings.HasPrefix(name, "TLS_ECDHE_") && (strings.Contains(name, "_GCM_") || strings.Contains(name, "_CHACHA20_POLY1305"))
	}
	policy := tlspolicy.CipherSuites()
	for _, cs := range tls.InsecureCipherSuites() {
		if slices.Contains(policy, cs.ID) {
			t.Errorf("%s is insecure and in the policy", cs.Name)
		}
	}
	for _, cs := range tls.CipherSuites() {
		tls12 := slices.Contains(cs.SupportedVersions, tls.VersionTLS12)
		in := slices.Contains(policy, cs.ID)
		switch {
		case in && !modern(cs.Name):
			t.Errorf("%s is in the policy without ECDHE and an AEAD", cs.Name)
		case !in && tls12 && modern(cs.Name):
			t.Errorf("%s is a forward-secret AEAD suite left out of the policy", cs.Name)
		}
	}
	for _, id := range policy {
		if !slices.ContainsFunc(tls.CipherSuites(), func(cs *tls.CipherSuite) bool { return cs.ID == id }) {
			t.Errorf("%#x is not a suite Go counts secure", id)
		}
	}
}

// TestCipherSuitesIsACopy: a caller that changes the slice it got (or a
// config's) does not widen the policy of the others.
func TestCipherSuitesIsACopy(t *testing.T) {
	a := tlspolicy.CipherSuites()
	a[0] = tls.TLS_RSA_WITH_AES_128_CBC_SHA
	c := tlspolicy.Config(tls.VersionTLS12)
	c.CipherSuites[1] = tls.TLS_RSA_WITH_AES_128_CBC_SHA
	for _, cs := range tlspolicy.CipherSuites() {
		if cs == tls.TLS_RSA_WITH_AES_128_CBC_SHA {
			t.Fatal("a caller's change reached the policy")
		}
	}
}

func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		desc, in string
		def      uint16
		want     uint16
		err      bool
	}{
		{desc: "empty takes the caller's default", in: "", def: tls.VersionTLS13, want: tls.VersionTLS13},
		{desc: "1.2", in: "1.2", def: tls.VersionTLS13, want: tls.VersionTLS12},
		{desc: "1.3", in: "1.3", def: tls.VersionTLS12, want: tls.VersionTLS13},
		{desc: "1.1 refused, not raised", in: "1.1", err: true},
		{desc: "1.0 refused", in: "1.0", err: true},
		{desc: "a spelling Go does not use", in: "TLS1.2", err: true},
		{desc: "a trailing space", in: "1.2 ", err: true},
		{desc: "1.4 does not exist", in: "1.4", err: true},
	} {
		got, err := tlspolicy.Version(tc.in, tc.def)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("%s: Version(%q) = %#x, %v", tc.desc, tc.in, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), `"1.2" or "1.3"`) {
			t.Errorf("%s: the error does not say what is allowed: %v", tc.desc, err)
		}
	}
}

// TestConfigRaisesAnOldMinimum: no config built from the policy starts
// below TLS 1.2, whatever a caller passes.
func TestConfigRaisesAnOldMinimum(t *testing.T) {
	for _, v := range []uint16{0, tls.VersionTLS10, tls.VersionTLS11} {
		if got := tlspolicy.Config(v).MinVersion; got != tls.VersionTLS12 {
			t.Errorf("Config(%#x).MinVersion = %#x", v, got)
		}
	}
	if got := tlspolicy.Config(tls.VersionTLS13).MinVersion; got != tls.VersionTLS13 {
		t.Errorf("Config(1.3).MinVersion = %#x", got)
	}
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

// TestClientRefusesWeakServers: through a real handshake on loopback, a
// client built from the policy reaches a server that accepts modern
// suites, offers nothing else, and cannot be talked down to a server that
// speaks only a CBC or a static-RSA suite (the server has an RSA key). The control shows why the
// policy exists: Go's default client offers CBC and reaches that server.
func TestClientRefusesWeakServers(t *testing.T) {
	client := func(tc *tls.Config) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	}
	good := tlspolicytest.NewServer(t, ok, 0)
	if err := get(client(tlspolicy.Client(good.Roots)), good.URL); err != nil {
		t.Fatalf("a modern server: %v", err)
	}
	tlspolicytest.CheckHello(t, good, "tlspolicy.Client")
	tr := tlspolicy.Transport()
	tr.TLSClientConfig.RootCAs = good.Roots
	if err := get(&http.Client{Timeout: 5 * time.Second, Transport: tr}, good.URL); err != nil {
		t.Fatalf("Transport to a modern server: %v", err)
	}
	tlspolicytest.CheckHello(t, good, "tlspolicy.Transport")

	for _, suite := range []uint16{
		tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	} {
		name := tls.CipherSuiteName(suite)
		weak := tlspolicytest.NewServer(t, ok, suite)
		control := &tls.Config{RootCAs: weak.Roots, CipherSuites: []uint16{suite}}
		if err := get(client(control), weak.URL); err != nil {
			t.Fatalf("control: a client offering %s must reach the server: %v", name, err)
		}
		if err := get(client(tlspolicy.Client(weak.Roots)), weak.URL); err == nil {
			t.Errorf("the policy's client reached a server speaking only %s", name)
		}
	}

	// Go's defaults offer the ECDHE CBC suites: a tls.Config not built from
	// the policy would take them.
	cbc := tlspolicytest.NewServer(t, ok, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA)
	if err := get(client(&tls.Config{RootCAs: cbc.Roots}), cbc.URL); err != nil {
		t.Logf("Go's default client no longer reaches a CBC-only server (%v): the policy is now Go's default", err)
	}
}

// TestLoopback: plain text is allowed only to hosts that never leave the
// machine; every name that merely looks local is off it.
func TestLoopback(t *testing.T) {
	for _, tc := range []struct {
		desc, host string
		want       bool
	}{
		{"IPv4 loopback", "127.0.0.1", true},
		{"anywhere in 127/8", "127.8.9.10", true},
		{"IPv6 loopback", "::1", true},
		{"IPv6 loopback in brackets", "[::1]", true},
		{"IPv6 loopback with a zone", "::1%lo", true},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", true},
		{"localhost", "localhost", true},
		{"localhost in capitals", "LocalHost", true},
		{"empty (every interface)", "", false},
		{"unspecified IPv4", "0.0.0.0", false},
		{"unspecified IPv6", "::", false},
		{"private address", "10.0.0.1", false},
		{"a name under localhost's", "localhost.example.com", false},
		{"a name ending in localhost", "evil-localhost", false},
		{"localhost with a trailing dot", "localhost.", false},
		{"127 as a name prefix", "127.0.0.1.example.com", false},
		{"a public name", "example.com", false},
	} {
		if got := tlspolicy.Loopback(tc.host); got != tc.want {
			t.Errorf("%s: Loopback(%q) = %v, want %v", tc.desc, tc.host, got, tc.want)
		}
	}
}
