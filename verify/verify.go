package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Config configures a Verifier. Audience and one of JWKSURL or JWKS are
// required.
type Config struct {
	// Audience is this service's name in the gateway's configuration
	// (services[].name): assertions for any other service are refused.
	Audience string
	// JWKSURL is the gateway's key set on its operations listener, e.g.
	// http://portcullis-ops.internal:9901/.well-known/portcullis/jwks.json.
	JWKSURL string
	// JWKS is a key set given directly (a file the deployment mounts)
	// instead of JWKSURL; it is never refreshed.
	JWKS []byte
	// Issuer is the expected iss (default "portcullis").
	Issuer string
	// Header carries the assertion (default X-Portcullis-Assertion).
	Header string
	// Leeway tolerates clock skew on exp and iat (default 0; keep it to
	// a few seconds).
	Leeway time.Duration
	// HTTPClient fetches the JWKS (default: a client with a 10s timeout).
	// Give it a TLS configuration when the operations listener is HTTPS.
	HTTPClient *http.Client
	// RefreshInterval is the age after which the keys are refreshed in the
	// background (default 5m). MinRefreshInterval is the least time between
	// two fetches, also those triggered by unknown key ids (default 1s).
	RefreshInterval    time.Duration
	MinRefreshInterval time.Duration
	// GatewaySignatureSecret, when set, also requires the HMAC gateway
	// signature in SignatureHeader (default X-Portcullis-Signature), whose
	// timestamp must be within MaxSkew of the service's clock (default 30s).
	GatewaySignatureSecret []byte
	SignatureHeader        string
	MaxSkew                time.Duration
	// Logger receives the reason of every refusal (default: slog.Default()).
	Logger *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Verifier checks identity assertions. It is safe for concurrent use.
type Verifier struct {
	cfg  Config
	keys *keySource
}

// New checks cfg and returns a Verifier. With JWKSURL, keys are fetched
// on first use; call Prefetch at start to fail early.
func New(cfg Config) (*Verifier, error) {
	if cfg.Audience == "" {
		return nil, errors.New("verify: Audience (the service's name at the gateway) is required")
	}
	if (cfg.JWKSURL == "") == (cfg.JWKS == nil) {
		return nil, errors.New("verify: set exactly one of JWKSURL and JWKS")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = DefaultIssuer
	}
	if cfg.Header == "" {
		cfg.Header = DefaultHeader
	}
	if cfg.SignatureHeader == "" {
		cfg.SignatureHeader = DefaultSignatureHeader
	}
	if cfg.MaxSkew == 0 {
		cfg.MaxSkew = 30 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = 5 * time.Minute
	}
	if cfg.MinRefreshInterval == 0 {
		cfg.MinRefreshInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway < 0 || cfg.MaxSkew < 0 {
		return nil, errors.New("verify: Leeway and MaxSkew must not be negative")
	}
	ks := &keySource{url: cfg.JWKSURL, client: cfg.HTTPClient, refreshEvery: cfg.RefreshInterval, minGap: cfg.MinRefreshInterval, now: cfg.Now}
	if cfg.JWKS != nil {
		keys, err := parseKeySet(cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("verify: %w", err)
		}
		ks.keys = keys
	}
	return &Verifier{cfg: cfg, keys: ks}, nil
}

// Prefetch fetches the gateway's keys now.
func (v *Verifier) Prefetch(ctx context.Context) error {
	if v.keys.url == "" {
		return nil
	}
	return v.keys.fetch(ctx)
}

// Errors returned by Verify (wrapped with details).
var (
	ErrNoAssertion = errors.New("no identity assertion: the request did not come through the gateway")
	ErrInvalid     = errors.New("invalid identity assertion")
)

var allowedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// Verify checks r's assertion (and gateway signature when configured)
// and returns the caller's identity.
func (v *Verifier) Verify(r *http.Request) (*Identity, error) {
	vals := r.Header.Values(v.cfg.Header)
	if len(vals) == 0 {
		return nil, ErrNoAssertion
	}
	if len(vals) > 1 {
		return nil, fmt.Errorf("%w: more than one %s header", ErrInvalid, v.cfg.Header)
	}
	raw := vals[0]
	if len(raw) > 16<<10 {
		return nil, fmt.Errorf("%w: too large", ErrInvalid)
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalid)
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != TokenType {
		return nil, fmt.Errorf("%w: typ %q is not %q", ErrInvalid, typ, TokenType)
	}
	key, err := v.keys.key(r.Context(), h.KeyID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if h.Algorithm != key.Algorithm {
		return nil, fmt.Errorf("%w: algorithm %s does not match key %q (%s)", ErrInvalid, h.Algorithm, h.KeyID, key.Algorithm)
	}
	var c Claims
	if err := tok.Claims(key.Key, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	now := v.cfg.Now()
	switch {
	case c.Issuer != v.cfg.Issuer:
		return nil, fmt.Errorf("%w: issuer %q", ErrInvalid, c.Issuer)
	case c.Audience != v.cfg.Audience:
		return nil, fmt.Errorf("%w: audience %q is not this service", ErrInvalid, c.Audience)
	case c.Expiry == 0:
		return nil, fmt.Errorf("%w: no exp", ErrInvalid)
	case !now.Before(time.Unix(c.Expiry, 0).Add(v.cfg.Leeway)):
		return nil, fmt.Errorf("%w: expired at %s", ErrInvalid, time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	case time.Unix(c.IssuedAt, 0).After(now.Add(v.cfg.Leeway)):
		return nil, fmt.Errorf("%w: issued in the future", ErrInvalid)
	}
	// An assertion bound to its request must be used for that request.
	if c.Method != "" && c.Method != r.Method {
		return nil, fmt.Errorf("%w: bound to method %s", ErrInvalid, c.Method)
	}
	if c.Path != "" && c.Path != requestTarget(r) {
		return nil, fmt.Errorf("%w: bound to another path", ErrInvalid)
	}
	if c.RequestID != "" && c.RequestID != r.Header.Get("X-Request-Id") {
		return nil, fmt.Errorf("%w: bound to another request id", ErrInvalid)
	}
	if v.cfg.GatewaySignatureSecret != nil {
		if err := CheckGatewaySignature(r, v.cfg.SignatureHeader, v.cfg.GatewaySignatureSecret, v.cfg.MaxSkew, now); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	return c.identity(), nil
}

type ctxKey struct{}

// FromContext returns the identity the middleware verified.
func FromContext(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(*Identity)
	return id, ok
}

// Middleware verifies every request before next sees it; a refused
// request gets 401 and never reaches next.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.Verify(r)
		if err != nil {
			v.cfg.Logger.Warn("request refused: identity assertion", "reason", err.Error(),
				"method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "request_id", r.Header.Get("X-Request-Id"))
			refuse(w, r.Header.Get("X-Request-Id"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
	})
}

// refuse writes a 401 problem body that names no reason.
func refuse(w http.ResponseWriter, requestID string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusUnauthorized)
	p := map[string]any{"type": "about:blank", "title": "Unauthorized", "status": 401, "detail": "The request did not come through the gateway."}
	if requestID != "" && len(requestID) <= 128 && !strings.ContainsAny(requestID, "\r\n") {
		p["request_id"] = requestID
	}
	_ = json.NewEncoder(w).Encode(p)
}
