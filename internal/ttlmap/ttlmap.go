// Package ttlmap is the gateway's one bounded, sharded map whose entries
// expire: the shape every per-process cache and table of the request path
// needs (verified JWTs, verified Basic credentials, introspection results,
// replay nonces, intrusion detection windows, bans, local rate limit
// state, signed identity assertions, OCSP answers, the mtls method's
// lookup results).
//
// Why a type of its own: each of those tables must stay bounded under any
// traffic (an attacker chooses the keys), must not serialize every request
// on one lock, and must never return a dead entry. Written by hand each
// time, the three rules drift apart; here they are written once:
//
//   - Bounded: at most Capacity entries, split evenly over the shards. A
//     full shard that gets a new key first drops an expired entry among
//     EvictScan entries from a random one on, else that random one, so
//     eviction needs no bookkeeping on the read path and a flood of new keys cannot grow the map (a map made
//     WithEvictOldest evicts by expiry instead, below). Add is the
//     fail-closed variant: it never evicts a live entry and refuses instead.
//   - Sharded by the caller's shard function (a byte of a hash the key
//     already is; Strings: a seeded hash of the key), each shard behind its own RWMutex on its own cache line:
//     reads of different shards never contend, reads of one shard share.
//   - Expiry is checked on every read: an entry at or past its expiry is
//     never returned. Time is the caller's (unix nanoseconds), so tests and
//     callers with a clock of their own control it.
//
// A table that must never drop a live entry to make room (bans) is made
// with capacity math.MaxInt and removes entries only by Delete and Prune.
//
// A table whose least recently refreshed entries are the ones to lose
// (rate limit state: an entry's expiry moves forward each time its key is
// used) evicts by expiry instead (WithEvictOldest): a full shard drops its
// expired entries and then, if still above 7/8 of its bound, the entries
// that expire first until it is not; a key in use is never the one that
// goes while a colder one is held, and the work is amortised over the
// eighth of the shard it frees.
//
// Each shard keeps its entries in a slice and maps a key to its slot, so
// an entry is changed in place: updating a key that is held allocates
// nothing, even for a string key given as bytes (Strings).
package ttlmap

import (
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
)

// EvictScan is how many entries a full shard looks at for an expired one
// before it evicts a random one.
const EvictScan = 8

// Map is a bounded, sharded map from K to V whose entries expire.
type Map[K comparable, V any] struct {
	perShard  int
	evictScan int
	oldest    bool // WithEvictOldest
	shardOf   func(K) int
	shards    []shard[K, V]
	count     atomic.Int64 // entries held, expired ones not yet removed included
}

type slot[K comparable, V any] struct {
	k       K
	v       V
	expires int64 // unix nanoseconds
}

type shard[K comparable, V any] struct {
	mu    sync.RWMutex
	idx   map[K]int // key -> its slot
	slots []slot[K, V]
	// minExp is at most the earliest expiry held (a lower bound): Add
	// sweeps a full shard only when something in it may have expired.
	minExp int64
	// scratch is the value UpdateBytes hands f for a key without a live
	// entry (guarded by mu).
	scratch V
	_       [32]byte // keep shards on separate cache lines
}

// New makes a map of at most capacity entries (at least one per shard) in
// shards shards; shardOf maps a key to its shard, any int (it is reduced
// modulo shards). Keys are passed by pointer and never escape: a lookup
// allocates nothing.
func New[K comparable, V any](capacity, shards int, shardOf func(K) int) *Map[K, V] {
	m := new(Map[K, V])
	m.init(capacity, shards, shardOf)
	return m
}

func (m *Map[K, V]) init(capacity, shards int, shardOf func(K) int) {
	shards = max(1, shards)
	m.perShard, m.evictScan, m.shardOf = max(1, capacity/shards), EvictScan, shardOf
	m.shards = make([]shard[K, V], shards)
	for i := range m.shards {
		m.shards[i].idx = make(map[K]int)
	}
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
	i, found := s.idx[*k]
	var expires int64
	if found {
		v, expires = s.slots[i].v, s.slots[i].expires
	}
	s.mu.RUnlock()
	if !found || now >= expires {
		var zero V
		return zero, false
	}
	return v, true
}

// Put stores v for k until expires. An entry already dead at now is not
// stored. A new key in a full shard evicts first (see the package doc).
func (m *Map[K, V]) Put(k *K, v V, expires, now int64) {
	if expires <= now {
		return
	}
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.idx[*k]
	if !found && len(s.slots) >= m.perShard {
		m.evict(s, now)
	}
	m.store(s, *k, i, found, v, expires)
}

