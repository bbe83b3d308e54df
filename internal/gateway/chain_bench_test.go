package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// benchChainSecret is the HS256 secret of the benchmark consumer: a test
// fixture, not a credential.
const benchChainSecret = "bench-chain-secret-0123456789abcdef" // #nosec G101 -- test fixture

// benchChainRoutes is the chain of bench/conf/portcullis.yaml's route
// "chain-cel" (an IP allow list, JWT HS256, a scope, a CEL rule, input
// limits) as top-level config lines, with its consumer.
const benchChainRoutes = `routes:
  - name: chain
    paths: [{prefix: /}]
    service: svc
    policies:
      - {kind: ip_filter, allow: [127.0.0.0/8]}
      - kind: auth
        methods: [{jwt: {algorithms: [HS256], forward_token: true}}]
      - {kind: scopes, require: ["orders:read"]}
      - {kind: rule, expr: 'identity.consumer == "bench" && request.method == "GET"'}
      - {kind: validate, max_headers: 50, max_query_params: 20, max_url_length: 2048}
consumers:
  - name: bench
    credentials:
      jwt: [{key: bench-hs256, algorithm: HS256, secret: "` + benchChainSecret + `"}]
`

// BenchmarkProxyChain is the full chain's per-request cost with metrics on
// (the default) and off, and with the control plane off and on: issue 14's
// "metrics on under 5%" and issue 11's "the request path does not pay for
// the store" for the chain, in one process where the variants share the
// CPU equally (the load harness cannot resolve a few percent on a shared
// machine). Run with -count and compare the medians.
func BenchmarkProxyChain(b *testing.B) {
	signed := benchChainToken(b)
	logFile := filepath.Join(b.TempDir(), "access.log")
	for _, tc := range []struct{ name, extra string }{
		{"metrics-on", ""},
		{"metrics-off", "observability: {metrics: {disable: true}}\n"},
		{"admin-on", "admin: {address: \"127.0.0.1:0\", store: {path: \"" + filepath.Join(b.TempDir(), "store.db") + "\"}}\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := benchChainGateway(b, logFile, tc.extra)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "/ok?page=1", nil)
					req.RemoteAddr = "127.0.0.1:40000"
					req.Header.Set("Authorization", "Bearer "+signed)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body.String())
					}
				}
			})
		})
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Size() == 0 {
		b.Fatalf("the access log was not written: %v", err)
	}
}

// benchChainToken is a token of the chain's consumer with the scope the
// chain requires, valid for an hour.
func benchChainToken(b *testing.B) string {
	b.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "bench", "scope": "orders:read", "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench-hs256"
	signed, err := tok.SignedString([]byte(benchChainSecret))
	if err != nil {
		b.Fatal(err)
	}
	return signed
}

// benchChainGateway is benchGatewayWith for the chain route, logging to
// logFile.
func benchChainGateway(b *testing.B, logFile, extra string) *proxyHandler {
	b.Helper()
	h := benchGatewayConfig(b, benchUpstream(b), logFile, extra+benchChainRoutes)
	if (h.gw.control != nil) != strings.Contains(extra, "admin:") {
		b.Fatal("the control plane is not as asked")
	}
	return h
}

// benchRSAKey is the RSA key of benchIssueChain's consumer, made once per
// test binary (2048-bit generation takes a noticeable fraction of a second).
var benchRSAKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
})

// benchIssueChain is issue 12's chain, bench/conf/portcullis.yaml's route
// "chain" (an IP allow list, JWT RS256 with its verification cache, a
// scope, a local rate limit per consumer that never refuses; the access log
// to a file is the caller's), as top-level config lines with its consumer,
// and a token the chain admits.
func benchIssueChain(b *testing.B) (routes, token string) {
	b.Helper()
	key, err := benchRSAKey()
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	pub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	routes = `routes:
  - name: chain
    paths: [{prefix: /}]
    service: svc
    policies:
      - {kind: ip_filter, allow: [127.0.0.0/8]}
      - kind: auth
        methods: [{jwt: {algorithms: [RS256], forward_token: true}}]
      - {kind: scopes, require: ["orders:read"]}
      - kind: rate_limit
        limits: [{rate: 1000000, per: 1s}]
consumers:
  - name: bench
    credentials:
      jwt:
        - key: bench-rs256
          algorithm: RS256
          public_key: |
            ` + strings.ReplaceAll(strings.TrimSpace(string(pub)), "\n", "\n            ") + `
`
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": "bench", "scope": "orders:read", "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "bench-rs256"
	token, err = tok.SignedString(key)
	if err != nil {
		b.Fatal(err)
	}
	return routes, token
}
