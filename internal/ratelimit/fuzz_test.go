package ratelimit

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// FuzzRequestKey feeds arbitrary client-controlled parts (a header value,
// a consumer name) into key building and a decision: no panic, bounded
// keys, and distinct short values never share a bucket.
// The seed corpus is in testdata/fuzz/FuzzRequestKey.
func FuzzRequestKey(f *testing.F) {
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

// FuzzGCRABound drives the local store with arbitrary request timings
// against one or two limits and two keys, and checks every decision
// against a token bucket written from the definition (credit of B*T
// microseconds, refilled one per microsecond, a request costs T and is
// admitted only when every limit has it; a refusal costs nothing), the
// Wait of every refusal, and, over every stretch of time between two
// admitted requests, the GCRA bound: at most B + d/T admitted in any d.
// The seed corpus is in testdata/fuzz/FuzzGCRABound.
func FuzzGCRABound(f *testing.F) {
	f.Fuzz(func(t *testing.T, timing []byte, rate1, per1, burst1, rate2, per2, burst2 uint8) {
		var ps []param
		for _, l := range []Limit{
			{Rate: 1 + int64(rate1%50), Per: time.Duration(1+per1%10) * time.Second, Burst: 1 + int64(burst1%16)},
			{Rate: 1 + int64(rate2%50), Per: time.Duration(1+per2%10) * time.Second, Burst: 1 + int64(burst2%16)},
		} {
			p, err := l.param()
			if err != nil {
				t.Fatalf("%+v: %v", l, err)
			}
			ps = append(ps, p)
		}
		if rate2 >= 128 { // one limit only
			ps = ps[:1]
		}
		if len(timing) > 400 {
			timing = timing[:400]
		}
		store := NewLocal(0)
		type bucket struct {
			credit   []int64 // per limit, microseconds
			last     int64
			admitted []int64
		}
		buckets := [2]*bucket{}
		for k := range buckets {
			b := &bucket{}
			for _, p := range ps {
				b.credit = append(b.credit, p.B*p.T)
			}
			buckets[k] = b
		}
		keys := [2][]byte{[]byte("key-a"), []byte("key-b")}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
		for i, c := range timing {
			// The low 7 bits are the gap since the last request, in 16ths
			// of the first limit's interval (0: at the same microsecond),
			// plus c microseconds of jitter; the top bit picks the key.
			now += int64(c&0x7f)*ps[0].T/16 + int64(c&0x0f)
			k := int(c >> 7)
			b := buckets[k]

			// The reference.
			wantOK, wantWait := true, int64(0)
			for j, p := range ps {
				b.credit[j] = min(p.B*p.T, b.credit[j]+(now-b.last))
				if b.credit[j] < p.T {
					wantOK = false
					wantWait = max(wantWait, p.T-b.credit[j])
				}
			}
			b.last = now
			if wantOK {
				for j, p := range ps {
					b.credit[j] -= p.T
				}
				b.admitted = append(b.admitted, now)
			}

			res := store.allow(now, keys[k], ps)
			if res.Allowed != wantOK {
				t.Fatalf("request %d (key %d, t=%d): allowed %v, the token bucket says %v (credit %v, limits %+v)", i, k, now, res.Allowed, wantOK, b.credit, ps)
			}
			if !wantOK && res.Wait != wantWait {
				t.Fatalf("request %d: wait %dµs, want %dµs", i, res.Wait, wantWait)
			}
			for j, p := range ps {
				if got, want := remaining(now, p, res.TAT[j]), b.credit[j]/p.T; got != want {
					t.Fatalf("request %d limit %d: remaining %d, want %d", i, j, got, want)
				}
			}
		}
		// The bound, over every stretch between two admitted requests.
		for _, b := range buckets {
			for _, p := range ps {
				for i := range b.admitted {
					for j := i; j < len(b.admitted); j++ {
						if n, bound := int64(j-i+1), p.B+(b.admitted[j]-b.admitted[i])/p.T; n > bound {
							t.Fatalf("%d requests admitted in %dµs, GCRA bound %d (T=%d, B=%d)", n, b.admitted[j]-b.admitted[i], bound, p.T, p.B)
						}
					}
				}
			}
		}
	})
}
