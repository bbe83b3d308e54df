package auth

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/metrics"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Metrics counts authentication outcomes per route, method and reason, on
// the gateway's Prometheus counter portcullis_auth_total: /metrics and
// /stats/auth read the same counters. It lives in the gateway's long-lived
// state, so reloads do not reset it.
type Metrics struct {
	reg *metrics.Registry
}

// MetricsOf returns the gateway's authentication metrics.
func MetricsOf(env pipeline.CompileEnv) (*Metrics, error) {
	return &Metrics{reg: metrics.Of(env.State)}, nil
}

func (m *Metrics) success(route, method string) {
	m.reg.AuthCounter(route, method, "success", "").Inc()
}

func (m *Metrics) failure(route, method, reason string) {
	m.reg.AuthCounter(route, method, "failure", reason).Inc()
}

// policyMetrics are one policy's success counters, resolved when the
// policy is compiled: a successful authentication hashes no label.
type policyMetrics struct {
	m     *Metrics
	route string
	ok    map[string]prometheus.Counter // by method name, read-only after compile
}

func (m *Metrics) forPolicy(route string, methods []string) *policyMetrics {
	pm := &policyMetrics{m: m, route: route, ok: map[string]prometheus.Counter{}}
	for _, name := range append(methods, "anonymous") {
		pm.ok[name] = m.reg.AuthCounter(route, name, "success", "")
	}
	return pm
}

func (pm *policyMetrics) success(method string) {
	if c := pm.ok[method]; c != nil {
		c.Inc()
		return
	}
	pm.m.success(pm.route, method)
}

func (pm *policyMetrics) failure(method, reason string) { pm.m.failure(pm.route, method, reason) }

// Count is one counter's value.
type Count struct {
	Route   string `json:"route"`
	Method  string `json:"method"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Value   uint64 `json:"value"`
}

// Counts returns every counter, sorted, for /stats/auth and tests.
func (m *Metrics) Counts() []Count {
	out := []Count{}
	for _, sm := range metrics.CounterSamples(m.reg.Auth) {
		if sm.Value > 0 {
			l := sm.Labels
			out = append(out, Count{Route: l["route"], Method: l["method"], Outcome: l["outcome"], Reason: l["reason"], Value: sm.Value})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Method != b.Method {
			return a.Method < b.Method
		}
		if a.Outcome != b.Outcome {
			return a.Outcome < b.Outcome
		}
		return a.Reason < b.Reason
	})
	return out
}

// CountsOf returns the authentication counters kept in a gateway's
// long-lived state (none when no auth policy was ever compiled).
func CountsOf(state *pipeline.SharedValues) []Count {
	m, err := MetricsOf(pipeline.CompileEnv{State: state})
	if err != nil {
		return nil
	}
	return m.Counts()
}
