package auth

// The "jwt" method: bearer JSON Web Tokens (RFC 7519), signed with HMAC,
// RSA (PKCS #1 v1.5 or PSS), ECDSA or Ed25519, parsed and verified with
// github.com/golang-jwt/jwt/v5.
//
// Keys come only from configuration: a consumer's jwt credential, found
// Kong-style by the token's kid header (or a configured claim such as
// iss), or a JWKS endpoint. Headers that point elsewhere (jku, jwk, x5u,
// x5c) are never read. Each key is bound to its algorithm, so "none", an
// HMAC token checked against a public key, or any algorithm the route does
// not list is refused before a signature is computed.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strings"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ijson"
	"github.com/portcullis/portcullis/internal/pipeline"
	"golang.org/x/net/http/httpguts"
)

func init() { RegisterMethod("jwt", compileJWT) }

// jwtConfig is the method's config; see docs/authentication.md.
type jwtConfig struct {
	// Algorithms the route accepts (required).
	Algorithms []string `yaml:"algorithms"`
	// KeyClaim is where the credential key is found: "kid" (the header,
	// default) or the name of a claim (e.g. "iss").
	KeyClaim string `yaml:"key_claim,omitempty"`
	// Credentials: look keys up in the consumers' jwt credentials.
	// Default true without jwks, false with jwks.
	Credentials *bool       `yaml:"credentials,omitempty"`
	JWKS        *jwksConfig `yaml:"jwks,omitempty"`

	Issuer         string            `yaml:"issuer,omitempty"`
	Audience       []string          `yaml:"audience,omitempty"`
	RequiredClaims map[string]string `yaml:"required_claims,omitempty"`
	// Leeway for exp, nbf and iat (default 30s).
	Leeway *config.Duration `yaml:"leeway,omitempty"`
	// MaxAge refuses tokens whose iat is older (0: no limit).
	MaxAge config.Duration `yaml:"max_age,omitempty"`
	// RequireExp refuses tokens without exp (default true).
	RequireExp *bool `yaml:"require_exp,omitempty"`
	// MaxTokenBytes bounds the token's size (default 8KiB).
	MaxTokenBytes config.Size `yaml:"max_token_bytes,omitempty"`

	// Header carries the token ("Authorization" with the Bearer scheme by
	// default); Cookie names a cookie that carries it.
	Header string `yaml:"header,omitempty"`
	Cookie string `yaml:"cookie,omitempty"`

	// ClaimsToHeaders sends claims upstream: {sub: X-User-Id}.
	ClaimsToHeaders map[string]string `yaml:"claims_to_headers,omitempty"`
	// ForwardToken sends the token on to the upstream (default false: the
	// header or cookie that carried it is removed once it is accepted).
	ForwardToken bool `yaml:"forward_token,omitempty"`
}

const (
	defaultJWTLeeway   = 30 * time.Second
	defaultMaxTokenLen = 8 << 10
	maxMaxTokenLen     = 64 << 10
	jwtRealm           = `Bearer realm="portcullis"`
	jwtInvalidToken    = `Bearer realm="portcullis", error="invalid_token"` // #nosec G101 -- a challenge, not a credential
)

// Failure reasons: a fixed set (a metrics label and a log field). None
// carries anything from the request.
const (
	reasonMalformed        = "malformed token"
	reasonTooLarge         = "token too large"
	reasonMultipleTokens   = "multiple tokens"
	reasonAlgNotAllowed    = "algorithm not allowed"
	reasonAlgMismatch      = "algorithm mismatch"
	reasonMissingKeyID     = "missing key id"
	reasonUnknownKey       = "unknown key"
	reasonBadSignature     = "bad signature"
	reasonCritical         = "unsupported critical header"
	reasonInvalidClaims    = "invalid claims"
	reasonExpired          = "expired"
	reasonMissingExp       = "missing exp"
	reasonNotYetValid      = "not yet valid"
	reasonIssuedInFuture   = "issued in the future"
	reasonMissingIat       = "missing iat"
	reasonTooOld           = "too old"
	reasonWrongIssuer      = "wrong issuer"
	reasonWrongAudience    = "wrong audience"
	reasonRequiredClaim    = "required claim mismatch"
	reasonUnknownConsumer  = "unknown consumer"
	reasonJWKSUnavailable  = "jwks unavailable"
	reasonNoConsumerClaim  = "missing consumer claim"
	reasonTokenNotUsable   = "token not usable"
	reasonUnsupportedToken = "unsupported token"
	reasonAmbiguousJSON    = "ambiguous JSON"
)

