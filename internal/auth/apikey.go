package auth

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// The api_key method: a key from a header, from "Authorization: ApiKey
// <key>" or (when turned on) from the query string, checked for its
// checksum, then looked up by its SHA-256 digest among the consumers'
// api_keys. Keys are never stored, logged or forwarded (unless
// forward_key says so); only their ids are.

func init() { RegisterMethod("api_key", compileAPIKey) }

// apiKeyConfig is the method's config.
type apiKeyConfig struct {
	// Header carries the key (default X-API-Key; "" turns it off).
	Header *string `yaml:"header,omitempty"`
	// AuthorizationScheme reads "Authorization: <scheme> <key>" (default
	// ApiKey; "" turns it off).
	AuthorizationScheme *string `yaml:"authorization_scheme,omitempty"`
	// Query names a query parameter that carries the key; off by default,
	// because URLs end up in logs, browser history and Referer headers.
	Query string `yaml:"query,omitempty"`
	// LegacyKeys accepts keys without a Portcullis checksum (keys migrated
	// from another system with `portcullis keys hash`).
	LegacyKeys bool `yaml:"legacy_keys,omitempty"`
	// ForwardKey sends the key on to the upstream; by default the gateway
	// removes it, and the upstream gets the identity headers instead.
	ForwardKey bool `yaml:"forward_key,omitempty"`
}

// Reasons of the api_key method (metrics labels: a fixed set).
const (
	keyReasonMalformed  = "malformed key"
	keyReasonMultiple   = "multiple keys"
	keyReasonUnknown    = "unknown key"
	keyReasonExpired    = "expired key"
	keyReasonRotatedOut = "rotated-out key"
)

// minLegacyKeyLen refuses legacy keys too short to have real entropy: an
// unsalted digest of a guessable key could be reversed.
const minLegacyKeyLen = 20

// apiKeyMethod is the compiled method of one route.
type apiKeyMethod struct {
	header    string // canonical, "" when off
	scheme    string // "" when off
	query     string // "" when off
	legacy    bool
	forward   bool
	challenge string
	index     *keyIndex
	consumers *Consumers
	now       func() time.Time // for tests; nil means the request's start
}

// keyIndex maps key digests to credentials; built once per snapshot.
type keyIndex struct {
	byDigest map[apikey.Digest]*keyEntry
	err      error       // every credential error, reported once
	reported atomic.Bool // whether a method compiler returned err
}

type keyEntry struct {
	digest   apikey.Digest
	id       string
	consumer string
	expires  time.Time // zero: never
	notAfter time.Time // zero: no rotation deadline
	usage    *keyCounter
}

func compileAPIKey(d pipeline.Decoder, env Env) (Method, error) {
	var cfg apiKeyConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	m := &apiKeyMethod{header: "X-Api-Key", scheme: "ApiKey", query: cfg.Query, legacy: cfg.LegacyKeys, forward: cfg.ForwardKey, consumers: env.Consumers}
	if cfg.Header != nil {
		m.header = *cfg.Header
	}
	if m.header != "" {
		if !httpguts.ValidHeaderFieldName(m.header) {
			return nil, fmt.Errorf("header: %q is not a valid header name", m.header)
		}
		m.header = textproto.CanonicalMIMEHeaderKey(m.header)
		if m.header == "Authorization" || m.header == "Cookie" {
			return nil, fmt.Errorf("header: use authorization_scheme to read the key from %s", m.header)
		}
	}
	if cfg.AuthorizationScheme != nil {
		m.scheme = *cfg.AuthorizationScheme
	}
	if m.scheme != "" && !httpguts.ValidHeaderFieldName(m.scheme) { // a scheme is a token, like a header name
		return nil, fmt.Errorf("authorization_scheme: %q is not a valid scheme name", m.scheme)
	}
	if strings.EqualFold(m.scheme, "Basic") || strings.EqualFold(m.scheme, "Bearer") {
		return nil, fmt.Errorf("authorization_scheme: %q belongs to another method", m.scheme)
	}
	if m.query != "" && !validKeyQueryName(m.query) {
		return nil, fmt.Errorf("query: %q is not a plain parameter name (letters, digits, '-', '_', '.')", m.query)
	}
	if m.header == "" && m.scheme == "" && m.query == "" {
		return nil, errors.New("header, authorization_scheme and query are all off: the method could never read a key")
	}
	m.challenge = `ApiKey realm="portcullis"`
	if m.scheme != "" {
		m.challenge = m.scheme + ` realm="portcullis"`
	}

	usage, err := keyUsageStoreOf(env.State)
	if err != nil {
		return nil, err
	}
	v, err := env.Snapshot.Get("auth.api_key.index", func() (any, error) {
		return buildKeyIndex(env.Config, env.Consumers.Configs(), usage), nil
	})
	if err != nil {
		return nil, err
	}
	m.index = v.(*keyIndex)
	if m.index.err != nil && !m.index.reported.Swap(true) {
		return nil, m.index.err
	}
	return m, nil
}

