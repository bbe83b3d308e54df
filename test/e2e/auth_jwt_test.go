package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	jwtIssuer    = "https://issuer.e2e.test"
	jwksIssuer   = "https://idp.e2e.test/tenant-a" // the JWKS routes' issuer
	jwtSecretEnv = "E2E_JWT_ALICE_SECRET"
	jwtSecret    = "e2e-alice-hmac-secret-0123456789abcdef"
	jwtRealm     = `Bearer realm="portcullis"`
	jwtInvalid   = `Bearer realm="portcullis", error="invalid_token"`
)

// jwtFixture holds the keys of the test consumers and of the JWKS server.
type jwtFixture struct {
	rsa       *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	jwksEC    *ecdsa.PrivateKey // JWKS key k1
	jwksRSA   *rsa.PrivateKey   // JWKS key k2, published after rotation
	dir       string
	rsaPubPEM string

	mu   sync.Mutex
	jwks []map[string]any // what the JWKS server publishes
}

func newJWTFixture(t *testing.T) *jwtFixture {
	t.Helper()
	f := &jwtFixture{dir: t.TempDir()}
	var err error
	if f.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if f.jwksRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if f.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.jwksEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, f.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	f.rsaPubPEM = f.writePEM(t, "rsa.pub.pem", "PUBLIC KEY", mustPKIX(t, &f.rsa.PublicKey))
	f.writePEM(t, "ec.pub.pem", "PUBLIC KEY", mustPKIX(t, &f.ec.PublicKey))
	f.writePEM(t, "ed.pub.pem", "PUBLIC KEY", mustPKIX(t, f.ed.Public()))
	der, err := x509.MarshalPKCS8PrivateKey(f.rsa)
	if err != nil {
		t.Fatal(err)
	}
	f.writePEM(t, "rsa.key.pem", "PRIVATE KEY", der)
	return f
}

func mustPKIX(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func (f *jwtFixture) writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	text := string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return text
}

func (f *jwtFixture) path(name string) string { return filepath.Join(f.dir, name) }