// jwtMethod is the compiled method of one route.
type jwtMethod struct {
	allowed   algSet
	keyClaim  string // "" for the kid header
	creds     credentialIndex
	jwks      *jwksSource
	jwksClaim string // consumer_claim
	jwksFixed string // consumer
	checks    claimChecks
	maxLen    int
	header    string // canonical; "" when only a cookie is read
	bearer    bool   // the header uses the Bearer scheme (Authorization)
	cookie    string
	toHeaders []claimHeader
	owned     []string
	forward   bool
	consumers *Consumers
	cache     *tokenCache
	parser    *jwt.Parser
	now       func() time.Time
}

type claimHeader struct{ claim, header string }

func compileJWT(d pipeline.Decoder, env Env) (Method, error) {
	var cfg jwtConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	m := &jwtMethod{
		consumers: env.Consumers,
		now:       time.Now,
		// Strict base64url: one encoding per token, so the cache key and
		// the verified bytes agree.
		parser: jwt.NewParser(jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding()),
	}
	// Every problem is reported, each at its field: one validate run
	// lists them all.
	var errs []error
	if len(cfg.Algorithms) == 0 {
		errs = append(errs, errors.New("algorithms: list the algorithms this route accepts (e.g. [RS256])"))
	}
	for i, a := range cfg.Algorithms {
		if strings.EqualFold(a, "none") {
			errs = append(errs, config.FieldErrorf(fmt.Sprintf("algorithms[%d]", i), `"none" is never accepted`))
			continue
		}
		b := algBit(a)
		if b == 0 {
			errs = append(errs, config.FieldErrorf(fmt.Sprintf("algorithms[%d]", i), "unsupported algorithm %q (supported: %s)", a, config.JWTAlgorithmNames()))
			continue
		}
		m.allowed |= b
	}
	errs = append(errs, m.compileKeySources(&cfg, env), m.compileChecks(&cfg), m.compileTransport(&cfg))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cache, err := jwtTokenCache(env.State)
	if err != nil {
		return nil, err
	}
	m.cache = cache
	return m, nil
}