// buildKeyIndex indexes every consumer's api_keys. Bad entries are left
// out and every problem is kept, to be reported by one route only.
func buildKeyIndex(cfg *config.Config, consumers []config.Consumer, usage *keyUsageStore) *keyIndex {
	idx := &keyIndex{byDigest: map[apikey.Digest]*keyEntry{}}
	var errs config.Errors // every problem, so that one run lists them all
	fail := func(path, msg string) {
		errs = append(errs, cfg.ErrorAtPath(path, msg))
	}
	ids := map[string]bool{}
	for i, c := range consumers {
		for j, k := range c.Credentials.APIKeys {
			path := fmt.Sprintf("consumers[%d].credentials.api_keys[%d]", i, j)
			if k.ID == "" {
				fail(path+".id", "an API key needs an id (it names the key in logs and usage)")
				continue
			}
			if ids[k.ID] {
				fail(path+".id", fmt.Sprintf("key id %q is used twice", k.ID))
				continue
			}
			ids[k.ID] = true
			d, err := apikey.ParseDigest(k.Hash)
			if err != nil {
				fail(path+".hash", err.Error()+` (print one with "portcullis keys generate" or "portcullis keys hash")`)
				continue
			}
			if _, dup := idx.byDigest[d]; dup {
				fail(path+".hash", "the same key is configured twice")
				continue
			}
			e := &keyEntry{digest: d, id: k.ID, consumer: c.Name}
			if e.expires, err = parseKeyTime(k.ExpiresAt); err != nil {
				fail(path+".expires_at", err.Error())
				continue
			}
			if e.notAfter, err = parseKeyTime(k.NotAfter); err != nil {
				fail(path+".not_after", err.Error())
				continue
			}
			e.usage = usage.counter(k.ID, c.Name)
			idx.byDigest[d] = e
		}
	}
	idx.err = errs.Err()
	return idx
}

func parseKeyTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errors.New("expected an RFC 3339 time such as 2026-12-31T23:59:59Z")
	}
	return t, nil
}

func (m *apiKeyMethod) Name() string      { return "api_key" }
func (m *apiKeyMethod) Challenge() string { return m.challenge }

// Authenticate reads the key, rejects a malformed one without a lookup,
// finds the credential by digest and enforces its deadlines.
func (m *apiKeyMethod) Authenticate(c *pipeline.Context) (*pipeline.Identity, error) {
	key, err := m.read(c.Request)
	if err != nil {
		return nil, err
	}
	if len(key) > apikey.MaxLen {
		return nil, m.fail(keyReasonMalformed)
	}
	if err := apikey.Check(key); err != nil {
		if !m.legacy || !errors.Is(err, apikey.ErrFormat) || len(key) < minLegacyKeyLen {
			return nil, m.fail(keyReasonMalformed)
		}
	}
	d := apikey.Hash(key)
	e := m.index.byDigest[d]
	// The map lookup already matched the digest; comparing again in
	// constant time keeps the final decision free of early exits.
	if e == nil || subtle.ConstantTimeCompare(e.digest[:], d[:]) != 1 {
		return nil, m.fail(keyReasonUnknown)
	}
	now := c.Start
	if m.now != nil {
		now = m.now()
	} else if now.IsZero() {
		now = time.Now()
	}
	if !e.expires.IsZero() && !now.Before(e.expires) {
		e.usage.refuse(now, c.ClientAddr)
		return nil, m.fail(keyReasonExpired)
	}
	if !e.notAfter.IsZero() && !now.Before(e.notAfter) {
		e.usage.refuse(now, c.ClientAddr)
		return nil, m.fail(keyReasonRotatedOut)
	}
	id := m.consumers.Identity(e.consumer, e.id, "api_key")
	if id == nil {
		return nil, m.fail(keyReasonUnknown)
	}
	e.usage.use(now, c.ClientAddr)
	return id, nil
}

// credentials: the key's header, Authorization scheme and query
// parameter (those turned on); the policy strips them (credentials.go).
func (m *apiKeyMethod) credentials() ([]credentialLocation, bool) {
	var locs []credentialLocation
	if m.header != "" {
		locs = append(locs, credentialLocation{header: m.header})
	}
	if m.scheme != "" {
		locs = append(locs, credentialLocation{header: "Authorization", scheme: m.scheme})
	}
	if m.query != "" {
		locs = append(locs, credentialLocation{query: m.query})
	}
	return locs, m.forward
}

func (m *apiKeyMethod) fail(reason string) *Failure {
	return &Failure{Reason: reason, Challenge: m.challenge}
}
