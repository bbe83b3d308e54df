package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ijson"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// jwksConfig is a jwt method's "jwks" block: keys fetched from a JWKS URL,
// or from the jwks_uri of an OpenID Connect issuer's discovery document.
type jwksConfig struct {
	URL    string `yaml:"url,omitempty"`
	Issuer string `yaml:"issuer,omitempty"`
	// Refresh is the background refresh period (default 5m).
	Refresh config.Duration `yaml:"refresh,omitempty"`
	// Timeout bounds one whole fetch, discovery included (default 3s).
	Timeout config.Duration `yaml:"timeout,omitempty"`
	// MaxBytes bounds each response body (default 1MiB).
	MaxBytes config.Size `yaml:"max_bytes,omitempty"`
	// CAFile is a PEM bundle for the endpoint's certificate (default:
	// the system roots).
	CAFile string `yaml:"ca_file,omitempty"`
	// MinRefetchInterval is the least time between two fetches caused by
	// requests (an unknown kid, no keys yet): default 10s.
	MinRefetchInterval config.Duration `yaml:"min_refetch_interval,omitempty"`
	// ConsumerClaim names the claim whose value is the consumer's name;
	// Consumer is a fixed consumer instead. Exactly one is required.
	ConsumerClaim string `yaml:"consumer_claim,omitempty"`
	Consumer      string `yaml:"consumer,omitempty"`
}

const (
	defaultJWKSRefresh    = 5 * time.Minute
	defaultJWKSTimeout    = 3 * time.Second
	defaultJWKSMaxBytes   = 1 << 20
	defaultJWKSMinRefetch = 10 * time.Second
)

// jwksSource fetches and caches one JWKS. It lives in the gateway's
// long-lived state (one per distinct jwks config), so reloads keep its keys.
//
// Fetching: a background goroutine fetches at start and every refresh
// period; it stops on Close, or by itself when no request has used the
// source for idleAfter (a reload that drops the route leaves nothing
// running) and starts again on the next use. Requests that find no usable
// keys, or an unknown kid, trigger a fetch at most once per
// minRefetch; concurrent triggers share one fetch. A fetch that fails
// keeps the last good keys until staleAfter; after that, and before the
// first success, tokens are refused (fail closed).
type jwksSource struct {
	name        string // the URL or issuer without query, for logs
	url, issuer string
	refresh     time.Duration
	timeout     time.Duration
	minRefetch  time.Duration
	staleAfter  time.Duration
	idleAfter   time.Duration
	maxBytes    int64
	client      *http.Client
	log         *slog.Logger
	now         func() time.Time

	keys     atomic.Pointer[jwksKeys]
	lastUsed atomic.Int64 // unix nanoseconds
	running  atomic.Bool

	stopCtx context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu          sync.Mutex
	inflight    chan struct{} // closed when the running fetch ends
	lastAttempt time.Time
	closed      bool
	fetches     int // completed fetch attempts (tests)
}

// jwksKeys is one successfully fetched key set.
type jwksKeys struct {
	set     *jwkSet
	fetched time.Time
}

// jwksSourceFor returns the shared source for a config, creating it once.
func jwksSourceFor(state *pipeline.SharedValues, c *jwksConfig) (*jwksSource, error) {
	var caSum string
	var pool *x509.CertPool
	if c.CAFile != "" {
		bundle, err := tlspolicy.ReadCAFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool = bundle.Pool()
		s := sha256.Sum256(bundle.PEM)
		caSum = hex.EncodeToString(s[:])
	}
	key := strings.Join([]string{"auth.jwt.jwks", c.URL, c.Issuer, c.Refresh.D().String(), c.Timeout.D().String(),
		fmt.Sprint(c.MaxBytes), caSum, c.MinRefetchInterval.D().String()}, "|")
	v, err := state.Get(key, func() (any, error) { return newJWKSSource(c, pool), nil })
	if err != nil {
		return nil, err
	}
	return v.(*jwksSource), nil
}

