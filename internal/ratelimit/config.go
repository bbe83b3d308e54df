package ratelimit

import (
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/authz"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/redisconn"
)

// policyConfig is the "rate_limit" policy entry.
type policyConfig struct {
	Limits []limitConfig `yaml:"limits"`
	// Key: consumer, credential, client_address, route or header:NAME.
	// Default: the consumer when the request is authenticated, else the
	// client address.
	Key string `yaml:"key,omitempty"`
	// KeyExpr counts by the string a CEL expression over request and
	// identity returns (the authz rule environment); excludes Key.
	KeyExpr *authz.ExprSource `yaml:"key_expr,omitempty"`
	// Bucket names the counters; routes that name the same bucket share
	// them (a global limit). Default: the route's name.
	Bucket string `yaml:"bucket,omitempty"`
	// Store: local (default) or redis.
	Store string       `yaml:"store,omitempty"`
	Redis *RedisConfig `yaml:"redis,omitempty"`
	// Fail: what a request meets when Redis is down. open
	// (default): the local limiter decides; closed: 503.
	Fail string `yaml:"fail,omitempty"`
	// Plans replace the limits for consumers whose metadata says
	// "plan: NAME".
	Plans map[string][]limitConfig `yaml:"plans,omitempty"`
	// MaxKeys bounds the local store (default DefaultMaxKeys); routes
	// with the same value share one store.
	MaxKeys int `yaml:"max_keys,omitempty"`
}

type limitConfig struct {
	Name  string          `yaml:"name,omitempty"`
	Rate  int64           `yaml:"rate"`
	Per   config.Duration `yaml:"per"`
	Burst *int64          `yaml:"burst,omitempty"`
}

// RedisConfig is a policy's `redis` block: the Redis a rate_limit policy
// with store: redis counts in, and the one a signature policy keeps its
// replay store in (internal/validate).
type RedisConfig struct {
	// RedisServer: address, username, password, db, tls.
	config.RedisServer `yaml:",inline"`
	Timeout            config.Duration `yaml:"timeout,omitempty"`
	Prefix             string          `yaml:"prefix,omitempty"`
	Probe              config.Duration `yaml:"probe,omitempty"`
}

// keyKind is what a request is counted by.
type keyKind int

const (
	keyDefault keyKind = iota // consumer when authenticated, else client address
	keyConsumer
	keyCredential
	keyClient
	keyRoute
	keyHeader
	keyExpr // key_expr
)

var keyNames = map[string]keyKind{
	"consumer": keyConsumer, "credential": keyCredential,
	"client_address": keyClient, "route": keyRoute,
}

func parseKey(s string) (keyKind, string, error) {
	if s == "" {
		return keyDefault, "", nil
	}
	if k, ok := keyNames[s]; ok {
		return k, "", nil
	}
	if h, ok := strings.CutPrefix(s, "header:"); ok {
		if h == "" || strings.ContainsAny(h, " \t\r\n:") {
			return 0, "", fmt.Errorf("key %q: invalid header name", s)
		}
		return keyHeader, textproto.CanonicalMIMEHeaderKey(h), nil
	}
	return 0, "", fmt.Errorf("key %q: use consumer, credential, client_address, route or header:NAME", s)
}

// nameRE keeps limit names valid sf-strings that need no escaping, and
// plan and bucket names safe inside store keys.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,31}$`)

// limitSet is one list of limits, compiled: the route default or a plan.
type limitSet struct {
	plan  string // "" for the route default
	ps    []param
	names []string
	// policyHeader is the RateLimit-Policy value, built once.
	policyHeader string
}

