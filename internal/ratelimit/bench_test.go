package ratelimit

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// BenchmarkLocalParallel is the per-request cost of a local limit that
// never refuses, over many client addresses, under parallel load.
func BenchmarkLocalParallel(b *testing.B) {
	p := mustPolicy(b, "kind: rate_limit\nlimits: [{rate: 1000000, per: 1s}, {rate: 1000000000, per: 24h}]\nmax_keys: 100000\n")
	var next atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest("GET", "/", nil)
		base := next.Add(1) << 16
		i := uint32(0)
		for pb.Next() {
			i++
			a := base | i%1024
			c := &pipeline.Context{Request: r, Route: "r", ClientAddr: netip.AddrFrom4([4]byte{10, byte(a >> 16), byte(a >> 8), byte(a)})}
			if p.Handle(c) != nil {
				b.Fatal("refused")
			}
		}
	})
}

// BenchmarkLocalCheck is one key's check alone, without the Context.
func BenchmarkLocalCheck(b *testing.B) {
	l := NewLocal(0)
	ps := []param{{T: 1, B: 1 << 40}}
	key := []byte("r::a:192.0.2.1")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.allow(int64(i), key, ps)
	}
}

// countHook counts commands sent to Redis: round trips per check.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// BenchmarkRedisCheck reports round trips per check (1: one EVALSHA for
// all limits) and the time a check takes against the local Redis.
func BenchmarkRedisCheck(b *testing.B) {
	needRedis(b)
	p := redisPolicy(b, redisAddr, testPrefix(b), "fail: closed")
	h := &countHook{}
	p.redis.Client().AddHook(h)
	c := reqCtx("192.0.2.1", nil)
	p.Handle(c) // loads the script
	h.n.Store(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := &pipeline.Context{Request: c.Request, Route: "r", ClientAddr: netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})}
		if prob := p.Handle(c); prob != nil && prob.Status != 429 {
			b.Fatalf("status %d", prob.Status)
		}
	}
	b.ReportMetric(float64(h.n.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisCheckParallel: concurrent checks share round trips
// (pipelined batches), so round trips per check fall below 1.
func BenchmarkRedisCheckParallel(b *testing.B) {
	needRedis(b)
	p := redisPolicy(b, redisAddr, testPrefix(b), "fail: closed")
	h := &countHook{}
	p.redis.Client().AddHook(h)
	c0 := reqCtx("192.0.2.1", nil)
	p.Handle(c0) // loads the script
	h.n.Store(0)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			c := &pipeline.Context{Request: c0.Request, Route: "r", ClientAddr: netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})}
			if prob := p.Handle(c); prob != nil && prob.Status != 429 {
				b.Errorf("status %d", prob.Status)
				return
			}
		}
	})
	b.ReportMetric(float64(h.n.Load())/float64(b.N), "roundtrips/op")
}
