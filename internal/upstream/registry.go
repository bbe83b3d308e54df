package upstream

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/clienttls"
	"github.com/portcullis/portcullis/internal/config"
)

// Defaults for config.Service fields left zero.
const (
	defaultConnectTimeout  = 5 * time.Second
	defaultResponseTimeout = 60 * time.Second
	defaultIdleTimeout     = 90 * time.Second
	defaultMaxIdle         = 128
	tcpKeepAlive           = 30 * time.Second
	defaultReapEvery       = time.Second
	defaultEjectFor        = 5 * time.Second
)

// Registry keeps connection pools that outlive config snapshots, keyed by
// target URL and the settings that affect connections, so a reload that
// keeps a target keeps its idle keep-alive connections and its health.
// Pools no longer referenced by the newest snapshot are closed by Prune.
type Registry struct {
	ejectFor time.Duration

	mu      sync.Mutex
	pools   map[string]*pool
	budgets map[string]*retryBudget // by service name
	// materials are the TLS client settings of https targets, by
	// materialKey, reloaded from disk by the reaper loop (tls.go).
	materials map[string]*clienttls.Material
	log       logRef // SetLogger; shared with the pools for their events
	closed    bool
	stop      chan struct{}
	wg        sync.WaitGroup
}

// NewRegistry returns an empty registry with its idle-connection reaper
// running; Close stops it.
func NewRegistry() *Registry { return newRegistry(defaultReapEvery, defaultEjectFor) }

func newRegistry(reapEvery, ejectFor time.Duration) *Registry {
	r := &Registry{ejectFor: ejectFor, pools: make(map[string]*pool), budgets: make(map[string]*retryBudget),
		materials: make(map[string]*clienttls.Material), stop: make(chan struct{})}
	r.wg.Add(1)
	go r.reapLoop(reapEvery)
	return r
}

// reapLoop closes expired idle connections, so an idle gateway does not
// hold connections the upstream has long forgotten.
func (r *Registry) reapLoop(every time.Duration) {
	defer r.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.mu.Lock()
			ps := make([]*pool, 0, len(r.pools))
			for _, p := range r.pools {
				if p.tr == nil { // http.Transport reaps its own
					ps = append(ps, p)
				}
			}
			r.mu.Unlock()
			for _, p := range ps {
				p.reap(now)
			}
			r.refreshTLS()
		}
	}
}

// Prune closes the pools that none of keep uses. Requests in flight on a
// pruned pool finish normally; their connections are closed afterwards.
func (r *Registry) Prune(keep []*Service) {
	used := make(map[*pool]bool)
	names := make(map[string]bool)
	for _, s := range keep {
		if s == nil {
			continue
		}
		names[s.name] = true
		for _, t := range s.targets {
			used[t.p] = true
		}
	}
	var drop []*pool
	r.mu.Lock()
	for k, p := range r.pools {
		if !used[p] {
			drop = append(drop, p)
			delete(r.pools, k)
		}
	}
	for name := range r.budgets {
		if !names[name] {
			delete(r.budgets, name)
		}
	}
	usedTLS := make(map[*clienttls.Material]bool)
	for _, p := range r.pools {
		usedTLS[p.tlsm] = true
	}
	for k, m := range r.materials {
		if !usedTLS[m] {
			delete(r.materials, k)
		}
	}
	r.mu.Unlock()
	for _, p := range drop {
		p.close()
	}
}

// Close closes every pool and stops the reaper. Services compiled earlier
// keep working without keep-alive.
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	ps := r.pools
	r.pools = make(map[string]*pool)
	r.mu.Unlock()
	close(r.stop)
	r.wg.Wait()
	for _, p := range ps {
		p.close()
	}
}

// poolSettings are the service settings that shape a target's connections.
type poolSettings struct {
	connect, response, idle time.Duration
	maxIdle, maxConns       int
	tls                     *config.ClientTLS // nil: system roots, no client certificate
	// Resilience settings (health.go); nil when not configured.
	health  *healthSettings
	passive *passiveSettings
	breaker *breakerSettings
	resKey  string
}

