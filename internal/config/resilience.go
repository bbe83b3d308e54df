package config

import (
	"strconv"
	"time"
)

// Defaults of the resilience settings of a service (health checks,
// passive health, circuit breaker, retries), applied when the block is set.
const (
	DefaultHealthInterval      = 10 * time.Second
	DefaultHealthTimeout       = 2 * time.Second
	DefaultHealthyThreshold    = 2
	DefaultUnhealthyThreshold  = 3
	DefaultConsecutiveFailures = 5
	DefaultPassiveWindow       = 10 * time.Second
	DefaultPassiveMinRequests  = 10
	DefaultCoolOff             = 30 * time.Second
	DefaultBreakerThreshold    = 5
	DefaultBreakerOpenDuration = 30 * time.Second
	DefaultBreakerHalfOpen     = 1
	DefaultRetryAttempts       = 2
	DefaultRetryBudgetRatio    = 0.2
	DefaultMinRetriesPerSecond = 3
	MaxRetryAttempts           = 10
	RetryOnConnectFailure      = "connect_failure"
	RetryOnTimeout             = "timeout"
	minHealthInterval          = 10 * time.Millisecond
	maxResilienceThreshold     = 1000
	maxBreakerHalfOpenRequests = 100
	maxMinRetriesPerSecond     = 10000
)

// DefaultRetryOn is what retries.retry_on means when it is empty.
var DefaultRetryOn = []string{RetryOnConnectFailure, "502", "503", "504"}

func (s *Service) applyResilienceDefaults() {
	if h := s.HealthCheck; h != nil {
		setDur(&h.Interval, DefaultHealthInterval)
		setDur(&h.Timeout, DefaultHealthTimeout)
		setInt(&h.HealthyThreshold, DefaultHealthyThreshold)
		setInt(&h.UnhealthyThreshold, DefaultUnhealthyThreshold)
	}
	if p := s.Passive; p != nil {
		setInt(&p.ConsecutiveFailures, DefaultConsecutiveFailures)
		setDur(&p.Window, DefaultPassiveWindow)
		setInt(&p.MinRequests, DefaultPassiveMinRequests)
		setDur(&p.CoolOff, DefaultCoolOff)
	}
	if b := s.CircuitBreaker; b != nil {
		setInt(&b.FailureThreshold, DefaultBreakerThreshold)
		setDur(&b.OpenDuration, DefaultBreakerOpenDuration)
		setInt(&b.HalfOpenRequests, DefaultBreakerHalfOpen)
	}
	if r := s.Retries; r != nil {
		setInt(&r.Attempts, DefaultRetryAttempts)
		ratio, minPerSecond := r.Budget()
		r.BudgetRatio, r.MinRetriesPerSecond = &ratio, &minPerSecond
		if len(r.RetryOn) == 0 {
			r.RetryOn = append([]string(nil), DefaultRetryOn...)
		}
	}
}

// Budget is the retry budget: the share of requests that may be retried
// and the retries allowed each second whatever the share. A field left
// out takes its default; a written 0 stays 0 (budget_ratio: 0 with
// min_retries_per_second: 5 is "at most five a second").
func (r *Retries) Budget() (ratio float64, minPerSecond int) {
	ratio, minPerSecond = DefaultRetryBudgetRatio, DefaultMinRetriesPerSecond
	if r.BudgetRatio != nil {
		ratio = *r.BudgetRatio
	}
	if r.MinRetriesPerSecond != nil {
		minPerSecond = *r.MinRetriesPerSecond
	}
	return ratio, minPerSecond
}

func setInt(i *int, def int) {
	if *i == 0 {
		*i = def
	}
}

