package ratelimit

import (
	"hash/maphash"
	"slices"
	"sync"
)

// numShards spreads keys over independent locks: no global lock, and
// contention only between requests whose keys share a shard.
const numShards = 64

// DefaultMaxKeys bounds the local store's memory: at about 100 bytes a
// key, the default costs some 25 MiB at most.
const DefaultMaxKeys = 1 << 18

// Local is the in-memory store: GCRA state per key, sharded by key hash,
// each shard a map under its own mutex with a cap on its size. When a shard
// is full, a new key first sweeps the expired entries (a TAT in the past
// means a full bucket, the same as no entry), then, if the shard is still
// above 7/8 of its cap, drops the entries whose TATs are oldest until it is
// not. Eviction is amortised: a full sweep frees at least an eighth of the
// shard. A key evicted before its TAT passed starts again with a full
// burst: the price of bounded memory under a flood of distinct keys.
type Local struct {
	seed     maphash.Seed
	shardCap int
	shards   [numShards]shard
}

type shard struct {
	mu sync.Mutex
	m  map[string]*entry // pointers: updating a known key allocates nothing
	_  [40]byte          // keep shards on separate cache lines
}

// entry is one key's state: a TAT per limit and the latest of them, after
// which the entry says nothing a missing one would not.
type entry struct {
	tat [MaxLimits]int64
	exp int64
}

// NewLocal returns a local store holding at most about maxKeys keys
// (DefaultMaxKeys when maxKeys <= 0).
func NewLocal(maxKeys int) *Local {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	l := &Local{seed: maphash.MakeSeed(), shardCap: max(maxKeys/numShards, 8)}
	for i := range l.shards {
		l.shards[i].m = make(map[string]*entry)
	}
	return l
}

// allow decides one request for key at now (microseconds).
func (l *Local) allow(now int64, key []byte, ps []param) Result {
	sh := &l.shards[maphash.Bytes(l.seed, key)%numShards]
	res := Result{Now: now}
	n := len(ps)
	sh.mu.Lock()
	e := sh.m[string(key)]
	var stored [MaxLimits]int64
	if e != nil && e.exp > now { // an expired entry is the same as none
		stored = e.tat
	}
	var wait int64
	res.Allowed, wait = gcra(now, ps, stored[:n], res.TAT[:n])
	if res.Allowed {
		if e == nil {
			if len(sh.m) >= l.shardCap {
				sh.evict(now, l.shardCap)
			}
			e = new(entry)
			sh.m[string(key)] = e
		}
		e.tat = res.TAT
		e.exp = slices.Max(res.TAT[:n])
	}
	sh.mu.Unlock()
	res.Wait = wait
	return res
}

// evict makes room in a full shard; the caller holds its lock.
func (sh *shard) evict(now int64, capacity int) {
	for k, e := range sh.m {
		if e.exp <= now {
			delete(sh.m, k)
		}
	}
	target := capacity * 7 / 8
	if len(sh.m) <= target {
		return
	}
	exps := make([]int64, 0, len(sh.m))
	for _, e := range sh.m {
		exps = append(exps, e.exp)
	}
	slices.Sort(exps)
	cut := exps[len(exps)-target-1] // entries expiring no later than this go
	for k, e := range sh.m {
		if len(sh.m) <= target {
			break
		}
		if e.exp <= cut {
			delete(sh.m, k)
		}
	}
}

// Len is the number of keys held (for tests and metrics).
func (l *Local) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
