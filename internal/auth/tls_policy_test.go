package auth

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// The identity providers' clients hold to the gateway's TLS policy
// (package tlspolicy): through a real handshake on loopback, the JWKS and
// introspection clients reach a modern server offering only the policy's
// suites, and cannot reach a server that speaks only a CBC or a
// static-RSA suite, where Go's default client would go.

var tlsPolicyWeakSuites = []uint16{
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
}

func TestJWKSClientHoldsToTheTLSPolicy(t *testing.T) {
	keys := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"keys":[]}`) })
	good := tlspolicytest.NewServer(t, keys, 0)
	s := newJWKSSource(&jwksConfig{URL: good.URL + "/keys", Consumer: "carol"}, good.Roots)
	t.Cleanup(s.Close)
	if _, err := s.get(context.Background(), good.URL+"/keys"); err != nil {
		t.Fatalf("a modern key server: %v", err)
	}
	tlspolicytest.CheckHello(t, good, "the JWKS client")
	for _, suite := range tlsPolicyWeakSuites {
		weak := tlspolicytest.NewServer(t, keys, suite)
		s := newJWKSSource(&jwksConfig{URL: weak.URL + "/keys", Consumer: "carol"}, weak.Roots)
		t.Cleanup(s.Close)
		if _, err := s.get(context.Background(), weak.URL+"/keys"); err == nil {
			t.Errorf("the JWKS client fetched keys from a server speaking only %s", tls.CipherSuiteName(suite))
		}
	}
}

func TestIntrospectionClientHoldsToTheTLSPolicy(t *testing.T) {
	inactive := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"active":false}`)
	})
	good := tlspolicytest.NewServer(t, inactive, 0)
	s := newIntrospector(good.URL+"/introspect", good.Roots)
	t.Cleanup(s.Close)
	if _, err := s.introspect(context.Background(), "tok", "gw", "secret"); err != nil {
		t.Fatalf("a modern introspection endpoint: %v", err)
	}
	tlspolicytest.CheckHello(t, good, "the introspection client")
	for _, suite := range tlsPolicyWeakSuites {
		weak := tlspolicytest.NewServer(t, inactive, suite)
		s := newIntrospector(weak.URL+"/introspect", weak.Roots)
		t.Cleanup(s.Close)
		if _, err := s.introspect(context.Background(), "tok", "gw", "secret"); err == nil {
			t.Errorf("the introspection client sent a token to a server speaking only %s", tls.CipherSuiteName(suite))
		}
	}
}
