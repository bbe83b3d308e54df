package revocation

import (
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestOCSPClientHoldsToTheTLSPolicy: a responder named https:// is asked
// with the gateway's TLS policy (its ClientHello offers nothing else).
func TestOCSPClientHoldsToTheTLSPolicy(t *testing.T) {
	srv := tlspolicytest.NewServer(t, http.NotFoundHandler(), 0)
	issuer := newCert(t, nil, "clients CA", true, nil)
	leaf := newCert(t, issuer, "alice", false, func(c *x509.Certificate) { c.OCSPServer = []string{srv.URL} })
	c, err := New(&config.ClientAuth{OCSP: &config.OCSP{Failure: config.OCSPFailOpen}}, []*x509.Certificate{issuer.cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.VerifyConnection(state(leaf, issuer)) // the responder is not trusted: only the ClientHello is under test
	tlspolicytest.CheckHello(t, srv, "the OCSP client")
}
