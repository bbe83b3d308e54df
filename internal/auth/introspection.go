package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// The "introspection" method accepts opaque bearer tokens by asking the
// authorization server about them (OAuth 2.0 Token Introspection, RFC
// 7662). Results are cached by the token's SHA-256, never beyond the
// token's exp; when the endpoint cannot answer, the request is refused.

func init() { RegisterMethod("introspection", compileIntrospection) }

// introspectionConfig is the method's config.
type introspectionConfig struct {
	// URL is the introspection endpoint: https, or http on loopback only.
	URL string `yaml:"url"`
	// ClientID and ClientSecret authenticate the gateway to the endpoint
	// (HTTP Basic). The secret is a ${env:...} or ${file:...} reference.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// Timeout bounds one introspection call (default 3s).
	Timeout config.Duration `yaml:"timeout,omitempty"`
	// CacheTTL is the longest an active result is reused (default 5m);
	// never beyond the token's exp. 0s: never, every request is
	// introspected (a revocation applies at once). A pointer: a written
	// 0s is the operator's, not the default.
	CacheTTL *config.Duration `yaml:"cache_ttl,omitempty"`
	// RequiredScopes must all be in the token's scope (else 403).
	RequiredScopes []string `yaml:"required_scopes,omitempty"`
	// Audience, when set, must be one of the token's aud values.
	Audience string `yaml:"audience,omitempty"`
	// ConsumerClaim names the member that identifies the caller: "sub"
	// (default) or "client_id".
	ConsumerClaim string `yaml:"consumer_claim,omitempty"`
	// CAFile is a PEM bundle to verify the endpoint's certificate with
	// (default: the system roots).
	CAFile string `yaml:"ca_file,omitempty"`
	// ForwardToken sends the Authorization header on to the upstream; by
	// default it is removed once the token is accepted.
	ForwardToken bool `yaml:"forward_token,omitempty"`
}

const (
	introspectionDefaultTimeout  = 3 * time.Second
	introspectionDefaultCacheTTL = 5 * time.Minute
	// introspectionMaxToken bounds the bearer token the gateway will send.
	introspectionMaxToken = 8 << 10
)

type introspectionMethod struct {
	state        *introspector
	clientID     string
	clientSecret string
	timeout      time.Duration
	cacheTTL     time.Duration
	scopes       []string
	audience     string
	byClientID   bool // consumer_claim: client_id
	consumers    *Consumers
	scopeDenied  string // the insufficient_scope challenge
	forward      bool
	now          func() time.Time
}

// RFC 6750 challenges. They name the error class only, never the check.
const (
	introspectionChallenge        = `Bearer`
	introspectionInvalidChallenge = `Bearer error="invalid_token"`
)

func compileIntrospection(d pipeline.Decoder, env Env) (Method, error) {
	var cfg introspectionConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	at := func(field string, err error) error {
		return env.Config.ErrorAtPath(env.MethodPath+"."+field, err.Error())
	}
	endpoint, err := introspectionURL(cfg.URL)
	if err != nil {
		return nil, at("url", err)
	}
	if cfg.ClientID == "" {
		return nil, at("client_id", errors.New("the client id for the introspection endpoint is required"))
	}
	if cfg.ClientSecret == "" {
		return nil, at("client_secret", errors.New("the client secret is required (use ${env:NAME} or ${file:/path})"))
	}
	m := &introspectionMethod{
		clientID:     cfg.ClientID,
		clientSecret: cfg.ClientSecret,
		timeout:      cfg.Timeout.Or(introspectionDefaultTimeout),
		cacheTTL:     introspectionDefaultCacheTTL,
		audience:     cfg.Audience,
		consumers:    env.Consumers,
		forward:      cfg.ForwardToken,
		now:          time.Now,
	}
	if m.timeout <= 0 || m.timeout > time.Minute {
		return nil, at("timeout", errors.New("must be between 1ms and 1m"))
	}
	if cfg.CacheTTL != nil {
		m.cacheTTL = cfg.CacheTTL.D()
	}
	if m.cacheTTL < 0 || m.cacheTTL > 24*time.Hour {
		return nil, at("cache_ttl", errors.New("must be between 0s (no cache) and 24h"))
	}
	switch cfg.ConsumerClaim {
	case "", "sub":
	case "client_id":
		m.byClientID = true
	default:
		return nil, at("consumer_claim", fmt.Errorf("must be sub or client_id, not %q", cfg.ConsumerClaim))
	}
	for i, s := range cfg.RequiredScopes {
		if !validScopeToken(s) {
			return nil, at(fmt.Sprintf("required_scopes[%d]", i), errors.New("a scope is one or more printable ASCII characters without spaces, quotes or backslashes (RFC 6749 section 3.3)"))
		}
	}
	m.scopes = cfg.RequiredScopes
	m.scopeDenied = `Bearer error="insufficient_scope", scope="` + strings.Join(cfg.RequiredScopes, " ") + `"`
	var caPEM []byte
	var roots *x509.CertPool
	if cfg.CAFile != "" {
		bundle, err := tlspolicy.ReadCAFile(cfg.CAFile)
		if err != nil {
			return nil, at("ca_file", err)
		}
		caPEM, roots = bundle.PEM, bundle.Pool()
	}
	v, err := env.State.Get(introspectorKey(endpoint, cfg.ClientID, caPEM), func() (any, error) {
		return newIntrospector(endpoint, roots), nil
	})
	if err != nil {
		return nil, err
	}
	m.state = v.(*introspector)
	return m, nil
}

