package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/config"
)

// jwksServer serves a key set that a test can change, and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []map[string]any
	hits atomic.Int32
}

func newJWKSServer(t testing.TB, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys" {
			http.NotFound(w, r)
			return
		}
		s.hits.Add(1)
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...map[string]any) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// jwkOf is the public JWK of a key.
func jwkOf(kid, alg string, pub any) map[string]any {
	m := map[string]any{"kid": kid}
	if alg != "" {
		m["alg"] = alg
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m["kty"], m["n"], m["e"] = "RSA", b64url(k.N.Bytes()), b64url(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PublicKey:
		p, _ := k.Bytes()
		size := (len(p) - 1) / 2
		m["kty"], m["crv"], m["x"], m["y"] = "EC", k.Curve.Params().Name, b64url(p[1:1+size]), b64url(p[1+size:])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64url(k)
	}
	return m
}

// waitFetches waits until the source has completed n fetch attempts.
func waitFetches(t testing.TB, s *jwksSource, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := s.fetches
		s.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("source made %d fetches, waiting for %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quietSource is a source with no background goroutine and a log buffer,
// for tests that drive fetches themselves.
func quietSource(t testing.TB, c *jwksConfig) (*jwksSource, *syncBuf) {
	t.Helper()
	if c.Consumer == "" && c.ConsumerClaim == "" {
		c.Consumer = "carol"
	}
	if err := validateJWKSConfig(c); err != nil {
		t.Fatal(err)
	}
	s := newJWKSSource(c, nil)
	s.running.Store(true) // touch will not start the loop
	buf := &syncBuf{}
	s.log = slog.New(slog.NewTextHandler(buf, nil))
	t.Cleanup(s.Close)
	return s, buf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A new kid is fetched on demand, at most once per min_refetch_interval,
// and a key rotated out of the set no longer verifies (cached or not).
func TestJWKSRotationAndRateLimit(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf("k1", "ES256", &k.ec.PublicKey))
	m, _ := newJWT(t, fmt.Sprintf(`{algorithms: [ES256, RS256], audience: [orders-api], issuer: "https://idp.example.com/tenant-a", jwks: {url: "%s/keys", consumer_claim: sub, min_refetch_interval: 10s}}`, srv.URL))
	waitFetches(t, m.jwks, 1)

	tok1 := signAud(t, "ES256", "k1", k.ec, jwt.MapClaims{"sub": "carol"})
	id, _, err := authenticate(m, "Bearer "+tok1)
	if err != nil || id.Consumer != "carol" || id.CredentialID != "k1" || id.Groups[0] != "oidc" {
		t.Fatalf("k1: %+v %v", id, err)
	}
	// Rotation: the set now holds k2 only.
	srv.set(jwkOf("k2", "RS256", &k.rsa.PublicKey))
	tok2 := signAud(t, "RS256", "k2", k.rsa, jwt.MapClaims{"sub": "carol"})
	if _, _, err := authenticate(m, "Bearer "+tok2); reasonOf(err) != reasonUnknownKey {
		t.Fatalf("k2 right after a fetch: %v (want rate-limited: unknown key)", err)
	}
	for i := range 20 { // unknown kids do not cause fetches either
		tok := signAud(t, "ES256", fmt.Sprintf("rand-%d", i), k.ec, jwt.MapClaims{"sub": "carol"})
		_, _, _ = authenticate(m, "Bearer "+tok)
	}
	if h := srv.hits.Load(); h != 1 {
		t.Fatalf("%d fetches, want 1 (refetches are rate-limited)", h)
	}
	m.jwks.now = func() time.Time { return time.Now().Add(11 * time.Second) }
	if id, _, err := authenticate(m, "Bearer "+tok2); err != nil || id.CredentialID != "k2" {
		t.Fatalf("k2 after the interval: %+v %v", id, err)
	}
	if h := srv.hits.Load(); h != 2 {
		t.Fatalf("%d fetches, want 2", h)
	}
	// k1 was cached; it is gone from the set, so the token is refused.
	if _, _, err := authenticate(m, "Bearer "+tok1); reasonOf(err) != reasonUnknownKey {
		t.Fatalf("token of the rotated-out key: %v", err)
	}
}

func TestJWKSConsumerMapping(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf("k1", "", &k.rsa.PublicKey)) // no alg: RS* and PS*
	m, _ := newJWT(t, fmt.Sprintf(`{algorithms: [HS256, RS256, PS256], audience: [orders-api], issuer: "https://idp.example.com/tenant-a", jwks: {url: "%s/keys", consumer_claim: client_id}}`, srv.URL))
	for _, tc := range []struct {
		alg    string
		key    any
		claims jwt.MapClaims
		reason string
	}{
		{"RS256", k.rsa, jwt.MapClaims{"client_id": "bob"}, ""},
		{"PS256", k.rsa, jwt.MapClaims{"client_id": "carol"}, ""},
		{"RS256", k.rsa, jwt.MapClaims{"client_id": "mallory"}, reasonUnknownConsumer},
		{"RS256", k.rsa, jwt.MapClaims{"sub": "bob"}, reasonNoConsumerClaim},
		// An HS256 token naming an RSA JWKS key: algorithm confusion.
		{"HS256", []byte(k.rsaPEM), jwt.MapClaims{"client_id": "bob"}, reasonAlgMismatch},
	} {
		_, _, err := authenticate(m, "Bearer "+signAud(t, tc.alg, "k1", tc.key, tc.claims))
		if reasonOf(err) != tc.reason {
			t.Errorf("%s %v: %q, want %q", tc.alg, tc.claims, reasonOf(err), tc.reason)
		}
	}
	// Consumer credentials are not consulted on a JWKS route by default.
	if _, _, err := authenticate(m, "Bearer "+signAud(t, "HS256", "alice-hs", []byte(hmacSecret), nil)); reasonOf(err) != reasonUnknownKey {
		t.Errorf("credential on a JWKS-only route: %v", err)
	}
	both, _ := newJWT(t, fmt.Sprintf(`{algorithms: [HS256, RS256], audience: [orders-api], issuer: "https://idp.example.com/tenant-a", credentials: true, jwks: {url: "%s/keys", consumer: carol}}`, srv.URL))
	if id, _, err := authenticate(both, "Bearer "+signAud(t, "HS256", "alice-hs", []byte(hmacSecret), nil)); err != nil || id.Consumer != "alice" {
		t.Errorf("credentials: true: %v %v", id, err)
	}
	if id, _, err := authenticate(both, "Bearer "+signAud(t, "RS256", "k1", k.rsa, nil)); err != nil || id.Consumer != "carol" {
		t.Errorf("fixed consumer: %v %v", id, err)
	}
}

func TestJWKSUnavailableFailsClosed(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/keys"
	_ = l.Close()
	k := keys(t)
	m, _ := newJWT(t, fmt.Sprintf(`{algorithms: [ES256], audience: [orders-api], issuer: "https://idp.example.com/tenant-a", jwks: {url: "%s", consumer: carol}}`, down))
	tok := signAud(t, "ES256", "k1", k.ec, nil)
	if _, _, err := authenticate(m, "Bearer "+tok); reasonOf(err) != reasonJWKSUnavailable {
		t.Fatalf("JWKS down: %v", err)
	}

	s, logs := quietSource(t, &jwksConfig{URL: down})
	if _, r := s.lookup(context.Background(), "k1"); r != reasonJWKSUnavailable {
		t.Fatalf("lookup: %q", r)
	}
	if !strings.Contains(logs.String(), "jwks fetch failed") || !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the failure is not logged: %s", logs)
	}
}

// The last good keys serve while fetches fail, until they are stale.
func TestJWKSStaleKeys(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf("k1", "ES256", &k.ec.PublicKey))
	s, _ := quietSource(t, &jwksConfig{URL: srv.URL + "/keys", Refresh: jwtDur(time.Minute)})
	now := time.Now()
	s.now = func() time.Time { return now }
	if keys, r := s.lookup(context.Background(), "k1"); r != "" || len(keys) != 1 {
		t.Fatalf("first lookup: %v %q", keys, r)
	}
	srv.Close()
	now = now.Add(2 * time.Minute) // past refresh, not stale
	s.fetch(context.Background(), true)
	if _, r := s.lookup(context.Background(), "k1"); r != "" {
		t.Fatalf("last good keys refused while fresh enough: %q", r)
	}
	now = now.Add(s.staleAfter)
	if _, r := s.lookup(context.Background(), "k1"); r != reasonJWKSUnavailable {
		t.Fatalf("stale keys: %q", r)
	}
}

