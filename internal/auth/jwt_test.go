package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pipeline"
)

const allAlgs = `{algorithms: [HS256, RS256, PS256, ES256, ES384, EdDSA]}`

func TestJWTHS256KongStyle(t *testing.T) {
	m, _ := newJWT(t, `{algorithms: [HS256], claims_to_headers: {sub: X-User-Id}}`)
	tok := sign(t, "HS256", "alice-hs", []byte(hmacSecret), jwt.MapClaims{"sub": "u-1", "scope": "orders:read orders:write"})
	id, c, err := authenticate(m, "Bearer "+tok)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	want := pipeline.Identity{Consumer: "alice", CredentialID: "alice-hs", Method: "jwt",
		Groups: []string{"admins", "staff"}, Scopes: []string{"orders:read", "orders:write"}}
	got := *id
	got.Claims = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("identity = %+v, want %+v", got, want)
	}
	if id.Claims["sub"] != "u-1" {
		t.Errorf("claims = %v", id.Claims)
	}
	if h := c.Request.Header.Get("X-User-Id"); h != "u-1" {
		t.Errorf("X-User-Id = %q", h)
	}
	// The policy (not the method) strips the token once it is accepted.
	_, p := newJWT(t, `{algorithms: [HS256], claims_to_headers: {sub: X-User-Id}}`)
	c = bearerPolicyCtx(tok)
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("policy refused: %s", prob.Reason)
	}
	if _, ok := c.Request.Header["Authorization"]; ok {
		t.Error("the accepted token would be forwarded upstream")
	}
	_, fwd := newJWT(t, `{algorithms: [HS256], forward_token: true}`)
	c = bearerPolicyCtx(tok)
	if prob := fwd.Handle(c); prob != nil || c.Request.Header.Get("Authorization") != "Bearer "+tok {
		t.Errorf("forward_token: %v %q", prob, c.Request.Header.Get("Authorization"))
	}
	if m.cache.len() != 1 {
		t.Errorf("cache holds %d tokens, want 1", m.cache.len())
	}
}

func TestJWTAsymmetricAlgorithms(t *testing.T) {
	k := keys(t)
	m, _ := newJWT(t, allAlgs)
	for _, tc := range []struct {
		alg, kid string
		key      any
	}{
		{"RS256", "bob-rs", k.rsa}, {"PS256", "bob-ps", k.rsa}, {"ES256", "bob-es", k.ec}, {"EdDSA", "bob-ed", k.ed},
	} {
		tok := sign(t, tc.alg, tc.kid, tc.key, jwt.MapClaims{"scp": []string{"a", "b"}})
		for i := range 2 { // the second is served from the cache
			id, _, err := authenticate(m, "Bearer "+tok)
			if err != nil {
				t.Fatalf("%s (try %d): %v", tc.alg, i, err)
			}
			if id.Consumer != "bob" || id.CredentialID != tc.kid || !reflect.DeepEqual(id.Scopes, []string{"a", "b"}) {
				t.Errorf("%s: identity %+v", tc.alg, id)
			}
		}
	}
	if n := m.cache.len(); n != 4 {
		t.Errorf("cache holds %d tokens, want 4", n)
	}
}

func TestJWTKeyClaim(t *testing.T) {
	k := keys(t)
	m, _ := newJWT(t, `{algorithms: [ES384], key_claim: iss}`)
	tok := sign(t, "ES384", "", k.ec384, jwt.MapClaims{"iss": "https://issuer.bob.test"})
	if id, _, err := authenticate(m, "Bearer "+tok); err != nil || id.Consumer != "bob" {
		t.Fatalf("by iss: %v %v", id, err)
	}
	// The kid header is not what this route looks at.
	tok = sign(t, "ES384", "https://issuer.bob.test", k.ec384, jwt.MapClaims{"iss": "someone-else"})
	if _, _, err := authenticate(m, "Bearer "+tok); reasonOf(err) != reasonUnknownKey {
		t.Errorf("kid instead of iss: %v", err)
	}
	tok = sign(t, "ES384", "", k.ec384, nil)
	if _, _, err := authenticate(m, "Bearer "+tok); reasonOf(err) != reasonMissingKeyID {
		t.Errorf("no iss: %v", err)
	}
}