// serveJWKS starts the JWKS endpoint; publish changes what it serves.
func (f *jwtFixture) serveJWKS(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": f.jwks})
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

func (f *jwtFixture) publish(keys ...map[string]any) {
	f.mu.Lock()
	f.jwks = keys
	f.mu.Unlock()
}

func jwkEC(kid string, k *ecdsa.PublicKey) map[string]any {
	p, _ := k.Bytes()
	return map[string]any{"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256",
		"x": base64.RawURLEncoding.EncodeToString(p[1:33]), "y": base64.RawURLEncoding.EncodeToString(p[33:])}
}

func jwkRSA(kid string, k *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
}

// jwtSign signs claims (defaults: iss, aud orders, exp in 1h, iat now;
// a nil value removes a default) with alg and kid.
func jwtSign(t *testing.T, alg, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"iss": jwtIssuer, "aud": "orders", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwtUnsigned builds a token with any header and an empty signature.
func jwtUnsigned(header, claims map[string]any) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}

func (f *jwtFixture) config(up *Upstream, jwksURL, downURL string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: alice
    groups: [admins, staff]
    credentials:
      jwt:
        - key: alice-hs
          algorithm: HS256
          secret: "${env:%s}"
  - name: bob
    groups: [partners]
    credentials:
      jwt:
        - {key: bob-rs, algorithm: RS256, public_key: "${file:%s}"}
        - {key: bob-es, algorithm: ES256, public_key: "${file:%s}"}
        - {key: bob-ed, algorithm: EdDSA, public_key: "${file:%s}"}
  - name: carol
    groups: [oidc]
routes:
  - name: api
    paths: [{prefix: /api/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt:
              algorithms: [HS256, RS256, ES256, EdDSA]
              issuer: %s
              audience: [orders]
              max_token_bytes: 2KiB
              claims_to_headers: {sub: X-User-Id, tenant: X-Tenant}
  - name: jwks
    paths: [{prefix: /jwks/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt:
              algorithms: [RS256, ES256]
              audience: [staff-api]
              issuer: `+jwksIssuer+`
              jwks: {url: "%s", consumer_claim: sub, min_refetch_interval: 1s}
  - name: down
    paths: [{prefix: /down/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: {algorithms: [RS256], audience: [staff-api], issuer: `+jwksIssuer+`, jwks: {url: "%s", consumer: carol, timeout: 1s}}
  - name: open
    paths: [{prefix: /open/}]
    service: svc
    auth: none
ops: {address: "{{ops}}"}
`, up.URL, jwtSecretEnv, f.path("rsa.pub.pem"), f.path("ec.pub.pem"), f.path("ed.pub.pem"), jwtIssuer, jwksURL, downURL))
}

// jwtGet sends GET path with an Authorization value (none when empty)
// and extra headers.
func jwtGet(t *testing.T, gw *Gateway, path, authz string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", gw.URL(path), nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// jwtRefused asserts a 401 problem with the challenge, that the upstream
// saw nothing, and that the access log gives the reason.
func jwtRefused(t *testing.T, gw *Gateway, up *Upstream, path, authz, challenge, reason string) {
	t.Helper()
	before := up.Count()
	resp, body := jwtGet(t, gw, path, authz, nil)
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d type %q body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil || p["status"] != 401.0 || p["detail"] != "Invalid or missing credentials." {
		t.Errorf("problem body %s", body)
	}
	if got := resp.Header.Values("Www-Authenticate"); len(got) != 1 || got[0] != challenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, challenge)
	}
	if up.Count() != before {
		t.Errorf("the upstream received a refused request")
	}
	if got := jwtAccessReason(t, gw, resp.Header.Get("X-Request-Id")); got != reason {
		t.Errorf("access log reason %q, want %q", got, reason)
	}
}

// jwtAccessReason waits for the request's access log line and returns its reason.
func jwtAccessReason(t *testing.T, gw *Gateway, rid string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(gw.Stdout.String()))
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			var line struct {
				RequestID string `json:"request_id"`
				Reason    string `json:"reason"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.RequestID == rid && rid != "" {
				return line.Reason
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no access log line for request %q", rid)
	return ""
}

// jwtAccepted asserts a 200 and returns what the upstream received.
func jwtAccepted(t *testing.T, gw *Gateway, up *Upstream, path, authz string, hdr map[string]string) Seen {
	t.Helper()
	before := up.Count()
	resp, body := jwtGet(t, gw, path, authz, hdr)
	if resp.StatusCode != 200 || up.Count() != before+1 {
		t.Fatalf("status %d body %s (upstream count %d -> %d)", resp.StatusCode, body, before, up.Count())
	}
	return up.Last(t)
}

func jwtIdentity(t *testing.T, seen Seen, consumer, groups, cred string) {
	t.Helper()
	for h, want := range map[string]string{"X-Consumer-Name": consumer, "X-Consumer-Groups": groups, "X-Credential-Id": cred, "X-Auth-Method": "jwt"} {
		if got := seen.Header.Values(h); len(got) != 1 || got[0] != want {
			t.Errorf("upstream %s = %q, want %q", h, got, want)
		}
	}
}

func TestAuthJWT(t *testing.T) {
	t.Setenv(jwtSecretEnv, jwtSecret)
	f := newJWTFixture(t)
	f.publish(jwkEC("k1", &f.jwksEC.PublicKey))
	jwksURL := f.serveJWKS(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downURL := "http://" + l.Addr().String() + "/jwks.json"
	_ = l.Close() // nothing listens there: the JWKS endpoint is down
	up := NewUpstream(t, nil)
	gw := StartGateway(t, f.config(up, jwksURL, downURL))
	hs := []byte(jwtSecret)

	t.Run("refusals", func(t *testing.T) {
		otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, authz, challenge, reason string }{
			{"missing token", "", jwtRealm, "authn: missing credentials"},
			{"malformed", "Bearer abc.def", jwtInvalid, "authn: jwt: malformed token"},
			{"garbage", "Bearer ###", jwtInvalid, "authn: jwt: malformed token"},
			{"alg none", "Bearer " + jwtUnsigned(map[string]any{"alg": "none", "kid": "alice-hs"},
				map[string]any{"iss": jwtIssuer, "aud": "orders", "exp": time.Now().Add(time.Hour).Unix()}), jwtInvalid, "authn: jwt: algorithm not allowed"},
			{"HS256 signed with the RSA public key", "Bearer " + jwtSign(t, "HS256", "bob-rs", []byte(f.rsaPubPEM), nil), jwtInvalid, "authn: jwt: algorithm mismatch"},
			{"unknown kid", "Bearer " + jwtSign(t, "HS256", "nobody", hs, nil), jwtInvalid, "authn: jwt: unknown key"},
			{"kid path traversal", "Bearer " + jwtSign(t, "HS256", "../../etc/passwd", hs, nil), jwtInvalid, "authn: jwt: unknown key"},
			{"kid SQL", "Bearer " + jwtSign(t, "HS256", "' OR 1=1 --", hs, nil), jwtInvalid, "authn: jwt: unknown key"},
			{"wrong HMAC signature", "Bearer " + jwtSign(t, "HS256", "alice-hs", []byte(strings.Repeat("w", 40)), nil), jwtInvalid, "authn: jwt: bad signature"},
			{"wrong RSA signature", "Bearer " + jwtSign(t, "RS256", "bob-rs", otherRSA, nil), jwtInvalid, "authn: jwt: bad signature"},
			{"expired", "Bearer " + jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}), jwtInvalid, "authn: jwt: expired"},
			{"nbf in the future", "Bearer " + jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()}), jwtInvalid, "authn: jwt: not yet valid"},
			{"wrong iss", "Bearer " + jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"iss": "https://evil.test"}), jwtInvalid, "authn: jwt: wrong issuer"},
			{"wrong aud", "Bearer " + jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"aud": "payments"}), jwtInvalid, "authn: jwt: wrong audience"},
			{"larger than max_token_bytes", "Bearer " + jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"pad": strings.Repeat("x", 2100)}), jwtInvalid, "authn: jwt: token too large"},
		} {
			t.Run(tc.name, func(t *testing.T) { jwtRefused(t, gw, up, "/api/orders", tc.authz, tc.challenge, tc.reason) })
		}
		// Attacker-chosen kids never reach a log.
		for _, s := range []string{"etc/passwd", "OR 1=1"} {
			if strings.Contains(gw.Stdout.String(), s) || strings.Contains(gw.Stderr.String(), s) {
				t.Errorf("the logs contain the kid %q", s)
			}
		}
	})

	t.Run("JWKS endpoint down fails closed", func(t *testing.T) {
		tok := jwtSign(t, "RS256", "k9", f.jwksRSA, nil)
		jwtRefused(t, gw, up, "/down/x", "Bearer "+tok, jwtInvalid, "authn: jwt: jwks unavailable")
		if !gw.WaitLog("jwks fetch failed", 5*time.Second) {
			t.Errorf("the fetch failure is not logged:\n%s", gw.Stderr.String())
		}
	})

	t.Run("positive: HS256 Kong-style, claims to headers, forged identity stripped", func(t *testing.T) {
		tok := jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"sub": "user-42", "tenant": "acme"})
		seen := jwtAccepted(t, gw, up, "/api/orders", "Bearer "+tok, map[string]string{
			"X-Consumer-Name": "admin", "X-Consumer-Groups": "root", "X-Credential-Id": "forged",
			"X-Auth-Method": "none", "X-User-Id": "someone-else", "X-Tenant": "evil",
		})
		jwtIdentity(t, seen, "alice", "admins,staff", "alice-hs")
		if v := seen.Header.Values("Authorization"); len(v) != 0 {
			t.Errorf("the token was forwarded: %q", v)
		}
		if seen.Header.Values("X-User-Id")[0] != "user-42" || len(seen.Header.Values("X-User-Id")) != 1 ||
			seen.Header.Get("X-Tenant") != "acme" {
			t.Errorf("claim headers: X-User-Id %q X-Tenant %q", seen.Header.Values("X-User-Id"), seen.Header.Values("X-Tenant"))
		}
		// A claim the token lacks leaves no header, not the client's.
		tok = jwtSign(t, "HS256", "alice-hs", hs, jwt.MapClaims{"sub": "user-42"})
		seen = jwtAccepted(t, gw, up, "/api/orders", "Bearer "+tok, map[string]string{"X-Tenant": "evil"})
		if v := seen.Header.Values("X-Tenant"); len(v) != 0 {
			t.Errorf("X-Tenant = %q", v)
		}
		// On a route without authentication the forged identity is stripped too.
		seen = jwtAccepted(t, gw, up, "/open/x", "", map[string]string{"X-Consumer-Name": "admin", "X-User-Id": "u", "X-Tenant": "t"})
		for _, h := range []string{"X-Consumer-Name", "X-User-Id", "X-Tenant"} {
			if v := seen.Header.Values(h); len(v) != 0 {
				t.Errorf("open route: upstream got %s %q", h, v)
			}
		}
	})

	t.Run("positive: RS256, ES256, EdDSA", func(t *testing.T) {
		for _, tc := range []struct {
			alg, kid string
			key      any
		}{{"RS256", "bob-rs", f.rsa}, {"ES256", "bob-es", f.ec}, {"EdDSA", "bob-ed", f.ed}} {
			tok := jwtSign(t, tc.alg, tc.kid, tc.key, jwt.MapClaims{"sub": "svc-" + tc.alg})
			for range 2 { // the second from the verified-token cache
				seen := jwtAccepted(t, gw, up, "/api/orders", "Bearer "+tok, nil)
				jwtIdentity(t, seen, "bob", "partners", tc.kid)
				if seen.Header.Get("X-User-Id") != "svc-"+tc.alg {
					t.Errorf("%s: X-User-Id %q", tc.alg, seen.Header.Get("X-User-Id"))
				}
			}
		}
	})

	t.Run("JWKS key rotation without restart", func(t *testing.T) {
		tok1 := jwtSign(t, "ES256", "k1", f.jwksEC, jwt.MapClaims{"sub": "carol", "aud": "staff-api", "iss": jwksIssuer})
		jwtIdentity(t, jwtAccepted(t, gw, up, "/jwks/x", "Bearer "+tok1, nil), "carol", "oidc", "k1")
		// The provider's key signs other applications' tokens too: one
		// issued to another audience, or to none, never reaches the upstream.
		for _, aud := range []any{"mobile-app", nil} {
			other := jwtSign(t, "ES256", "k1", f.jwksEC, jwt.MapClaims{"sub": "carol", "aud": aud, "iss": jwksIssuer})
			jwtRefused(t, gw, up, "/jwks/x", "Bearer "+other, jwtInvalid, "authn: jwt: wrong audience")
		}
		// And other issuers' (another tenant of a multi-tenant provider):
		// the right audience from another issuer, or from none, never
		// reaches the upstream either.
		for _, iss := range []any{"https://idp.e2e.test/tenant-b", nil} {
			other := jwtSign(t, "ES256", "k1", f.jwksEC, jwt.MapClaims{"sub": "carol", "aud": "staff-api", "iss": iss})
			jwtRefused(t, gw, up, "/jwks/x", "Bearer "+other, jwtInvalid, "authn: jwt: wrong issuer")
		}

		f.publish(jwkRSA("k2", &f.jwksRSA.PublicKey)) // k1 rotated out, k2 in
		tok2 := jwtSign(t, "RS256", "k2", f.jwksRSA, jwt.MapClaims{"sub": "carol", "aud": "staff-api", "iss": jwksIssuer})
		// The unknown kid triggers a refetch at most once per
		// min_refetch_interval (1s): poll until it is picked up.
		deadline := time.Now().Add(10 * time.Second)
		for {
			before := up.Count()
			resp, _ := jwtGet(t, gw, "/jwks/x", "Bearer "+tok2, nil)
			if resp.StatusCode == 200 {
				break
			}
			if resp.StatusCode != 401 || up.Count() != before {
				t.Fatalf("status %d, upstream %d -> %d", resp.StatusCode, before, up.Count())
			}
			if time.Now().After(deadline) {
				t.Fatal("the new key was not picked up within 10s")
			}
			time.Sleep(100 * time.Millisecond)
		}
		jwtIdentity(t, up.Last(t), "carol", "oidc", "k2")
		// The rotated-out key's token, though verified and cached before,
		// is refused now.
		jwtRefused(t, gw, up, "/jwks/x", "Bearer "+tok1, jwtInvalid, "authn: jwt: unknown key")
	})

	t.Run("portcullis token mints usable tokens", func(t *testing.T) {
		r := runCLI(t, nil, "token", "--alg", "HS256", "--kid", "alice-hs", "--secret-env", jwtSecretEnv,
			"--iss", jwtIssuer, "--aud", "orders", "--sub", "cli-user", "--claim", "tenant=acme", "--exp", "5m")
		if r.code != 0 {
			t.Fatalf("token: exit %d: %s", r.code, r.stderr)
		}
		seen := jwtAccepted(t, gw, up, "/api/orders", "Bearer "+strings.TrimSpace(r.stdout), nil)
		jwtIdentity(t, seen, "alice", "admins,staff", "alice-hs")
		if seen.Header.Get("X-User-Id") != "cli-user" || seen.Header.Get("X-Tenant") != "acme" {
			t.Errorf("claims: %v", seen.Header)
		}
		r = runCLI(t, nil, "token", "--alg", "RS256", "--kid", "bob-rs", "--key-file", f.path("rsa.key.pem"),
			"--iss", jwtIssuer, "--aud", "orders")
		if r.code != 0 {
			t.Fatalf("token RS256: exit %d: %s", r.code, r.stderr)
		}
		jwtIdentity(t, jwtAccepted(t, gw, up, "/api/orders", "Bearer "+strings.TrimSpace(r.stdout), nil), "bob", "partners", "bob-rs")
		// Secrets come only from the environment or a file.
		for _, args := range [][]string{
			{"token", "--alg", "HS256", "--kid", "k"},
			{"token", "--alg", "HS256", "--secret-env", "E2E_JWT_UNSET_VARIABLE"},
			{"token", "--alg", "HS256", "--secret", jwtSecret},
			{"token", "--alg", "RS256", "--secret-env", jwtSecretEnv},
			{"token", "--alg", "none", "--secret-env", jwtSecretEnv},
		} {
			if r := runCLI(t, nil, args...); r.code == 0 || r.stdout != "" {
				t.Errorf("%v: exit %d stdout %q", args, r.code, r.stdout)
			}
		}
	})
}
