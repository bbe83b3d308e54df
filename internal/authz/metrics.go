package authz

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Metrics counts authorization refusals per route, policy kind and reason.
// It lives in the gateway's long-lived state, so reloads do not reset it.
type Metrics struct {
	mu       sync.RWMutex
	counters map[metricKey]*atomic.Uint64
}

type metricKey struct{ Route, Kind, Reason string }

// MetricsOf returns the gateway's authorization metrics.
func MetricsOf(env pipeline.CompileEnv) (*Metrics, error) {
	if env.State == nil {
		return &Metrics{counters: map[metricKey]*atomic.Uint64{}}, nil
	}
	v, err := env.State.Get("authz.metrics", func() (any, error) {
		return &Metrics{counters: map[metricKey]*atomic.Uint64{}}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Metrics), nil
}

func (m *Metrics) refused(route, kind, reason string) {
	k := metricKey{route, kind, reason}
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

// Count is one refusal counter's value.
type Count struct {
	Route, Kind, Reason string
	Value               uint64
}

// Counts returns every refusal counter, sorted, for the metrics endpoint
// and tests.
func (m *Metrics) Counts() []Count {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Count, 0, len(m.counters))
	for k, c := range m.counters {
		out = append(out, Count{k.Route, k.Kind, k.Reason, c.Load()})
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
