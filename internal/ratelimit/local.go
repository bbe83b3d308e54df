package ratelimit

import (
	"slices"

	"github.com/portcullis/portcullis/internal/ttlmap"
)

// numShards spreads keys over independent locks: no global lock, and
// contention only between requests whose keys share a shard.
const numShards = 64

// DefaultMaxKeys bounds the local store's memory: at about 100 bytes a
// key, the default costs some 25 MiB at most.
const DefaultMaxKeys = 1 << 18

// Local is the in-memory store: GCRA state per key in a ttlmap.Strings
// (sharded by a seeded hash of the key, each shard under its own lock and
// bounded), an entry expiring at the latest of its TATs, after which it
// says nothing a missing one would not. When a shard is full, a new key
// first sweeps the expired entries (a TAT in the past means a full
// bucket, the same as no entry), then, if the shard is still above 7/8 of
// its bound, drops the entries whose TATs are oldest until it is not
// (ttlmap's WithEvictOldest): a key in use has the newest TAT, so it is
// never the one dropped. Eviction is amortised: a full sweep frees at
// least an eighth of the shard. A key evicted before its TAT passed
// starts again with a full burst: the price of bounded memory under a
// flood of distinct keys. Deciding for a key already held allocates
// nothing: the key is looked up as bytes and its TATs changed in place.
type Local struct {
	m *ttlmap.Strings[[MaxLimits]int64]
}

// NewLocal returns a local store holding at most about maxKeys keys
// (DefaultMaxKeys when maxKeys <= 0).
func NewLocal(maxKeys int) *Local {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	perShard := max(maxKeys/numShards, 8)
	return &Local{m: ttlmap.NewStrings[[MaxLimits]int64](perShard*numShards, numShards).WithEvictOldest()}
}

// allow decides one request for key at now (microseconds). A refused
// request stores nothing: it consumes nothing, and a new key refused
// (impossible: a key without state has its full burst) would not take a
// place in the store.
func (l *Local) allow(now int64, key []byte, ps []param) Result {
	res := Result{Now: now}
	n := len(ps)
	l.m.UpdateBytes(key, now, func(tat *[MaxLimits]int64, _ bool) (int64, bool) {
		res.Allowed, res.Wait = gcra(now, ps, tat[:n], res.TAT[:n])
		if !res.Allowed {
			return 0, false
		}
		*tat = res.TAT
		return slices.Max(res.TAT[:n]), true
	})
	return res
}

// Len is the number of keys held (for tests and metrics).
func (l *Local) Len() int { return l.m.Len() }
