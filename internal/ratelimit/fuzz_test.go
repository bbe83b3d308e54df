package ratelimit

import (
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// FuzzRequestKey feeds arbitrary client-controlled parts (a header value,
// a consumer name) into key building and a decision: no panic, bounded
// keys, and distinct short values never share a bucket.
func FuzzRequestKey(f *testing.F) {
	f.Add("tenant-1", "alice")
	f.Add("", "")
	f.Add("a}{b:c\x00\xff", "x:y")
	p := mustPolicy(f, "kind: rate_limit\nlimits: [{rate: 1, per: 1h}]\nkey: header:X-Tenant\n")
	f.Fuzz(func(t *testing.T, header, consumer string) {
		c := reqCtx("192.0.2.1", &pipeline.Identity{Consumer: consumer})
		c.Request.Header["X-Tenant"] = []string{header}
		k := p.appendKey(nil, c, p.def)
		if len(k) > len(p.bucket)+2+2+1+32+maxKeyValue {
			t.Fatalf("key of %d bytes", len(k))
		}
		if len(header) <= maxKeyValue {
			c2 := reqCtx("192.0.2.1", nil)
			c2.Request.Header["X-Tenant"] = []string{header + "."}
			if string(p.appendKey(nil, c2, p.def)) == string(k) {
				t.Fatal("two header values share a key")
			}
		}
		p.local.allow(1, k, p.def.ps)
		_ = redisKeys("p:", k, p.def.names, nil)
	})
}