func TestJWTRefusals(t *testing.T) {
	k := keys(t)
	m, _ := newJWT(t, `{algorithms: [HS256, RS256, ES256], issuer: "https://idp.test", audience: [orders, billing],
		required_claims: {tenant: acme}, max_age: 2h, max_token_bytes: 1KiB, leeway: 30s}`)
	hs := []byte(hmacSecret)
	good := jwt.MapClaims{"iss": "https://idp.test", "aud": "orders", "tenant": "acme"}
	with := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range good {
			c[k] = v
		}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	now := time.Now()
	if _, _, err := authenticate(m, "Bearer "+sign(t, "HS256", "alice-hs", hs, good)); err != nil {
		t.Fatalf("the good token is refused: %v", err)
	}
	if _, _, err := authenticate(m, "Bearer "+sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"aud": []string{"x", "billing"}}))); err != nil {
		t.Fatalf("an audience list with one match is refused: %v", err)
	}
	if _, _, err := authenticate(m, "Bearer "+sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()}))); err != nil {
		t.Fatalf("expired within the leeway is refused: %v", err)
	}
	attackerRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	attackerEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cases := []struct {
		name, authz, reason string
	}{
		{"malformed", "Bearer not-a-token", reasonMalformed},
		{"two segments", "Bearer abc.def", reasonMalformed},
		{"bad base64", "Bearer !!!.###.$$$", reasonMalformed},
		{"empty bearer", "Bearer ", reasonMalformed},
		{"alg none", "Bearer " + rawToken(map[string]any{"alg": "none", "kid": "alice-hs"}, with(nil), nil), reasonAlgNotAllowed},
		{"alg None", "Bearer " + rawToken(map[string]any{"alg": "None", "kid": "alice-hs"}, with(nil), nil), reasonAlgNotAllowed},
		{"alg unknown", "Bearer " + rawToken(map[string]any{"alg": "HS1", "kid": "alice-hs"}, with(nil), []byte("x")), reasonAlgNotAllowed},
		{"alg not on the route", "Bearer " + sign(t, "EdDSA", "bob-ed", k.ed, good), reasonAlgNotAllowed},
		// Algorithm confusion: an HS256 token whose HMAC key is the RSA
		// public key's PEM, naming the RS256 credential.
		{"HS256 with the RSA public key", "Bearer " + sign(t, "HS256", "bob-rs", []byte(k.rsaPEM), good), reasonAlgMismatch},
		{"RS256 token on the ES256 key", "Bearer " + sign(t, "RS256", "bob-es", k.rsa, good), reasonAlgMismatch},
		{"unknown kid", "Bearer " + sign(t, "HS256", "nobody", hs, good), reasonUnknownKey},
		{"kid path traversal", "Bearer " + sign(t, "HS256", "../../etc/passwd", hs, good), reasonUnknownKey},
		{"kid SQL", "Bearer " + sign(t, "HS256", "' OR 1=1 --", hs, good), reasonUnknownKey},
		{"no kid", "Bearer " + sign(t, "HS256", "", hs, good), reasonMissingKeyID},
		{"kid not a string", "Bearer " + rawToken(map[string]any{"alg": "HS256", "kid": 7}, with(nil), []byte("x")), reasonMalformed},
		{"wrong HMAC secret", "Bearer " + sign(t, "HS256", "alice-hs", []byte(strings.Repeat("x", 40)), good), reasonBadSignature},
		{"wrong RSA key", "Bearer " + sign(t, "RS256", "bob-rs", attackerRSA, good), reasonBadSignature},
		// An embedded jwk is never used: the token is checked with bob's key.
		{"embedded jwk", "Bearer " + signWithHeader(t, "ES256", attackerEC, good, map[string]any{"kid": "bob-es", "jwk": map[string]any{"kty": "EC"}}), reasonBadSignature},
		{"crit header", "Bearer " + signWithHeader(t, "HS256", hs, good, map[string]any{"kid": "alice-hs", "crit": []string{"exp"}}), reasonCritical},
		{"expired", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), reasonExpired},
		{"no exp", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"exp": nil})), reasonMissingExp},
		{"exp a string", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"exp": "tomorrow"})), reasonInvalidClaims},
		{"nbf future", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), reasonNotYetValid},
		{"iat future", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"iat": now.Add(time.Hour).Unix()})), reasonIssuedInFuture},
		{"too old", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"iat": now.Add(-3 * time.Hour).Unix()})), reasonTooOld},
		{"no iat with max_age", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"iat": nil})), reasonMissingIat},
		{"wrong iss", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"iss": "https://evil.test"})), reasonWrongIssuer},
		{"no iss", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"iss": nil})), reasonWrongIssuer},
		{"wrong aud", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"aud": "payments"})), reasonWrongAudience},
		{"aud an object", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"aud": map[string]any{"a": 1}})), reasonInvalidClaims},
		{"required claim wrong", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"tenant": "other"})), reasonRequiredClaim},
		{"required claim missing", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"tenant": nil})), reasonRequiredClaim},
		{"too large", "Bearer " + sign(t, "HS256", "alice-hs", hs, with(jwt.MapClaims{"pad": strings.Repeat("p", 1100)})), reasonTooLarge},
	}
	for _, tc := range cases {
		id, _, err := authenticate(m, tc.authz)
		if id != nil || reasonOf(err) != tc.reason {
			t.Errorf("%s: got %v %q, want %q", tc.name, id, reasonOf(err), tc.reason)
			continue
		}
		var f *Failure
		if errors.As(err, &f) && f.Challenge != `Bearer realm="portcullis", error="invalid_token"` {
			t.Errorf("%s: challenge %q", tc.name, f.Challenge)
		}
	}
}

