package config

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Intrusion detection events, stores and bounds.
const (
	EventAuthFailure = "auth_failure"
	EventForbidden   = "forbidden"
	EventNotFound    = "not_found"
	EventRateLimited = "rate_limited"
	EventMalformed   = "malformed"
	EventTimeout     = "timeout"
	EventWAF         = "waf"

	StoreLocal = "local"
	StoreRedis = "redis"

	MaxIntrusionThreshold = 10000
	MaxIntrusionWindow    = 24 * time.Hour
	MaxBanDuration        = 30 * 24 * time.Hour
	MaxAlertRetries       = 10
)

// IntrusionEvents lists the event names a rule may count.
var IntrusionEvents = []string{EventAuthFailure, EventForbidden, EventNotFound, EventRateLimited, EventMalformed, EventWAF, EventTimeout}

func (v *validator) intrusion(p string, d *IntrusionDetection) {
	if len(d.Rules) == 0 {
		v.add(p+".rules", "at least one rule is required")
	}
	for i, r := range d.Rules {
		rp := indexPath(p+".rules", i)
		known := false
		for _, e := range IntrusionEvents {
			known = known || r.Event == e
		}
		if !known {
			v.add(rp+".event", "unknown event %s (one of %s)", v.q(rp+".event", r.Event), strings.Join(IntrusionEvents, ", "))
		}
		if r.Threshold < 1 || r.Threshold > MaxIntrusionThreshold {
			v.add(rp+".threshold", "must be from 1 to %d", MaxIntrusionThreshold)
		}
		if r.Window.D() <= 0 || r.Window.D() > MaxIntrusionWindow {
			v.add(rp+".window", "must be more than 0 and at most 24h")
		}
		if r.Ban.D() < 0 || r.Ban.D() > MaxBanDuration {
			v.add(rp+".ban", "must be from 0 (alert only) to 720h")
		}
	}
	for i, s := range d.Allow {
		ap := indexPath(p+".allow", i)
		if pfx, ok := v.addressEntry(ap, s); ok && pfx.Bits() < minTrustedBits(pfx) {
			v.add(ap, "%s exempts a share of the whole Internet from bans: the rules' bans would not apply to those clients; list your monitoring and your own networks (at most a /%d)", v.q(ap, s), minTrustedBits(pfx))
		}
	}
	switch d.Store {
	case "", StoreLocal:
		if d.Redis != nil {
			v.add(p+".redis", "is only used with store: redis")
		}
	case StoreRedis:
		if d.Redis == nil {
			v.add(p+".redis", "is required with store: redis")
		} else {
			v.intrusionRedis(p+".redis", d.Redis)
		}
	default:
		v.add(p+".store", "must be local or redis, not %s", v.q(p+".store", d.Store))
	}
	if a := d.Alerts; a != nil {
		if len(a.Webhooks) == 0 {
			v.add(p+".alerts.webhooks", "at least one webhook is required")
		}
		for i, w := range a.Webhooks {
			v.webhook(indexPath(p+".alerts.webhooks", i), w)
		}
		if a.Timeout.D() < 0 || a.Timeout.D() > time.Minute {
			v.add(p+".alerts.timeout", "must be at most 1m (default 2s)")
		}
		if r := a.Retries; r != nil && (*r < 0 || *r > MaxAlertRetries) {
			v.add(p+".alerts.retries", "must be from 0 to %d (default 3)", MaxAlertRetries)
		}
	}
}

func (v *validator) intrusionRedis(p string, r *IntrusionRedis) {
	v.redisServer(p, &r.RedisServer)
	if r.Timeout.D() < 0 || r.Timeout.D() > 10*time.Second {
		v.add(p+".timeout", "must be at most 10s (default 500ms)")
	}
	if s := r.SyncInterval.D(); s != 0 && (s < 100*time.Millisecond || s > time.Minute) {
		v.add(p+".sync_interval", "must be from 100ms to 1m (0: 1s)")
	}
}

// connectionLimits checks a listener's max_connections fields.
func (v *validator) connectionLimits(p string, l *Listener) {
	if l.MaxConnections < 0 {
		v.add(p+".max_connections", "must not be negative (0: unlimited)")
	}
	if l.MaxConnectionsPerClient < 0 {
		v.add(p+".max_connections_per_client", "must not be negative (0: unlimited)")
	}
	if l.MaxConnections > 0 && l.MaxConnectionsPerClient > l.MaxConnections {
		v.add(p+".max_connections_per_client", "must not exceed max_connections")
	}
}

// CheckRedisServer is the loader's check of a Redis block (address,
// database, TLS) for the policies that carry one (rate_limit, signature):
// every problem as a *RelError named below field ("redis.address"),
// joined, so that a policy's block is refused as intrusion_detection.redis
// is, each problem at its own line; nil when the block holds.
func CheckRedisServer(field string, r *RedisServer) error {
	v := &validator{c: &Config{}}
	v.redisServer(field, r)
	errs := make([]error, 0, len(v.errs))
	for _, e := range v.errs {
		errs = append(errs, &RelError{Field: e.Path, Msg: e.Msg})
	}
	return errors.Join(errs...)
}

// redisServer checks how a Redis is reached: its address, database (Redis
// has 16 unless configured otherwise; a Redis Cluster only 0) and TLS
// block. The one check of every Redis block in the config.
func (v *validator) redisServer(p string, r *RedisServer) {
	if err := checkHostPort(r.Address); err != nil {
		v.add(p+".address", "%s: %v", v.q(p+".address", r.Address), err)
	}
	if r.DB < 0 || r.DB > 15 {
		v.add(p+".db", "must be from 0 to 15")
	}
	if r.TLS != nil {
		v.clientTLS(p+".tls", r.TLS)
	} else if host, _, err := net.SplitHostPort(r.Address); err == nil && r.Password != "" && !tlspolicy.Loopback(host) {
		// AUTH travels in the clear over plain TCP: whoever is on the path
		// gets the password, and with it the counters, bans and replay
		// records that decide who gets in (as a PostgreSQL store off this
		// machine needs verified TLS).
		v.add(p+".password", "would cross the network in clear: %s is off this machine and reached over plain TCP (Redis AUTH is plain text); add a tls block, or use a Redis on loopback", v.q(p+".address", r.Address))
	}
}