func (m *jwtMethod) compileKeySources(cfg *jwtConfig, env Env) error {
	switch cfg.KeyClaim {
	case "", "kid":
	default:
		m.keyClaim = cfg.KeyClaim
	}
	useCreds := cfg.JWKS == nil
	if cfg.Credentials != nil {
		useCreds = *cfg.Credentials
	}
	if !useCreds && cfg.JWKS == nil {
		return errors.New("credentials: false needs a jwks block: the route would have no key to verify with")
	}
	if useCreds {
		idx, err := jwtCredentialIndex(env)
		if err != nil {
			return err
		}
		m.creds = idx
	}
	if j := cfg.JWKS; j != nil {
		if err := validateJWKSConfig(j); err != nil {
			return err
		}
		// RFC 8725 section 3.9: an issuer whose tokens serve more than one
		// relying party must be checked for the audience. An identity
		// provider signs the tokens of every application it serves with
		// the keys this set holds; without an audience, a token issued to
		// another application (a public client, another team's API) is
		// accepted here as this route's caller.
		if len(cfg.Audience) == 0 {
			return errors.New("audience: is required with jwks: the identity provider signs the tokens of every application it serves with these keys, and without an audience check a token issued to another application would be accepted here (RFC 8725 section 3.9); set it to this API's identifier, the aud its tokens carry")
		}
		// RFC 8725 section 3.8: the keys must belong to the issuer the
		// token names. A JWKS URL is often a provider's keys for every
		// issuer it hosts (the tenants of a multi-tenant identity
		// provider share one signing set); without an issuer check, a
		// token another tenant issued for this audience is accepted here.
		// With jwks.issuer (discovery) that issuer is the default.
		if j.Issuer == "" && cfg.Issuer == "" {
			return errors.New("issuer: is required with jwks.url: the keys of a set may sign the tokens of several issuers (the tenants of a multi-tenant identity provider), and without an issuer check a token another tenant issued for this audience would be accepted here (RFC 8725 section 3.8); set it to the iss this API's tokens carry, or use jwks.issuer (OpenID Connect discovery)")
		}
		if j.Consumer != "" && env.Consumers.ByName(j.Consumer) == nil {
			return fmt.Errorf("jwks.consumer: consumer %q is not defined", j.Consumer)
		}
		src, err := jwksSourceFor(env.State, j)
		if err != nil {
			return fmt.Errorf("jwks.%w", err)
		}
		m.jwks, m.jwksClaim, m.jwksFixed = src, j.ConsumerClaim, j.Consumer
		if cfg.Issuer == "" {
			cfg.Issuer = j.Issuer // an OIDC issuer's keys verify that issuer's tokens only
		}
		src.touch() // fetch now rather than on the first request
	}
	return nil
}

