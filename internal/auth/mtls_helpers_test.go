package auth

// Test helpers shared by the mtls and introspection tests: compiling an
// auth policy from a YAML config, and minting client certificates.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// miListener is the plain listener of miConfig.
const miListener = `listeners: [{name: public, address: "127.0.0.1:0"}]`

// miConfig is a whole config with one route whose policies are policyYAML
// (indented for the route) and the given consumers block.
func miConfig(consumersYAML, policyYAML string) string {
	return `version: 1
` + miListener + `
services: [{name: svc, targets: [{url: "http://127.0.0.1:1"}]}]
` + consumersYAML + `
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
` + policyYAML
}

// miCompile parses text and compiles the route's first policy with state
// (a fresh one when nil).
func miCompile(t testing.TB, text string, state *pipeline.SharedValues) (*policy, error) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte(text))
	if err != nil {
		return nil, err
	}
	if state == nil {
		state = pipeline.NewSharedValues()
	}
	v, err := pipelinetest.Policy(t, cfg, 0, 0, pipeline.CompileEnv{Route: "r", Config: cfg, Snapshot: pipeline.NewSharedValues(), State: state})
	if err != nil {
		return nil, err
	}
	return v.(*policy), nil
}

func miMustCompile(t testing.TB, text string, state *pipeline.SharedValues) *policy {
	t.Helper()
	p, err := miCompile(t, text, state)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// testCA signs client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// clientCert issues a client certificate; edit adjusts the template.
func (ca *testCA) clientCert(t testing.TB, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if edit != nil {
		edit(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// miContext is a request context for policy.Handle and Authenticate.
func miContext(r *http.Request) *pipeline.Context {
	return &pipeline.Context{Request: r, Route: "r", Start: time.Now(), TLS: r.TLS != nil}
}
