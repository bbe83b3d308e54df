package validate

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/ratelimit"
)

// The "signature" policy kind (validate phase): requests must carry an
// HTTP Message Signature (RFC 9421) by a configured key, covering the
// required components, created within the clock skew, optionally with a
// fresh nonce and a Content-Digest (RFC 9530) that matches the body.
//
//	- kind: signature
//	  keys:
//	    - {id: partner-a, algorithm: hmac-sha256, secret: "${env:PARTNER_A_SIG_KEY}", consumer: partner-a}
//	    - {id: partner-b, algorithm: ed25519, public_key: "${file:/etc/keys/b.pub}"}
//	  required_components: ["@method", "@path", "@query", "content-digest", "date"]
//	  max_skew: 5m
//	  require_digest: true
//	  nonce_required: true
//	  replay_protection: true   # the default: a signature is accepted once
//	  redis: {address: ...}     # share the replay store between nodes

func init() {
	pipeline.Register("signature", signatureConfig{}, compileSignature)
}

type signatureConfig struct {
	Keys               []signatureKeyConfig `yaml:"keys"`
	RequiredComponents []string             `yaml:"required_components"`
	// MaxSkew is a pointer so that a written 0s is refused as the
	// out-of-range value it is, not read as the default five minutes (a
	// replay window three hundred times the one written).
	MaxSkew       *config.Duration `yaml:"max_skew,omitempty"`
	RequireDigest bool             `yaml:"require_digest,omitempty"`
	NonceRequired bool             `yaml:"nonce_required,omitempty"`
	MaxBody       config.Size      `yaml:"max_body,omitempty"`
	// ReplayProtection (default true) accepts each signature once; see
	// signature_replay.go.
	ReplayProtection *bool `yaml:"replay_protection,omitempty"`
	// Redis shares the replay store between gateway nodes (the same block
	// as a rate_limit policy's). Without it, the Redis of the route's
	// rate limits or of intrusion detection is used when there is one.
	Redis *ratelimit.RedisConfig `yaml:"redis,omitempty"`
}

type signatureKeyConfig struct {
	ID        string `yaml:"id"`
	Algorithm string `yaml:"algorithm"`
	// Secret is the HMAC key; SecretEncoding says how it is written
	// ("raw", the default: the string's bytes; or "base64").
	Secret         string `yaml:"secret,omitempty"`
	SecretEncoding string `yaml:"secret_encoding,omitempty"`
	// PublicKey is an Ed25519 public key: PEM (PKIX "PUBLIC KEY") or the
	// raw 32 bytes in base64.
	PublicKey string `yaml:"public_key,omitempty"`
	Consumer  string `yaml:"consumer,omitempty"`
}

const (
	defaultSignatureSkew    = 5 * time.Minute
	maxSignatureSkew        = time.Hour
	defaultSignatureMaxBody = 1 << 20
	minHMACSecret           = 32 // bytes: HMAC-SHA256 wants a key as long as its output
)

// signaturePolicy is the compiled policy.
type signaturePolicy struct {
	v             verifier
	requireDigest bool
	maxBody       int64
	replay        replayStore // nil with replay_protection: false
}

var (
	_ pipeline.RequestPolicy = (*signaturePolicy)(nil)
	_ pipeline.OnePerRoute   = (*signaturePolicy)(nil)
)

// WhyOnePerRoute: a request carries one signature; two policies would
// each require it to verify with their own keys.
func (p *signaturePolicy) WhyOnePerRoute() string {
	return "a request carries one signature, and it would have to verify under both policies' keys; list every key in one policy's keys"
}

const (
	problemBadSignature = "The request signature is not valid."
	problemTooLarge     = "The request body is too large."
)