func newJWKSSource(c *jwksConfig, pool *x509.CertPool) *jwksSource {
	s := &jwksSource{
		url:        c.URL,
		issuer:     c.Issuer,
		refresh:    c.Refresh.Or(defaultJWKSRefresh),
		timeout:    c.Timeout.Or(defaultJWKSTimeout),
		minRefetch: c.MinRefetchInterval.Or(defaultJWKSMinRefetch),
		maxBytes:   c.MaxBytes.Or(defaultJWKSMaxBytes),
		log:        slog.Default(),
		now:        time.Now,
	}
	s.name = logURL(c.URL)
	if c.Issuer != "" {
		s.name = logURL(c.Issuer)
	}
	s.staleAfter = 3*s.refresh + s.timeout
	s.idleAfter = 10 * s.refresh
	tr := &http.Transport{
		Proxy:                 nil, // keys come from the configured URL, never through an environment proxy
		DialContext:           (&net.Dialer{Timeout: s.timeout}).DialContext,
		TLSClientConfig:       tlspolicy.Client(pool),
		TLSHandshakeTimeout:   s.timeout,
		ResponseHeaderTimeout: s.timeout,
		MaxIdleConns:          2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	s.client = &http.Client{
		Transport: tr,
		Timeout:   s.timeout,
		// A redirect could lead anywhere; the key set comes from the
		// configured URL or nowhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	return s
}

// validateJWKSConfig checks the block at compile time.
func validateJWKSConfig(c *jwksConfig) error {
	switch {
	case (c.URL == "") == (c.Issuer == ""):
		return errors.New("jwks: set exactly one of url (a JWKS URL) and issuer (OIDC discovery)")
	case (c.ConsumerClaim == "") == (c.Consumer == ""):
		return errors.New("jwks: set exactly one of consumer_claim (the claim naming the consumer, e.g. sub) and consumer (a fixed consumer)")
	case c.Refresh != 0 && c.Refresh.D() < time.Second:
		return errors.New("jwks.refresh: must be at least 1s")
	case c.Timeout.D() > time.Minute:
		return errors.New("jwks.timeout: must be at most 1m")
	case c.MaxBytes < 0 || c.MaxBytes > 16<<20:
		return errors.New("jwks.max_bytes: must be at most 16MiB")
	case c.MinRefetchInterval != 0 && c.MinRefetchInterval.D() < 100*time.Millisecond:
		return errors.New("jwks.min_refetch_interval: must be at least 100ms")
	}
	for field, u := range map[string]string{"url": c.URL, "issuer": c.Issuer} {
		if u == "" {
			continue
		}
		if err := checkFetchURL(u); err != nil {
			return fmt.Errorf("jwks.%s: %w", field, err)
		}
	}
	return nil
}

// checkFetchURL allows https, and plain http to loopback only (a key set
// fetched in clear text over a network could be replaced on the way).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	if u.User != nil || u.Fragment != "" {
		return errors.New("must not contain user information or a fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if tlspolicy.Loopback(u.Hostname()) {
			return nil
		}
		return errors.New("must use https (plain http is allowed to loopback addresses only)")
	}
	return errors.New("must be an https URL")
}

// logURL is a URL without its query, for logs.
func logURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// lookup returns the keys with this kid, or a failure reason: unknown key,
// or jwks unavailable when no usable key set could be had.
func (s *jwksSource) lookup(ctx context.Context, kid string) ([]*verifyKey, string) {
	s.touch()
	if ks := s.current(); ks != nil {
		if keys := ks.set.byKid[kid]; len(keys) > 0 {
			return keys, ""
		}
	}
	s.fetch(ctx, false)
	ks := s.current()
	if ks == nil {
		return nil, reasonJWKSUnavailable
	}
	if keys := ks.set.byKid[kid]; len(keys) > 0 {
		return keys, ""
	}
	return nil, reasonUnknownKey
}

// cached returns the keys with this kid from the current set, without
// fetching (the token cache's check that the key is still published).
func (s *jwksSource) cached(kid string) []*verifyKey {
	s.touch()
	if ks := s.current(); ks != nil {
		return ks.set.byKid[kid]
	}
	return nil
}

// current is the key set if it is not stale.
func (s *jwksSource) current() *jwksKeys {
	ks := s.keys.Load()
	if ks == nil || s.now().Sub(ks.fetched) > s.staleAfter {
		return nil
	}
	return ks
}