func jwtDur(d time.Duration) config.Duration { return config.Duration(d) }

func TestJWKSDiscovery(t *testing.T) {
	k := keys(t)
	var issuer, docIssuer string
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": docIssuer, "jwks_uri": issuer + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []any{jwkOf("k1", "ES256", &k.ec.PublicKey)}})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	issuer, docIssuer = srv.URL, srv.URL

	m, _ := newJWT(t, fmt.Sprintf(`{algorithms: [ES256], audience: [orders-api], jwks: {issuer: "%s", consumer: carol}}`, issuer))
	if id, _, err := authenticate(m, "Bearer "+signAud(t, "ES256", "k1", k.ec, jwt.MapClaims{"iss": issuer})); err != nil || id.Consumer != "carol" {
		t.Fatalf("discovered key: %v %v", id, err)
	}
	// The issuer's keys verify the issuer's tokens only.
	if _, _, err := authenticate(m, "Bearer "+signAud(t, "ES256", "k1", k.ec, jwt.MapClaims{"iss": "https://other"})); reasonOf(err) != reasonWrongIssuer {
		t.Fatalf("other issuer: %v", err)
	}
	// A discovery document naming another issuer is refused.
	docIssuer = "https://impostor.test"
	s, logs := quietSource(t, &jwksConfig{Issuer: issuer})
	if _, r := s.lookup(context.Background(), "k1"); r != reasonJWKSUnavailable {
		t.Fatalf("impostor document: %q", r)
	}
	if !strings.Contains(logs.String(), "names another issuer") {
		t.Errorf("log: %s", logs)
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	var finalHits atomic.Int32
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/final", http.StatusFound) })
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) { finalHits.Add(1); _, _ = w.Write([]byte(`{"keys":[]}`)) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", 4096) + `]}`))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	for _, tc := range []struct {
		path, log string
		max       int64
	}{
		{"/redirect", "redirects are not followed", 0},
		{"/big", "larger than max_bytes", 1024},
		{"/slow", "timeout|deadline exceeded", 0},
		{"/500", "status 500", 0},
		{"/garbage", "invalid JWKS JSON", 0},
		{"/empty", "no usable signature key", 0},
	} {
		s, logs := quietSource(t, &jwksConfig{URL: srv.URL + tc.path, MaxBytes: config.Size(tc.max), Timeout: jwtDur(300 * time.Millisecond)})
		start := time.Now()
		if _, r := s.lookup(context.Background(), "k1"); r != reasonJWKSUnavailable {
			t.Errorf("%s: %q", tc.path, r)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: the fetch took %s", tc.path, d)
		}
		if !containsAny(logs.String(), strings.Split(tc.log, "|")) {
			t.Errorf("%s: log %q, want %q", tc.path, logs, tc.log)
		}
	}
	if finalHits.Load() != 0 {
		t.Error("a redirect was followed")
	}
}

