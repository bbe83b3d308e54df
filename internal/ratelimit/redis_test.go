package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/pipeline"
)

const redisAddr = "127.0.0.1:6379"

// needRedis fails the test when Redis is unreachable, unless the
// environment says to skip (never set in CI).
func needRedis(t testing.TB) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr, time.Second)
	if err == nil {
		_ = c.Close()
		return
	}
	if os.Getenv("PORTCULLIS_SKIP_REDIS") == "1" {
		t.Skip("Redis unreachable and PORTCULLIS_SKIP_REDIS=1")
	}
	t.Fatalf("Redis is not reachable at %s (%v): start it, or set PORTCULLIS_SKIP_REDIS=1 to skip", redisAddr, err)
}

// testPrefix is a random key prefix; the keys under it are deleted after the test.
func testPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "pcl:test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

func redisPolicy(t testing.TB, addr, prefix, extra string) *Policy {
	t.Helper()
	// Against the real Redis the timeout is generous: these tests are about
	// what Redis decides, and a loaded test machine can take longer than a
	// production timeout. Against dead or silent addresses it stays short.
	timeout := "100ms"
	if addr == redisAddr {
		timeout = "2s"
	}
	p, err := compileYAML(t, fmt.Sprintf(`
kind: rate_limit
limits:
  - {name: fast, rate: 10, per: 1s, burst: 5}
  - {name: slow, rate: 50, per: 1m}
store: redis
redis: {address: "%s", prefix: "%s", timeout: %s, probe: 300ms}
%s`, addr, prefix, timeout, extra), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedisAtomicUnderConcurrency(t *testing.T) {
	needRedis(t)
	p := redisPolicy(t, redisAddr, testPrefix(t), "fail: closed")
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				prob := p.Handle(reqCtx("198.51.100.1", nil))
				switch {
				case prob == nil:
					ok.Add(1)
				case prob.Status == 429:
					refused.Add(1)
				default:
					t.Errorf("status %d (%s)", prob.Status, prob.Reason)
				}
			}
		}()
	}
	wg.Wait()
	// The burst of 5 plus what the 10/s rate earned while the 200 requests
	// ran (well under 100ms on a quiet machine; more under -race or load):
	// never more, whatever the interleaving.
	earned := int64(time.Since(start).Seconds()*10) + 1
	if ok.Load() < 5 || ok.Load() > 5+earned || ok.Load()+refused.Load() != 200 {
		t.Fatalf("admitted %d, refused %d", ok.Load(), refused.Load())
	}
	// The slow limit saw exactly the admitted requests: refused ones took nothing.
	c := p.redis.Client()
	keys := redisKeys(p.prefix, p.appendKey(nil, reqCtx("198.51.100.1", nil), p.def), p.def.names, nil)
	v, err := c.Get(context.Background(), keys[1]).Int64()
	if err != nil {
		t.Fatal(err)
	}
	now := mustRedisTime(t, c)
	if used := 50 - remaining(now, p.def.ps[1], v); used != ok.Load() {
		t.Fatalf("slow limit used %d, admitted %d", used, ok.Load())
	}
	ttl, _ := c.PTTL(context.Background(), keys[1]).Result()
	if ttl <= 0 || ttl > time.Duration(ok.Load())*1200*time.Millisecond+time.Second {
		t.Fatalf("TTL %s for %d requests at 1.2s each", ttl, ok.Load())
	}
}

func mustRedisTime(t testing.TB, c *redis.Client) int64 {
	tm, err := c.Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return tm.UnixMicro()
}

func TestRedisAndLocalAgree(t *testing.T) {
	needRedis(t)
	p := redisPolicy(t, redisAddr, testPrefix(t), "")
	c := reqCtx("198.51.100.2", nil)
	if p.Handle(c) != nil {
		t.Fatal("refused")
	}
	d := c.Value(p).(*decision)
	if d.res.Now == 0 || remaining(d.res.Now, d.set.ps[0], d.res.TAT[0]) != 4 || remaining(d.res.Now, d.set.ps[1], d.res.TAT[1]) != 49 {
		t.Fatalf("decision %+v", d.res)
	}
}

