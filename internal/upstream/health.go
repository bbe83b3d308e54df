package upstream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// healthSettings is a compiled config.HealthCheck.
type healthSettings struct {
	path               string
	interval, timeout  time.Duration
	healthy, unhealthy int
	statuses           []int // nil: 200-399
}

// passiveSettings is a compiled config.PassiveHealth.
type passiveSettings struct {
	consecutive int32
	ratio       float64
	window      time.Duration
	minRequests int64
	coolOff     time.Duration
}

// breakerSettings is a compiled config.CircuitBreaker.
type breakerSettings struct {
	threshold int
	openFor   time.Duration
	trials    int
}

// resilienceOf compiles a service's health, passive and breaker settings,
// with the documented defaults for zero fields (services built in code skip
// config.ApplyDefaults), and a key suffix that separates pools whose
// settings differ: the state belongs to one set of settings.
func resilienceOf(cfg config.Service, s *poolSettings) error {
	var key strings.Builder
	if h := cfg.HealthCheck; h != nil {
		hs := &healthSettings{
			path:      h.Path,
			interval:  h.Interval.Or(config.DefaultHealthInterval),
			timeout:   h.Timeout.Or(config.DefaultHealthTimeout),
			healthy:   orInt(h.HealthyThreshold, config.DefaultHealthyThreshold),
			unhealthy: orInt(h.UnhealthyThreshold, config.DefaultUnhealthyThreshold),
			statuses:  slices.Clone(h.ExpectedStatuses),
		}
		if !strings.HasPrefix(hs.path, "/") {
			return fmt.Errorf("health_check.path must start with /")
		}
		if hs.interval <= 0 || hs.timeout <= 0 || hs.healthy < 1 || hs.unhealthy < 1 {
			return fmt.Errorf("health_check: interval, timeout and thresholds must be positive")
		}
		slices.Sort(hs.statuses)
		s.health = hs
		fmt.Fprintf(&key, "|hc=%s,%s,%s,%d,%d,%v", hs.path, hs.interval, hs.timeout, hs.healthy, hs.unhealthy, hs.statuses)
	}
	if p := cfg.Passive; p != nil {
		ps := &passiveSettings{
			consecutive: int32(min(orInt(p.ConsecutiveFailures, config.DefaultConsecutiveFailures), 1<<20)), // #nosec G115 -- bounded
			ratio:       p.FailureRatio,
			window:      p.Window.Or(config.DefaultPassiveWindow),
			minRequests: int64(orInt(p.MinRequests, config.DefaultPassiveMinRequests)),
			coolOff:     p.CoolOff.Or(config.DefaultCoolOff),
		}
		if ps.consecutive < 1 || ps.ratio < 0 || ps.ratio > 1 || ps.window <= 0 || ps.minRequests < 1 || ps.coolOff <= 0 {
			return fmt.Errorf("passive_health: values out of range")
		}
		s.passive = ps
		fmt.Fprintf(&key, "|ph=%d,%s,%s,%d,%s", ps.consecutive, strconv.FormatFloat(ps.ratio, 'g', -1, 64), ps.window, ps.minRequests, ps.coolOff)
	}
	if b := cfg.CircuitBreaker; b != nil {
		bs := &breakerSettings{
			threshold: orInt(b.FailureThreshold, config.DefaultBreakerThreshold),
			openFor:   b.OpenDuration.Or(config.DefaultBreakerOpenDuration),
			trials:    orInt(b.HalfOpenRequests, config.DefaultBreakerHalfOpen),
		}
		if bs.threshold < 1 || bs.threshold > 1<<20 || bs.openFor <= 0 || bs.trials < 1 || bs.trials > 1<<20 {
			return fmt.Errorf("circuit_breaker: values out of range")
		}
		s.breaker = bs
		fmt.Fprintf(&key, "|cb=%d,%s,%d", bs.threshold, bs.openFor, bs.trials)
	}
	s.resKey = key.String()
	return nil
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// passive is a pool's passive health state when passive_health is set.
type passive struct {
	s        passiveSettings
	fails    atomic.Int32 // failures in a row
	winStart atomic.Int64 // unix nanoseconds
	reqs     atomic.Int64 // requests in the current window
	bad      atomic.Int64 // failures in the current window
}

// report counts one request's outcome and ejects the pool's target when a
// threshold is reached. The window is a tumbling one, reset without a lock:
// counts racing with a reset may be lost, which only delays an ejection.
func (p *pool) reportPassive(ok bool, now time.Time) {
	ps := p.passive
	eject := false
	if ok {
		if ps.fails.Load() != 0 {
			ps.fails.Store(0)
		}
	} else if ps.fails.Add(1) >= ps.s.consecutive {
		eject = true
	}
	if ps.s.ratio > 0 {
		n := now.UnixNano()
		if st := ps.winStart.Load(); n-st >= int64(ps.s.window) && ps.winStart.CompareAndSwap(st, n) {
			ps.reqs.Store(0)
			ps.bad.Store(0)
		}
		reqs := ps.reqs.Add(1)
		bad := ps.bad.Load()
		if !ok {
			bad = ps.bad.Add(1)
		}
		if reqs >= ps.s.minRequests && float64(bad) >= ps.s.ratio*float64(reqs) {
			eject = true
		}
	}
	if eject {
		ps.fails.Store(0)
		ps.reqs.Store(0)
		ps.bad.Store(0)
		until := now.Add(ps.s.coolOff)
		if p.ejectedUntil.Swap(until.UnixNano()) == 0 {
			p.ejected(until, "requests failed")
		}
	}
}

// startChecks runs the active health check of the pool's target in one
// goroutine until the pool is closed. The first check runs one interval
// after the start, so that `portcullis validate`, which compiles and
// closes at once, sends nothing.
func (p *pool) startChecks(hs *healthSettings) {
	ctx, cancel := context.WithCancel(context.Background())
	p.hcStop, p.hcDone = cancel, make(chan struct{})
	client := p.checkClient()
	go func() {
		defer close(p.hcDone)
		defer client.CloseIdleConnections()
		t := time.NewTicker(hs.interval)
		defer t.Stop()
		okRun, failRun := 0, 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			why := p.probe(ctx, client, hs)
			if ctx.Err() != nil {
				return
			}
			if why == "" {
				okRun, failRun = okRun+1, 0
				if okRun >= hs.healthy && p.unhealthy.Load() {
					p.unhealthy.Store(false)
					p.event(slog.LevelInfo, "upstream target healthy: health checks pass again", EventTargetHealthy,
						slog.String("check", "active"), slog.Int("passed", okRun))
				}
			} else {
				okRun, failRun = 0, failRun+1
				if failRun >= hs.unhealthy && !p.unhealthy.Load() {
					p.unhealthy.Store(true)
					p.event(slog.LevelWarn, "upstream target unhealthy: health checks fail", EventTargetUnhealthy,
						slog.String("check", "active"), slog.Int("failed", failRun), slog.String("reason", why))
				}
			}
		}
	}()
}

