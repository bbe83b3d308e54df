package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rsaPublicPEM writes a PEM public key of bits to a new file.
func rsaPublicPEM(t *testing.T, bits int) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, fmt.Sprintf("rsa%d.pub", bits), string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// wantErrorAt checks that out has the error line for path at line:col.
func wantErrorAt(t *testing.T, out, file string, line, col int, path, msg string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(fmt.Sprintf("%s:%d:%d: %s: ", file, line, col, path)) + `.*` + regexp.QuoteMeta(msg))
	if !re.MatchString(out) {
		t.Errorf("no line %s:%d:%d: %s: ...%s in:\n%s", filepath.Base(file), line, col, path, msg, out)
	}
}

// TestValidateListsEveryErrorAtItsField: one run of validate lists every
// problem of the file, the config's own (a malformed API key hash), the
// policies' (two bad entries of a JWT algorithm list, a rate of 0) and the
// credentials' (an RSA key too short, an RSA key for an EC algorithm), each
// at the line and column of the field to fix, not of the policy.
func TestValidateListsEveryErrorAtItsField(t *testing.T) {
	short, rsa2048 := rsaPublicPEM(t, 1024), rsaPublicPEM(t, 2048)
	p := writeFile(t, "bad.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: a
    paths: [{prefix: /a}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt:
              algorithms: [HS256, none, XX999]
  - name: b
    paths: [{prefix: /b}]
    service: svc
    policies:
      - kind: rate_limit
        limits:
          - {rate: 0, per: 1s}
consumers:
  - name: c1
    credentials:
      jwt:
        - key: k-short
          algorithm: RS256
          public_key: "${file:`+short+`}"
        - key: k-type
          algorithm: ES256
          public_key: "${file:`+rsa2048+`}"
      api_keys:
        - {id: k1, hash: "sha256:zz"}
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorAt(t, r.stderr, p, 12, 35, "routes[0].policies[0].methods[0].jwt.algorithms[1]", `"none" is never accepted`)
	wantErrorAt(t, r.stderr, p, 12, 41, "routes[0].policies[0].methods[0].jwt.algorithms[2]", `unsupported algorithm "XX999"`)
	wantErrorAt(t, r.stderr, p, 19, 13, "routes[1].policies[0].limits[0]", "rate must be at least 1")
	wantErrorAt(t, r.stderr, p, 26, 23, "consumers[0].credentials.jwt[0].public_key", "RSA key of 1024 bits is too short")
	wantErrorAt(t, r.stderr, p, 29, 23, "consumers[0].credentials.jwt[1].public_key", "an RSA key cannot verify ES256")
	wantErrorAt(t, r.stderr, p, 31, 26, "consumers[0].credentials.api_keys[0].hash", `must be "sha256:"`)
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n != 6 {
		t.Errorf("%d lines, want one per problem:\n%s", n, r.stderr)
	}
}
