package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// Test keys, generated once per test binary (RSA generation is slow).
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ec384     *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	rsaPEM    string // public keys, PEM
	rsa2PEM   string
	ecPEM     string
	ec384PEM  string
	edPEM     string
}

var (
	keysOnce sync.Once
	tk       testKeys
)

// hmacSecret is alice's HS256 secret in the tests.
const hmacSecret = "alice-secret-0123456789abcdefghijklmnop"

func keys(t testing.TB) *testKeys {
	t.Helper()
	keysOnce.Do(func() {
		var err error
		tk.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
		if err == nil {
			tk.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err == nil {
			tk.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		}
		if err == nil {
			tk.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		}
		if err == nil {
			_, tk.ed, err = ed25519.GenerateKey(rand.Reader)
		}
		if err != nil {
			panic(err)
		}
		tk.rsaPEM = pubPEM(&tk.rsa.PublicKey)
		tk.rsa2PEM = pubPEM(&tk.rsa2.PublicKey)
		tk.ecPEM = pubPEM(&tk.ec.PublicKey)
		tk.ec384PEM = pubPEM(&tk.ec384.PublicKey)
		tk.edPEM = pubPEM(tk.ed.Public())
	})
	return &tk
}

func pubPEM(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// cred is a consumer's jwt credential for the test config.
type cred struct {
	Key       string `json:"key"`
	Algorithm string `json:"algorithm"`
	Secret    string `json:"secret,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
}

type consumer struct {
	Name        string   `json:"name"`
	Groups      []string `json:"groups,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	Credentials struct {
		JWT []cred `json:"jwt,omitempty"`
	} `json:"credentials"`
}

// defaultConsumers: alice (HS256 "alice-hs"), bob (RS256, PS256, ES256,
// EdDSA keys), carol (no credential: a JWKS-mapped consumer).
func defaultConsumers(t testing.TB) []consumer {
	k := keys(t)
	alice := consumer{Name: "alice", Groups: []string{"admins", "staff"}}
	alice.Credentials.JWT = []cred{{Key: "alice-hs", Algorithm: "HS256", Secret: hmacSecret}}
	bob := consumer{Name: "bob", Groups: []string{"partners"}}
	bob.Credentials.JWT = []cred{
		{Key: "bob-rs", Algorithm: "RS256", PublicKey: k.rsaPEM},
		{Key: "bob-ps", Algorithm: "PS256", PublicKey: k.rsaPEM},
		{Key: "bob-es", Algorithm: "ES256", PublicKey: k.ecPEM},
		{Key: "bob-ed", Algorithm: "EdDSA", PublicKey: k.edPEM},
		{Key: "https://issuer.bob.test", Algorithm: "ES384", PublicKey: k.ec384PEM},
	}
	return []consumer{alice, bob, {Name: "carol", Groups: []string{"oidc"}}}
}

// testConfig is a whole config whose only route has an auth policy with
// the jwt method config methodJSON (YAML flow or JSON).
func testConfig(t testing.TB, methodJSON string, consumers []consumer) *config.Config {
	t.Helper()
	cj, err := json.Marshal(consumers)
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:1"}]}]
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: %s
consumers: %s
`, methodJSON, cj)
	cfg, err := config.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, src)
	}
	return cfg
}

// compileWith compiles the route's auth policy with the given long-lived state.
func compileWith(t testing.TB, cfg *config.Config, state *pipeline.SharedValues) (*policy, error) {
	t.Helper()
	v, err := pipelinetest.Policy(t, cfg, 0, 0, pipeline.CompileEnv{Route: "r", Config: cfg, Snapshot: pipeline.NewSharedValues(), State: state})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { closeState(state) })
	return v.(*policy), nil
}

func closeState(state *pipeline.SharedValues) {
	state.Range(func(_ string, v any) {
		if c, ok := v.(interface{ Close() }); ok {
			c.Close()
		}
	})
}

// newJWT compiles a route with the default consumers and returns its method.
func newJWT(t testing.TB, methodJSON string) (*jwtMethod, *policy) {
	t.Helper()
	p, err := compileWith(t, testConfig(t, methodJSON, defaultConsumers(t)), pipeline.NewSharedValues())
	if err != nil {
		t.Fatalf("compile %s: %v", methodJSON, err)
	}
	return p.methods[0].(*jwtMethod), p
}

// compileErr compiles and returns the error text ("" when it compiled).
func compileErr(t testing.TB, methodJSON string, consumers []consumer) string {
	t.Helper()
	_, err := compileWith(t, testConfig(t, methodJSON, consumers), pipeline.NewSharedValues())
	if err == nil {
		return ""
	}
	return err.Error()
}

// sign makes a token; claims get exp = now+1h unless set (nil value: removed).
func sign(t testing.TB, alg, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
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

// rawToken builds a token from a header and claims with any signature bytes.
func rawToken(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	return b64url(h) + "." + b64url(c) + "." + b64url(sig)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// authenticate runs the method on a request with the given Authorization.
func authenticate(m *jwtMethod, authz string) (*pipeline.Identity, *pipeline.Context, error) {
	r := httptest.NewRequest("GET", "http://gw.test/x", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	c := &pipeline.Context{Request: r}
	id, err := m.Authenticate(c)
	return id, c, err
}

// bearerPolicyCtx is a request context with a bearer token, for a policy.
func bearerPolicyCtx(tok string) *pipeline.Context {
	r := httptest.NewRequest("GET", "http://gw.test/x", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	return &pipeline.Context{Request: r}
}

// reasonOf is the failure reason of err ("" for none).
func reasonOf(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

func toConfigCred(c cred) config.JWTCredential {
	return config.JWTCredential{Key: c.Key, Algorithm: c.Algorithm, Secret: c.Secret, PublicKey: c.PublicKey}
}

func sha256Sum(s string) [32]byte { return sha256.Sum256([]byte(s)) }
