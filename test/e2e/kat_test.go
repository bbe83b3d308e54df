package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// Known answers through the real binary: credentials computed outside Go
// (Python's zlib, hashlib, hmac and cryptography packages), written here
// as literals, so a silent change of a format the gateway reads fails a
// test instead of locking out every client that holds one. The unit tests
// of internal/apikey and internal/auth pin the same values.
const (
	// The API key made from the entropy bytes 0..31 with the default
	// prefix, and the hash a config stores for it.
	katAPIKey     = "pcl_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf2ZF8c1"
	katAPIKeyHash = "sha256:c999df0cf12df5937da41082bd4413638c041b009d27b7e23e44a107754d7616"

	// Claims {"sub":"kat-user","scope":"orders:read orders:write","tenant":"acme","iat":1700000000,"exp":4102444800}.
	katHS256Token = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImthdC1ocyIsInR5cCI6IkpXVCJ9" +
		".eyJzdWIiOiJrYXQtdXNlciIsInNjb3BlIjoib3JkZXJzOnJlYWQgb3JkZXJzOndyaXRlIiwidGVuYW50IjoiYWNtZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ" +
		".Zg6tItjW_SAn_2jDTdSoGxKoDGhg8Q2S4qennfpdSbM"
	katHS256Secret = "portcullis-kat-hs256-secret-0123456789"
	katEdDSAToken  = "eyJhbGciOiJFZERTQSIsImtpZCI6ImthdC1lZCIsInR5cCI6IkpXVCJ9" +
		".eyJzdWIiOiJrYXQtdXNlciIsInNjb3BlIjoib3JkZXJzOnJlYWQgb3JkZXJzOndyaXRlIiwidGVuYW50IjoiYWNtZSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwfQ" +
		".k5NQH1FK1eGTM3zcPPE23emc_zo6kolBAF-fHRLjRNWWFgIPyiZbSjR2aiQS1Fu5z6_s-OjGSr2_GJVV71VRCw"
	// The RFC 8037 appendix A.1 Ed25519 public key.
	katEdDSAPublicKey = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
)

// katTamper changes one character in the middle of a credential's last
// part (the last character may carry only padding bits).
func katTamper(s string) string {
	i := max(strings.LastIndexByte(s, '.'), 4) + 10
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return s[:i] + string(c) + s[i+1:]
}

func TestKnownAnswerCredentials(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: kat
    credentials:
      api_keys: [{id: kat-key, hash: "%s"}]
      jwt:
        - {key: kat-hs, algorithm: HS256, secret: "%s"}
        - key: kat-ed
          algorithm: EdDSA
          public_key: |
            -----BEGIN PUBLIC KEY-----
            %s
            -----END PUBLIC KEY-----
routes:
  - name: key
    paths: [{prefix: /key/}]
    service: svc
    policies: [{kind: auth, methods: [{api_key: {header: X-Api-Key}}]}]
  - name: jwt
    paths: [{prefix: /jwt/}]
    service: svc
    policies: [{kind: auth, methods: [{jwt: {algorithms: [HS256, EdDSA], claims_to_headers: {tenant: X-Tenant}}}]}]
ops: {address: "{{ops}}"}
`, up.URL, katAPIKeyHash, katHS256Secret, katEdDSAPublicKey)))

	for _, tc := range []struct {
		desc, path, header, value string
		credential, method        string
	}{
		{desc: "the literal API key", path: "/key/x", header: "X-Api-Key", value: katAPIKey, credential: "kat-key", method: "api_key"},
		{desc: "the literal HS256 token", path: "/jwt/x", header: "Authorization", value: "Bearer " + katHS256Token, credential: "kat-hs", method: "jwt"},
		{desc: "the literal EdDSA token", path: "/jwt/x", header: "Authorization", value: "Bearer " + katEdDSAToken, credential: "kat-ed", method: "jwt"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up.Reset()
			resp, body := fwdDo(t, gw.URL(tc.path), tc.header, tc.value)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			h := up.Last(t).Header
			if h.Get("X-Consumer-Name") != "kat" || h.Get("X-Credential-Id") != tc.credential || h.Get("X-Auth-Method") != tc.method {
				t.Fatalf("upstream identity %q %q %q", h.Get("X-Consumer-Name"), h.Get("X-Credential-Id"), h.Get("X-Auth-Method"))
			}
			if tc.method == "jwt" && h.Get("X-Tenant") != "acme" {
				t.Fatalf("X-Tenant %q, want the token's claim", h.Get("X-Tenant"))
			}

			// One character changed: refused, and the upstream sees nothing.
			up.Reset()
			resp, body = fwdDo(t, gw.URL(tc.path), tc.header, katTamper(tc.value))
			if resp.StatusCode != 401 || up.Count() != 0 {
				t.Fatalf("tampered credential: status %d (%s), upstream %d", resp.StatusCode, body, up.Count())
			}
		})
	}
}
