package auth

import (
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// The verified-token cache spares a token seen before its parsing (JSON
// decoding is most of an HMAC token's cost) and its signature check (most
// of an RSA, ECDSA or EdDSA token's cost): it is found by the SHA-256 of
// its text.
//
// Design choices:
//   - It lives in the gateway's long-lived state (one for all routes), so a
//     reload does not make every client pay a verification again.
//   - An entry records the fingerprint of the key that verified it (key
//     material and algorithms). A hit is used only when the route, looking
//     the key up again in the current snapshot or JWKS, finds a key with
//     the same fingerprint: a credential removed or replaced in the config,
//     or a key rotated out of a JWKS, stops the token at once instead of
//     letting it live on in the cache until it expires.
//   - Only the signature and the decoded claims are cached. Every request
//     still runs the route's claim checks (time, issuer, audience, required
//     claims) and maps the consumer through the current snapshot.
//   - An entry never outlives the token's exp, nor jwtCacheMaxTTL.
//   - Bounded: jwtCacheEntries in all, split over shards (less lock
//     contention); a full shard evicts an expired entry or a random one.
//     Memory is bounded by entries x max_token_bytes.
const (
	jwtCacheEntries = 10000
	jwtCacheShards  = 16
	jwtCacheMaxTTL  = 10 * time.Minute
	// jwtCacheEvictScan is how many entries a full shard looks at for an
	// expired one before it evicts a random one.
	jwtCacheEvictScan = 8
)

type cacheEntry struct {
	v       *verified
	keyFP   [32]byte
	expires int64 // unix nanoseconds
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*cacheEntry
	_  [40]byte // keep shards on separate cache lines
}

// tokenCache is the verified-token cache.
type tokenCache struct {
	perShard int
	shards   [jwtCacheShards]cacheShard
}

func newTokenCache(entries int) *tokenCache {
	c := &tokenCache{perShard: max(1, entries/jwtCacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*cacheEntry)
	}
	return c
}

// jwtTokenCache returns the gateway's cache (long-lived state).
func jwtTokenCache(state *pipeline.Memo) (*tokenCache, error) {
	v, err := state.Get("auth.jwt.cache", func() (any, error) { return newTokenCache(jwtCacheEntries), nil })
	if err != nil {
		return nil, err
	}
	return v.(*tokenCache), nil
}

func (c *tokenCache) shard(sum *[32]byte) *cacheShard { return &c.shards[sum[0]%jwtCacheShards] }

// get returns the live entry for a token hash, or nil.
func (c *tokenCache) get(sum *[32]byte, now time.Time) *cacheEntry {
	s := c.shard(sum)
	s.mu.RLock()
	e := s.m[*sum]
	s.mu.RUnlock()
	if e == nil || now.UnixNano() >= e.expires {
		return nil
	}
	return e
}

// put stores a verified token until expires (capped by the token's exp
// and jwtCacheMaxTTL); an entry already dead is not stored.
func (c *tokenCache) put(sum *[32]byte, v *verified, keyFP [32]byte, now time.Time) {
	expires := now.Add(jwtCacheMaxTTL).UnixNano()
	if v.hasExp {
		if e := int64(v.exp * 1e9); e < expires {
			expires = e
		}
	}
	nowNs := now.UnixNano()
	if expires <= nowNs {
		return
	}
	e := &cacheEntry{v: v, keyFP: keyFP, expires: expires}
	s := c.shard(sum)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*sum]; !ok && len(s.m) >= c.perShard {
		s.evictOne(nowNs)
	}
	s.m[*sum] = e
}

// evictOne removes an expired entry among the first few the map yields, or
// else the first one: Go randomizes map iteration, so that is a random
// eviction, which needs no bookkeeping on the read path.
func (s *cacheShard) evictOne(nowNs int64) {
	var victim [32]byte
	n := 0
	for k, e := range s.m {
		if e.expires <= nowNs {
			delete(s.m, k)
			return
		}
		if n == 0 {
			victim = k
		}
		if n++; n >= jwtCacheEvictScan {
			break
		}
	}
	delete(s.m, victim)
}

// evict removes a token's entry.
func (c *tokenCache) evict(sum *[32]byte) {
	s := c.shard(sum)
	s.mu.Lock()
	delete(s.m, *sum)
	s.mu.Unlock()
}

// len is the number of entries (tests).
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