// The refresh goroutine refreshes, stops when idle, restarts on use, and
// stops for good on Close.
func TestJWKSBackgroundRefresh(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf("k1", "ES256", &k.ec.PublicKey))
	s := newJWKSSource(&jwksConfig{URL: srv.URL + "/keys", Consumer: "carol"}, nil)
	s.log = slog.New(slog.NewTextHandler(&syncBuf{}, nil))
	s.refresh = 10 * time.Millisecond
	s.idleAfter = time.Hour
	s.touch()
	waitFetches(t, s, 3) // the first fetch and two refreshes, with no request
	s.lastUsed.Store(0)  // unused for longer than idleAfter
	deadline := time.Now().Add(5 * time.Second)
	for s.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the idle loop did not stop")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.touch()
	if !s.running.Load() {
		t.Fatal("a use did not restart the loop")
	}
	s.Close() // returns once the goroutine has exited
	before := srv.hits.Load()
	if _, r := s.lookup(context.Background(), "unknown"); r != reasonUnknownKey {
		t.Errorf("after Close: %q", r)
	}
	if srv.hits.Load() != before {
		t.Error("a closed source fetched")
	}
}

func TestParseJWKS(t *testing.T) {
	k := keys(t)
	rsaNoAlg := jwkOf("rsa", "", &k.rsa.PublicKey)
	body, _ := json.Marshal(map[string]any{"keys": []any{
		rsaNoAlg,
		jwkOf("rs256", "RS256", &k.rsa.PublicKey),
		jwkOf("ec", "", &k.ec.PublicKey),
		jwkOf("ed", "EdDSA", k.ed.Public()),
		jwkOf("", "ES256", &k.ec.PublicKey),                                  // no kid
		jwkOf("ec-wrong-alg", "ES384", &k.ec.PublicKey),                      // P-256 is ES256
		jwkOf("rsa-as-ec", "ES256", &k.rsa.PublicKey),                        // alg does not fit kty
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0"}, // never from the network
		map[string]any{"kty": "RSA", "kid": "enc", "use": "enc", "n": rsaNoAlg["n"], "e": "AQAB"},
		map[string]any{"kty": "RSA", "kid": "ops", "key_ops": []string{"encrypt"}, "n": rsaNoAlg["n"], "e": "AQAB"},
		map[string]any{"kty": "RSA", "kid": "e1", "n": rsaNoAlg["n"], "e": "AQ"}, // exponent 1
		map[string]any{"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64url(make([]byte, 32)), "y": b64url(make([]byte, 32))},
		map[string]any{"kty": "RSA", "kid": "pad", "n": rsaNoAlg["n"].(string) + "=", "e": "AQAB"},
		"not an object",
	}})
	set, err := parseJWKS(body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]algSet{"rsa": algsRSA, "rs256": algBit("RS256"), "ec": algBit("ES256"), "ed": algBit("EdDSA")}
	if len(set.byKid) != len(want) {
		t.Errorf("kept %d kids, want %d: %v", len(set.byKid), len(want), set.byKid)
	}
	for kid, algs := range want {
		ks := set.byKid[kid]
		if len(ks) != 1 || ks[0].algs != algs || ks[0].id != kid {
			t.Errorf("%s: %+v", kid, ks)
		}
	}
	if set.skipped != 10 {
		t.Errorf("skipped %d, want 10", set.skipped)
	}
	for _, bad := range []string{``, `[]`, `{"keys": 1}`, `{}`} {
		if _, err := parseJWKS([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// Not I-JSON (RFC 7493): the whole set is refused, not read as its
	// last duplicate.
	n := rsaNoAlg["n"].(string)
	for _, tc := range []struct{ desc, doc, reason string }{
		{"keys twice", `{"keys":[],"keys":[{"kty":"RSA","kid":"a","n":"` + n + `","e":"AQAB"}]}`, "duplicate member name"},
		{"kid twice", `{"keys":[{"kty":"RSA","kid":"a","kid":"b","n":"` + n + `","e":"AQAB"}]}`, "duplicate member name"},
		{"lone surrogate in a kid", `{"keys":[{"kty":"RSA","kid":"\udc00","n":"` + n + `","e":"AQAB"}]}`, "lone surrogate escape"},
		{"invalid UTF-8", "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"\xff\",\"n\":\"" + n + "\",\"e\":\"AQAB\"}]}", "invalid UTF-8"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parseJWKS([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), "ambiguous JSON: "+tc.reason) {
				t.Fatalf("error %v, want ambiguous JSON: %s", err, tc.reason)
			}
		})
	}
	// Members are read by their exact names: "KID" is not "kid".
	set, err = parseJWKS([]byte(`{"keys":[{"kty":"RSA","kid":"a","KID":"b","n":"` + n + `","e":"AQAB"}]}`))
	if err != nil || len(set.byKid["a"]) != 1 || len(set.byKid["b"]) != 0 {
		t.Fatalf("case-folded member: %+v, %v", set, err)
	}
}

func TestCheckFetchURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://idp.example.com/jwks": true, "http://127.0.0.1:8080/jwks": true, "http://localhost/jwks": true,
		"http://[::1]/k": true, "http://idp.example.com/jwks": false, "ftp://x/y": false, "/jwks": false,
		"https://user:pw@idp/jwks": false, "https://idp/jwks#frag": false,
		"http://LOCALHOST/jwks": true, "http://localhost.example.com/jwks": false, "http://0.0.0.0/jwks": false,
	} {
		if err := checkFetchURL(u); (err == nil) != ok {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// signAud is sign for a token whose aud is this package's JWKS routes'
// audience (orders-api) unless claims set another (nil: none).
// jwksTestIssuer is the issuer the JWKS routes of these tests trust.
const jwksTestIssuer = "https://idp.example.com/tenant-a"

func signAud(t testing.TB, alg, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"aud": "orders-api", "iss": jwksTestIssuer}
	for k, v := range claims {
		c[k] = v
	}
	return sign(t, alg, kid, key, c)
}

// TestJWKSRequiresAnAudience: an identity provider signs the tokens of
// every application it serves with the keys of its set; a JWKS route
// without an audience would take a token issued to another application
// as its caller (RFC 8725 section 3.9). The config is refused; with an
// audience, a token for another audience, or for none, is refused.
func TestJWKSRequiresAnAudience(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf("k1", "ES256", &k.ec.PublicKey))
	if msg := compileErr(t, fmt.Sprintf(`{algorithms: [ES256], jwks: {url: "%s/keys", consumer: carol}}`, srv.URL), defaultConsumers(t)); !strings.Contains(msg, "audience: is required with jwks") {
		t.Fatalf("no audience: %q", msg)
	}
	m, _ := newJWT(t, fmt.Sprintf(`{algorithms: [ES256], audience: [orders-api], issuer: "https://idp.example.com/tenant-a", jwks: {url: "%s/keys", consumer: carol}}`, srv.URL))
	for _, tc := range []struct {
		desc   string
		aud    any
		reason string
	}{
		{desc: "this API", aud: "orders-api"},
		{desc: "this API among others", aud: []string{"mobile-app", "orders-api"}},
		{desc: "another application", aud: "mobile-app", reason: reasonWrongAudience},
		{desc: "no audience", aud: nil, reason: reasonWrongAudience},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			claims := jwt.MapClaims{"aud": tc.aud}
			if _, _, err := authenticate(m, "Bearer "+signAud(t, "ES256", "k1", k.ec, claims)); reasonOf(err) != tc.reason {
				t.Fatalf("%q, want %q", reasonOf(err), tc.reason)
			}
		})
	}
}