// touch records a use and starts the refresh goroutine if it is not running.
func (s *jwksSource) touch() {
	s.lastUsed.Store(s.now().UnixNano())
	if s.running.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.running.Load() {
		return
	}
	s.running.Store(true)
	s.wg.Add(1)
	go s.loop()
}

func (s *jwksSource) loop() {
	defer s.wg.Done()
	s.fetch(s.stopCtx, true)
	t := time.NewTicker(s.refresh)
	defer t.Stop()
	for {
		select {
		case <-s.stopCtx.Done():
			return
		case <-t.C:
		}
		if s.now().Sub(time.Unix(0, s.lastUsed.Load())) > s.idleAfter {
			s.mu.Lock()
			s.running.Store(false)
			s.mu.Unlock()
			return
		}
		s.fetch(s.stopCtx, true)
	}
}

// fetch fetches the key set unless one fetch is running (then it waits for
// that one, or for wait to end) or, when not forced, one was attempted
// less than minRefetch ago.
func (s *jwksSource) fetch(wait context.Context, force bool) {
	s.mu.Lock()
	if ch := s.inflight; ch != nil {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-wait.Done():
		}
		return
	}
	now := s.now()
	if s.closed || (!force && !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minRefetch) {
		s.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	s.inflight, s.lastAttempt = ch, now
	s.mu.Unlock()

	n, skipped, err := s.fetchOnce()

	s.mu.Lock()
	s.inflight = nil
	s.fetches++
	s.mu.Unlock()
	close(ch)
	if err != nil {
		s.log.Warn("jwks fetch failed; tokens needing these keys are refused until a fetch succeeds or while the last good keys are not stale",
			"jwks", s.name, "error", err.Error())
		return
	}
	s.log.Debug("jwks fetched", "jwks", s.name, "keys", n, "skipped", skipped)
}

// fetchOnce does one fetch (discovery first when configured) and installs
// the keys. Its errors never carry a URL's query.
func (s *jwksSource) fetchOnce() (keys, skipped int, err error) {
	ctx, cancel := context.WithTimeout(s.stopCtx, s.timeout)
	defer cancel()
	u := s.url
	if s.issuer != "" {
		if u, err = s.discover(ctx); err != nil {
			return 0, 0, err
		}
	}
	body, err := s.get(ctx, u)
	if err != nil {
		return 0, 0, err
	}
	set, err := parseJWKS(body)
	if err != nil {
		return 0, 0, err
	}
	for _, ks := range set.byKid {
		keys += len(ks)
	}
	if keys == 0 {
		return 0, set.skipped, fmt.Errorf("no usable signature key in the set (%d skipped)", set.skipped)
	}
	s.keys.Store(&jwksKeys{set: set, fetched: s.now()})
	return keys, set.skipped, nil
}

// discover reads the issuer's OpenID Connect discovery document and
// returns its jwks_uri, after checking that it names the same issuer.
func (s *jwksSource) discover(ctx context.Context) (string, error) {
	body, err := s.get(ctx, strings.TrimSuffix(s.issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	// One I-JSON text (RFC 7493), members by exact name: the issuer and
	// jwks_uri read here are the ones every other party reads.
	if err := ijson.Check(body); err != nil {
		return "", errors.New("discovery: invalid JSON document: " + ijson.LogReason(err))
	}
	if err := jsonv2.Unmarshal(body, &doc); err != nil {
		return "", errors.New("discovery: invalid JSON document")
	}
	if doc.Issuer != s.issuer {
		return "", errors.New("discovery: the document names another issuer")
	}
	if err := checkFetchURL(doc.JWKSURI); err != nil {
		return "", fmt.Errorf("discovery: jwks_uri %w", err)
	}
	return doc.JWKSURI, nil
}

// get reads one response body: status 200, no redirect, at most maxBytes.
func (s *jwksSource) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, errors.New("invalid URL")
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, fmt.Errorf("status %d: redirects are not followed", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the response: %w", err)
	}
	if int64(len(body)) > s.maxBytes {
		return nil, fmt.Errorf("response larger than max_bytes (%d)", s.maxBytes)
	}
	return body, nil
}

// Close stops the refresh goroutine and waits for it; the gateway calls it
// at shutdown on every long-lived state value.
func (s *jwksSource) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	s.client.CloseIdleConnections()
}
