package gateway

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/metrics"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/validate"
)

// stateCollector reads, at scrape time, the state that lives outside the
// request path: upstream targets (health, breakers, pools, retries),
// reloads, intrusion detection, Redis and the store. Every label value is a
// configured name.
type stateCollector struct {
	g *Gateway

	reloads, bans, activeBans, alerts, redisErrs, storeErrs   *prometheus.Desc
	healthy, ejected, breaker, conns, inflight, retries, cfgv *prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(metrics.Namespace+"_"+name, help, labels, nil)
}

func newStateCollector(g *Gateway) *stateCollector {
	return &stateCollector{
		g:          g,
		reloads:    desc("config_reloads_total", "Config reloads by result (success: the new config serves; failure: the previous one kept serving).", "result"),
		cfgv:       desc("config_info", "The serving config's version (its content hash); always 1.", "version"),
		bans:       desc("bans_total", "Clients banned by intrusion detection since the process started."),
		activeBans: desc("active_bans", "Clients banned now (intrusion detection and the admin API)."),
		alerts:     desc("alerts_total", "Intrusion detection webhook deliveries by result (sent, failed after retries, dropped on a full queue).", "result"),
		redisErrs:  desc("redis_errors_total", "Failed Redis operations by component (intrusion_detection: ban sharing; rate_limit: checks decided by the failure mode; signature: signed requests refused because the replay store did not answer).", "component"),
		storeErrs:  desc("store_errors_total", "Failed control-plane store operations by kind (store: reads and writes; sync: failed synchronisations).", "kind"),
		healthy:    desc("upstream_target_healthy", "1 while the target passes its active health checks (1 without checks).", "service", "target"),
		ejected:    desc("upstream_target_ejected", "1 while passive health skips the target.", "service", "target"),
		breaker:    desc("upstream_breaker_state", "The target's circuit breaker: 1 for its current state, 0 for the others.", "service", "target", "state"),
		conns:      desc("upstream_connections", "The target pool's connections: open (dialing, busy and idle) and idle.", "service", "target", "state"),
		inflight:   desc("upstream_requests_in_flight", "Requests sent to the target and not finished.", "service", "target"),
		retries:    desc("upstream_retries_total", "Retries sent to the service's targets.", "service"),
	}
}

// Describe sends every family's description; the label sets are fixed,
// their values follow the config.
func (sc *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{sc.reloads, sc.cfgv, sc.bans, sc.activeBans, sc.alerts, sc.redisErrs, sc.storeErrs,
		sc.healthy, sc.ejected, sc.breaker, sc.conns, sc.inflight, sc.retries} {
		ch <- d
	}
}

func (sc *stateCollector) Collect(ch chan<- prometheus.Metric) {
	g := sc.g
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(sc.reloads, float64(g.reloads.Load()), "success")
	counter(sc.reloads, float64(g.failures.Load()), "failure")
	snap := g.snap.Load()
	if snap == nil {
		return
	}
	if snap.version != "" {
		gauge(sc.cfgv, 1, snap.version)
	}
	st := g.detTotals.total(&g.detector)
	counter(sc.bans, float64(st.Bans))
	gauge(sc.activeBans, float64(st.ActiveBans))
	counter(sc.alerts, float64(st.AlertsSent), "sent")
	counter(sc.alerts, float64(st.AlertsFailed), "failed")
	counter(sc.alerts, float64(st.AlertsDropped), "dropped")
	counter(sc.redisErrs, float64(st.RedisErrors), "intrusion_detection")
	var rl uint64
	g.state.Range(func(_ string, v any) {
		if r, ok := v.(*ratelimit.Redis); ok {
			rl += r.Failures.Load()
		}
	})
	counter(sc.redisErrs, float64(rl), "rate_limit")
	var sig uint64
	g.state.Range(func(_ string, v any) {
		if r, ok := v.(*validate.RedisReplay); ok {
			sig += r.Errors.Load()
		}
	})
	counter(sc.redisErrs, float64(sig), "signature")
	if g.control != nil {
		counter(sc.storeErrs, float64(g.control.storeErrs.Load()), "store")
		counter(sc.storeErrs, float64(g.control.syncFails.Load()), "sync")
	}
	for _, svc := range snap.services {
		name := svc.Name()
		counter(sc.retries, float64(svc.Retries()), name)
		seen := map[string]bool{}
		for _, t := range svc.Targets() {
			tn := t.String()
			if seen[tn] {
				continue // the same URL twice in one service: one series
			}
			seen[tn] = true
			h := t.Health()
			gauge(sc.healthy, b2f(h.Healthy), name, tn)
			gauge(sc.ejected, b2f(h.Ejected), name, tn)
			if h.Breaker != "" {
				for _, s := range []string{"closed", "open", "half_open"} {
					gauge(sc.breaker, b2f(h.Breaker == s), name, tn, s)
				}
			}
			open, idle := t.Conns()
			gauge(sc.conns, float64(open), name, tn, "open")
			gauge(sc.conns, float64(idle), name, tn, "idle")
			gauge(sc.inflight, float64(t.InFlight()), name, tn)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// detectorTotals keeps intrusion detection's counters monotonic across
// reloads: a reload builds a new Detector with fresh counters, and the
// retired one's final counts are added here.
type detectorTotals struct {
	mu   sync.Mutex
	base intrusion.Stats
}

// swap installs d as the current detector and retires old, under the lock
// total takes, so a scrape never sees old's counts twice or not at all.
func (t *detectorTotals) swap(cur *atomic.Pointer[intrusion.Detector], d, old *intrusion.Detector) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur.Store(d)
	if old == nil {
		return
	}
	s := old.Stats()
	t.base.Events += s.Events
	t.base.Bans += s.Bans
	t.base.AlertsSent += s.AlertsSent
	t.base.AlertsFailed += s.AlertsFailed
	t.base.AlertsDropped += s.AlertsDropped
	t.base.RedisErrors += s.RedisErrors
}

func (t *detectorTotals) total(cur *atomic.Pointer[intrusion.Detector]) intrusion.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.base
	if d := cur.Load(); d != nil {
		c := d.Stats()
		s.Events += c.Events
		s.Bans += c.Bans
		s.AlertsSent += c.AlertsSent
		s.AlertsFailed += c.AlertsFailed
		s.AlertsDropped += c.AlertsDropped
		s.RedisErrors += c.RedisErrors
		s.ActiveBans = c.ActiveBans
	}
	return s
}

// metricsHandler serves /metrics in the Prometheus exposition format (or
// OpenMetrics when the scraper asks for it); 404 while metrics are off.
func (g *Gateway) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(g.obs.reg.Gatherer(), promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := g.snap.Load(); s == nil || !s.metricsOn {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
