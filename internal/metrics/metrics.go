// Package metrics holds the gateway's Prometheus metrics: one registry per
// gateway process, kept in the policy state that outlives snapshots, so a
// reload never resets a counter.
//
// The threat a metrics endpoint faces is cardinality: a label whose value a
// client chooses (a path, a Host header, a method name, a token's claim)
// lets anyone on the internet create series until the gateway or the
// Prometheus server scraping it runs out of memory. Every label value here
// therefore comes from the configuration (route, service and target names,
// policy kinds) or from a fixed set (method: the RFC 9110 methods plus
// "OTHER"; status class; phase; event). Values that policies report as
// free text (an authentication failure's reason) go through Bounded, which
// admits a fixed number of distinct values per label and folds the rest into
// "other".
//
// The per-request cost is a handful of atomic adds: the handles of a route
// are resolved when the route is compiled (Route), so no label is hashed
// while a request is served.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Namespace prefixes every metric name.
const Namespace = "portcullis"

// LatencyBuckets are the histogram buckets of every latency, in seconds:
// from a fraction of a millisecond (the gateway's own time) to the 60s
// default response timeout.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// Registry is the gateway's set of metric families.
type Registry struct {
	reg *prometheus.Registry
	all []prometheus.Collector // every registered collector, for Describe

	requests    *prometheus.CounterVec   // route, method, status_class
	duration    *prometheus.HistogramVec // route
	gatewayTime *prometheus.HistogramVec // route
	upstreamDur *prometheus.HistogramVec // route, service
	reqBytes    *prometheus.CounterVec   // route
	respBytes   *prometheus.CounterVec   // route
	refusals    *prometheus.CounterVec   // route, phase, policy
	rateLimited *prometheus.CounterVec   // route
	concurrency *prometheus.CounterVec   // route
	wafBlocks   *prometheus.CounterVec   // route, group
	events      *prometheus.CounterVec   // event

	// Auth are the authentication outcomes (also read by /stats/auth).
	Auth *prometheus.CounterVec // route, method, outcome, reason
	// Authz are the authorization refusals.
	Authz *prometheus.CounterVec // route, kind, reason

	authReasons  *Bounded
	authzReasons *Bounded
	unmatched    *Route
}

// Of returns the registry kept in a gateway's long-lived state, creating
// it at first use. A nil state (a policy compiled alone in a test) gets a
// fresh registry.
func Of(state *pipeline.SharedValues) *Registry {
	if state == nil {
		return New()
	}
	v, _ := state.Get("metrics.registry", func() (any, error) { return New(), nil })
	return v.(*Registry)
}

// New returns a registry with every family registered, the Go runtime and
// process collectors included.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		r.MustRegister(v)
		return v
	}
	histogram := func(name, help string, labels ...string) *prometheus.HistogramVec {
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: LatencyBuckets}, labels)
		r.MustRegister(v)
		return v
	}
	r.requests = counter("requests_total", "Requests answered, by route (\"\" when none matched), method and status class.", "route", "method", "status_class")
	r.duration = histogram("request_duration_seconds", "Time from the request's arrival to the end of its response, by route.", "route")
	r.gatewayTime = histogram("gateway_duration_seconds", "The gateway's own time per request (total minus the upstream's), by route.", "route")
	r.upstreamDur = histogram("upstream_duration_seconds", "Time from sending a request upstream to its response headers (retries included), by route and service.", "route", "service")
	r.reqBytes = counter("request_bytes_total", "Request body bytes received, by route.", "route")
	r.respBytes = counter("response_bytes_total", "Response body bytes sent, by route.", "route")
	r.refusals = counter("policy_refusals_total", "Requests refused by a policy, by route, phase and policy kind.", "route", "phase", "policy")
	r.rateLimited = counter("rate_limit_refusals_total", "Requests refused by a rate_limit policy, by route.", "route")
	r.concurrency = counter("concurrency_refusals_total", "Requests refused by a concurrency policy, by route.", "route")
	r.wafBlocks = counter("waf_blocks_total", "Requests blocked by the WAF, by route and OWASP CRS rule group.", "route", "group")
	r.events = counter("security_events_total", "Security events counted for intrusion detection, by event.", "event")
	r.Auth = counter("auth_total", "Authentication outcomes, by route, method, outcome (success or failure) and reason.", "route", "method", "outcome", "reason")
	r.Authz = counter("authz_refusals_total", "Authorization refusals, by route, policy kind and reason.", "route", "kind", "reason")
	r.authReasons = NewBounded(maxReasons)
	r.authzReasons = NewBounded(maxReasons)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.unmatched = r.Route("", "", nil)
	return r
}

// maxReasons bounds the distinct reason values per family.
const maxReasons = 64

// MustRegister adds collectors (the gateway's, which read state at scrape
// time: upstream targets, reloads, bans).
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	r.reg.MustRegister(cs...)
	r.all = append(r.all, cs...)
}

// Describe sends the descriptions of every registered family, series or
// not (docs and dashboard tests check names against it).
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range r.all {
		c.Describe(ch)
	}
}

// Gatherer is what /metrics serves.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// AuthCounter returns the authentication counter of one outcome. reason is
// bounded (see Bounded); call it at compile time or on the failure path.
func (r *Registry) AuthCounter(route, method, outcome, reason string) prometheus.Counter {
	return r.Auth.WithLabelValues(route, method, outcome, r.authReasons.Value(reason))
}

// AuthzCounter returns the authorization refusal counter of one reason.
func (r *Registry) AuthzCounter(route, kind, reason string) prometheus.Counter {
	return r.Authz.WithLabelValues(route, kind, r.authzReasons.Value(reason))
}

// Event counts one intrusion-detection event (a fixed name).
func (r *Registry) Event(name string) prometheus.Counter { return r.events.WithLabelValues(name) }

// Unmatched returns the handles of requests no route matched.
func (r *Registry) Unmatched() *Route { return r.unmatched }
