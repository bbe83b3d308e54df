package authz

import (
	"sort"

	"github.com/portcullis/portcullis/internal/metrics"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Metrics counts authorization refusals per route, policy kind and reason
// on the gateway's Prometheus counter portcullis_authz_refusals_total. It
// lives in the gateway's long-lived state, so reloads do not reset it.
type Metrics struct {
	reg *metrics.Registry
}

// MetricsOf returns the gateway's authorization metrics.
func MetricsOf(env pipeline.CompileEnv) (*Metrics, error) {
	return &Metrics{reg: metrics.Of(env.State)}, nil
}

func (m *Metrics) refused(route, kind, reason string) {
	m.reg.AuthzCounter(route, kind, reason).Inc()
}

// Count is one refusal counter's value.
type Count struct {
	Route, Kind, Reason string
	Value               uint64
}

// Counts returns every refusal counter, sorted, for tests and reports.
func (m *Metrics) Counts() []Count {
	out := []Count{}
	for _, sm := range metrics.CounterSamples(m.reg.Authz) {
		if sm.Value > 0 {
			l := sm.Labels
			out = append(out, Count{Route: l["route"], Kind: l["kind"], Reason: l["reason"], Value: sm.Value})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Reason < b.Reason
	})
	return out
}
