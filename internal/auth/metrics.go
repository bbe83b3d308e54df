package auth

import (
	"sort"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/telemetry"
)

// Metrics counts authentication outcomes per route, method and reason. It
// lives in the gateway's long-lived state, so reloads do not reset it.
type Metrics struct {
	counters *telemetry.Counters[metricKey]
}

type metricKey struct {
	Route, Method, Outcome, Reason string
}

// MetricsOf returns the gateway's authentication metrics.
func MetricsOf(env pipeline.CompileEnv) (*Metrics, error) {
	v, err := env.State.Get("auth.metrics", func() (any, error) {
		return &Metrics{counters: telemetry.NewCounters[metricKey]()}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Metrics), nil
}

func (m *Metrics) inc(k metricKey) { m.counters.Inc(k) }

func (m *Metrics) success(route, method string) {
	m.inc(metricKey{Route: route, Method: method, Outcome: "success"})
}

func (m *Metrics) failure(route, method, reason string) {
	m.inc(metricKey{Route: route, Method: method, Outcome: "failure", Reason: reason})
}

// Count is one counter's value.
type Count struct {
	Route, Method, Outcome, Reason string
	Value                          uint64
}

// Counts returns every counter, sorted, for the metrics endpoint and tests.
func (m *Metrics) Counts() []Count {
	out := []Count{}
	m.counters.Each(func(k metricKey, v uint64) {
		out = append(out, Count{k.Route, k.Method, k.Outcome, k.Reason, v})
	})
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
func CountsOf(state *pipeline.Memo) []Count {
	m, err := MetricsOf(pipeline.CompileEnv{State: state})
	if err != nil {
		return nil
	}
	return m.Counts()
}
