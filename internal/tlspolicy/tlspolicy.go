package tlspolicy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// suites are the TLS 1.2 suites with ECDHE key exchange and an AEAD, the
// server's preference order being Go's own (it orders by the client's
// hardware support).
var suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// CipherSuites returns the TLS 1.2 suites the gateway accepts and offers
// (a copy: a caller cannot widen the policy of the others).
func CipherSuites() []uint16 { return append([]uint16(nil), suites...) }

// Config returns a new tls.Config holding the policy, with minVersion
// (tls.VersionTLS12 or tls.VersionTLS13) as the lowest version; the
// caller adds certificates, roots, names and protocols. A lower minVersion
// is raised to TLS 1.2.
func Config(minVersion uint16) *tls.Config {
	if minVersion < tls.VersionTLS12 {
		minVersion = tls.VersionTLS12
	}
	return &tls.Config{MinVersion: minVersion, CipherSuites: CipherSuites()}
}

// Version is the lowest TLS version a config's min_version names: "1.2"
// or "1.3", or def for "" (each place in the config has its own default).
// Anything else is an error, never a silent default.
func Version(v string, def uint16) (uint16, error) {
	switch v {
	case "":
		return def, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("min_version %q: want \"1.2\" or \"1.3\"", v)
}

// Client is the config of a client of the gateway's own (an identity
// provider, a webhook receiver): the policy from TLS 1.2, trusting roots
// (nil: the system's).
func Client(roots *x509.CertPool) *tls.Config {
	tc := Config(tls.VersionTLS12)
	tc.RootCAs = roots
	return tc
}

// Transport is the transport of a client that calls configured URLs
// (webhooks): http.DefaultTransport's settings (its proxy from the
// environment, its pool and timeouts, HTTP/2) with the policy's TLS.
func Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = Client(nil)
	return tr
}

// Loopback reports whether host (a name or address, without a port;
// brackets and an IPv6 zone allowed) stays on this machine: "localhost"
// (RFC 6761 reserves it for loopback) or a loopback address. It is the one
// place that decides where the gateway may speak without TLS: a JWKS or
// introspection endpoint over plain http, a tracing collector sent its
// credentials over plain http, a Redis sent its password over plain TCP,
// a PostgreSQL store without verified TLS, an admin listener without TLS,
// a CORS origin trusted with credentials over plain http. Anything else,
// a name that merely resolves to loopback included, is off the machine.
func Loopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
