// Package ttlmap is the gateway's one bounded, sharded map whose entries
// expire: the shape every per-process cache and table of the request path
// needs (verified JWTs, verified Basic credentials, introspection results,
// replay nonces, intrusion detection windows, bans).
//
// Why a type of its own: each of those tables must stay bounded under any
// traffic (an attacker chooses the keys), must not serialize every request
// on one lock, and must never return a dead entry. Written by hand each
// time, the three rules drift apart; here they are written once:
//
//   - Bounded: at most Capacity entries, split evenly over the shards. A
//     full shard that gets a new key first drops an expired entry among the
//     first EvictScan it looks at, else one of those at random (Go
//     randomizes map iteration), so eviction needs no bookkeeping on the
//     read path and a flood of new keys cannot grow the map. Add is the
//     fail-closed variant: it never evicts a live entry and refuses instead.
//   - Sharded by the caller's shard function (a byte of a hash the key
//     already is), each shard behind its own RWMutex on its own cache line:
//     reads of different shards never contend, reads of one shard share.
//   - Expiry is checked on every read: an entry at or past its expiry is
//     never returned. Time is the caller's (unix nanoseconds), so tests and
//     callers with a clock of their own control it.
//
// A table that must never drop a live entry to make room (bans) is made
// with capacity math.MaxInt and removes entries only by Delete and Prune.
package ttlmap

import (
	"sync"
	"sync/atomic"
)

// EvictScan is how many entries a full shard looks at for an expired one
// before it evicts one at random.
const EvictScan = 8

// Map is a bounded, sharded map from K to V whose entries expire.
type Map[K comparable, V any] struct {
	perShard  int
	evictScan int
	shardOf   func(K) int
	shards    []shard[K, V]
	count     atomic.Int64 // entries held, expired ones not yet removed included
}

type entry[V any] struct {
	v       V
	expires int64 // unix nanoseconds
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]entry[V]
	// minExp is at most the earliest expiry held (a lower bound): Add
	// sweeps a full shard only when something in it may have expired.
	minExp int64
	_      [32]byte // keep shards on separate cache lines
}

// New makes a map of at most capacity entries (at least one per shard) in
// shards shards; shardOf maps a key to its shard, any int (it is reduced
// modulo shards). Keys are passed by pointer and never escape: a lookup
// allocates nothing.
func New[K comparable, V any](capacity, shards int, shardOf func(K) int) *Map[K, V] {
	shards = max(1, shards)
	m := &Map[K, V]{perShard: max(1, capacity/shards), evictScan: EvictScan, shardOf: shardOf, shards: make([]shard[K, V], shards)}
	for i := range m.shards {
		m.shards[i].m = make(map[K]entry[V])
	}
	return m
}

func (m *Map[K, V]) shard(k *K) *shard[K, V] {
	i := m.shardOf(*k) % len(m.shards) // by value: an indirect call would make *k escape
	if i < 0 {
		i += len(m.shards)
	}
	return &m.shards[i]
}

// Get returns k's value if it has one that has not expired at now.
func (m *Map[K, V]) Get(k *K, now int64) (v V, ok bool) {
	s := m.shard(k)
	s.mu.RLock()
	e, found := s.m[*k]
	s.mu.RUnlock()
	if !found || now >= e.expires {
		return v, false
	}
	return e.v, true
}

// Put stores v for k until expires. An entry already dead at now is not
// stored. A new key in a full shard evicts one entry first (see the
// package doc).
func (m *Map[K, V]) Put(k *K, v V, expires, now int64) {
	if expires <= now {
		return
	}
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*k]; !ok && len(s.m) >= m.perShard {
		m.count.Add(-s.evictOne(now, m.evictScan))
	}
	m.store(s, k, v, expires)
}

// WithEvictScan sets how many entries a full shard looks at for an
// expired one (EvictScan by default); call it before the map is used.
func (m *Map[K, V]) WithEvictScan(n int) *Map[K, V] {
	m.evictScan = max(1, n)
	return m
}

