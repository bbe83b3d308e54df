package authz

import (
	"sort"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/telemetry"
)

// Metrics counts authorization refusals per route, policy kind and reason.
// It lives in the gateway's long-lived state, so reloads do not reset it.
type Metrics struct {
	counters *telemetry.Counters[metricKey]
}

type metricKey struct{ Route, Kind, Reason string }

// MetricsOf returns the gateway's authorization metrics.
func MetricsOf(env pipeline.CompileEnv) (*Metrics, error) {
	if env.State == nil {
		return &Metrics{counters: telemetry.NewCounters[metricKey]()}, nil
	}
	v, err := env.State.Get("authz.metrics", func() (any, error) {
		return &Metrics{counters: telemetry.NewCounters[metricKey]()}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Metrics), nil
}

func (m *Metrics) refused(route, kind, reason string) {
	m.counters.Inc(metricKey{route, kind, reason})
}

// Count is one refusal counter's value.
type Count struct {
	Route, Kind, Reason string
	Value               uint64
}

// Counts returns every refusal counter, sorted, for the metrics endpoint
// and tests.
func (m *Metrics) Counts() []Count {
	out := []Count{}
	m.counters.Each(func(k metricKey, v uint64) {
		out = append(out, Count{k.Route, k.Kind, k.Reason, v})
	})
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
