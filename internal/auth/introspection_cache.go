package auth

import (
	"sync"
	"time"
)

// introspectionCache holds introspection results keyed by the SHA-256 of
// the token (the token itself is never stored). It is bounded; when full
// it drops expired entries first, then arbitrary ones.
type introspectionCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[32]byte]*introspectionEntry
}

// introspectionEntry is one cached result. Entries are immutable once stored.
type introspectionEntry struct {
	res     introspected
	fetched time.Time
	expires time.Time // never after the token's exp
	credID  string    // first 16 hex digits of the token hash
	claims  map[string]any
	expired bool // active by the server's word, but past its exp
}

// introspectionNegativeTTL is how long an inactive token's result is kept: short, but
// long enough that a flood of one bad token costs one call per period.
const introspectionNegativeTTL = 10 * time.Second

func newIntrospectionCache(max int) *introspectionCache {
	return &introspectionCache{max: max, entries: map[[32]byte]*introspectionEntry{}}
}

// get returns a live entry whose age is below maxAge.
func (c *introspectionCache) get(key [32]byte, now time.Time, maxAge time.Duration) *introspectionEntry {
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) || now.Sub(e.fetched) >= maxAge {
		return nil
	}
	return e
}

func (c *introspectionCache) put(key [32]byte, e *introspectionEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.evictLocked(e.fetched)
	}
	c.entries[key] = e
}

// evictLocked frees at least a tenth of the cache: expired entries first,
// then whatever map iteration yields (Go randomizes its start).
func (c *introspectionCache) evictLocked(now time.Time) {
	target := c.max - c.max/10 - 1
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) <= target {
			break
		}
		delete(c.entries, k)
	}
}

func (c *introspectionCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// introspectionFlights makes concurrent misses for the same token share one
// introspection call.
type introspectionFlights struct {
	mu sync.Mutex
	m  map[[32]byte]*introspectionFlight
}

type introspectionFlight struct {
	done  chan struct{}
	entry *introspectionEntry
	err   error
}

// do runs fn once per key at a time; callers that arrive meanwhile get
// its result. wait is called by those late callers to block until done
// (so they can also give up when their own request ends).
func (f *introspectionFlights) do(key [32]byte, fn func() (*introspectionEntry, error), wait func(<-chan struct{}) bool) (*introspectionEntry, error) {
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		f.mu.Unlock()
		if !wait(fl.done) {
			return nil, errIntrospectionAbandoned
		}
		return fl.entry, fl.err
	}
	fl := &introspectionFlight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.m, key)
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.entry, fl.err = fn()
	return fl.entry, fl.err
}