func settingsOf(cfg config.Service) (poolSettings, error) {
	s := poolSettings{
		connect:  cfg.Timeouts.Connect.Or(defaultConnectTimeout),
		response: cfg.Timeouts.Response.Or(defaultResponseTimeout),
		idle:     cfg.Timeouts.Idle.Or(defaultIdleTimeout),
		maxIdle:  cfg.MaxIdleConnsPerTarget,
		maxConns: cfg.MaxConnsPerTarget,
	}
	if s.maxIdle == 0 {
		s.maxIdle = defaultMaxIdle
	}
	if s.connect < 0 || s.response < 0 || s.idle < 0 {
		return s, errors.New("timeouts must not be negative")
	}
	if s.maxIdle < 0 || s.maxConns < 0 {
		return s, errors.New("max_idle_conns_per_target and max_conns_per_target must not be negative")
	}
	if err := resilienceOf(cfg, &s); err != nil {
		return s, err
	}
	s.tls = cfg.TLS
	return s, nil
}

// targetURL is a parsed target address.
type targetURL struct {
	scheme, host, addr string
}

func parseTarget(raw string) (targetURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return targetURL{}, errors.New("invalid URL") // the text may hold credentials
	}
	if u.User != nil {
		return targetURL{}, errors.New("credentials in the URL are not supported")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return targetURL{}, fmt.Errorf("%s: scheme must be http or https", u.Redacted())
	}
	if u.Hostname() == "" {
		return targetURL{}, fmt.Errorf("%s: missing host", u.Redacted())
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return targetURL{}, fmt.Errorf("%s: a target is scheme://host[:port] without path or query", u.Redacted())
	}
	host := strings.ToLower(u.Host)
	port := u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return targetURL{scheme: scheme, host: host, addr: net.JoinHostPort(strings.ToLower(u.Hostname()), port)}, nil
}

// pool returns the pool for a target, creating it when no pool has the key.
func (r *Registry) pool(tu targetURL, s poolSettings) (*pool, error) {
	key := fmt.Sprintf("%s://%s|c=%s|r=%s|i=%s|mi=%d|mc=%d", tu.scheme, tu.host,
		s.connect, s.response, s.idle, s.maxIdle, s.maxConns) + s.resKey
	var tlsm *clienttls.Material
	if tu.scheme == "https" { // TLS settings do not concern plain targets
		key += "|" + clienttls.Key(s.tls)
		var err error
		if tlsm, err = r.material(s.tls); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("registry closed")
	}
	if p := r.pools[key]; p != nil {
		return p, nil
	}
	p := &pool{
		key:         key,
		scheme:      tu.scheme,
		host:        tu.host,
		addr:        tu.addr,
		dialer:      net.Dialer{Timeout: s.connect, KeepAlive: tcpKeepAlive},
		respTimeout: s.response,
		idleTimeout: s.idle,
		maxIdle:     s.maxIdle,
		maxConns:    s.maxConns,
		ejectFor:    r.ejectFor,
	}
	if tlsm != nil {
		p.tlsm = tlsm
		p.tr = newTransport(p)
	}
	if s.passive != nil {
		p.passive = &passive{s: *s.passive}
	}
	p.log = &r.log
	if s.breaker != nil {
		p.br = newBreaker(s.breaker.threshold, s.breaker.openFor, s.breaker.trials)
		p.br.onChange = p.breakerChanged
	}
	if s.health != nil {
		p.startChecks(s.health)
	}
	r.pools[key] = p
	return p, nil
}

// budgetFor returns the retry budget of a service, shared by the
// snapshots that name it so that a reload does not refill it.
func (r *Registry) budgetFor(name string) *retryBudget {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.budgets[name]
	if b == nil {
		b = &retryBudget{}
		r.budgets[name] = b
	}
	return b
}
