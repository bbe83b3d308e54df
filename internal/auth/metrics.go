package auth

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Metrics counts authentication outcomes per route, method and reason. It
// lives in the gateway's long-lived state, so reloads do not reset it.
type Metrics struct {
	mu       sync.RWMutex
	counters map[metricKey]*atomic.Uint64
}

type metricKey struct {
	Route, Method, Outcome, Reason string
}

// MetricsOf returns the gateway's authentication metrics.
func MetricsOf(env pipeline.CompileEnv) (*Metrics, error) {
	v, err := env.State.Get("auth.metrics", func() (any, error) {
		return &Metrics{counters: map[metricKey]*atomic.Uint64{}}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Metrics), nil
}

func (m *Metrics) inc(k metricKey) {
	m.mu.RLock()
	c := m.counters[k]
	m.mu.RUnlock()
	if c == nil {
		m.mu.Lock()
		if c = m.counters[k]; c == nil {
			c = new(atomic.Uint64)
			m.counters[k] = c
		}
		m.mu.Unlock()
	}
	c.Add(1)
}

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
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Count, 0, len(m.counters))
	for k, c := range m.counters {
		out = append(out, Count{k.Route, k.Method, k.Outcome, k.Reason, c.Load()})
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
func CountsOf(state *pipeline.Memo) []Count {
	m, err := MetricsOf(pipeline.CompileEnv{State: state})
	if err != nil {
		return nil
	}
	return m.Counts()
}
