package validate

import (
	"hash/maphash"
	"time"

	"github.com/portcullis/portcullis/internal/ttlmap"
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
	m *ttlmap.Map[string, struct{}] // key -> (its expiry); Add never evicts a live one
}

const (
	nonceShards   = 64
	nonceShardCap = 4096 // 262,144 nonces in all
)

func newNonceStore(shardCap int) *nonceStore {
	seed := maphash.MakeSeed()
	return &nonceStore{m: ttlmap.New[string, struct{}](shardCap*nonceShards, nonceShards,
		func(k string) int { return int(maphash.String(seed, k) % nonceShards) })} // #nosec G115 -- reduced below 64
}

// nonceResult is what add decided.
type nonceResult int

const (
	nonceFresh nonceResult = iota
	nonceReplayed
	nonceFull
)

// add records key until expiry. A key already held and not yet expired is
// a replay; a shard full of live keys refuses (ttlmap.Map.Add).
func (s *nonceStore) add(key string, expiry, now time.Time) nonceResult {
	switch s.m.Add(&key, struct{}{}, expiry.UnixNano(), now.UnixNano()) {
	case ttlmap.Present:
		return nonceReplayed
	case ttlmap.Full:
		return nonceFull
	}
	return nonceFresh
}