func signWithHeader(t testing.TB, alg string, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A jku header pointing at an attacker's key set is never fetched.
func TestJWTNeverFollowsKeyURLs(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	m, _ := newJWT(t, `{algorithms: [RS256]}`)
	attacker, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, h := range []string{"jku", "x5u"} {
		tok := signWithHeader(t, "RS256", attacker, nil, map[string]any{"kid": "bob-rs", h: srv.URL + "/keys"})
		if _, _, err := authenticate(m, "Bearer "+tok); reasonOf(err) != reasonBadSignature {
			t.Errorf("%s: %v", h, err)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the gateway fetched a URL from a token header (%d requests)", hits.Load())
	}
}

func TestJWTMissingAndOtherSchemes(t *testing.T) {
	m, p := newJWT(t, `{algorithms: [HS256]}`)
	for _, authz := range []string{"", "Basic YWxpY2U6cHc=", "ApiKey abc", "Bearerx abc"} {
		if _, _, err := authenticate(m, authz); !errors.Is(err, ErrNoCredentials) {
			t.Errorf("%q: %v, want no credentials", authz, err)
		}
	}
	// Through the policy: 401 with the bare RFC 6750 challenge.
	c := &pipeline.Context{Request: httptest.NewRequest("GET", "/", nil)}
	prob := p.Handle(c)
	if prob == nil || prob.Status != 401 || prob.Header["Www-Authenticate"][0] != `Bearer realm="portcullis"` {
		t.Fatalf("missing token: %+v", prob)
	}
	// Two bearer tokens are refused, not guessed between.
	r := httptest.NewRequest("GET", "/", nil)
	tok := sign(t, "HS256", "alice-hs", []byte(hmacSecret), nil)
	r.Header.Add("Authorization", "Bearer "+tok)
	r.Header.Add("Authorization", "Bearer "+tok)
	if _, err := m.Authenticate(&pipeline.Context{Request: r}); reasonOf(err) != reasonMultipleTokens {
		t.Errorf("two tokens: %v", err)
	}
}

func TestJWTHeaderAndCookie(t *testing.T) {
	tok := sign(t, "HS256", "alice-hs", []byte(hmacSecret), nil)
	m, _ := newJWT(t, `{algorithms: [HS256], header: X-Token, cookie: session}`)
	for _, set := range []func(r *http.Request){
		func(r *http.Request) { r.Header.Set("X-Token", tok) },
		func(r *http.Request) { r.Header.Set("X-Token", "Bearer "+tok) },
		func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "session", Value: tok}) },
	} {
		r := httptest.NewRequest("GET", "/", nil)
		set(r)
		if id, err := m.Authenticate(&pipeline.Context{Request: r}); err != nil || id.Consumer != "alice" {
			t.Errorf("got %v %v", id, err)
		}
	}
	// Authorization is not read when another header is configured.
	if _, _, err := authenticate(m, "Bearer "+tok); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("Authorization read: %v", err)
	}
	// The accepted token does not go upstream (the policy strips it);
	// other cookies do.
	_, p := newJWT(t, `{algorithms: [HS256], header: X-Token, cookie: session}`)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Cookie", "a=1; session="+tok+"; b=2")
	if prob := p.Handle(&pipeline.Context{Request: r}); prob != nil {
		t.Fatal(prob.Reason)
	}
	if got := r.Header.Values("Cookie"); len(got) != 1 || got[0] != "a=1; b=2" {
		t.Errorf("Cookie after = %q", got)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Token", tok)
	if prob := p.Handle(&pipeline.Context{Request: r}); prob != nil || r.Header.Get("X-Token") != "" {
		t.Errorf("X-Token after = %q (%v)", r.Header.Get("X-Token"), prob)
	}
	cookieOnly, _ := newJWT(t, `{algorithms: [HS256], cookie: session}`)
	if _, _, err := authenticate(cookieOnly, "Bearer "+tok); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("cookie-only route read Authorization: %v", err)
	}
}

