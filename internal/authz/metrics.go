package authz

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

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
	ch := make(chan prometheus.Metric, 64)
	go func() { m.reg.Authz.Collect(ch); close(ch) }()
	for pm := range ch {
		var d dto.Metric
		if pm.Write(&d) != nil {
			continue
		}
		var c Count
		for _, l := range d.GetLabel() {
			switch l.GetName() {
			case "route":
				c.Route = l.GetValue()
			case "kind":
				c.Kind = l.GetValue()
			case "reason":
				c.Reason = l.GetValue()
			}
		}
		if c.Value = uint64(d.GetCounter().GetValue()); c.Value > 0 {
			out = append(out, c)
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