// checkClient is the client of the health checks: the target's own
// transport for https, a one-connection keep-alive transport for http
// (checks must not take connections or in-flight counts from requests).
func (p *pool) checkClient() *http.Client {
	tr := p.tr
	if tr == nil {
		tr = &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return p.dialer.DialContext(ctx, "tcp", p.addr)
			},
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     p.idleTimeout,
			DisableCompression:  true,
		}
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// maxProbeBody bounds what is read of a check's response body (to keep
// the connection reusable without trusting the target's size).
const maxProbeBody = 4 << 10

// probe sends one check and returns why the target failed it ("" when
// it passed).
func (p *pool) probe(ctx context.Context, client *http.Client, hs *healthSettings) string {
	ctx, cancel := context.WithTimeout(ctx, hs.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.scheme+"://"+p.host+hs.path, nil)
	if err != nil {
		return err.Error()
	}
	req.Header["User-Agent"] = []string{"portcullis-health-check"}
	resp, err := client.Do(req)
	if err != nil {
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	_ = resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	if hs.statuses != nil {
		_, ok = slices.BinarySearch(hs.statuses, resp.StatusCode)
	}
	if !ok {
		return "status " + strconv.Itoa(resp.StatusCode)
	}
	return ""
}

// stopChecks ends the health check goroutine and waits for it.
func (p *pool) stopChecks() {
	if p.hcStop != nil {
		p.hcStop()
		<-p.hcDone
	}
}

// Health is a target's resilience state, for logs, metrics and tests.
type Health struct {
	// Healthy is false while active health checks fail.
	Healthy bool
	// Ejected is true while passive health skips the target.
	Ejected bool
	// Breaker is closed, open or half_open ("" without a breaker).
	Breaker string
}

// Health returns the target's current resilience state.
func (t *Target) Health() Health {
	h := Health{Healthy: !t.p.unhealthy.Load()}
	if u := t.p.ejectedUntil.Load(); u != 0 && time.Now().UnixNano() < u {
		h.Ejected = true
	}
	if t.p.br != nil {
		h.Breaker = t.p.br.stateName()
	}
	return h
}
