package auth

import (
	"crypto/rand"
	"crypto/sha256"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/ttlmap"
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
// route; each route's cache_ttl bounds its own entries' life. Bounded and
// sharded as every such table is (internal/ttlmap).
type basicCache struct {
	secret [32]byte
	m      *ttlmap.Map[[32]byte, string] // key -> the password hash verified against
}

const (
	basicCacheShards   = 16
	basicCacheCapacity = 10000 // entries in all
	// basicMaxCredentials bounds the decoded "user:password": a hard limit
	// that keeps the cache key on the stack.
	basicMaxCredentials = 512
)

func basicCacheOf(state *pipeline.SharedValues) (*basicCache, error) {
	v, err := state.Get("auth.basic.cache", func() (any, error) {
		c := &basicCache{m: ttlmap.New[[32]byte, string](basicCacheCapacity, basicCacheShards, ttlmap.FirstByte)}
		if _, err := rand.Read(c.secret[:]); err != nil {
			return nil, err
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

// hit reports whether k was verified against hash and has not expired; an
// entry verified against another hash (a changed credential) is dropped.
func (c *basicCache) hit(k *[32]byte, hash string, now int64) bool {
	h, ok := c.m.Get(k, now)
	if ok && h != hash {
		c.m.Delete(k)
		return false
	}
	return ok
}

func (c *basicCache) put(k *[32]byte, hash string, expires int64, now int64) {
	c.m.Put(k, hash, expires, now)
}

func (c *basicCache) len() int { return c.m.Len() }