func (m *jwtMethod) compileChecks(cfg *jwtConfig) error {
	leeway := defaultJWTLeeway
	if cfg.Leeway != nil {
		leeway = cfg.Leeway.D()
	}
	if leeway > 5*time.Minute {
		return errors.New("leeway: must be at most 5m")
	}
	m.checks = claimChecks{
		leeway:     leeway.Seconds(),
		maxAge:     cfg.MaxAge.D().Seconds(),
		requireExp: cfg.RequireExp == nil || *cfg.RequireExp,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
	}
	for _, a := range cfg.Audience {
		if a == "" {
			return errors.New("audience: an entry is empty")
		}
	}
	names := make([]string, 0, len(cfg.RequiredClaims))
	for k := range cfg.RequiredClaims {
		if k == "" {
			return errors.New("required_claims: a claim name is empty")
		}
		// An empty value is most often an environment variable set but
		// empty (tenant: ${env:TENANT}); as written it would require the
		// claim to be the empty string, a check no one means.
		if cfg.RequiredClaims[k] == "" {
			return fmt.Errorf("required_claims: %s: the value is empty, which only a token whose %s claim is the empty string satisfies; write the value it must have", k, k)
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		m.checks.required = append(m.checks.required, requiredClaim{name: k, value: cfg.RequiredClaims[k]})
	}
	m.maxLen = int(cfg.MaxTokenBytes.Or(defaultMaxTokenLen))
	if m.maxLen > maxMaxTokenLen {
		return errors.New("max_token_bytes: must be at most 64KiB")
	}
	return nil
}

// reservedClaimHeaders may not receive claims: every name in
// claims_to_headers is stripped from all client requests on every route,
// so these would break requests, and they carry meaning to the gateway.
var reservedClaimHeaders = map[string]bool{
	"Host": true, "Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	"Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true, "Forwarded": true,
	"X-Request-Id": true, "Content-Type": true, "Content-Encoding": true,
}

func (m *jwtMethod) compileTransport(cfg *jwtConfig) error {
	switch {
	case cfg.Header != "":
		if !httpguts.ValidHeaderFieldName(cfg.Header) {
			return fmt.Errorf("header: %q is not a valid header name", cfg.Header)
		}
		m.header = textproto.CanonicalMIMEHeaderKey(cfg.Header)
	case cfg.Cookie == "":
		m.header = "Authorization"
	}
	m.bearer = m.header == "Authorization"
	m.forward = cfg.ForwardToken
	if cfg.Cookie != "" {
		if !httpguts.ValidHeaderFieldName(cfg.Cookie) { // cookie names are tokens too (RFC 6265)
			return fmt.Errorf("cookie: %q is not a valid cookie name", cfg.Cookie)
		}
		m.cookie = cfg.Cookie
	}
	claims := make([]string, 0, len(cfg.ClaimsToHeaders))
	for c := range cfg.ClaimsToHeaders {
		claims = append(claims, c)
	}
	sort.Strings(claims)
	seen := map[string]bool{}
	for _, c := range claims {
		h := cfg.ClaimsToHeaders[c]
		if c == "" || !httpguts.ValidHeaderFieldName(h) {
			return fmt.Errorf("claims_to_headers: %q -> %q: need a claim name and a valid header name", c, h)
		}
		h = textproto.CanonicalMIMEHeaderKey(h)
		if reservedClaimHeaders[h] || strings.HasPrefix(h, "X-Forwarded-") || h == m.header {
			return fmt.Errorf("claims_to_headers: header %q is reserved", h)
		}
		if seen[h] {
			return fmt.Errorf("claims_to_headers: header %q is used twice", h)
		}
		seen[h] = true
		m.toHeaders = append(m.toHeaders, claimHeader{claim: c, header: h})
		m.owned = append(m.owned, h)
	}
	return nil
}

func (m *jwtMethod) Name() string { return "jwt" }

// Challenge is sent when the request carried no credential (RFC 6750).
func (m *jwtMethod) Challenge() string { return jwtRealm }

// OwnedHeaders are the claims_to_headers names: the gateway strips them
// from every client request.
func (m *jwtMethod) OwnedHeaders() []string { return m.owned }

func fail(reason string) *Failure {
	return &Failure{Reason: reason, Challenge: jwtInvalidToken}
}

// Authenticate reads, verifies and checks the token.
func (m *jwtMethod) Authenticate(c *pipeline.Context) (*pipeline.Identity, error) {
	tok, reason := m.token(c.Request)
	if reason != "" {
		return nil, fail(reason)
	}
	if tok == "" {
		return nil, ErrNoCredentials
	}
	if len(tok) > m.maxLen {
		return nil, fail(reasonTooLarge)
	}
	now := m.now()
	// The token's text is hashed in place (a []byte copy would cost an
	// allocation per request): Sum256 neither keeps nor changes its input.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok))) // #nosec G103 -- read-only view, not retained
	var (
		v   *verified
		key *verifyKey
	)
	e := m.cache.get(&sum, now)
	if e != nil {
		key = m.cachedKey(e)
		if key != nil {
			v = e.v
		} else {
			e = nil // verified again below, and its identity mapped again
		}
	}
	fresh := v == nil
	if fresh {
		var f *Failure
		if v, key, f = m.verify(c.Request.Context(), tok); f != nil {
			return nil, f
		}
	}
	if !m.allowed.hasBit(v.algBit) {
		return nil, fail(reasonAlgNotAllowed) // a cached token from a route with other algorithms
	}
	if r := m.checks.check(v, now); r != "" {
		return nil, fail(r)
	}
	id, r := m.identityOf(e, v, key)
	if r != "" {
		return nil, fail(r)
	}
	if fresh {
		m.cache.put(&sum, v, key.fp, now)
	}
	m.setClaimHeaders(c.Request.Header, v.claims)
	return id, nil
}

// token reads the token: from the header (Bearer scheme for
// Authorization), else from the cookie. An empty token and no reason means
// none; a second bearer token is refused rather than guessed between.
func (m *jwtMethod) token(r *http.Request) (tok string, reason string) {
	if m.header != "" {
		found := false
		for _, v := range r.Header[m.header] {
			t, ok := v, true
			if m.bearer {
				t, ok = bearerToken(v)
			} else if bt, isBearer := bearerToken(v); isBearer {
				t = bt
			}
			if !ok {
				continue // another scheme, for another method
			}
			if found {
				return "", reasonMultipleTokens
			}
			tok, found = strings.TrimSpace(t), true
		}
		if found {
			if tok == "" {
				return "", reasonMalformed
			}
			return tok, ""
		}
	}
	if m.cookie != "" {
		if ck, err := r.Cookie(m.cookie); err == nil && ck.Value != "" {
			return ck.Value, ""
		}
	}
	return "", ""
}

// credentials: the bearer token in Authorization (or the whole configured
// header) and the cookie; the policy strips them unless forward_token, so
// a token the upstream never sees cannot leak from it (credentials.go).
func (m *jwtMethod) credentials() ([]credentialLocation, bool) {
	var locs []credentialLocation
	switch {
	case m.bearer:
		locs = append(locs, credentialLocation{header: "Authorization", scheme: "Bearer"})
	case m.header != "":
		locs = append(locs, credentialLocation{header: m.header})
	}
	if m.cookie != "" {
		locs = append(locs, credentialLocation{cookie: m.cookie})
	}
	return locs, m.forward
}

// bearerToken returns the credentials of a "Bearer" Authorization value.
func bearerToken(v string) (string, bool) {
	const scheme = "bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	rest := v[len(scheme):]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return "", false // "Bearerx" is another scheme
	}
	return strings.TrimSpace(rest), true
}