// introspectionURL refuses what would send the client secret and tokens
// where they do not belong: plain http off loopback, userinfo, fragments.
func introspectionURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("the introspection endpoint URL is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", errors.New("not a valid URL")
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return "", errors.New("must be an absolute http(s) URL without user info or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !tlspolicy.Loopback(u.Hostname()) {
			return "", errors.New("plain http is allowed only to a loopback address; use https (the client secret and tokens are sent)")
		}
	default:
		return "", errors.New("the scheme must be https")
	}
	return u.String(), nil
}

// validScopeToken: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func (m *introspectionMethod) Name() string      { return "introspection" }
func (m *introspectionMethod) Challenge() string { return introspectionChallenge }

func (m *introspectionMethod) Authenticate(c *pipeline.Context) (*pipeline.Identity, error) {
	tok, err := introspectionBearer(c.Request.Header)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(tok))
	now := m.now()
	e := m.state.cache.get(&key, now, m.cacheTTL)
	if e == nil {
		e, err = m.state.flights.do(key, func() (*introspectionEntry, error) {
			// A flight that just finished may have filled the cache
			// between our miss and this call.
			if e := m.state.cache.get(&key, m.now(), m.cacheTTL); e != nil {
				return e, nil
			}
			return m.fetch(key, tok)
		}, func(done <-chan struct{}) bool {
			select {
			case <-done:
				return true
			case <-c.Request.Context().Done():
				return false
			}
		})
		if err != nil {
			return nil, &Failure{Reason: "introspection unavailable"}
		}
		now = m.now()
	}
	return m.decide(e, now)
}

// credentials: "Authorization: Bearer"; the policy strips it unless
// forward_token (credentials.go).
func (m *introspectionMethod) credentials() ([]credentialLocation, bool) {
	return []credentialLocation{{header: "Authorization", scheme: "Bearer"}}, m.forward
}

// fetch calls the endpoint and caches the result. The call is not tied to
// one client's request: callers waiting on the same token share it.
func (m *introspectionMethod) fetch(key [32]byte, tok string) (*introspectionEntry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
	defer cancel()
	res, err := m.state.introspect(ctx, tok, m.clientID, m.clientSecret)
	now := m.now()
	if err != nil {
		m.state.logUnavailable(now, err)
		return nil, err
	}
	e := newIntrospectionEntry(res, key, now, m.cacheTTL)
	if now.Before(e.expires) {
		m.state.cache.put(&key, e)
	}
	return e, nil
}