func TestJWTRequireExpOff(t *testing.T) {
	m, _ := newJWT(t, `{algorithms: [HS256], require_exp: false, leeway: 0s}`)
	if _, _, err := authenticate(m, "Bearer "+sign(t, "HS256", "alice-hs", []byte(hmacSecret), jwt.MapClaims{"exp": nil})); err != nil {
		t.Errorf("require_exp false: %v", err)
	}
	expired := sign(t, "HS256", "alice-hs", []byte(hmacSecret), jwt.MapClaims{"exp": time.Now().Add(-2 * time.Second).Unix()})
	if _, _, err := authenticate(m, "Bearer "+expired); reasonOf(err) != reasonExpired {
		t.Errorf("exp is still checked when present: %v", err)
	}
}

func TestJWTClaimsToHeaders(t *testing.T) {
	m, p := newJWT(t, `{algorithms: [HS256], claims_to_headers: {sub: x-user-id, roles: X-Roles, n: X-N, evil: X-Evil, obj: X-Obj}}`)
	if got := p.OwnedHeaders(); !reflect.DeepEqual(got, []string{"X-Evil", "X-N", "X-Obj", "X-Roles", "X-User-Id"}) {
		t.Errorf("owned headers = %v", got)
	}
	tok := sign(t, "HS256", "alice-hs", []byte(hmacSecret), jwt.MapClaims{
		"sub": "u-9", "roles": []string{"a", "b"}, "n": 42, "evil": "x\r\nX-Admin: 1", "obj": map[string]any{"a": 1}})
	_, c, err := authenticate(m, "Bearer "+tok)
	if err != nil {
		t.Fatal(err)
	}
	h := c.Request.Header
	if h.Get("X-User-Id") != "u-9" || h.Get("X-Roles") != "a,b" || h.Get("X-N") != "42" {
		t.Errorf("headers = %v", h)
	}
	if _, ok := h["X-Evil"]; ok {
		t.Error("a claim with CR LF was sent as a header")
	}
	if _, ok := h["X-Obj"]; ok {
		t.Error("an object claim was sent as a header")
	}
}