// cachedKey finds the key that verified a cached token among the keys
// this route would use now; nil sends the token through full verification.
func (m *jwtMethod) cachedKey(e *cacheEntry) *verifyKey {
	if m.creds != nil {
		if name, ok := m.keyName(e.v.kid, e.v.claims); ok {
			if k := m.creds[name]; k != nil && k.fp == e.keyFP {
				return k
			}
		}
	}
	if m.jwks != nil && e.v.kid != "" {
		for _, k := range m.jwks.cached(e.v.kid) {
			if k.fp == e.keyFP {
				return k
			}
		}
	}
	return nil
}

// keyName is the credential key a token names: its kid, or the claim
// named by key_claim.
func (m *jwtMethod) keyName(kid string, claims map[string]any) (string, bool) {
	if m.keyClaim == "" {
		return kid, kid != ""
	}
	s, ok := claims[m.keyClaim].(string)
	return s, ok && s != ""
}

// verify parses the token and checks its signature with a configured key.
func (m *jwtMethod) verify(ctx context.Context, tok string) (*verified, *verifyKey, *Failure) {
	var (
		key    *verifyKey
		reason string
	)
	if r := checkTokenJSON(tok); r != "" {
		return nil, nil, fail(r)
	}
	claims := jwt.MapClaims{}
	token, err := m.parser.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		key, reason = m.findKey(ctx, t)
		if reason != "" {
			return nil, errors.New(reason)
		}
		return key.key, nil
	})
	switch {
	case reason != "":
		return nil, nil, fail(reason)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, nil, fail(reasonBadSignature)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return nil, nil, fail(reasonAlgNotAllowed) // an "alg" golang-jwt does not know
	case err != nil || token == nil || key == nil:
		return nil, nil, fail(reasonMalformed)
	}
	kid, _ := token.Header["kid"].(string)
	v, r := newVerified(token.Method.Alg(), kid, claims)
	if r != "" {
		return nil, nil, fail(r)
	}
	return v, key, nil
}

// checkTokenJSON checks the JOSE header and the claims set of a compact
// token as I-JSON (RFC 7493, internal/ijson) before anything is read from
// them. RFC 7515 section 4 and RFC 7519 section 4 let a parser either
// refuse duplicate names or keep the last; keeping the last (as
// encoding/json does) means a token that says "sub":"alice","sub":"admin"
// is one identity here and another to a service that reads the forwarded
// token with a first-wins parser, so duplicates are refused, with lone
// surrogates, invalid UTF-8 and numbers a double cannot hold ("exp"
// beyond 2^53). A part that is not base64url is left to the parser, which
// refuses it as malformed.
func checkTokenJSON(tok string) string {
	head, rest, ok := strings.Cut(tok, ".")
	payload, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return ""
	}
	for _, part := range [2]string{head, payload} {
		b, err := base64.RawURLEncoding.Strict().DecodeString(part)
		if err != nil {
			return ""
		}
		if err := ijson.Check(b); err != nil {
			if ijson.Ambiguous(err) {
				return reasonAmbiguousJSON
			}
			return reasonMalformed
		}
	}
	return ""
}

