package auth

import (
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// benchRequest is a context whose request carries tok; the method changes
// nothing in it with forward_token and no claims mapped to headers.
func benchRequest(tok string) *pipeline.Context {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return &pipeline.Context{Request: r}
}

// benchToken is a typical access token: issuer, audience, subject, scopes.
func benchToken(b testing.TB, alg, kid string, key any) string {
	return sign(b, alg, kid, key, jwt.MapClaims{
		"iss": "https://idp.example.com", "aud": "orders", "sub": "user-1234", "scope": "orders:read orders:write",
	})
}

const benchMethod = `{algorithms: [HS256, RS256, ES256], issuer: "https://idp.example.com", audience: [orders], forward_token: true}`

func benchAuth(b *testing.B, m *jwtMethod, c *pipeline.Context, after func()) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Authenticate(c); err != nil {
			b.Fatal(err)
		}
		if after != nil {
			after()
		}
	}
}

// BenchmarkJWTHS256Uncached evicts the token after each request, so every
// request parses the token and computes the HMAC.
func BenchmarkJWTHS256Uncached(b *testing.B) {
	m, _ := newJWT(b, benchMethod)
	tok := benchToken(b, "HS256", "alice-hs", []byte(hmacSecret))
	sum := sha256Sum(tok)
	benchAuth(b, m, benchRequest(tok), func() { m.cache.evict(&sum) })
}

func BenchmarkJWTHS256Cached(b *testing.B) {
	m, _ := newJWT(b, benchMethod)
	benchAuth(b, m, benchRequest(benchToken(b, "HS256", "alice-hs", []byte(hmacSecret))), nil)
}

func BenchmarkJWTRS256Cached(b *testing.B) {
	m, _ := newJWT(b, benchMethod)
	benchAuth(b, m, benchRequest(benchToken(b, "RS256", "bob-rs", keys(b).rsa)), nil)
}

// BenchmarkJWTRS256Uncached evicts the token after each request, so every
// request verifies the RSA signature (the eviction is a small part).
func BenchmarkJWTRS256Uncached(b *testing.B) {
	m, _ := newJWT(b, benchMethod)
	tok := benchToken(b, "RS256", "bob-rs", keys(b).rsa)
	sum := sha256Sum(tok)
	benchAuth(b, m, benchRequest(tok), func() { m.cache.evict(&sum) })
}

func BenchmarkJWTES256Cached(b *testing.B) {
	m, _ := newJWT(b, benchMethod)
	benchAuth(b, m, benchRequest(benchToken(b, "ES256", "bob-es", keys(b).ec)), nil)
}

func BenchmarkJWTRS256CachedParallel(b *testing.B) {
	m, _ := newJWT(b, benchMethod)
	tok := benchToken(b, "RS256", "bob-rs", keys(b).rsa)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := benchRequest(tok)
		for pb.Next() {
			if _, err := m.Authenticate(c); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// The performance rule, checked on allocations (deterministic,
// unlike time): a cached RS256 request costs no more than an HS256 one,
// whether the HS256 token is verified afresh or cached too.
func TestJWTCachedRS256CostsNoMoreThanHS256(t *testing.T) {
	m, _ := newJWT(t, benchMethod)
	hsTok := benchToken(t, "HS256", "alice-hs", []byte(hmacSecret))
	hsSum := sha256Sum(hsTok)
	hs := benchRequest(hsTok)
	rs := benchRequest(benchToken(t, "RS256", "bob-rs", keys(t).rsa))
	run := func(c *pipeline.Context, after func()) func() {
		return func() {
			if _, err := m.Authenticate(c); err != nil {
				t.Fatal(err)
			}
			if after != nil {
				after()
			}
		}
	}
	run(rs, nil)() // fills the cache
	hsFresh := testing.AllocsPerRun(50, run(hs, func() { m.cache.evict(&hsSum) }))
	hsCached := testing.AllocsPerRun(50, run(hs, nil))
	rsCached := testing.AllocsPerRun(50, run(rs, nil))
	if rsCached > hsCached || rsCached > hsFresh || rsCached > 1 {
		t.Errorf("allocs per request: cached RS256 %.0f, cached HS256 %.0f, fresh HS256 %.0f", rsCached, hsCached, hsFresh)
	}
}
