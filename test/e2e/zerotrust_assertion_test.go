package e2e

// The identity assertion through the real binary, verified by real
// services that use the public verify package: a request through the
// gateway reaches the service with the right identity; a direct request,
// an assertion for another service, one signed by another key, an expired
// one, one replayed after its expiry, one without the assertion type and
// an unsigned one are refused, and never reach the handler; signing key
// rotation across reloads keeps every request valid.

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis/portcullis/verify"
)

// ztService is a real HTTP service behind the gateway that wraps its
// handler with verify.Middleware.
type ztService struct {
	URL      string
	hits     atomic.Int64 // requests that reached the handler
	refusals *syncBuffer  // the verifier's log
	mu       sync.Mutex
	last     string           // the last assertion received, verified or not
	lastID   *verify.Identity // the last identity the handler saw
	kids     map[string]int   // key ids of the assertions received
	mw       atomic.Pointer[http.Handler]
}

// newZTService binds the service; verifyWith installs the verifier once
// the gateway (and so its JWKS address) is known. Until then it answers 503.
func newZTService(t testing.TB) *ztService {
	t.Helper()
	s := &ztService{refusals: &syncBuffer{}, kids: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := r.Header.Get(verify.DefaultHeader)
		s.mu.Lock()
		s.last = a
		if tok, err := jwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}); err == nil {
			s.kids[tok.Headers[0].KeyID]++
		}
		s.mu.Unlock()
		mw := s.mw.Load()
		if mw == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		(*mw).ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.URL = "http://" + l.Addr().String()
	return s
}

func (s *ztService) verifyWith(t testing.TB, cfg verify.Config) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(s.refusals, nil))
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := verify.FromContext(r.Context())
		if !ok {
			t.Error("handler without identity")
		}
		s.hits.Add(1)
		s.mu.Lock()
		s.lastID = id
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(id)
	})
	mw := v.Middleware(app)
	s.mw.Store(&mw)
}

func (s *ztService) lastAssertion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *ztService) kidCount(kid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kids[kid]
}