func compileSignature(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg signatureConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	at := func(field, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		if env.Config == nil {
			return errors.New(field + ": " + msg)
		}
		return env.Config.ErrorAtPath(env.Path+"."+field, msg)
	}
	p := &signaturePolicy{
		v: verifier{
			keys:         map[string]*SignatureKey{},
			skew:         defaultSignatureSkew,
			requireNonce: cfg.NonceRequired,
			now:          time.Now,
		},
		requireDigest: cfg.RequireDigest,
		maxBody:       cfg.MaxBody.Or(defaultSignatureMaxBody),
	}
	if cfg.MaxSkew != nil {
		p.v.skew = cfg.MaxSkew.D()
	}
	if p.v.skew <= 0 || p.v.skew > maxSignatureSkew {
		return nil, at("max_skew", "must be more than 0 and at most %s (leave it out for the default 5m)", maxSignatureSkew)
	}
	if p.maxBody <= 0 {
		return nil, at("max_body", "must be more than 0")
	}
	if len(cfg.Keys) == 0 && (env.Config == nil || env.Config.Admin == nil) {
		return nil, at("keys", "at least one key is required (or an admin store whose consumers hold signature_key credentials)")
	}
	consumers := map[string]bool{}
	if env.Config != nil {
		for _, c := range env.Config.Consumers {
			consumers[c.Name] = true
		}
	}
	for i, kc := range cfg.Keys {
		k, err := compileSignatureKey(kc, consumers)
		if err != nil {
			return nil, at(fmt.Sprintf("keys[%d]", i), "%s", err.Error())
		}
		if _, dup := p.v.keys[k.ID]; dup {
			return nil, at(fmt.Sprintf("keys[%d].id", i), "key id %q is used twice", k.ID)
		}
		p.v.keys[k.ID] = k
	}
	// The store's signature_key credentials join the file's keys, bound
	// to the consumer that holds them. A key id in both would let the
	// file and the store disagree on which key verifies: an error.
	if env.Config != nil {
		fromStore := map[string]string{} // key id -> consumer
		for _, c := range env.Config.Consumers {
			for _, sk := range c.Credentials.SignatureKeys {
				k, err := NewSignatureKey(sk.ID, sk.Algorithm, sk.Secret, sk.PublicKey, c.Name)
				if err != nil {
					return nil, fmt.Errorf("signature key %q of consumer %q: %w", sk.ID, c.Name, err)
				}
				if other, dup := fromStore[k.ID]; dup {
					return nil, fmt.Errorf("signature key id %q is held by consumers %q and %q in the store", k.ID, other, c.Name)
				}
				if _, dup := p.v.keys[k.ID]; dup {
					return nil, at("keys", "key id %q is also the signature_key credential of consumer %q in the store: a key id is in one place", k.ID, c.Name)
				}
				fromStore[k.ID] = c.Name
				p.v.keys[k.ID] = k
			}
		}
	}
	if len(cfg.RequiredComponents) == 0 {
		return nil, at("required_components", `list what every signature must cover, e.g. ["@method", "@path", "@query"]`)
	}
	seen := map[string]bool{}
	for i, c := range cfg.RequiredComponents {
		if !validComponentName(c) {
			return nil, at(fmt.Sprintf("required_components[%d]", i), "%q is not a supported component (derived: @method, @target-uri, @authority, @scheme, @request-target, @path, @query; or a lower-case header name)", c)
		}
		if seen[c] {
			return nil, at(fmt.Sprintf("required_components[%d]", i), "%q is listed twice", c)
		}
		seen[c] = true
		p.v.required = append(p.v.required, c)
	}
	if cfg.RequireDigest && !seen["content-digest"] {
		return nil, at("require_digest", `needs "content-digest" in required_components: a digest the signature does not cover protects nothing`)
	}
	if cfg.ReplayProtection != nil && !*cfg.ReplayProtection {
		switch {
		case cfg.NonceRequired:
			return nil, at("replay_protection", "nonce_required needs replay protection: a nonce nobody remembers protects nothing")
		case cfg.Redis != nil:
			return nil, at("redis", "the redis block holds the replay store, and replay_protection is off")
		}
		return p, nil
	}
	if cfg.Redis != nil {
		if _, err := cfg.Redis.Options(); err != nil {
			return nil, err // each problem named below the policy (redis.address)
		}
	}
	st, err := compileReplayStore(cfg.Redis, env)
	if err != nil {
		return nil, err
	}
	p.replay = st
	return p, nil
}

func compileSignatureKey(kc signatureKeyConfig, consumers map[string]bool) (*SignatureKey, error) {
	if kc.ID == "" || len(kc.ID) > 256 {
		return nil, errors.New("id is required (at most 256 characters)")
	}
	if kc.Consumer != "" && !consumers[kc.Consumer] {
		return nil, fmt.Errorf("consumer %q is not defined in consumers", kc.Consumer)
	}
	var secret []byte
	if kc.Algorithm == AlgHMACSHA256 {
		switch kc.SecretEncoding {
		case "", "raw":
			secret = []byte(kc.Secret)
		case "base64":
			b, err := decodeBase64Any(kc.Secret)
			if err != nil {
				return nil, errors.New("secret is not valid base64") // never echo the secret
			}
			secret = b
		default:
			return nil, fmt.Errorf("secret_encoding must be raw or base64, not %q", kc.SecretEncoding)
		}
	} else if kc.Algorithm == AlgEd25519 && (kc.Secret != "" || kc.SecretEncoding != "") {
		return nil, errors.New("secret is for hmac-sha256 keys; an ed25519 key takes public_key")
	}
	return NewSignatureKey(kc.ID, kc.Algorithm, secret, kc.PublicKey, kc.Consumer)
}