func TestJWTConfigErrors(t *testing.T) {
	t.Setenv("PORTCULLIS_TEST_TENANT", "") // set, but empty
	k := keys(t)
	cs := defaultConsumers(t)
	for _, tc := range []struct{ cfg, want string }{
		{`{}`, "algorithms: list the algorithms"},
		{`{algorithms: [none]}`, `"none" is never accepted`},
		{`{algorithms: [HS1]}`, `unsupported algorithm "HS1"`},
		// The message lists the one list, every name in it.
		{`{algorithms: [HS1]}`, "(supported: HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)"},
		{`{algorithms: [HS256], bogus: 1}`, "bogus"},
		{`{algorithms: [HS256], credentials: false}`, "credentials: false needs a jwks block"},
		{`{algorithms: [HS256], claims_to_headers: {sub: Authorization}}`, `header "Authorization" is reserved`},
		{`{algorithms: [HS256], claims_to_headers: {sub: X-Forwarded-User}}`, "reserved"},
		{`{algorithms: [HS256], claims_to_headers: {sub: "bad header"}}`, "valid header name"},
		{`{algorithms: [HS256], claims_to_headers: {sub: X-A, uid: x-a}}`, "used twice"},
		{`{algorithms: [HS256], max_token_bytes: 1MiB}`, "at most 64KiB"},
		{`{algorithms: [HS256], required_claims: {tenant: ""}}`, "required_claims: tenant: the value is empty"},
		{`{algorithms: [HS256], required_claims: {tenant: "${env:PORTCULLIS_TEST_TENANT}"}}`, "required_claims: tenant: the value is empty"},
		{`{algorithms: [HS256], header: "a b"}`, "not a valid header name"},
		{`{algorithms: [RS256], audience: [api], issuer: "https://a/", jwks: {url: "http://idp.example.com/jwks", consumer: carol}}`, "plain http is allowed to loopback"},
		{`{algorithms: [RS256], jwks: {url: "https://a/jwks", issuer: "https://a", consumer: carol}}`, "exactly one of url"},
		{`{algorithms: [RS256], jwks: {url: "https://a/jwks"}}`, "exactly one of consumer_claim"},
		{`{algorithms: [RS256], audience: [api], issuer: "https://a/", jwks: {url: "https://a/jwks", consumer: nobody}}`, `consumer "nobody" is not defined`},
		{`{algorithms: [RS256], audience: [api], issuer: "https://a/", jwks: {url: "https://a/jwks", consumer: carol, ca_file: /nonexistent}}`, "ca_file"},
	} {
		if got := compileErr(t, tc.cfg, cs); !strings.Contains(got, tc.want) {
			t.Errorf("%s: error %q, want %q", tc.cfg, got, tc.want)
		}
	}
	// Credential errors are positioned at the credential's field and
	// never quote the key.
	for _, tc := range []struct {
		c    cred
		want string
	}{
		{cred{Key: "k", Algorithm: "RS256", PublicKey: "not a pem"}, "consumers[0].credentials.jwt[0].public_key: no PEM block"},
		{cred{Key: "k", Algorithm: "ES256", PublicKey: k.rsaPEM}, "consumers[0].credentials.jwt[0].public_key: an RSA key cannot verify ES256"},
		{cred{Key: "k", Algorithm: "ES384", PublicKey: k.ecPEM}, "an EC key on P-256 cannot verify ES384"},
		{cred{Key: "k", Algorithm: "EdDSA", PublicKey: k.ecPEM}, "cannot verify EdDSA"},
	} {
		// The config package validates too; the compiler must refuse on
		// its own, so the bad credential goes in after parsing.
		c := consumer{Name: "x"}
		c.Credentials.JWT = []cred{{Key: "k", Algorithm: "HS256", Secret: hmacSecret}}
		cfg := testConfig(t, `{algorithms: [HS256]}`, []consumer{c})
		cfg.Consumers[0].Credentials.JWT[0] = toConfigCred(tc.c)
		got := ""
		if _, err := compileWith(t, cfg, pipeline.NewSharedValues()); err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("%+v: error %q, want %q", tc.c.Algorithm, got, tc.want)
		}
		if strings.Contains(got, "BEGIN") {
			t.Errorf("the error quotes the key: %q", got)
		}
	}
}

