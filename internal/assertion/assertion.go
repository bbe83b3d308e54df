package assertion

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/verify"
)

// Set is the signing side of one configuration snapshot: the issuer, the
// keys (the first signs) and the keyring that outlives snapshots.
type Set struct {
	issuer string
	keys   []*Key
	signer jose.Signer
	ring   *Keyring
}

// Compile loads the configured keys and builds an Asserter per service
// that asks for one (by service name). ring keeps retired keys published
// across reloads (nil: none). Errors carry the config path of the field.
func Compile(cfg *config.Config, ring *Keyring) (*Set, map[string]*Asserter, config.Errors) {
	ia := cfg.IdentityAssertion
	if ia == nil {
		return nil, nil, nil
	}
	var errs config.Errors
	set := &Set{issuer: ia.Issuer, ring: ring}
	if set.issuer == "" {
		set.issuer = verify.DefaultIssuer
	}
	for i, kc := range ia.Keys {
		k, err := LoadKey(kc.ID, kc.PrivateKeyFile)
		if err != nil {
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("identity_assertion.keys[%d].private_key_file", i), err.Error()))
			continue
		}
		set.keys = append(set.keys, k)
	}
	if len(errs) > 0 || len(set.keys) == 0 {
		if len(errs) == 0 {
			errs = append(errs, cfg.ErrorAtPath("identity_assertion.keys", "at least one key is required"))
		}
		return nil, nil, errs
	}
	var err error
	if set.signer, err = set.keys[0].newSigner(); err != nil {
		return nil, nil, config.Errors{cfg.ErrorAtPath("identity_assertion.keys[0]", err.Error())}
	}
	out := map[string]*Asserter{}
	hold := time.Minute
	for _, sc := range cfg.Services {
		a := sc.IdentityAssertion
		if a == nil {
			continue
		}
		as := &Asserter{
			set:      set,
			audience: sc.Name,
			header:   textproto.CanonicalMIMEHeaderKey(orDefault(a.Header, verify.DefaultHeader)),
			ttl:      a.TTL.Or(config.DefaultAssertionTTL),
			bind:     a.BindRequest,
			cache:    newCache(),
		}
		if gs := a.GatewaySignature; gs != nil {
			as.sigHeader = textproto.CanonicalMIMEHeaderKey(orDefault(gs.Header, verify.DefaultSignatureHeader))
			as.signer = verify.NewGatewaySigner([]byte(gs.Secret))
		}
		hold = max(hold, as.ttl+time.Minute)
		out[sc.Name] = as
	}
	if ring != nil {
		ring.update(set.keys, hold)
	}
	return set, out, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// JWKS returns the key set to publish: this snapshot's keys and the
// retired ones still held. A nil Set publishes nothing.
func (s *Set) JWKS() ([]byte, error) {
	if s == nil {
		return nil, errors.New("no identity_assertion configured")
	}
	return s.ring.jwks(s.keys)
}

// Asserter adds the assertion (and the gateway signature) to the
// requests toward one service.
type Asserter struct {
	set       *Set
	audience  string
	header    string
	ttl       time.Duration
	bind      bool
	sigHeader string // "" without a gateway signature
	signer    *verify.GatewaySigner
	cache     *cache // reusable assertions (cache.go)
}

// Headers names the headers the asserter sets, which the gateway owns.
func (a *Asserter) Headers() []string {
	if a.sigHeader != "" {
		return []string{a.header, a.sigHeader}
	}
	return []string{a.header}
}

// Apply sets the assertion header on h, the headers of the request going
// to the service, for the request c whose method and path (with query)
// toward the service are given.
func (a *Asserter) Apply(h http.Header, c *pipeline.Context, method, pathQuery string) error {
	now := c.Start
	if now.IsZero() {
		now = time.Now()
	}
	if a.bind {
		tok, err := a.sign(c, now, method, pathQuery)
		if err != nil {
			return err
		}
		h[a.header] = []string{tok}
	} else {
		hdr, err := a.cached(c, now)
		if err != nil {
			return err
		}
		// Shared by every request that reuses the assertion: header
		// values are never modified in place once the policies have run.
		h[a.header] = hdr
	}
	if a.sigHeader != "" {
		h[a.sigHeader] = []string{a.signer.Sign(now, method, pathQuery, c.RequestID)}
	}
	return nil
}

// sign issues a new assertion for c.
func (a *Asserter) sign(c *pipeline.Context, now time.Time, method, pathQuery string) (string, error) {
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	cl := verify.Claims{
		Issuer:   a.set.issuer,
		Audience: a.audience,
		IssuedAt: now.Unix(),
		Expiry:   now.Add(a.ttl).Unix(),
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
		Route:    c.Route,
	}
	if id := c.Identity; id != nil {
		cl.Subject = id.Consumer
		cl.Groups = id.Groups
		cl.Scope = strings.Join(id.Scopes, " ")
		cl.AuthMethod = id.Method
	}
	if a.bind {
		cl.RequestID, cl.Method, cl.Path = c.RequestID, method, pathQuery
	}
	tok, err := jwt.Signed(a.set.signer).Claims(cl).Serialize()
	if err != nil {
		return "", fmt.Errorf("signing the identity assertion: %w", err)
	}
	return tok, nil
}
