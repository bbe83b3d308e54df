package auth

import (
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/ttlmap"
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
//   - Only the signature, the decoded claims and the identity they map to
//     are cached. Every request still runs the route's claim checks (time,
//     issuer, audience, required claims); the identity is reused only by the
//     route (one snapshot's method) and key that made it, so a reload maps
//     the consumer through the new snapshot.
//   - An entry never outlives the token's exp, nor jwtCacheMaxTTL.
//   - Bounded: jwtCacheEntries in all, split over shards (less lock
//     contention); a full shard evicts an expired entry or a random one
//     (internal/ttlmap). Memory is bounded by entries x max_token_bytes.
const (
	jwtCacheEntries = 10000
	jwtCacheShards  = 16
	jwtCacheMaxTTL  = 10 * time.Minute
)

type cacheEntry struct {
	v       *verified
	keyFP   [32]byte
	expires int64 // unix nanoseconds
	// id is the identity the token last mapped to, and for which route
	// (method, built once per snapshot with that snapshot's consumers) and
	// key: a hit from the same route and key reuses it instead of
	// allocating the same identity again. Another route, a reload (a new
	// method, perhaps other consumers) or a key found anew maps it again.
	// Identities are read-only once made (as the anonymous one, shared by
	// every anonymous request).
	id atomic.Pointer[entryIdentity]
}

// entryIdentity is a cache entry's identity and what it was mapped with.
type entryIdentity struct {
	m   *jwtMethod
	key *verifyKey
	id  *pipeline.Identity
}

// tokenCache is the verified-token cache: a ttlmap (bounded, sharded,
// expiring; a full shard evicts an expired entry or a random one) keyed
// by the token's SHA-256.
type tokenCache struct {
	m *ttlmap.Map[[32]byte, *cacheEntry]
}

func newTokenCache(entries int) *tokenCache {
	return &tokenCache{m: ttlmap.New[[32]byte, *cacheEntry](entries, jwtCacheShards, ttlmap.FirstByte)}
}

// jwtTokenCache returns the gateway's cache (long-lived state).
func jwtTokenCache(state *pipeline.SharedValues) (*tokenCache, error) {
	v, err := state.Get("auth.jwt.cache", func() (any, error) { return newTokenCache(jwtCacheEntries), nil })
	if err != nil {
		return nil, err
	}
	return v.(*tokenCache), nil
}

// get returns the live entry for a token hash, or nil.
func (c *tokenCache) get(sum *[32]byte, now time.Time) *cacheEntry {
	e, _ := c.m.Get(sum, now.UnixNano())
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
	c.m.Put(sum, &cacheEntry{v: v, keyFP: keyFP, expires: expires}, expires, now.UnixNano())
}

// evict removes a token's entry.
func (c *tokenCache) evict(sum *[32]byte) { c.m.Delete(sum) }

// len is the number of entries (tests).
func (c *tokenCache) len() int { return c.m.Len() }
