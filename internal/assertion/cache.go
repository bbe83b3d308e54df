package assertion

import (
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/ttlmap"
)

// cache holds the signed assertions of one service by route and identity
// (appendKey): a ttlmap (bounded, sharded, expiring; a full shard evicts
// an expired entry or else a random one), read by a key built in a pooled
// buffer without converting it, so a reused assertion costs no
// allocation. An entry expires when its reuse ends (three quarters of the
// assertion's lifetime), so an assertion is never served with less than a
// quarter of its lifetime left, and a flood of identities cannot grow the
// cache past cacheCapacity: it then costs one signature per new identity.
type cache struct {
	m *ttlmap.Strings[[]string] // key -> the header value, shared
}

const (
	// cacheCapacity bounds one service's cache.
	cacheCapacity = 16384
	// cacheShards spreads one service's cache over locks.
	cacheShards = 16
)

func newCache() *cache {
	return &cache{m: ttlmap.NewStrings[[]string](cacheCapacity, cacheShards)}
}

var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// cached returns a reusable assertion for c, signing one when none is
// fresh enough.
func (a *Asserter) cached(c *pipeline.Context, now time.Time) ([]string, error) {
	bp := keyBufs.Get().(*[]byte)
	k := appendKey((*bp)[:0], c)
	if hdr, ok := a.cache.m.GetBytes(k, now.UnixNano()); ok {
		*bp = k
		keyBufs.Put(bp)
		return hdr, nil
	}
	key := string(k)
	*bp = k
	keyBufs.Put(bp)
	tok, err := a.sign(c, now, "", "")
	if err != nil {
		return nil, err
	}
	// Reused while at least a quarter of the lifetime is left; exp is in
	// whole seconds, so count from the truncated issue time.
	hdr := []string{tok}
	reuseUntil := now.Truncate(time.Second).Add(a.ttl * 3 / 4)
	a.cache.m.Put(&key, hdr, reuseUntil.UnixNano(), now.UnixNano())
	return hdr, nil
}

// appendKey is the cache key: the route and every identity field that
// goes into the claims, separated by bytes no name contains.
func appendKey(b []byte, c *pipeline.Context) []byte {
	b = append(b, c.Route...)
	b = append(b, 0)
	if id := c.Identity; id != nil {
		b = append(b, id.Consumer...)
		b = append(b, 0)
		b = append(b, id.Method...)
		b = append(b, 0)
		for _, g := range id.Groups {
			b = append(b, g...)
			b = append(b, 1)
		}
		b = append(b, 0)
		for _, s := range id.Scopes {
			b = append(b, s...)
			b = append(b, 1)
		}
	}
	return b
}