// silentListener accepts connections and never answers: a hung Redis.
func silentListener(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

func TestRedisDownFailModes(t *testing.T) {
	for _, down := range []struct {
		name string
		addr func(*testing.T) string
	}{{"closed port", closedPort}, {"hung server", silentListener}} {
		t.Run(down.name, func(t *testing.T) {
			addr := down.addr(t)
			closed := redisPolicy(t, addr, "pcl:x:", "fail: closed")
			open := redisPolicy(t, addr, "pcl:y:", "fail: open")
			for i := range 3 {
				start := time.Now()
				prob := closed.Handle(reqCtx("203.0.113.1", nil))
				if d := time.Since(start); d > 400*time.Millisecond {
					t.Fatalf("check %d took %s with a 100ms timeout", i, d)
				}
				if prob == nil || prob.Status != 503 || prob.Reason != ReasonUnavailable || prob.Header.Get("Retry-After") == "" {
					t.Fatalf("fail closed: %+v", prob)
				}
			}
			// Fail open falls back to the local limiter: still limited.
			start := time.Now()
			got := count(open, 8, func() *pipeline.Context { return reqCtx("203.0.113.1", nil) })
			if d := time.Since(start); d > 400*time.Millisecond {
				t.Fatalf("8 checks took %s", d)
			}
			if got != 5 {
				t.Fatalf("fail open admitted %d, want the local burst of 5", got)
			}
			if open.redis.Failures.Load() == 0 || open.redis.Skipped.Load() == 0 {
				t.Fatalf("failures %d skipped %d: the breaker did not open", open.redis.Failures.Load(), open.redis.Skipped.Load())
			}
		})
	}
}

func TestRedisRecovers(t *testing.T) {
	needRedis(t)
	// A proxy that refuses until switched on stands for a Redis that comes back.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var up atomic.Bool
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !up.Load() {
				_ = c.Close()
				continue
			}
			go pipe(c)
		}
	}()
	p := redisPolicy(t, l.Addr().String(), testPrefix(t), "fail: closed")
	if prob := p.Handle(reqCtx("203.0.113.9", nil)); prob == nil || prob.Status != 503 {
		t.Fatalf("down: %+v", prob)
	}
	up.Store(true)
	deadline := time.Now().Add(3 * time.Second)
	for {
		prob := p.Handle(reqCtx("203.0.113.9", nil))
		if prob == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never recovered: %+v", prob)
		}
		time.Sleep(50 * time.Millisecond) // the probe interval is 300ms
	}
	if p.redis.Recoveries.Load() != 1 {
		t.Fatalf("recoveries %d", p.redis.Recoveries.Load())
	}
}

func pipe(c net.Conn) {
	defer c.Close()
	r, err := net.Dial("tcp", redisAddr)
	if err != nil {
		return
	}
	defer r.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(r, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, r); done <- struct{}{} }()
	<-done
}

// TestRedisBatchesConcurrentChecks: concurrent checks share round trips
// (pipelined batches), and each is still decided exactly once by the
// script: the burst is admitted, no more.
func TestRedisBatchesConcurrentChecks(t *testing.T) {
	needRedis(t)
	p, err := compileYAML(t, fmt.Sprintf(`
kind: rate_limit
limits: [{rate: 10, per: 1s, burst: 5}]
store: redis
redis: {address: "%s", prefix: "%s"}
fail: closed`, redisAddr, testPrefix(t)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range 4 {
				prob := p.Handle(reqCtx("198.51.100.7", nil))
				switch {
				case prob == nil:
					ok.Add(1)
				case prob.Status == 429:
					refused.Add(1)
				default:
					t.Errorf("status %d (%s)", prob.Status, prob.Reason)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok.Load() < 5 || ok.Load() > 8 || ok.Load()+refused.Load() != 256 {
		t.Fatalf("admitted %d, refused %d", ok.Load(), refused.Load())
	}
	if b := p.redis.Batches.Load(); b >= 256 {
		t.Fatalf("%d batches for 256 concurrent checks: nothing was batched", b)
	}
	if f := p.redis.Failures.Load(); f != 0 {
		t.Fatalf("%d failures", f)
	}
}

// TestRedisSlowIsNotDown: a Redis whose answers take 100ms (a loaded
// machine) is slow, not down: with the timeout above that, every check is
// decided by Redis and nothing falls back.
func TestRedisSlowIsNotDown(t *testing.T) {
	needRedis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go slowPipe(c, 100*time.Millisecond)
		}
	}()
	p, err := compileYAML(t, fmt.Sprintf(`
kind: rate_limit
limits: [{rate: 3, per: 1m}]
store: redis
redis: {address: "%s", prefix: "%s"}`, l.Addr().String(), testPrefix(t)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 5 {
		prob := p.Handle(reqCtx("198.51.100.8", nil))
		if prob == nil {
			got = append(got, 200)
		} else {
			got = append(got, prob.Status)
		}
	}
	if fmt.Sprint(got) != "[200 200 200 429 429]" {
		t.Fatalf("got %v", got)
	}
	if f, s := p.redis.Failures.Load(), p.redis.Skipped.Load(); f != 0 || s != 0 {
		t.Fatalf("a slow Redis counted as down: %d failures, %d skipped", f, s)
	}
}

// slowPipe relays c to the local Redis, delaying every answer by d.
func slowPipe(c net.Conn, d time.Duration) {
	defer c.Close()
	r, err := net.Dial("tcp", redisAddr)
	if err != nil {
		return
	}
	defer r.Close()
	go func() { _, _ = io.Copy(r, c) }()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			time.Sleep(d)
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