// Update changes k's entry under its shard's lock: f gets the value k
// holds (found reports whether it has one, live or expired: a value that
// keeps its own history may go on from it) and returns the value to store
// and its expiry. A new key in a full shard evicts an entry first, as Put
// does.
func (m *Map[K, V]) Update(k *K, now int64, f func(v V, found bool) (V, int64)) {
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, found := s.m[*k]
	if !found && len(s.m) >= m.perShard {
		m.count.Add(-s.evictOne(now, m.evictScan))
	}
	v, expires := f(e.v, found)
	m.store(s, k, v, expires)
}

// store sets k's entry; the caller holds the write lock.
func (m *Map[K, V]) store(s *shard[K, V], k *K, v V, expires int64) {
	if len(s.m) == 0 || expires < s.minExp {
		s.minExp = expires
	}
	n := len(s.m)
	s.m[*k] = entry[V]{v: v, expires: expires}
	if len(s.m) > n {
		m.count.Add(1)
	}
}

// AddResult is what Add did.
type AddResult int

const (
	// Added: k had no live entry; v is stored.
	Added AddResult = iota
	// Present: k holds a live entry, left as it was.
	Present
	// Full: k's shard is full of live entries; nothing is stored.
	Full
)

// Add stores v for k until expires unless k holds a live entry. Unlike
// Put it never evicts a live entry: a full shard drops its expired
// entries and, still full, refuses. It is for a table where forgetting a
// live entry would open a hole (replay nonces: a forgotten nonce could be
// replayed), which must then fail closed instead.
func (m *Map[K, V]) Add(k *K, v V, expires, now int64) AddResult {
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[*k]; ok && e.expires > now {
		return Present
	}
	if len(s.m) >= m.perShard {
		if s.minExp > now {
			return Full
		}
		s.minExp = expires
		for ek, e := range s.m {
			if e.expires <= now {
				delete(s.m, ek)
				m.count.Add(-1)
			} else if e.expires < s.minExp {
				s.minExp = e.expires
			}
		}
		if len(s.m) >= m.perShard {
			return Full
		}
	}
	m.store(s, k, v, expires)
	return Added
}

// evictOne removes an expired entry among the first scan the map yields,
// or else the first one.
// It returns how many it removed (0 for an empty shard).
func (s *shard[K, V]) evictOne(now int64, scan int) int64 {
	var victim K
	n := 0
	for k, e := range s.m {
		if e.expires <= now {
			delete(s.m, k)
			return 1
		}
		if n == 0 {
			victim = k
		}
		if n++; n >= scan {
			break
		}
	}
	if n == 0 {
		return 0
	}
	delete(s.m, victim)
	return 1
}

// Delete removes k's entry.
func (m *Map[K, V]) Delete(k *K) {
	s := m.shard(k)
	s.mu.Lock()
	if _, ok := s.m[*k]; ok {
		delete(s.m, *k)
		m.count.Add(-1)
	}
	s.mu.Unlock()
}

// Prune removes every entry expired at now.
func (m *Map[K, V]) Prune(now int64) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.expires <= now {
				delete(s.m, k)
				m.count.Add(-1)
			}
		}
		s.mu.Unlock()
	}
}

// Range calls f for every entry held, expired ones not yet removed
// included, one shard's read lock at a time (f must not use the map).
func (m *Map[K, V]) Range(f func(k K, v V, expires int64)) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for k, e := range s.m {
			f(k, e.v, e.expires)
		}
		s.mu.RUnlock()
	}
}

// Count is the number of entries held, read without a lock (one atomic
// load): a caller's fast path when the map is usually empty.
func (m *Map[K, V]) Count() int64 { return m.count.Load() }

// Len is the number of entries, expired ones not yet evicted included.
func (m *Map[K, V]) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// Capacity is the most entries the map holds.
func (m *Map[K, V]) Capacity() int { return m.perShard * len(m.shards) }

// FirstByte is a shard function for keys that are already hashes.
func FirstByte(k [32]byte) int { return int(k[0]) }
