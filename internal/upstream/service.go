package upstream

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
)

// Service is a compiled config.Service: its targets and their balancer.
// It is immutable and safe for concurrent use.
type Service struct {
	name     string
	targets  []*Target
	bal      balancer
	onHeader bool
	// hashClient: consistent_hash on the client address.
	hashClient bool
	header     string
	retry      *retryPolicy // nil: one try
	budget     *retryBudget // with retry
}

// Target is one upstream address of a Service.
type Target struct {
	p      *pool
	weight int
}

// Service compiles cfg, reusing the registry's pools for targets whose
// connection settings did not change.
func (r *Registry) Service(cfg config.Service) (*Service, error) {
	if cfg.Name == "" {
		return nil, errors.New("upstream: service without a name")
	}
	s, err := r.compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("upstream: service %q: %w", cfg.Name, err)
	}
	return s, nil
}

func (r *Registry) compile(cfg config.Service) (*Service, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("no targets")
	}
	settings, err := settingsOf(cfg)
	if err != nil {
		return nil, err
	}
	s := &Service{name: cfg.Name}
	for i, tc := range cfg.Targets {
		tu, err := parseTarget(tc.URL)
		if err != nil {
			return nil, fmt.Errorf("target %d: %w", i+1, err)
		}
		w := tc.Weight
		switch {
		case w < 0:
			return nil, fmt.Errorf("target %d: weight must not be negative", i+1)
		case w == 0:
			w = 1
		}
		p, err := r.pool(tu, settings)
		if err != nil {
			return nil, fmt.Errorf("target %d: %w", i+1, err)
		}
		p.addService(cfg.Name)
		s.targets = append(s.targets, &Target{p: p, weight: w})
	}

	lb := cfg.LoadBalancing
	switch lb.Algorithm {
	case "", "round_robin":
		s.bal = newRoundRobin(s.targets)
	case "least_connections":
		s.bal = &leastConn{targets: s.targets}
	case "consistent_hash":
		s.bal = newHashRing(s.targets)
		switch lb.HashOn {
		case "", "client_address":
			s.hashClient = true
		case "header":
			if lb.HashHeader == "" {
				return nil, errors.New("load_balancing.hash_header is required when hash_on is header")
			}
			s.onHeader, s.header = true, textproto.CanonicalMIMEHeaderKey(lb.HashHeader)
		default:
			return nil, fmt.Errorf("load_balancing.hash_on %q: want client_address or header", lb.HashOn)
		}
	default:
		return nil, fmt.Errorf("load_balancing.algorithm %q: want round_robin, least_connections or consistent_hash", lb.Algorithm)
	}
	if cfg.Retries != nil {
		rp, err := retryPolicyOf(cfg.Retries)
		if err != nil {
			return nil, err
		}
		s.retry, s.budget = rp, r.budgetFor(cfg.Name)
	}
	return s, nil
}

// Name returns the service name.
func (s *Service) Name() string { return s.name }

// Targets returns the service's targets in configuration order.
func (s *Service) Targets() []*Target { return s.targets }

// HashOn tells what the gateway must pass to Pick as hashKey: the value of
// header when onHeader, else the client address. Other algorithms ignore it.
func (s *Service) HashOn() (onHeader bool, header string) { return s.onHeader, s.header }

// HashKeySource is what feeds a consistent_hash service's ring: the
// header named (canonical) when header is set, else the client address
// when client is; neither for the other algorithms. The gateway reads the
// route's hash key from here, not from the config a second time.
func (s *Service) HashKeySource() (client bool, header string) {
	if s.onHeader {
		return false, s.header
	}
	return s.hashClient, ""
}

// Pick chooses a target, skipping those that are unhealthy, ejected or
// whose breaker is open. hashKey feeds consistent_hash ("" falls back to
// round robin). It counts the request as in flight on the target: the
// caller must call Target.Release once. Forward, which also reports the
// outcome to passive health and the breaker, is what the gateway uses.
func (s *Service) Pick(hashKey string) (*Target, error) {
	t, _, err := s.pick(hashKey, nil)
	return t, err
}

// pick is Pick avoiding the targets in avoid while another is available,
// and taking a breaker trial permit when the target is half-open (trial).
func (s *Service) pick(hashKey string, avoid []*Target) (t *Target, trial bool, err error) {
	var fallback *Target
	for range len(s.targets) + 1 {
		t = s.bal.pick(hashKey)
		if t == nil {
			break
		}
		if slices.Contains(avoid, t) {
			fallback = t
			continue
		}
		if trial, ok := t.acquire(); ok {
			t.p.inflight.Add(1)
			return t, trial, nil
		}
	}
	if fallback != nil && fallback.p.available() {
		if trial, ok := fallback.acquire(); ok {
			fallback.p.inflight.Add(1)
			return fallback, trial, nil
		}
	}
	return nil, false, ErrNoHealthyTarget
}

// acquire takes a breaker trial permit when the target's breaker needs one.
func (t *Target) acquire() (trial, ok bool) {
	if t.p.br == nil {
		return false, true
	}
	return t.p.br.acquire()
}

// Scheme returns "http" or "https".
func (t *Target) Scheme() string { return t.p.scheme }

// Host returns the target's authority as configured (host or host:port),
// for URL.Host and for the Host header when the route does not preserve it.
func (t *Target) Host() string { return t.p.host }

// String returns scheme://host, for logs.
func (t *Target) String() string { return t.p.scheme + "://" + t.p.host }

// Weight returns the target's balancing weight.
func (t *Target) Weight() int { return t.weight }

// InFlight returns the requests currently picked and not released on the
// target, across every service that shares its pool.
func (t *Target) InFlight() int64 { return t.p.inflight.Load() }

// Available reports whether passive health currently lets Pick choose it.
func (t *Target) Available() bool { return t.p.available() }

// Conns returns the target pool's open connections (dialing, busy and
// idle) and its idle ones, for metrics.
func (t *Target) Conns() (open, idle int) {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	return t.p.open, len(t.p.idle)
}

// Retries returns how many retries the service has sent since the process
// started (kept across reloads with the retry budget; 0 without retries).
func (s *Service) Retries() uint64 {
	if s.budget == nil {
		return 0
	}
	return s.budget.total.Load()
}

// Release ends the in-flight count that Pick started.
func (t *Target) Release() { t.p.inflight.Add(-1) }

// RoundTrip sends req to the target and returns the response, whose body
// streams. req.URL holds this target's scheme and host, req.Host the Host
// header to send and req.Header exactly the headers to send (hop-by-hop
// headers already removed). Reading the body to EOF or closing it ends the
// exchange. Cancelling req's context aborts it. A 101 response's Body is an
// io.ReadWriteCloser over the raw connection. For https targets an absent
// User-Agent is set to an empty entry in req.Header, so that
// http.Transport adds none.
func (t *Target) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.p.tr != nil {
		return t.p.roundTripTLS(req)
	}
	return t.p.roundTripHTTP(req)
}