// newIntrospectionEntry decides how long a result may be reused: an
// active token until min(now+ttl, exp), anything else briefly.
func newIntrospectionEntry(res introspected, key [32]byte, now time.Time, ttl time.Duration) *introspectionEntry {
	e := &introspectionEntry{res: res, fetched: now, credID: hex.EncodeToString(key[:8])}
	switch {
	case !res.Active:
		e.expires = now.Add(introspectionNegativeTTL)
	case res.Exp != 0 && !now.Before(time.Unix(res.Exp, 0)):
		// Active by the server's word but past its exp: treated as inactive.
		e.res = introspected{Active: false}
		e.expired = true
		e.expires = now.Add(introspectionNegativeTTL)
	default:
		e.expires = now.Add(ttl)
		if res.Exp != 0 {
			if exp := time.Unix(res.Exp, 0); exp.Before(e.expires) {
				e.expires = exp
			}
		}
		e.claims = introspectionClaims(res)
	}
	return e
}

func introspectionClaims(res introspected) map[string]any {
	claims := map[string]any{}
	for k, v := range map[string]string{"sub": res.Subject, "client_id": res.ClientID, "username": res.Username, "iss": res.Issuer} {
		if v != "" {
			claims[k] = v
		}
	}
	if len(res.Scopes) > 0 {
		claims["scope"] = strings.Join(res.Scopes, " ")
	}
	if len(res.Audience) > 0 {
		claims["aud"] = res.Audience
	}
	if res.Exp != 0 {
		claims["exp"] = res.Exp
	}
	return claims
}

// decide applies this route's checks to a (possibly shared) result.
func (m *introspectionMethod) decide(e *introspectionEntry, now time.Time) (*pipeline.Identity, error) {
	if e.expired {
		return nil, &Failure{Reason: "expired", Challenge: introspectionInvalidChallenge}
	}
	if !e.res.Active {
		return nil, &Failure{Reason: "inactive token", Challenge: introspectionInvalidChallenge}
	}
	if e.res.Exp != 0 && now.Unix() >= e.res.Exp {
		return nil, &Failure{Reason: "expired", Challenge: introspectionInvalidChallenge}
	}
	if m.audience != "" && !slices.Contains(e.res.Audience, m.audience) {
		return nil, &Failure{Reason: "wrong audience", Challenge: introspectionInvalidChallenge}
	}
	for _, s := range m.scopes {
		if !slices.Contains(e.res.Scopes, s) {
			return nil, &Failure{Reason: "insufficient scope", Challenge: m.scopeDenied, Status: http.StatusForbidden}
		}
	}
	name := e.res.Subject
	if m.byClientID {
		name = e.res.ClientID
	}
	if name == "" {
		return nil, &Failure{Reason: "no consumer claim", Challenge: introspectionInvalidChallenge}
	}
	id := &pipeline.Identity{Consumer: name, CredentialID: e.credID, Method: "introspection", Scopes: e.res.Scopes, Claims: e.claims}
	// A claim that names a configured consumer gets that consumer's
	// groups; any other value is the consumer name, without groups.
	if c := m.consumers.ByName(name); c != nil {
		id.Groups = c.Groups
	}
	return id, nil
}

// introspectionBearer reads `Authorization: Bearer <token>`. Another
// scheme, or no header, is no credential of this kind.
func introspectionBearer(h http.Header) (string, error) {
	vals := h["Authorization"]
	if len(vals) == 0 {
		return "", ErrNoCredentials
	}
	v := vals[0]
	if len(v) < 7 || !strings.EqualFold(v[:7], "bearer ") {
		if strings.EqualFold(v, "bearer") {
			return "", &Failure{Reason: "malformed token", Challenge: introspectionInvalidChallenge}
		}
		return "", ErrNoCredentials
	}
	if len(vals) > 1 {
		return "", &Failure{Reason: "malformed token", Challenge: introspectionInvalidChallenge}
	}
	tok := strings.TrimLeft(v[7:], " ")
	if len(tok) > introspectionMaxToken {
		return "", &Failure{Reason: "token too large", Challenge: introspectionInvalidChallenge}
	}
	if !validB64Token(tok) {
		return "", &Failure{Reason: "malformed token", Challenge: introspectionInvalidChallenge}
	}
	return tok, nil
}

// validB64Token: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" (RFC 6750).
func validB64Token(s string) bool {
	i := 0
	for i < len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			i++
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