// WithEvictScan sets how many entries a full shard looks at for an
// expired one (EvictScan by default); call it before the map is used.
func (m *Map[K, V]) WithEvictScan(n int) *Map[K, V] {
	m.evictScan = max(1, n)
	return m
}

// WithEvictOldest makes a full shard evict by expiry (see the package
// doc) instead of one entry at random; call it before the map is used.
func (m *Map[K, V]) WithEvictOldest() *Map[K, V] {
	m.oldest = true
	return m
}

// Update changes k's entry under its shard's lock: f gets the value k
// holds (found reports whether it has one, live or expired: a value that
// keeps its own history may go on from it) and returns the value to store
// and its expiry. A new key in a full shard evicts first, as Put does.
func (m *Map[K, V]) Update(k *K, now int64, f func(v V, found bool) (V, int64)) {
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, found := s.idx[*k]
	var old V
	if found {
		old = s.slots[i].v
	} else if len(s.slots) >= m.perShard {
		m.evict(s, now)
	}
	v, expires := f(old, found)
	m.store(s, *k, i, found, v, expires)
}

// store sets k's entry, in slot i when found; the caller holds the write
// lock.
func (m *Map[K, V]) store(s *shard[K, V], k K, i int, found bool, v V, expires int64) {
	if found {
		m.set(s, i, v, expires)
	} else {
		m.insert(s, k, v, expires)
	}
}

// set changes slot i in place; the caller holds the write lock.
func (m *Map[K, V]) set(s *shard[K, V], i int, v V, expires int64) {
	if expires < s.minExp {
		s.minExp = expires
	}
	s.slots[i].v, s.slots[i].expires = v, expires
}

// insert adds an entry for k, which has none; the caller holds the write
// lock.
func (m *Map[K, V]) insert(s *shard[K, V], k K, v V, expires int64) {
	if len(s.slots) == 0 || expires < s.minExp {
		s.minExp = expires
	}
	s.idx[k] = len(s.slots)
	s.slots = append(s.slots, slot[K, V]{k: k, v: v, expires: expires})
	m.count.Add(1)
}

// removeAt removes slot i, moving the last slot into its place; the
// caller holds the write lock.
func (m *Map[K, V]) removeAt(s *shard[K, V], i int) {
	last := len(s.slots) - 1
	k := s.slots[i].k
	if i != last {
		s.slots[i] = s.slots[last]
		s.idx[s.slots[i].k] = i
	}
	s.slots[last] = slot[K, V]{} // drop the references it held
	s.slots = s.slots[:last]
	delete(s.idx, k)
	m.count.Add(-1)
}

// sweep removes the entries expired at now and resets minExp; the caller
// holds the write lock. Walking down, a slot moved into place by removeAt
// has already been looked at.
func (m *Map[K, V]) sweep(s *shard[K, V], now int64) {
	minExp, seen := int64(0), false
	for i := len(s.slots) - 1; i >= 0; i-- {
		if e := s.slots[i].expires; e <= now {
			m.removeAt(s, i)
		} else if !seen || e < minExp {
			minExp, seen = e, true
		}
	}
	s.minExp = minExp
}

// evict makes room in a full shard for a new key; the caller holds the
// write lock.
func (m *Map[K, V]) evict(s *shard[K, V], now int64) {
	if m.oldest {
		m.evictOldest(s, now)
		return
	}
	// An expired entry among evictScan slots from a random one on, or
	// else that random one.
	n := len(s.slots)
	if n == 0 {
		return
	}
	start := rand.IntN(n) // #nosec G404 -- spreads evictions; not a secret
	victim := start
	for j := range min(m.evictScan, n) {
		if i := (start + j) % n; s.slots[i].expires <= now {
			victim = i
			break
		}
	}
	m.removeAt(s, victim)
}

