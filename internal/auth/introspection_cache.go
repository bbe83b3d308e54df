package auth

import (
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/ttlmap"
)

// introspectionCache holds introspection results keyed by the SHA-256 of
// the token (the token itself is never stored): a ttlmap (bounded,
// sharded, expiring; a full shard evicts an expired entry or else a random
// one), so a flood of distinct tokens cannot grow it and an entry is never
// used past its expiry.
type introspectionCache struct {
	m *ttlmap.Map[[32]byte, *introspectionEntry]
}

// introspectionCacheShards spreads one endpoint's cache over locks.
const introspectionCacheShards = 16

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
	return &introspectionCache{m: ttlmap.New[[32]byte, *introspectionEntry](max, introspectionCacheShards, ttlmap.FirstByte)}
}

// get returns a live entry: an active one younger than maxAge, an
// inactive one until its own expiry.
func (c *introspectionCache) get(key *[32]byte, now time.Time, maxAge time.Duration) *introspectionEntry {
	e, ok := c.m.Get(key, now.UnixNano())
	// maxAge is the method's cache_ttl, which bounds an active answer
	// (the cache is shared by the methods that name one endpoint and
	// client, each with its own). An inactive answer keeps its own short
	// life whatever the ttl, even cache_ttl: 0s: a flood of one refused
	// token still costs one call per introspectionNegativeTTL.
	if !ok || (e.res.Active && now.Sub(e.fetched) >= maxAge) {
		return nil
	}
	return e
}

// put stores e until its expiry (an entry already dead is not stored).
func (c *introspectionCache) put(key *[32]byte, e *introspectionEntry) {
	c.m.Put(key, e, e.expires.UnixNano(), e.fetched.UnixNano())
}

func (c *introspectionCache) len() int { return c.m.Len() }

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