// resilience checks a service's health check, passive health, circuit
// breaker and retries (p is the service's path).
func (v *validator) resilience(p string, s *Service) {
	if h := s.HealthCheck; h != nil {
		hp := p + ".health_check"
		if h.Path == "" {
			v.add(hp+".path", "is required (for example /healthz)")
		} else if err := CheckPath(h.Path); err != nil {
			v.add(hp+".path", "%s: %v", v.q(hp+".path", h.Path), err)
		}
		if h.Interval.D() < minHealthInterval {
			v.add(hp+".interval", "must be at least %s", minHealthInterval)
		}
		if h.Timeout <= 0 || h.Timeout > h.Interval {
			v.add(hp+".timeout", "must be positive and at most the interval")
		}
		v.between(hp+".healthy_threshold", h.HealthyThreshold, 1, maxResilienceThreshold)
		v.between(hp+".unhealthy_threshold", h.UnhealthyThreshold, 1, maxResilienceThreshold)
		for i, st := range h.ExpectedStatuses {
			v.between(indexPath(hp+".expected_statuses", i), st, 100, 599)
		}
	}
	if ps := s.Passive; ps != nil {
		pp := p + ".passive_health"
		v.between(pp+".consecutive_failures", ps.ConsecutiveFailures, 1, maxResilienceThreshold)
		if ps.FailureRatio < 0 || ps.FailureRatio > 1 {
			v.add(pp+".failure_ratio", "must be between 0 (off) and 1")
		}
		if ps.Window <= 0 {
			v.add(pp+".window", "must be positive")
		}
		v.between(pp+".min_requests", ps.MinRequests, 1, 1_000_000)
		if ps.CoolOff <= 0 {
			v.add(pp+".cool_off", "must be positive")
		}
	}
	if b := s.CircuitBreaker; b != nil {
		bp := p + ".circuit_breaker"
		v.between(bp+".failure_threshold", b.FailureThreshold, 1, maxResilienceThreshold)
		if b.OpenDuration <= 0 {
			v.add(bp+".open_duration", "must be positive")
		}
		v.between(bp+".half_open_requests", b.HalfOpenRequests, 1, maxBreakerHalfOpenRequests)
	}
	if r := s.Retries; r != nil {
		rp := p + ".retries"
		v.between(rp+".attempts", r.Attempts, 1, MaxRetryAttempts)
		ratio, minPerSecond := r.Budget()
		if ratio < 0 || ratio > 1 || ratio != ratio {
			v.add(rp+".budget_ratio", "must be between 0 and 1")
		}
		v.between(rp+".min_retries_per_second", minPerSecond, 0, maxMinRetriesPerSecond)
		if ratio == 0 && minPerSecond == 0 && r.Attempts != 1 {
			// Each retry needs room in the budget: a share of the
			// requests, or the floor each second. With neither there is
			// never room, and attempts would read as retries that never
			// happen.
			v.add(rp+".budget_ratio", "0 with min_retries_per_second 0 allows no retry at all: raise one of them, or remove retries")
		}
		if r.Timeout > 0 && r.PerTryTimeout > r.Timeout {
			v.add(rp+".per_try_timeout", "must not exceed retries.timeout")
		}
		// timeouts.response bounds every try until its headers (it is the
		// connection's own limit), so a longer per_try_timeout never
		// fires: a config that reads "a try may take 10s" would end each
		// one at the response timeout.
		if r.PerTryTimeout > s.Timeouts.Response {
			v.add(rp+".per_try_timeout", "must not exceed timeouts.response (%s), which ends every try first; raise timeouts.response too", s.Timeouts.Response.D())
		}
		seen := map[string]bool{}
		for i, c := range r.RetryOn {
			ip := indexPath(rp+".retry_on", i)
			switch c {
			case RetryOnConnectFailure, RetryOnTimeout, "502", "503", "504":
			default:
				v.add(ip, "must be one of connect_failure, timeout, 502, 503, 504, not %s", v.q(ip, c))
			}
			if seen[c] {
				v.add(ip, "%s is listed twice", strconv.Quote(c))
			}
			seen[c] = true
		}
	}
}

// between reports an integer outside [lo, hi].
func (v *validator) between(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(path, "must be between %d and %d", lo, hi)
	}
}