// findKey is the key function: it never reads jku, jwk, x5u or x5c, and
// returns a key only for an algorithm the route allows and the key is
// bound to. It runs before any signature is computed.
func (m *jwtMethod) findKey(ctx context.Context, t *jwt.Token) (*verifyKey, string) {
	alg := t.Method.Alg()
	if !m.allowed.has(alg) {
		return nil, reasonAlgNotAllowed
	}
	if _, ok := t.Header["crit"]; ok {
		return nil, reasonCritical // no extension is understood (RFC 7515, 4.1.11)
	}
	if b64, ok := t.Header["b64"]; ok && b64 != true {
		return nil, reasonUnsupportedToken // unencoded payloads (RFC 7797) are not supported
	}
	kidVal, hasKid := t.Header["kid"]
	kid, isStr := kidVal.(string)
	if hasKid && !isStr {
		return nil, reasonMalformed
	}
	if m.creds != nil {
		claims, _ := t.Claims.(jwt.MapClaims)
		if name, ok := m.keyName(kid, claims); ok {
			if k := m.creds[name]; k != nil {
				if !k.algs.has(alg) {
					return nil, reasonAlgMismatch
				}
				return k, ""
			}
		} else if m.jwks == nil {
			return nil, reasonMissingKeyID
		}
	}
	if m.jwks == nil {
		return nil, reasonUnknownKey
	}
	if kid == "" {
		return nil, reasonMissingKeyID
	}
	keys, r := m.jwks.lookup(ctx, kid)
	if r != "" {
		return nil, r
	}
	for _, k := range keys {
		if k.algs.has(alg) {
			return k, ""
		}
	}
	return nil, reasonAlgMismatch
}

// identityOf is identity, reused from the cache entry e (nil: none) when
// this route mapped the same entry with the same key before.
func (m *jwtMethod) identityOf(e *cacheEntry, v *verified, key *verifyKey) (*pipeline.Identity, string) {
	if e != nil {
		if ei := e.id.Load(); ei != nil && ei.m == m && ei.key == key {
			return ei.id, ""
		}
	}
	id, r := m.identity(v, key)
	if r == "" && e != nil {
		e.id.Store(&entryIdentity{m: m, key: key, id: id})
	}
	return id, r
}

// identity maps the token to a consumer: the credential's owner, or for
// JWKS keys the consumer named by consumer_claim or the fixed consumer.
func (m *jwtMethod) identity(v *verified, key *verifyKey) (*pipeline.Identity, string) {
	name := key.consumer
	if name == "" {
		name = m.jwksFixed
		if m.jwksClaim != "" {
			s, ok := v.claims[m.jwksClaim].(string)
			if !ok || s == "" {
				return nil, reasonNoConsumerClaim
			}
			name = s
		}
	}
	c := m.consumers.ByName(name)
	if c == nil {
		return nil, reasonUnknownConsumer
	}
	return &pipeline.Identity{
		Consumer:     c.Name,
		CredentialID: key.id,
		Method:       "jwt",
		Groups:       c.Groups,
		Scopes:       v.scopes,
		Claims:       v.claims,
	}, ""
}

// setClaimHeaders sends the mapped claims upstream. The names were stripped
// from the client's request before any policy ran.
func (m *jwtMethod) setClaimHeaders(h http.Header, claims map[string]any) {
	for _, ch := range m.toHeaders {
		if s, ok := claimHeaderValue(claims[ch.claim]); ok {
			h[ch.header] = []string{s}
		}
	}
}