// NewSignatureKey checks and builds one verification key: the rules for a
// key from the policy's config and for one from the store (the admin API
// checks a signature_key credential with it before storing it).
func NewSignatureKey(id, algorithm string, secret []byte, publicKey, consumer string) (*SignatureKey, error) {
	if id == "" || len(id) > 256 {
		return nil, errors.New("id is required (at most 256 characters)")
	}
	k := &SignatureKey{ID: id, Algorithm: algorithm, Consumer: consumer}
	switch algorithm {
	case AlgHMACSHA256:
		if publicKey != "" {
			return nil, errors.New("public_key is for ed25519 keys; an hmac-sha256 key takes secret")
		}
		if len(secret) < minHMACSecret {
			return nil, fmt.Errorf("secret must be at least %d bytes", minHMACSecret)
		}
		k.Secret = secret
	case AlgEd25519:
		if len(secret) != 0 {
			return nil, errors.New("secret is for hmac-sha256 keys; an ed25519 key takes public_key")
		}
		pub, err := parseEd25519PublicKey(publicKey)
		if err != nil {
			return nil, err
		}
		k.Public = pub
	default:
		return nil, fmt.Errorf("algorithm must be %s or %s, not %q", AlgHMACSHA256, AlgEd25519, algorithm)
	}
	return k, nil
}

// parseEd25519PublicKey reads a PEM PKIX public key or base64 raw 32 bytes.
func parseEd25519PublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("public_key is required for an ed25519 key")
	}
	if strings.HasPrefix(s, "-----BEGIN") {
		blk, _ := pem.Decode([]byte(s))
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, errors.New(`public_key: expected a PEM "PUBLIC KEY" block`)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public_key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public_key: a %T, not an Ed25519 key", k)
		}
		return pub, nil
	}
	b, err := decodeBase64Any(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("public_key: expected PEM or the 32-byte key in base64")
	}
	return ed25519.PublicKey(b), nil
}

// decodeBase64Any accepts standard or URL-safe base64, padded or not.
func decodeBase64Any(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func (p *signaturePolicy) Phase() pipeline.Phase { return pipeline.PhaseValidate }

func refuseSignature(reason string) *pipeline.Problem {
	return pipeline.NewProblem(http.StatusUnauthorized, problemBadSignature, reason)
}

// Handle verifies the signature first (cheap, and it means no body is
// buffered for an unauthenticated caller), then the digest against the
// body, then records the nonce: a tampered request does not burn the
// nonce of the genuine one.
func (p *signaturePolicy) Handle(c *pipeline.Context) *pipeline.Problem {
	r := c.Request
	key, in, reason := p.v.verify(r)
	if reason != "" {
		return refuseSignature(reason)
	}
	if key.Consumer != "" && c.Identity != nil && c.Identity.Consumer != key.Consumer {
		return refuseSignature(ReasonConsumerMismatch)
	}
	if prob := p.checkDigest(r); prob != nil {
		return prob
	}
	if p.replay == nil {
		return nil
	}
	// Threat: a captured request sent again within max_skew. The nonce
	// (or, without one, the signature value) is remembered as long as the
	// signature could still pass the clock check (signature_replay.go).
	now := p.v.now()
	exp := time.Unix(in.created, 0).Add(p.v.skew)
	if in.hasExpires {
		if e := time.Unix(in.expires, 0); e.Before(exp) {
			exp = e
		}
	}
	res, err := p.replay.record(r.Context(), replayKey(key.ID, in), exp, now)
	if err != nil {
		return pipeline.NewProblem(http.StatusServiceUnavailable, "The request could not be checked for replay; try again later.", ReasonReplayStoreDown)
	}
	switch res {
	case nonceReplayed:
		return refuseSignature(ReasonReplay)
	case nonceFull:
		return refuseSignature(ReasonReplayStoreFull)
	}
	return nil
}

// checkDigest verifies Content-Digest whenever it is present, and
// requires it for a request with a body when require_digest is set. The
// body is buffered (up to max_body) and put back for the upstream.
func (p *signaturePolicy) checkDigest(r *http.Request) *pipeline.Problem {
	cd := r.Header["Content-Digest"]
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	if len(cd) == 0 {
		if p.requireDigest && hasBody {
			return refuseSignature(ReasonDigestMissing)
		}
		return nil
	}
	var body []byte
	if hasBody {
		if r.ContentLength > p.maxBody {
			return pipeline.NewProblem(http.StatusRequestEntityTooLarge, problemTooLarge, ReasonBodyTooLarge)
		}
		b, err := io.ReadAll(io.LimitReader(r.Body, p.maxBody+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return pipeline.NewProblem(http.StatusRequestEntityTooLarge, problemTooLarge, ReasonBodyTooLarge)
			}
			return pipeline.NewProblem(http.StatusBadRequest, "The request body could not be read.", ReasonBodyUnreadable)
		}
		if int64(len(b)) > p.maxBody {
			return pipeline.NewProblem(http.StatusRequestEntityTooLarge, problemTooLarge, ReasonBodyTooLarge)
		}
		body = b
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		if len(b) == 0 {
			r.Body = http.NoBody
		}
	}
	if err := verifyContentDigest(joinFieldLines(cd), body); err != nil {
		return refuseSignature(ReasonDigestMismatch)
	}
	return nil
}
