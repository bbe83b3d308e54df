package auth

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Known-answer tokens: each was signed outside Go (RFC 7515's own example,
// or Python's hmac and the cryptography package over the RFC 8037 test
// key), so a change in how the gateway reads keys, headers or claims fails
// here with a token nobody recomputed with the code under test.
const (
	// RFC 7515 appendix A.1: HS256 with the RFC's 64-byte key; the header
	// and claims hold CRLF and spaces; exp is 2011-03-22T18:43:00Z.
	katRFC7515A1Token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9" +
		".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ" +
		".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	katRFC7515A1Key = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow" // base64url

	// Claims of the two tokens below (exp is 2100-01-01):
	// {"sub":"kat-user","scope":"orders:read orders:write","tenant":"acme","iat":1700000000,"exp":4102444800}
	//
	// katHS256Token: header {"alg":"HS256","kid":"kat-hs","typ":"JWT"}, HMAC with katHS256Secret.
	katHS256Token = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImthdC1ocyIsInR5cCI6IkpXVCJ9" +
		".eyJzdWIiOiJrYXQtdXNlciIsInNjb3BlIjoib3JkZXJzOnJlYWQgb3JkZXJzOndyaXRlIiwidGVuYW50IjoiYWNtZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ" +
		".Zg6tItjW_SAn_2jDTdSoGxKoDGhg8Q2S4qennfpdSbM"
	katHS256Secret = "portcullis-kat-hs256-secret-0123456789"
	// katEdDSAToken: header {"alg":"EdDSA","kid":"kat-ed","typ":"JWT"},
	// signed with the RFC 8037 appendix A.1 Ed25519 key.
	katEdDSAToken = "eyJhbGciOiJFZERTQSIsImtpZCI6ImthdC1lZCIsInR5cCI6IkpXVCJ9" +
		".eyJzdWIiOiJrYXQtdXNlciIsInNjb3BlIjoib3JkZXJzOnJlYWQgb3JkZXJzOndyaXRlIiwidGVuYW50IjoiYWNtZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ" +
		".k5NQH1FK1eGTM3zcPPE23emc_zo6kolBAF-fHRLjRNWWFgIPyiZbSjR2aiQS1Fu5z6_s-OjGSr2_GJVV71VRCw"
	// katEdDSAPublicKey is the RFC 8037 A.1 public key (x = 11qYAYKx...).
	katEdDSAPublicKey = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
)

// katPolicy compiles a jwt method from a whole config text.
func katPolicy(t *testing.T, src string) *jwtMethod {
	t.Helper()
	cfg, err := config.Parse("kat.yaml", []byte(src))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	p, err := compileWith(t, cfg, pipeline.NewSharedValues())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p.methods[0].(*jwtMethod)
}

const katConfigHead = `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:1"}]}]
`

// TestJWTKnownAnswerRFC7515A1: the RFC's HS256 example, its key as bytes
// from a file, found by the iss claim (Kong style), at a time before its exp.
func TestJWTKnownAnswerRFC7515A1(t *testing.T) {
	key, err := base64.RawURLEncoding.DecodeString(katRFC7515A1Key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "rfc7515-a1.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	m := katPolicy(t, katConfigHead+`consumers:
  - name: joe
    credentials: {jwt: [{key: joe, algorithm: HS256, secret: "${file:`+keyFile+`}"}]}
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: {algorithms: [HS256], key_claim: iss, claims_to_headers: {"http://example.com/is_root": X-Is-Root}}
`)
	m.now = func() time.Time { return time.Unix(1300819380-60, 0) }
	id, c, err := authenticate(m, "Bearer "+katRFC7515A1Token)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if id.Consumer != "joe" || id.CredentialID != "joe" || id.Method != "jwt" || id.Claims["http://example.com/is_root"] != true {
		t.Fatalf("identity %+v", id)
	}
	if got := c.Request.Header.Get("X-Is-Root"); got != "true" {
		t.Fatalf("X-Is-Root = %q, want the boolean claim as JSON", got)
	}
	// The same token after its exp (and the leeway) is refused.
	m.now = func() time.Time { return time.Unix(1300819380+3600, 0) }
	if _, _, err := authenticate(m, "Bearer "+katRFC7515A1Token); reasonOf(err) != reasonExpired {
		t.Fatalf("after exp: %v", err)
	}
}

// TestJWTKnownAnswerTokens: the HS256 and EdDSA tokens above, with literal
// keys, give the literal identity; one changed signature byte is refused.
func TestJWTKnownAnswerTokens(t *testing.T) {
	m := katPolicy(t, katConfigHead+`consumers:
  - name: kat
    groups: [katgroup]
    credentials:
      jwt:
        - {key: kat-hs, algorithm: HS256, secret: "`+katHS256Secret+`"}
        - key: kat-ed
          algorithm: EdDSA
          public_key: |
            `+strings.ReplaceAll(strings.TrimSpace(katEdDSAPublicKey), "\n", "\n            ")+`
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: {algorithms: [HS256, EdDSA], claims_to_headers: {tenant: X-Tenant, sub: X-User-Id}}
`)
	for _, tc := range []struct{ desc, token, kid string }{
		{"HS256", katHS256Token, "kat-hs"},
		{"EdDSA", katEdDSAToken, "kat-ed"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			id, c, err := authenticate(m, "Bearer "+tc.token)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			got := *id
			got.Claims = nil
			want := pipeline.Identity{Consumer: "kat", CredentialID: tc.kid, Method: "jwt", Groups: []string{"katgroup"},
				Scopes: []string{"orders:read", "orders:write"}}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("identity %+v, want %+v", got, want)
			}
			if c.Request.Header.Get("X-Tenant") != "acme" || c.Request.Header.Get("X-User-Id") != "kat-user" {
				t.Fatalf("claims headers %v", c.Request.Header)
			}
			if _, _, err := authenticate(m, "Bearer "+katTamper(tc.token)); reasonOf(err) != reasonBadSignature {
				t.Fatalf("tampered signature: %v", err)
			}
		})
	}
}

// katTamper changes one character in the middle of a token's signature
// (the last character may carry only padding bits).
func katTamper(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}