func compileSet(plan string, lcs []limitConfig) (*limitSet, error) {
	if len(lcs) == 0 {
		return nil, fmt.Errorf("limits: at least one limit is required")
	}
	if len(lcs) > MaxLimits {
		return nil, fmt.Errorf("limits: at most %d limits", MaxLimits)
	}
	s := &limitSet{plan: plan}
	seen := map[string]bool{}
	var hdr strings.Builder
	for i, lc := range lcs {
		name := lc.Name
		if name == "" {
			name = defaultName(lc, len(lcs))
		}
		if !nameRE.MatchString(name) {
			return nil, fmt.Errorf("limits[%d].name %q: use 1-32 characters a-z, 0-9, '.', '_', '-'", i, name)
		}
		if seen[name] {
			return nil, fmt.Errorf("limits[%d]: two limits named %q", i, name)
		}
		seen[name] = true
		l := Limit{Name: name, Rate: lc.Rate, Per: lc.Per.D(), Burst: lc.Rate}
		if lc.Burst != nil {
			l.Burst = *lc.Burst
		}
		p, err := l.param()
		if err != nil {
			return nil, fmt.Errorf("limits[%d]: %w", i, err)
		}
		s.ps = append(s.ps, p)
		s.names = append(s.names, name)
		if i > 0 {
			hdr.WriteString(", ")
		}
		fmt.Fprintf(&hdr, "%q;q=%d;w=%d", name, l.Rate, int64(l.Per/time.Second))
	}
	s.policyHeader = hdr.String()
	return s, nil
}

// defaultName is "default" for a lone limit, else rate and window
// ("10-per-1s", "10000-per-86400s").
func defaultName(lc limitConfig, n int) string {
	if n == 1 {
		return "default"
	}
	return strconv.FormatInt(lc.Rate, 10) + "-per-" + strconv.FormatInt(int64(lc.Per.D()/time.Second), 10) + "s"
}

// Options checks the block and returns the client's options. Every
// problem is a *config.RelError named below the policy ("redis.db"),
// joined: the server's fields are checked by config.CheckRedisServer, as
// intrusion_detection.redis is.
func (rc *RedisConfig) Options() (RedisOptions, error) {
	if rc == nil || rc.Address == "" {
		return RedisOptions{}, config.FieldErrorf("redis.address", "is required")
	}
	errs := []error{config.CheckRedisServer("redis", &rc.RedisServer)}
	// A negative timeout or probe does not decode (config.Duration).
	if t := rc.Timeout.D(); t > 5*time.Second {
		errs = append(errs, config.FieldErrorf("redis.timeout", "%s: a request waits this long when Redis hangs; keep it under 5s (0: the default)", t))
	}
	if err := errors.Join(errs...); err != nil {
		return RedisOptions{}, err
	}
	return RedisOptions{Server: rc.RedisServer, Timeout: rc.Timeout.D(), Probe: rc.Probe.D()}, nil
}

// SharedRedis returns the process's client for o: one per address,
// credentials, database and timeouts, shared by every policy that names
// the same Redis (rate limits, signature replay) and kept across reloads.
func SharedRedis(state *pipeline.SharedValues, o RedisOptions) (*Redis, error) {
	v, err := state.Get(redisStateKey(o), func() (any, error) {
		return NewRedis(o, slog.Default())
	})
	if err != nil {
		return nil, err
	}
	return v.(*Redis), nil
}

// RouteRedis returns the redis block of the first rate_limit policy with
// store: redis on route rc of cfg, or nil. A policy that does not decode
// is skipped: its own compile reports it.
func RouteRedis(cfg *config.Config, rc *config.Route) *RedisConfig {
	if cfg == nil || rc == nil {
		return nil
	}
	for _, ps := range rc.Policies {
		if ps.Kind != "rate_limit" {
			continue
		}
		var pc policyConfig
		if err := cfg.PolicyDecoder(ps).Decode(&pc); err != nil {
			continue
		}
		if pc.Store == "redis" && pc.Redis != nil && pc.Redis.Address != "" {
			return pc.Redis
		}
	}
	return nil
}

// redisStateKey names a shared Redis client in the gateway's state: one
// client per connection (redisconn.Key: address, credentials, database,
// TLS, hashed) and timeouts.
func redisStateKey(o RedisOptions) string {
	return fmt.Sprintf("ratelimit.redis.%s.%d.%d", redisconn.Key(&o.Server), o.Timeout, o.Probe)
}
