package upstream

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"
)

// State changes of a target are logged as one JSON line each, with a
// stable `event` field that operators alert on (docs/observability.md,
// "State-change events"): only transitions are logged, never a state that
// merely persists, so a target that stays down writes one line.
const (
	// EventTargetUnhealthy: the target is taken out of rotation, by its
	// active health checks ("check": "active") or by passive health, real
	// requests failing ("check": "passive").
	EventTargetUnhealthy = "upstream_target_unhealthy"
	// EventTargetHealthy: the target is back in rotation (active checks
	// passed again, or the passive ejection ended).
	EventTargetHealthy = "upstream_target_healthy"
	// Circuit breaker transitions.
	EventBreakerOpen     = "circuit_breaker_open"
	EventBreakerHalfOpen = "circuit_breaker_half_open"
	EventBreakerClosed   = "circuit_breaker_closed"
	// EventUpstreamTLSReloadFailed: a service's TLS files (CA, client
	// certificate) changed on disk and failed to load; new connections
	// keep the previous ones. EventUpstreamTLSReloaded: they loaded.
	EventUpstreamTLSReloadFailed = "upstream_tls_reload_failed"
	EventUpstreamTLSReloaded     = "upstream_tls_reloaded"
)

// logRef is the registry's logger, shared with its pools; nil until
// SetLogger (then events are not written).
type logRef = atomic.Pointer[slog.Logger]

// addService records that a service names this pool's target, for events.
func (p *pool) addService(name string) {
	p.mu.Lock()
	if !slices.Contains(p.services, name) {
		p.services = append(p.services, name)
		slices.Sort(p.services)
	}
	p.mu.Unlock()
}

// event writes one state change of the pool's target.
func (p *pool) event(level slog.Level, msg, event string, attrs ...slog.Attr) {
	if p.log == nil {
		return
	}
	l := p.log.Load()
	if l == nil {
		return
	}
	p.mu.Lock()
	services := slices.Clone(p.services)
	p.mu.Unlock()
	all := make([]slog.Attr, 0, 3+len(attrs))
	all = append(all, slog.String("event", event), slog.String("target", p.scheme+"://"+p.host), slog.Any("services", services))
	all = append(all, attrs...)
	l.LogAttrs(context.Background(), level, msg, all...)
}

// ejected logs a passive ejection until the given time.
func (p *pool) ejected(until time.Time, reason string) {
	p.event(slog.LevelWarn, "upstream target ejected by passive health", EventTargetUnhealthy,
		slog.String("check", "passive"), slog.String("reason", reason), slog.Time("until", until.UTC()))
}

// breakerChanged logs a circuit breaker transition.
func (p *pool) breakerChanged(to string) {
	level, msg, ev := slog.LevelInfo, "circuit breaker half-open: trial requests allowed", EventBreakerHalfOpen
	switch to {
	case "open":
		level, msg, ev = slog.LevelWarn, "circuit breaker opened: the target is skipped", EventBreakerOpen
	case "closed":
		msg, ev = "circuit breaker closed: the target is back", EventBreakerClosed
	}
	p.event(level, msg, ev, slog.String("state", to))
}
