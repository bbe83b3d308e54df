package telemetry

import (
	"sync"
	"sync/atomic"
)

// Counters is a set of monotonically increasing counters keyed by a small
// comparable label struct (route, method, reason...). Incrementing an
// existing counter takes a read lock and an atomic add; policies keep one
// in the gateway's long-lived state so reloads do not reset it.
type Counters[K comparable] struct {
	mu sync.RWMutex
	m  map[K]*atomic.Uint64
}

// NewCounters returns an empty set.
func NewCounters[K comparable]() *Counters[K] {
	return &Counters[K]{m: map[K]*atomic.Uint64{}}
}

// Inc adds one to the counter labelled k, creating it at first use.
func (c *Counters[K]) Inc(k K) {
	c.mu.RLock()
	n := c.m[k]
	c.mu.RUnlock()
	if n == nil {
		c.mu.Lock()
		if n = c.m[k]; n == nil {
			n = new(atomic.Uint64)
			c.m[k] = n
		}
		c.mu.Unlock()
	}
	n.Add(1)
}

// Each calls f with every counter's labels and value, in no order.
func (c *Counters[K]) Each(f func(k K, v uint64)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for k, n := range c.m {
		f(k, n.Load())
	}
}
