package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"sync"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// basicCache remembers successful Basic verifications for a short time, so
// that a client sending the same credentials on every request does not
// pay a bcrypt or argon2id check each time (about 50 ms at bcrypt cost 10).
//
// Entries are keyed by SHA-256(secret || username ":" password), where the
// secret is random per process and never leaves memory: the cache holds no
// fast, unkeyed hash of a password that a memory dump could turn into a
// dictionary attack. Each entry also records the stored hash it was
// verified against, so a changed or removed credential stops matching at
// the next reload. Only successes are cached. One cache serves every
// route; each route's cache_ttl bounds its own entries' life.
type basicCache struct {
	secret [32]byte
	shards [basicCacheShards]basicCacheShard
}

const (
	basicCacheShards   = 16
	basicCacheCapacity = 10000 // entries in all
	// basicMaxCredentials bounds the decoded "user:password": a hard limit
	// that keeps the cache key on the stack.
	basicMaxCredentials = 512
)

type basicCacheShard struct {
	mu sync.Mutex
	m  map[[32]byte]basicCacheEntry
}

type basicCacheEntry struct {
	hash    string // the configured password hash verified against
	expires int64  // unix nanoseconds
}

func basicCacheOf(state *pipeline.Memo) (*basicCache, error) {
	v, err := state.Get("auth.basic.cache", func() (any, error) {
		c := &basicCache{}
		if _, err := rand.Read(c.secret[:]); err != nil {
			return nil, err
		}
		for i := range c.shards {
			c.shards[i].m = map[[32]byte]basicCacheEntry{}
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*basicCache), nil
}

// key is the cache key of user:password.
func (c *basicCache) key(user, password []byte) [32]byte {
	var buf [32 + basicMaxCredentials + 1]byte
	n := copy(buf[:], c.secret[:])
	n += copy(buf[n:], user)
	buf[n] = ':'
	n++
	n += copy(buf[n:], password)
	return sha256.Sum256(buf[:n])
}

func (c *basicCache) shard(k *[32]byte) *basicCacheShard { return &c.shards[k[0]%basicCacheShards] }

// hit reports whether k was verified against hash and has not expired.
func (c *basicCache) hit(k *[32]byte, hash string, now int64) bool {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[*k]
	if !ok {
		return false
	}
	if now >= e.expires || e.hash != hash {
		delete(s.m, *k)
		return false
	}
	return true
}

func (c *basicCache) put(k *[32]byte, hash string, expires int64, now int64) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[*k]; !ok && len(s.m) >= basicCacheCapacity/basicCacheShards {
		for ek, e := range s.m {
			if now >= e.expires {
				delete(s.m, ek)
			}
		}
		// Still full: drop an arbitrary entry (map order is random).
		for ek := range s.m {
			if len(s.m) < basicCacheCapacity/basicCacheShards {
				break
			}
			delete(s.m, ek)
		}
	}
	s.m[*k] = basicCacheEntry{hash: hash, expires: expires}
}

func (c *basicCache) len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].m)
		c.shards[i].mu.Unlock()
	}
	return n
}
