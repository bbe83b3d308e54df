// Package tlspolicytest gives the tests of the gateway's TLS clients a
// real TLS server on loopback that records every ClientHello it receives,
// so that a test can check what a client really offers (CheckHello) and
// that a server which speaks only a refused suite cannot be reached.
package tlspolicytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Hello is what a client offered in one ClientHello.
type Hello struct {
	CipherSuites      []uint16
	SupportedVersions []uint16
}

// Server is an HTTPS server on 127.0.0.1 that records ClientHellos.
type Server struct {
	URL   string
	Cert  *x509.Certificate // the server's (self-signed) certificate
	Roots *x509.CertPool    // holds Cert

	mu     sync.Mutex
	hellos []Hello
}

// NewServer starts a server answering with h. With suite 0 it accepts
// whatever Go accepts by default (TLS 1.2 and 1.3); with a suite it
// speaks TLS 1.2 with that suite alone.
func NewServer(t testing.TB, h http.Handler, suite uint16) *Server {
	t.Helper()
	s := &Server{}
	srv := httptest.NewUnstartedServer(h)
	// The refused handshakes are the point of the tests, not news.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{GetConfigForClient: func(hi *tls.ClientHelloInfo) (*tls.Config, error) {
		s.mu.Lock()
		s.hellos = append(s.hellos, Hello{CipherSuites: slices.Clone(hi.CipherSuites), SupportedVersions: slices.Clone(hi.SupportedVersions)})
		s.mu.Unlock()
		return nil, nil
	}}
	if suite != 0 {
		srv.TLS.MaxVersion, srv.TLS.CipherSuites = tls.VersionTLS12, []uint16{suite}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.URL, s.Cert = srv.URL, srv.Certificate()
	s.Roots = x509.NewCertPool()
	s.Roots.AddCert(s.Cert)
	return s
}

// Hellos returns the ClientHellos received so far.
func (s *Server) Hellos() []Hello {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.hellos)
}

// CheckHello fails the test unless the server received at least one
// ClientHello and every one offered only the policy's TLS 1.2 suites (TLS
// 1.3's are allowed: Go fixes them) and no version below TLS 1.2.
func CheckHello(t testing.TB, s *Server, who string) {
	t.Helper()
	hellos := s.Hellos()
	if len(hellos) == 0 {
		t.Fatalf("%s: no ClientHello reached the server", who)
	}
	allowed := tlspolicy.CipherSuites()
	for _, h := range hellos {
		for _, cs := range h.CipherSuites {
			if !slices.Contains(allowed, cs) && !isTLS13Suite(cs) && cs != tlsEmptyRenegotiationInfoSCSV {
				t.Errorf("%s offered %s, outside the TLS policy", who, tls.CipherSuiteName(cs))
			}
		}
		for _, v := range h.SupportedVersions {
			if v < tls.VersionTLS12 && !isGREASE(v) {
				t.Errorf("%s offered TLS version %#x, below 1.2", who, v)
			}
		}
	}
}

const tlsEmptyRenegotiationInfoSCSV = 0x00ff

func isTLS13Suite(cs uint16) bool {
	return cs == tls.TLS_AES_128_GCM_SHA256 || cs == tls.TLS_AES_256_GCM_SHA384 || cs == tls.TLS_CHACHA20_POLY1305_SHA256
}

// isGREASE reports a RFC 8701 reserved value (Go does not send them, other
// clients may).
func isGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// WriteKeyPair writes a new self-signed ECDSA certificate for names (a CA
// as well, so the same file serves as a ca_file) to certPath and its key
// to keyPath, for tests whose config must pass the loader's checks of
// certificate, key and CA files.
func WriteKeyPair(t testing.TB, certPath, keyPath string, names ...string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "portcullis test"},
		DNSNames:              names,
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
}