// evictOldest drops the expired entries, then, while the shard is above
// 7/8 of its bound, the entries that expire first.
func (m *Map[K, V]) evictOldest(s *shard[K, V], now int64) {
	m.sweep(s, now)
	target := m.perShard * 7 / 8
	if len(s.slots) <= target {
		return
	}
	exps := make([]int64, len(s.slots))
	for i := range s.slots {
		exps[i] = s.slots[i].expires
	}
	slices.Sort(exps)
	cut := exps[len(exps)-target-1] // entries expiring no later than this go
	for i := len(s.slots) - 1; i >= 0 && len(s.slots) > target; i-- {
		if s.slots[i].expires <= cut {
			m.removeAt(s, i)
		}
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
	i, found := s.idx[*k]
	if found && s.slots[i].expires > now {
		return Present
	}
	if !found && len(s.slots) >= m.perShard {
		if s.minExp > now {
			return Full
		}
		m.sweep(s, now)
		if len(s.slots) >= m.perShard {
			return Full
		}
	}
	m.store(s, *k, i, found, v, expires)
	return Added
}

// Delete removes k's entry.
func (m *Map[K, V]) Delete(k *K) {
	s := m.shard(k)
	s.mu.Lock()
	if i, ok := s.idx[*k]; ok {
		m.removeAt(s, i)
	}
	s.mu.Unlock()
}

// Prune removes every entry expired at now.
func (m *Map[K, V]) Prune(now int64) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		m.sweep(s, now)
		s.mu.Unlock()
	}
}

// Range calls f for every entry held, expired ones not yet removed
// included, one shard's read lock at a time (f must not use the map).
func (m *Map[K, V]) Range(f func(k K, v V, expires int64)) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for j := range s.slots {
			f(s.slots[j].k, s.slots[j].v, s.slots[j].expires)
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
		n += len(s.slots)
		s.mu.RUnlock()
	}
	return n
}

// Capacity is the most entries the map holds.
func (m *Map[K, V]) Capacity() int { return m.perShard * len(m.shards) }

// FirstByte is a shard function for keys that are already hashes.
func FirstByte(k [32]byte) int { return int(k[0]) }

// Strings is a Map keyed by strings that can also be read and updated by
// a key given as bytes, which it does not convert: a lookup allocates
// nothing, and an update allocates only the key of a new entry. Keys are
// sharded by a seeded hash (maphash), the same for a key as string or as
// bytes, so a client that picks keys cannot aim them at one shard.
type Strings[V any] struct {
	Map[string, V]
	seed maphash.Seed
	mask uint64 // shards - 1: their number is a power of two
}

// NewStrings makes a Strings map of at most capacity entries in shards
// shards, rounded up to a power of two.
func NewStrings[V any](capacity, shards int) *Strings[V] {
	seed := maphash.MakeSeed()
	n := 1
	for n < shards {
		n <<= 1
	}
	mask := uint64(n - 1) // #nosec G115 -- positive
	m := &Strings[V]{seed: seed, mask: mask}
	m.init(capacity, n, func(k string) int {
		return int(maphash.String(seed, k) & mask) // #nosec G115 -- below the shard count
	})
	return m
}

// WithEvictOldest is Map.WithEvictOldest, returning m.
func (m *Strings[V]) WithEvictOldest() *Strings[V] {
	m.Map.WithEvictOldest()
	return m
}

func (m *Strings[V]) shardBytes(b []byte) *shard[string, V] {
	return &m.shards[maphash.Bytes(m.seed, b)&m.mask]
}

// GetBytes is Get for a key given as bytes.
func (m *Strings[V]) GetBytes(b []byte, now int64) (v V, ok bool) {
	s := m.shardBytes(b)
	s.mu.RLock()
	i, found := s.idx[string(b)] // a lookup: the conversion allocates nothing
	var expires int64
	if found {
		v, expires = s.slots[i].v, s.slots[i].expires
	}
	s.mu.RUnlock()
	if !found || now >= expires {
		var zero V
		return zero, false
	}
	return v, true
}

// UpdateBytes changes the entry of the key given as bytes under its
// shard's lock. f gets the key's value, in place, if it is live at now;
// otherwise the zero V (an expired entry is the same as none: its value is
// zeroed). f may change *v, and returns its expiry and whether to store
// it: with store false a live entry must be left as it was, and a new key
// is not stored. A new key in a full shard evicts first, as Put does, and
// only when f stores. f must not keep v.
func (m *Strings[V]) UpdateBytes(b []byte, now int64, f func(v *V, live bool) (expires int64, store bool)) {
	s := m.shardBytes(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := s.idx[string(b)]; found {
		e := &s.slots[i]
		live := e.expires > now
		if !live {
			var zero V
			e.v = zero
		}
		if expires, ok := f(&e.v, live); ok {
			if expires < s.minExp {
				s.minExp = expires
			}
			e.expires = expires
		}
		return
	}
	// A new key: f works on the shard's scratch value (already on the
	// heap, under this lock: passing it to f allocates nothing).
	var zero V
	s.scratch = zero
	expires, ok := f(&s.scratch, false)
	if !ok {
		return
	}
	if len(s.slots) >= m.perShard {
		m.evict(s, now)
	}
	m.insert(s, string(b), s.scratch, expires) // the one allocation: a new key
}