// TestJWKSURLRequiresAnIssuer: the keys behind a JWKS URL may sign for
// several issuers (the tenants of a multi-tenant identity provider share
// one set); a route without an issuer would take a token another tenant
// issued for this audience as its caller (RFC 8725 section 3.8). The config
// is refused; with an issuer, a token from another issuer, or from none, is
// refused. jwks.issuer (discovery) sets the issuer itself (TestJWKSDiscovery
// and the e2e tests cover it).
func TestJWKSURLRequiresAnIssuer(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwkOf("k1", "ES256", &k.ec.PublicKey))
	if msg := compileErr(t, fmt.Sprintf(`{algorithms: [ES256], audience: [orders-api], jwks: {url: "%s/keys", consumer: carol}}`, srv.URL), defaultConsumers(t)); !strings.Contains(msg, "issuer: is required with jwks.url") {
		t.Fatalf("no issuer: %q", msg)
	}
	m, _ := newJWT(t, fmt.Sprintf(`{algorithms: [ES256], audience: [orders-api], issuer: %q, jwks: {url: "%s/keys", consumer: carol}}`, jwksTestIssuer, srv.URL))
	for _, tc := range []struct {
		desc   string
		iss    any
		reason string
	}{
		{desc: "this issuer", iss: jwksTestIssuer},
		{desc: "another tenant of the same provider", iss: "https://idp.example.com/tenant-b", reason: reasonWrongIssuer},
		{desc: "no issuer", iss: nil, reason: reasonWrongIssuer},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tok := sign(t, "ES256", "k1", k.ec, jwt.MapClaims{"aud": "orders-api", "iss": tc.iss}) // nil: no iss
			if _, _, err := authenticate(m, "Bearer "+tok); reasonOf(err) != tc.reason {
				t.Fatalf("%q, want %q", reasonOf(err), tc.reason)
			}
		})
	}
}
