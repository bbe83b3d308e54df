package protect

import (
	"hash/maphash"
	"sync"
	"time"
)

// nonceStore is the in-memory replay store (signature_replay.go): it
// remembers what accepted signatures used up (nonce or signature) until the
// signature could no longer pass the clock-skew check, so a captured
// request cannot be sent again. It is sharded to keep lock contention low
// and bounded: when a shard is full of live nonces, new ones are refused
// (failing closed) rather than forgetting a live one, which would reopen
// a replay window. Only requests with a valid signature reach the store,
// so only a key holder can fill it.
type nonceStore struct {
	seed     maphash.Seed
	shardCap int
	shards   [nonceShards]nonceShard
}

const (
	nonceShards   = 64
	nonceShardCap = 4096 // 262,144 nonces in all
)

type nonceShard struct {
	mu sync.Mutex
	m  map[string]int64 // key -> expiry, unix nanoseconds
	// minExp is the earliest expiry held: a full shard is swept only
	// when something in it has expired.
	minExp int64
}

func newNonceStore(shardCap int) *nonceStore {
	s := &nonceStore{seed: maphash.MakeSeed(), shardCap: shardCap}
	for i := range s.shards {
		s.shards[i].m = make(map[string]int64)
	}
	return s
}

// nonceResult is what add decided.
type nonceResult int

const (
	nonceFresh nonceResult = iota
	nonceReplayed
	nonceFull
)

// add records key until expiry. A key already held and not yet expired is
// a replay.
func (s *nonceStore) add(key string, expiry, now time.Time) nonceResult {
	sh := &s.shards[maphash.String(s.seed, key)%nonceShards]
	n, exp := now.UnixNano(), expiry.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e, ok := sh.m[key]; ok && e > n {
		return nonceReplayed
	}
	if len(sh.m) >= s.shardCap {
		if sh.minExp > n {
			return nonceFull
		}
		sh.minExp = exp
		for k, e := range sh.m {
			if e <= n {
				delete(sh.m, k)
			} else if e < sh.minExp {
				sh.minExp = e
			}
		}
		if len(sh.m) >= s.shardCap {
			return nonceFull
		}
	}
	if len(sh.m) == 0 || exp < sh.minExp {
		sh.minExp = exp
	}
	sh.m[key] = exp
	return nonceFresh
}
