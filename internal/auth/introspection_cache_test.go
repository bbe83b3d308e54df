package auth

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
)

// TestIntrospectionCacheRules: an entry is not used at or past its expiry
// nor once older than the route's cache_ttl, and a flood of distinct
// tokens cannot grow the cache past its bound.
func TestIntrospectionCacheRules(t *testing.T) {
	c := newIntrospectionCache(64)
	now := time.Unix(1_800_000_000, 0)
	key := sha256.Sum256([]byte("tok"))
	c.put(&key, &introspectionEntry{res: introspected{Active: true}, fetched: now, expires: now.Add(time.Minute)})
	if c.get(&key, now.Add(59*time.Second), time.Hour) == nil {
		t.Fatal("a live entry was not found")
	}
	if c.get(&key, now.Add(time.Minute), time.Hour) != nil {
		t.Error("an entry was used at its expiry")
	}
	if c.get(&key, now.Add(30*time.Second), 30*time.Second) != nil {
		t.Error("an entry was used at the route's cache_ttl")
	}
	dead := sha256.Sum256([]byte("dead"))
	c.put(&dead, &introspectionEntry{fetched: now, expires: now})
	if c.len() != 1 {
		t.Errorf("an entry dead when stored was kept (%d entries)", c.len())
	}
	for i := range 10_000 {
		k := sha256.Sum256([]byte(fmt.Sprint("flood-", i)))
		c.put(&k, &introspectionEntry{fetched: now, expires: now.Add(time.Hour)})
	}
	if n := c.len(); n > 64 {
		t.Errorf("holds %d entries, bound 64", n)
	}
}