// direct sends a request straight to the service, bypassing the gateway.
func (s *ztService) direct(t testing.TB, path string, hdr map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// ztWriteKey writes a private key as PKCS #8 PEM and returns the path.
func ztWriteKey(t testing.TB, dir, name string, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".pem")
	tlsWriteFile(t, p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	return p
}

// ztSign makes an assertion the way an attacker (or a test) would.
func ztSign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, claims verify.Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func ztAssertionConfig(keys, ordersAssertion, billingAssertion string, orders, billing *ztService, apiKeyHash string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
identity_assertion:
  issuer: https://gateway.test
  keys: [%s]
services:
  - {name: orders, targets: [{url: %q}], identity_assertion: {%s}}
  - {name: billing, targets: [{url: %q}], identity_assertion: {%s}}
consumers:
  - name: partner
    groups: [partners, beta]
    scopes: ["orders:read", "orders:write"]
    credentials:
      api_keys: [{id: partner-1, hash: %q}]
routes:
  - name: orders
    paths: [{prefix: /orders/}]
    service: orders
    policies: [{kind: auth, methods: [{api_key: {}}]}]
  - {name: billing-open, paths: [{prefix: /billing/}], service: billing, auth: none}
ops: {address: "{{ops}}"}
`, keys, orders.URL, ordersAssertion, billing.URL, billingAssertion, apiKeyHash))
}

func TestIdentityAssertion(t *testing.T) {
	dir := t.TempDir()
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	k1File := ztWriteKey(t, dir, "k1", k1)
	key, hash := akGenerate(t, "--id", "partner-1")
	secret := strings.Repeat("s3cr3t-", 6)

	orders, billing := newZTService(t), newZTService(t)
	gw := StartGateway(t, ztAssertionConfig(fmt.Sprintf("{id: k1, private_key_file: %q}", k1File), "ttl: 2s",
		fmt.Sprintf("ttl: 2s, gateway_signature: {secret: %q}", secret), orders, billing, hash))
	// The services' keys come from the gateway's ops listener.
	jwksURL := "http://" + gw.OpsAddr + verify.JWKSPath
	orders.verifyWith(t, verify.Config{Audience: "orders", Issuer: "https://gateway.test", JWKSURL: jwksURL})
	billing.verifyWith(t, verify.Config{Audience: "billing", Issuer: "https://gateway.test", JWKSURL: jwksURL,
		GatewaySignatureSecret: []byte(secret), MaxSkew: 5 * time.Second})

	send := func(path string, hdr map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, gw.URL(path), nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		return resp, string(b)
	}

	t.Run("through the gateway the service sees the caller", func(t *testing.T) {
		resp, body := send("/orders/list?page=2", map[string]string{"X-API-Key": key, verify.DefaultHeader: "forged"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %s\nservice log:\n%s", resp.StatusCode, body, orders.refusals.String())
		}
		var id verify.Identity
		if err := json.Unmarshal([]byte(body), &id); err != nil {
			t.Fatal(err)
		}
		if id.Consumer != "partner" || id.Anonymous || strings.Join(id.Groups, ",") != "partners,beta" ||
			strings.Join(id.Scopes, " ") != "orders:read orders:write" || id.Route != "orders" || id.AuthMethod != "api_key" {
			t.Fatalf("identity %+v", id)
		}
		if orders.lastAssertion() == "forged" {
			t.Fatal("the client's own assertion header reached the service")
		}
	})
	t.Run("an anonymous route still proves the gateway", func(t *testing.T) {
		resp, body := send("/billing/x", map[string]string{verify.DefaultHeader: "forged", verify.DefaultSignatureHeader: "t=1,v1=AAAA"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d body %s\nservice log:\n%s", resp.StatusCode, body, billing.refusals.String())
		}
		var id verify.Identity
		_ = json.Unmarshal([]byte(body), &id)
		if !id.Anonymous || id.Consumer != "" || id.Route != "billing-open" {
			t.Fatalf("identity %+v", id)
		}
	})
	t.Run("the JWKS publishes public keys only", func(t *testing.T) {
		resp, err := http.Get(jwksURL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil || len(set.Keys) != 1 || set.Keys[0].KeyID != "k1" || set.Keys[0].Algorithm != "EdDSA" || !set.Keys[0].IsPublic() {
			t.Fatalf("JWKS %s (%v)", b, err)
		}
		if strings.Contains(string(b), `"d"`) {
			t.Fatalf("the JWKS holds private key material: %s", b)
		}
	})

	ordersTok := orders.lastAssertion()
	now := time.Now()
	good := verify.Claims{Issuer: "https://gateway.test", Audience: "orders", Subject: "admin", IssuedAt: now.Unix(), Expiry: now.Add(time.Minute).Unix(), ID: "x"}
	expired := good
	expired.IssuedAt, expired.Expiry = now.Add(-time.Hour).Unix(), now.Add(-time.Minute).Unix()
	otherAud := good
	otherAud.Audience = "billing"
	otherIss := good
	otherIss.Issuer = "portcullis"
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	ecRogue, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	for _, tc := range []struct {
		desc, assertion, reason string
	}{
		{"a direct request without assertion", "", "did not come through the gateway"},
		{"garbage", "not-a-jwt", "invalid identity assertion"},
		{"an unsigned token", "eyJhbGciOiJub25lIiwidHlwIjoicG9ydGN1bGxpcy1hc3NlcnRpb24rand0In0.eyJhdWQiOiJvcmRlcnMifQ.", "invalid identity assertion"},
		{"the assertion sent to another service", billing.lastAssertion(), "is not this service"},
		{"signed by another key under the gateway's key id", ztSign(t, jose.EdDSA, rogue, "k1", verify.TokenType, good), "error in cryptographic primitive"},
		{"signed by another key under an unknown key id", ztSign(t, jose.ES256, ecRogue, "k9", verify.TokenType, good), "unknown key id"},
		{"expired, signed by the gateway's key", ztSign(t, jose.EdDSA, k1, "k1", verify.TokenType, expired), "expired"},
		{"for another audience, signed by the gateway's key", ztSign(t, jose.EdDSA, k1, "k1", verify.TokenType, otherAud), "audience"},
		{"from another issuer", ztSign(t, jose.EdDSA, k1, "k1", verify.TokenType, otherIss), "issuer"},
		{"another JWT type signed by the gateway's key", ztSign(t, jose.EdDSA, k1, "k1", "JWT", good), "typ"},
	} {
		t.Run("refused: "+tc.desc, func(t *testing.T) {
			before := orders.hits.Load()
			hdr := map[string]string{}
			if tc.assertion != "" {
				hdr[verify.DefaultHeader] = tc.assertion
			}
			if code := orders.direct(t, "/orders/list", hdr); code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", code)
			}
			if orders.hits.Load() != before {
				t.Fatal("the refused request reached the handler")
			}
			if !waitContains(orders.refusals, tc.reason, 2*time.Second) {
				t.Fatalf("refusal reason %q not logged:\n%s", tc.reason, orders.refusals.String())
			}
		})
	}

	t.Run("a captured assertion is refused once expired", func(t *testing.T) {
		// Within its lifetime the captured assertion verifies (reuse is by
		// design; mTLS keeps it from being captured), then it expires.
		tok, err := jwt.ParseSigned(ordersTok, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			t.Fatal(err)
		}
		var cl verify.Claims
		_ = tok.UnsafeClaimsWithoutVerification(&cl)
		if cl.Expiry-cl.IssuedAt != 2 {
			t.Fatalf("ttl in the token: iat %d exp %d", cl.IssuedAt, cl.Expiry)
		}
		time.Sleep(time.Until(time.Unix(cl.Expiry, 0)) + 100*time.Millisecond)
		before := orders.hits.Load()
		if code := orders.direct(t, "/orders/list", map[string]string{verify.DefaultHeader: ordersTok}); code != http.StatusUnauthorized {
			t.Fatalf("replay after expiry: status %d, want 401", code)
		}
		if orders.hits.Load() != before {
			t.Fatal("the replay reached the handler")
		}
	})
	t.Run("the gateway signature must be fresh and match", func(t *testing.T) {
		resp, _ := send("/billing/y", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// A valid assertion with a signature for another path is refused.
		stale := verify.GatewaySignature([]byte(secret), time.Now(), "GET", "/billing/other", "")
		before := billing.hits.Load()
		code := billing.direct(t, "/billing/y", map[string]string{verify.DefaultHeader: billing.lastAssertion(), verify.DefaultSignatureHeader: stale})
		if code != 401 || billing.hits.Load() != before {
			t.Fatalf("a signature for another path: status %d", code)
		}
		if !waitContains(billing.refusals, "gateway signature does not match", 2*time.Second) {
			t.Fatalf("reason not logged:\n%s", billing.refusals.String())
		}
	})
}

// TestIdentityAssertionKeyRotation rotates the signing key across two
// reloads (a new ES256 key takes over, then the old EdDSA key leaves the
// configuration) while requests flow: every request is accepted by the
// service, and the retired key stays published.
func TestIdentityAssertionKeyRotation(t *testing.T) {
	dir := t.TempDir()
	_, k1, _ := ed25519.GenerateKey(rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k1File, k2File := ztWriteKey(t, dir, "k1", k1), ztWriteKey(t, dir, "k2", k2)
	key, hash := akGenerate(t, "--id", "partner-1")
	orders, billing := newZTService(t), newZTService(t)
	cfg := func(keys string) GatewayConfig {
		return ztAssertionConfig(keys, "ttl: 10s", "ttl: 10s", orders, billing, hash)
	}
	one := fmt.Sprintf("{id: k1, private_key_file: %q}", k1File)
	gw := StartGateway(t, cfg(one))
	jwksURL := "http://" + gw.OpsAddr + verify.JWKSPath
	orders.verifyWith(t, verify.Config{Audience: "orders", Issuer: "https://gateway.test", JWKSURL: jwksURL})

	var sent, failed atomic.Int64
	var failures syncBuffer
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, gw.URL("/orders/x"), nil)
				req.Header.Set("X-API-Key", key)
				resp, err := http.DefaultClient.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					fmt.Fprintln(&failures, err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					fmt.Fprintln(&failures, resp.StatusCode)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s\ngateway:\n%s", what, gw.Stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("requests signed with k1", func() bool { return orders.kidCount("k1") > 5 })

	// Step 1: k2 signs, k1 stays listed.
	gw.WriteConfig(cfg(fmt.Sprintf("{id: k2, private_key_file: %q}, ", k2File) + one))
	waitFor("requests signed with k2", func() bool { return orders.kidCount("k2") > 5 })
	// Step 2: k1 leaves the configuration.
	gw.WriteConfig(cfg(fmt.Sprintf("{id: k2, private_key_file: %q}", k2File)))
	waitFor("the second reload", func() bool { _, body := gw.Readyz(); return strings.Contains(body, `"reloads":2`) })
	n := orders.kidCount("k2")
	waitFor("more requests after it", func() bool { return orders.kidCount("k2") > n+5 })
	close(stop)
	wg.Wait()

	if failed.Load() != 0 || sent.Load() < 20 {
		t.Fatalf("%d of %d requests failed during the rotation:\n%s\nservice:\n%s", failed.Load(), sent.Load(), failures.String(), orders.refusals.String())
	}
	if strings.Contains(orders.refusals.String(), "refused") {
		t.Fatalf("the service refused assertions:\n%s", orders.refusals.String())
	}
	// The retired key is still published (held for ttl + 1 minute), so an
	// assertion signed just before the reload verifies after it.
	resp, err := http.Get(jwksURL)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	_ = json.NewDecoder(resp.Body).Decode(&set)
	_ = resp.Body.Close()
	if len(set.Keys) != 2 || set.Keys[0].KeyID != "k2" || set.Keys[0].Algorithm != "ES256" || set.Keys[1].KeyID != "k1" {
		t.Fatalf("JWKS after the rotation: %+v", set.Keys)
	}
	// And a fresh verifier (a service starting now) accepts a k1 assertion.
	now := time.Now()
	old := ztSign(t, jose.EdDSA, k1, "k1", verify.TokenType, verify.Claims{Issuer: "https://gateway.test", Audience: "orders", IssuedAt: now.Unix(), Expiry: now.Add(5 * time.Second).Unix(), ID: "y"})
	fresh := newZTService(t)
	fresh.verifyWith(t, verify.Config{Audience: "orders", Issuer: "https://gateway.test", JWKSURL: jwksURL})
	if code := fresh.direct(t, "/", map[string]string{verify.DefaultHeader: old}); code != 200 {
		t.Fatalf("an assertion of the retired key: status %d\n%s", code, fresh.refusals.String())
	}
}