func TestCredentialKeyRefusesWeakKeys(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	for _, c := range []struct {
		cred  cred
		field string
	}{
		{cred{Key: "k", Algorithm: "HS256", Secret: "short"}, "secret"},
		{cred{Key: "k", Algorithm: "HS512", Secret: strings.Repeat("s", 48)}, "secret"},
		{cred{Key: "k", Algorithm: "HS256", Secret: hmacSecret, PublicKey: "x"}, "public_key"},
		{cred{Key: "k", Algorithm: "RS256", Secret: hmacSecret}, "secret"},
		{cred{Key: "k", Algorithm: "RS256", PublicKey: pubPEM(&small.PublicKey)}, "public_key"},
		{cred{Key: "k", Algorithm: "none"}, "algorithm"},
		{cred{Key: "", Algorithm: "HS256", Secret: hmacSecret}, "key"},
	} {
		_, err := credentialKey(toConfigCred(c.cred), "x")
		var fe *fieldError
		if !errors.As(err, &fe) || fe.field != c.field {
			t.Errorf("%+v: %v, want an error in %s", c.cred.Algorithm, err, c.field)
		}
		if err != nil && c.cred.Secret != "" && strings.Contains(err.Error(), c.cred.Secret) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

// A token cached by one key is not accepted once the credential's key
// changes (a reload with a rotated key), and is again with the same key.
func TestJWTCacheBoundToKey(t *testing.T) {
	k := keys(t)
	state := pipeline.NewSharedValues()
	cs := defaultConsumers(t)
	const route = `{algorithms: [HS256, RS256]}`
	compile := func() *jwtMethod {
		t.Helper()
		p, err := compileWith(t, testConfig(t, route, cs), state)
		if err != nil {
			t.Fatal(err)
		}
		return p.methods[0].(*jwtMethod)
	}
	m := compile()
	tok := sign(t, "RS256", "bob-rs", k.rsa, nil)
	hsTok := sign(t, "HS256", "alice-hs", []byte(hmacSecret), nil)
	for _, tk := range []string{tok, hsTok} {
		if _, _, err := authenticate(m, "Bearer "+tk); err != nil {
			t.Fatal(err)
		}
	}
	if m.cache.len() != 2 {
		t.Fatalf("cache len %d", m.cache.len())
	}
	// Reload with the same keys: the cache survives and still serves.
	m2 := compile()
	if m2.cache != m.cache {
		t.Fatal("the token cache did not survive the reload")
	}
	for _, tk := range []string{tok, hsTok} {
		if e := m2.cache.get(sumOf(tk), time.Now()); e == nil || m2.cachedKey(e) == nil {
			t.Fatal("a cached token is not usable after a reload with the same keys")
		}
	}
	// Reload with bob-rs rotated to another key and alice's secret
	// changed: the cached tokens are refused.
	cs[1].Credentials.JWT[0].PublicKey = k.rsa2PEM
	cs[0].Credentials.JWT[0].Secret = strings.Repeat("n", 40)
	m3 := compile()
	for _, tk := range []string{tok, hsTok} {
		if _, _, err := authenticate(m3, "Bearer "+tk); reasonOf(err) != reasonBadSignature {
			t.Fatalf("token of a rotated-out key: %v", err)
		}
	}
	// Another route's checks still apply to a cached token.
	p4, err := compileWith(t, testConfig(t, `{algorithms: [RS256], audience: [other]}`, defaultConsumers(t)), state)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := authenticate(p4.methods[0].(*jwtMethod), "Bearer "+tok); reasonOf(err) != reasonWrongAudience {
		t.Fatalf("cached token on a route with an audience: %v", err)
	}
	p5, err := compileWith(t, testConfig(t, `{algorithms: [HS256, ES256]}`, defaultConsumers(t)), state)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := authenticate(p5.methods[0].(*jwtMethod), "Bearer "+tok); reasonOf(err) != reasonAlgNotAllowed {
		t.Fatalf("cached RS256 token on a route without RS256: %v", err)
	}
}

// A cached token's identity is reused by the route that mapped it (no
// allocation a request), and mapped again after a reload: the consumer's
// groups as the new config has them, never the old ones.
func TestJWTCachedIdentityFollowsReload(t *testing.T) {
	k := keys(t)
	state := pipeline.NewSharedValues()
	cs := defaultConsumers(t)
	compile := func() *jwtMethod {
		t.Helper()
		p, err := compileWith(t, testConfig(t, `{algorithms: [RS256]}`, cs), state)
		if err != nil {
			t.Fatal(err)
		}
		return p.methods[0].(*jwtMethod)
	}
	tok := sign(t, "RS256", "bob-rs", k.rsa, jwt.MapClaims{"scope": "orders:read"})
	m := compile()
	var ids []*pipeline.Identity
	for range 3 {
		id, _, err := authenticate(m, "Bearer "+tok)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// The first request verified the token, the second mapped the cached
	// entry, the third reused that mapping.
	if ids[2] != ids[1] {
		t.Error("the cached token's identity was made again on the same route")
	}
	if got := ids[2]; got.Consumer != "bob" || strings.Join(got.Groups, ",") != "partners" ||
		strings.Join(got.Scopes, ",") != "orders:read" || got.CredentialID == "" || got.Method != "jwt" {
		t.Errorf("identity %+v", got)
	}
	allocs := testing.AllocsPerRun(50, func() {
		c := bearerPolicyCtx(tok)
		if _, err := m.Authenticate(c); err != nil {
			t.Fatal(err)
		}
	})
	base := testing.AllocsPerRun(50, func() { _ = bearerPolicyCtx(tok) })
	if allocs-base != 0 {
		t.Errorf("a cached token costs %v allocations, want 0", allocs-base)
	}

	cs[1].Groups = []string{"partners", "auditors"}
	m2 := compile()
	id, _, err := authenticate(m2, "Bearer "+tok)
	if err != nil {
		t.Fatal(err)
	}
	if id == ids[2] || strings.Join(id.Groups, ",") != "partners,auditors" {
		t.Errorf("after the reload: groups %v (same identity as before: %v)", id.Groups, id == ids[2])
	}
	// The consumer renamed by a reload (the credential with it): the
	// cached token maps to the new name.
	cs[1].Name = "robert"
	if id, _, err := authenticate(compile(), "Bearer "+tok); err != nil || id.Consumer != "robert" {
		t.Fatalf("renamed consumer: %v, %v", id, err)
	}
}

// A cached token stops at its exp, even though the entry is a hit.
func TestJWTCachedTokenExpires(t *testing.T) {
	k := keys(t)
	m, _ := newJWT(t, `{algorithms: [ES256], leeway: 0s}`)
	exp := time.Now().Add(time.Hour)
	tok := sign(t, "ES256", "bob-es", k.ec, jwt.MapClaims{"exp": exp.Unix()})
	if _, _, err := authenticate(m, "Bearer "+tok); err != nil {
		t.Fatal(err)
	}
	e := m.cache.get(sumOf(tok), time.Now())
	if e == nil || e.expires > exp.UnixNano() {
		t.Fatalf("entry %+v outlives exp %d", e, exp.UnixNano())
	}
	m.now = func() time.Time { return exp.Add(time.Second) }
	if _, _, err := authenticate(m, "Bearer "+tok); reasonOf(err) != reasonExpired {
		t.Errorf("after exp: %v", err)
	}
}

func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(64)
	now := time.Now()
	v := &verified{exp: float64(now.Add(time.Hour).Unix()), hasExp: true}
	for i := range 5000 {
		var sum [32]byte
		sum[0], sum[1], sum[2] = byte(i), byte(i>>8), byte(i>>16)
		c.put(&sum, v, [32]byte{}, now)
	}
	if n := c.len(); n > 64 {
		t.Errorf("cache holds %d entries, bound 64", n)
	}
	// A dead entry is not stored; an expired one is not returned.
	dead := &verified{exp: float64(now.Add(-time.Second).Unix()), hasExp: true}
	sum := [32]byte{9, 9, 9}
	c.put(&sum, dead, [32]byte{}, now)
	if c.get(&sum, now) != nil {
		t.Error("an expired token was cached")
	}
	sum2 := [32]byte{7, 7, 7}
	c.put(&sum2, &verified{}, [32]byte{}, now) // no exp: jwtCacheMaxTTL
	if c.get(&sum2, now) == nil || c.get(&sum2, now.Add(jwtCacheMaxTTL)) != nil {
		t.Error("an entry without exp must live jwtCacheMaxTTL")
	}
}

func sumOf(tok string) *[32]byte {
	s := sha256Sum(tok)
	return &s
}

// TestJWTAmbiguousJSONRefused: a correctly signed token whose header or
// claims set is not I-JSON (RFC 7493) is refused before any claim is
// read; the same token without the ambiguity is accepted.
func TestJWTAmbiguousJSONRefused(t *testing.T) {
	m, _ := newJWT(t, `{algorithms: [HS256], issuer: "https://idp.test"}`)
	now := time.Now().Unix()
	claims := fmt.Sprintf(`"iss":"https://idp.test","exp":%d,"iat":%d`, now+300, now)
	signed := func(header, payload string) string {
		in := b64url([]byte(header)) + "." + b64url([]byte(payload))
		mac := hmac.New(sha256.New, []byte(hmacSecret))
		mac.Write([]byte(in))
		return "Bearer " + in + "." + b64url(mac.Sum(nil))
	}
	const hdr = `{"alg":"HS256","typ":"JWT","kid":"alice-hs"}`
	if _, _, err := authenticate(m, signed(hdr, `{"sub":"alice",`+claims+`}`)); err != nil {
		t.Fatalf("the unambiguous token is refused: %v", err)
	}
	for _, tc := range []struct{ desc, header, payload, reason string }{
		{"sub twice", hdr, `{"sub":"alice","sub":"admin",` + claims + `}`, reasonAmbiguousJSON},
		{"sub twice, one escaped", hdr, `{"sub":"alice","\u0073ub":"admin",` + claims + `}`, reasonAmbiguousJSON},
		{"iss twice", hdr, `{"iss":"https://evil.test",` + claims + `}`, reasonAmbiguousJSON},
		{"duplicate in a nested claim", hdr, `{"sub":"alice","ctx":{"role":"user","role":"admin"},` + claims + `}`, reasonAmbiguousJSON},
		{"alg twice in the header", `{"alg":"none","alg":"HS256","kid":"alice-hs"}`, `{"sub":"alice",` + claims + `}`, reasonAmbiguousJSON},
		{"kid twice in the header", `{"alg":"HS256","kid":"bob-hs","kid":"alice-hs"}`, `{"sub":"alice",` + claims + `}`, reasonAmbiguousJSON},
		{"lone surrogate in sub", hdr, `{"sub":"\ud800",` + claims + `}`, reasonAmbiguousJSON},
		{"invalid UTF-8 in sub", hdr, "{\"sub\":\"\xff\"," + claims + `}`, reasonAmbiguousJSON},
		{"exp beyond 2^53", hdr, `{"sub":"alice","iss":"https://idp.test","exp":9007199254740993}`, reasonAmbiguousJSON},
		{"exp beyond a double", hdr, `{"sub":"alice","iss":"https://idp.test","exp":1e400}`, reasonAmbiguousJSON},
		{"trailing data after the claims", hdr, `{"sub":"alice",` + claims + `}{"sub":"admin"}`, reasonMalformed},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			id, _, err := authenticate(m, signed(tc.header, tc.payload))
			if id != nil || reasonOf(err) != tc.reason {
				t.Fatalf("got %v %q, want %q", id, reasonOf(err), tc.reason)
			}
		})
	}
}
