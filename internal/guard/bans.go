package guard

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
)

const banShards = 32

// banTable is the local view of the bans: client address -> end of the
// ban (unix nanoseconds). Lookups take one shard's read lock and never
// allocate; with no ban at all they take no lock.
type banTable struct {
	seed   maphash.Seed
	count  atomic.Int64
	shards [banShards]banShard
}

type banShard struct {
	mu sync.RWMutex
	m  map[netip.Addr]int64
}

func newBanTable() *banTable {
	t := &banTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[netip.Addr]int64{}
	}
	return t
}

func (t *banTable) shard(a netip.Addr) *banShard {
	b := a.As16()
	return &t.shards[maphash.Bytes(t.seed, b[:])%banShards]
}

// until returns when a's ban ends (0 when a is not banned at now).
func (t *banTable) until(a netip.Addr, now int64) int64 {
	if t.count.Load() == 0 {
		return 0
	}
	s := t.shard(a)
	s.mu.RLock()
	u := s.m[a]
	s.mu.RUnlock()
	if u <= now {
		return 0
	}
	return u
}

// set bans a until u, keeping the later end when a is already banned.
// It reports whether the ban is new or longer.
func (t *banTable) set(a netip.Addr, u int64) bool {
	s := t.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[a]
	if ok && old >= u {
		return false
	}
	if !ok {
		t.count.Add(1)
	}
	s.m[a] = u
	return true
}

// prune drops the bans that ended before now.
func (t *banTable) prune(now int64) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for a, u := range s.m {
			if u <= now {
				delete(s.m, a)
				t.count.Add(-1)
			}
		}
		s.mu.Unlock()
	}
}
