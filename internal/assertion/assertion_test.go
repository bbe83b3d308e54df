package assertion

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/verify"
)

func writeKey(t testing.TB, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "k.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// compile builds the asserter of service "orders" with the given keys.
func compile(t testing.TB, sa config.ServiceAssertion, ring *Keyring, keys ...config.AssertionKey) (*Set, *Asserter) {
	t.Helper()
	cfg := &config.Config{
		IdentityAssertion: &config.IdentityAssertion{Keys: keys},
		Services:          []config.Service{{Name: "orders", IdentityAssertion: &sa}},
	}
	set, as, errs := Compile(cfg, ring)
	if errs != nil {
		t.Fatal(errs)
	}
	return set, as["orders"]
}

func verifierFor(t testing.TB, set *Set) *verify.Verifier {
	t.Helper()
	jwks, err := set.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Config{Audience: "orders", JWKS: jwks})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func reqCtx(consumer string) *pipeline.Context {
	c := &pipeline.Context{Route: "r1", RequestID: "rid-1", Start: time.Now()}
	if consumer != "" {
		c.Identity = &pipeline.Identity{Consumer: consumer, Method: "api_key", Groups: []string{"g1"}, Scopes: []string{"a", "b"}}
	}
	return c
}

func TestAssertionReusedForTheSameIdentity(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	set, a := compile(t, config.ServiceAssertion{}, nil, config.AssertionKey{ID: "k1", PrivateKeyFile: writeKey(t, k)})
	v := verifierFor(t, set)
	apply := func(c *pipeline.Context) string {
		h := http.Header{}
		if err := a.Apply(h, c, "GET", "/x"); err != nil {
			t.Fatal(err)
		}
		return h.Get(verify.DefaultHeader)
	}
	alice1, alice2, bob, anon := apply(reqCtx("alice")), apply(reqCtx("alice")), apply(reqCtx("bob")), apply(reqCtx(""))
	if alice1 != alice2 {
		t.Error("the same identity got a new assertion")
	}
	if alice1 == bob || bob == anon {
		t.Error("different identities share an assertion")
	}
	later := reqCtx("alice")
	later.Start = later.Start.Add(50 * time.Second) // past 3/4 of the default 60s
	if apply(later) == alice1 {
		t.Error("an assertion was reused with less than a quarter of its lifetime left")
	}
	for _, tok := range []string{alice1, bob, anon} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set(verify.DefaultHeader, tok)
		if _, err := v.Verify(r); err != nil {
			t.Errorf("verify: %v", err)
		}
	}
}

func TestBoundAssertionCoversTheRequest(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, a := compile(t, config.ServiceAssertion{BindRequest: true}, nil, config.AssertionKey{ID: "k2", PrivateKeyFile: writeKey(t, k)})
	v := verifierFor(t, set)
	h := http.Header{}
	if err := a.Apply(h, reqCtx("alice"), "POST", "/orders?x=1"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, method, target, rid string
		ok                        bool
	}{
		{"the request it was signed for", "POST", "/orders?x=1", "rid-1", true},
		{"another method", "GET", "/orders?x=1", "rid-1", false},
		{"another path", "POST", "/admin?x=1", "rid-1", false},
		{"another query", "POST", "/orders?x=2", "rid-1", false},
		{"another request id", "POST", "/orders?x=1", "rid-2", false},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		r.Header.Set(verify.DefaultHeader, h.Get(verify.DefaultHeader))
		r.Header.Set("X-Request-Id", tc.rid)
		if _, err := v.Verify(r); (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.desc, err)
		}
	}
}

func TestRetiredKeyStaysPublished(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	ring := NewKeyring()
	now := time.Now()
	ring.now = func() time.Time { return now }
	f1, f2 := writeKey(t, k1), writeKey(t, k2)
	compile(t, config.ServiceAssertion{TTL: config.Duration(30 * time.Second)}, ring, config.AssertionKey{ID: "k1", PrivateKeyFile: f1})
	set, _ := compile(t, config.ServiceAssertion{TTL: config.Duration(30 * time.Second)}, ring, config.AssertionKey{ID: "k2", PrivateKeyFile: f2})
	jwks, _ := set.JWKS()
	if !strings.Contains(string(jwks), `"kid":"k1"`) || !strings.Contains(string(jwks), `"kid":"k2"`) {
		t.Fatalf("right after the rotation: %s", jwks)
	}
	now = now.Add(30*time.Second + time.Minute + time.Second) // ttl + 1 minute
	jwks, _ = set.JWKS()
	if strings.Contains(string(jwks), `"kid":"k1"`) {
		t.Fatalf("the retired key outlived its hold: %s", jwks)
	}
}

