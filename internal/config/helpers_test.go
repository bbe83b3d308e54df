package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// minimal is the smallest valid config; tests append to it or replace
// parts of it. Line numbers in expectations count from here.
const minimal = `version: 1
listeners:
  - name: public
    address: ":8080"
services:
  - name: orders
    targets:
      - url: http://127.0.0.1:9000
routes:
  - name: orders
    service: orders
    paths:
      - prefix: /orders
`

// withRoute appends route-level lines (indented 4 spaces) to the first
// route of minimal; they start on line 14.
func withRoute(lines string) string { return minimal + lines }

// parseErrors parses src and returns the Errors it must produce.
func parseErrors(t *testing.T, src string) Errors {
	t.Helper()
	c, err := Parse("gw.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Parse succeeded, want errors; config: %+v", c)
	}
	if c != nil {
		t.Errorf("Parse returned a config along with an error")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want Errors: %v", err, err)
	}
	return es
}

// wantOnly asserts that src produces exactly the one error line want.
func wantOnly(t *testing.T, src, want string) {
	t.Helper()
	es := parseErrors(t, src)
	if len(es) != 1 || es[0].Error() != want {
		t.Errorf("errors:\n%v\nwant exactly:\n%s", es, want)
	}
}

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("gw.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// tlsFiles writes the certificate files testdata/full.yaml names into a
// new directory and returns it: real key pairs and CA bundles (the loader
// checks that a key matches its certificate and that a CA file holds
// certificates); acme-jwt.pem, read through ${file:}, is a placeholder.
func tlsFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	at := func(f string) string { return filepath.Join(dir, f) }
	tlspolicytest.WriteKeyPair(t, at("api.crt"), at("api.key"), "api.example.com")
	tlspolicytest.WriteKeyPair(t, at("redis-client.crt"), at("redis-client.key"), "redis-client")
	tlspolicytest.WriteKeyPair(t, at("internal-ca.pem"), at("internal-ca.key"))
	tlspolicytest.WriteKeyPair(t, at("clients-ca.pem"), at("clients-ca.key"))
	tlspolicytest.WriteKeyPair(t, at("redis-ca.pem"), at("redis-ca.key"))
	if err := os.WriteFile(at("acme-jwt.pem"), []byte("placeholder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fullConfig returns testdata/full.yaml with its certificate paths pointed
// at dir.
func fullConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "/etc/portcullis/tls", dir)
}