func TestKeyTypesRefused(t *testing.T) {
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := LoadKey("k", writeKey(t, k384)); err == nil || !strings.Contains(err.Error(), "P-256") {
		t.Errorf("P-384: %v", err)
	}
	p := filepath.Join(t.TempDir(), "cert.pem")
	_ = os.WriteFile(p, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	if _, err := LoadKey("k", p); err == nil || !strings.Contains(err.Error(), "not a private key") {
		t.Errorf("a certificate: %v", err)
	}
}

// BenchmarkAssertion is the assertion's cost per request: cached (the
// default), signed per request with EdDSA and ES256 (bind_request), and
// the HMAC gateway signature added to a cached assertion.
func BenchmarkAssertion(b *testing.B) {
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edKey := config.AssertionKey{ID: "ed", PrivateKeyFile: writeKey(b, ed)}
	ecKey := config.AssertionKey{ID: "ec", PrivateKeyFile: writeKey(b, ec)}
	secret := strings.Repeat("x", 32)
	for _, bc := range []struct {
		name string
		sa   config.ServiceAssertion
		key  config.AssertionKey
	}{
		{"cached", config.ServiceAssertion{}, edKey},
		{"cached+signature", config.ServiceAssertion{GatewaySignature: &config.GatewaySignature{Secret: secret}}, edKey},
		{"bind_request/EdDSA", config.ServiceAssertion{BindRequest: true}, edKey},
		{"bind_request/ES256", config.ServiceAssertion{BindRequest: true}, ecKey},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, a := compile(b, bc.sa, nil, bc.key)
			c := reqCtx("alice")
			h := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				if err := a.Apply(h, c, "GET", "/orders/1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAssertionCacheRules: through Apply, a signed assertion is reused for
// the same route and identity until three quarters of its lifetime are
// gone (counted from the whole second it was issued in) and never at or
// after that instant; it is then signed again and the new one reused; and
// a flood of identities leaves the cache at its bound, full (one entry
// evicted per new one, not the whole cache cleared).
func TestAssertionCacheRules(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	_, a := compile(t, config.ServiceAssertion{TTL: config.Duration(40 * time.Second)}, nil, config.AssertionKey{ID: "k1", PrivateKeyFile: writeKey(t, k)})
	issued := time.Unix(1_800_000_000, 300_000_000) // 0.3s into a second
	reuseEnd := time.Unix(1_800_000_000, 0).Add(30 * time.Second)
	at := func(now time.Time, route string) string {
		c := reqCtx("alice")
		c.Start, c.Route = now, route
		h := http.Header{}
		if err := a.Apply(h, c, "GET", "/x"); err != nil {
			t.Fatal(err)
		}
		return h.Get(verify.DefaultHeader)
	}
	first := at(issued, "r1")
	if got := at(reuseEnd.Add(-time.Nanosecond), "r1"); got != first {
		t.Error("the assertion was not reused within three quarters of its lifetime")
	}
	if at(issued, "r2") == first {
		t.Error("another route got the same assertion")
	}
	second := at(reuseEnd, "r1")
	if second == first {
		t.Error("the assertion was reused at the end of its reuse")
	}
	if at(reuseEnd.Add(time.Second), "r1") != second {
		t.Error("the re-signed assertion is not reused")
	}

	flood := cacheCapacity + cacheCapacity/4
	for i := range flood {
		at(issued, "flood-"+strconv.Itoa(i))
	}
	if n, capacity := a.cache.m.Len(), a.cache.m.Capacity(); n > capacity || capacity > cacheCapacity || n < capacity*7/8 {
		t.Errorf("after %d identities the cache holds %d (bound %d, capacity %d)", flood, n, cacheCapacity, capacity)
	}
}
