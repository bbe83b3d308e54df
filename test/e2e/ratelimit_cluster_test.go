package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRateLimitClusterBoundHoldsUnderFullLoad: three gateway processes on
// one healthy Redis, with the default redis settings (timeout 50ms, fail
// open), driven as hard as the clients can go. The total admitted stays
// within 5% of the exact GCRA allowance, and no node ever falls back to its
// local limiter: a check that is merely slow under load is not a Redis
// failure.
func TestRateLimitClusterBoundHoldsUnderFullLoad(t *testing.T) {
	rlNeedRedis(t)
	up := NewUpstream(t, nil)
	const burst, interval = 20, 50 * time.Millisecond // 20 per second
	route := fmt.Sprintf(`    policies:
      - kind: rate_limit
        key: route
        limits: [{rate: 20, per: 1s}]
        store: redis
        redis: {address: "127.0.0.1:6379", prefix: "%s"}`, rlPrefix())
	var gws []*Gateway
	for range 3 {
		gws = append(gws, StartGateway(t, simpleConfig(up, route)))
	}

	const duration, workers = 4 * time.Second, 24 // per gateway, no pause between requests
	var admitted, refused [3]atomic.Int64
	var other, lastIssue atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i, gw := range gws {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					issued := time.Since(start)
					if issued >= duration {
						return
					}
					lastIssue.Store(max(lastIssue.Load(), int64(issued))) // racy max; close enough within one request
					resp, err := client.Get(gw.URL("/c"))
					if err != nil {
						if other.Add(1) < 3 {
							t.Logf("error: %v", err)
						}
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case 200:
						admitted[i].Add(1)
					case 429:
						refused[i].Add(1)
					default:
						if other.Add(1) < 3 {
							t.Logf("status %d", resp.StatusCode)
						}
					}
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total, all int64
	for i := range gws {
		total += admitted[i].Load()
		all += admitted[i].Load() + refused[i].Load()
	}
	// The exact GCRA allowance: over the whole span for the upper bound
	// (no request is admitted after the last answer), over the span in
	// which clients were still asking for the lower one (answers that
	// trail behind under load earn slots nobody asks for).
	allowed := burst + int64(elapsed/interval)
	demanded := burst + lastIssue.Load()/int64(interval)
	t.Logf("%d requests (%.0f/s), admitted %d (%d/%d/%d) in %s; allowance %d (%d while clients asked)",
		all, float64(all)/elapsed.Seconds(), total, admitted[0].Load(), admitted[1].Load(), admitted[2].Load(), elapsed, allowed, demanded)
	if other.Load() != 0 {
		t.Fatalf("%d requests failed or were answered unexpectedly", other.Load())
	}
	for i, gw := range gws {
		if admitted[i].Load() == 0 {
			t.Errorf("gateway %d admitted nothing: traffic was not spread", i)
		}
		if strings.Contains(gw.Stderr.String(), "rate limit store unreachable") {
			t.Errorf("gateway %d fell back to its local limiter while Redis was healthy:\n%s", i, grepLines(gw.Stderr.String(), "rate limit store"))
		}
	}
	if all < 3*allowed {
		t.Fatalf("only %d requests: not a load (want 3x the allowance of %d)", all, allowed)
	}
	if total > allowed+1 || float64(total) < 0.95*float64(demanded) {
		t.Fatalf("admitted %d, allowance %d (%d while clients asked): off by more than 5%%", total, allowed, demanded)
	}
	if n := int64(up.Count()); n != total {
		t.Fatalf("upstream saw %d, gateways admitted %d", n, total)
	}
}

// TestRateLimitRedisDownFallbackIsLoggedAndCounted: with Redis really down
// (its address refuses connections), fail open decides locally, and the
// process log says so once, as a JSON event naming the store, its address
// and the error; when Redis comes back, the shared limit applies again and
// the recovery event counts the checks the failure mode decided.
func TestRateLimitRedisDownFallbackIsLoggedAndCounted(t *testing.T) {
	rlNeedRedis(t)
	redisAddr := switchableRedis(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, fmt.Sprintf(`    policies:
      - kind: rate_limit
        key: route
        limits: [{rate: 3, per: 1m}]
        store: redis
        redis: {address: "%s", prefix: "%s", probe: 200ms}`, redisAddr.addr, rlPrefix())))
	codes := func(n int) string {
		var out []int
		for range n {
			resp, err := http.Get(gw.URL("/a"))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return fmt.Sprint(out)
	}
	if got := codes(5); got != "[200 200 200 429 429]" {
		t.Fatalf("fail open with Redis down: %v, want the local limiter's 3 then 429", got)
	}
	if !gw.WaitLog(`"msg":"rate limit store unreachable`, 2*time.Second) {
		t.Fatalf("no unreachable event:\n%s", gw.Stderr.String())
	}
	line := grepLines(gw.Stderr.String(), "rate limit store unreachable")
	for _, want := range []string{`"event":"ratelimit_store_down"`, `"store":"redis"`, `"address":"` + redisAddr.addr + `"`, `"error":"`} {
		if !strings.Contains(line, want) {
			t.Errorf("unreachable event lacks %s: %s", want, line)
		}
	}
	if n := strings.Count(gw.Stderr.String(), "rate limit store unreachable"); n != 1 {
		t.Errorf("%d unreachable events for one outage, want 1", n)
	}

	// Redis comes back: once the probe interval has passed, the next check
	// reaches it, and the shared (empty) bucket decides again.
	redisAddr.up.Store(true)
	time.Sleep(300 * time.Millisecond)
	if got := codes(4); got != "[200 200 200 429]" {
		t.Fatalf("after Redis came back: %v, want Redis's own 3 then 429", got)
	}
	if !gw.WaitLog(`"msg":"rate limit store reachable again"`, 2*time.Second) {
		t.Fatalf("no recovery event:\n%s", gw.Stderr.String())
	}
	line = grepLines(gw.Stderr.String(), "rate limit store reachable again")
	for _, want := range []string{`"event":"ratelimit_store_up"`, `"checks_in_failure_mode":5`, `"down_for":"`} {
		if !strings.Contains(line, want) {
			t.Errorf("recovery event lacks %s: %s", want, line)
		}
	}
}

// switchable is a TCP front for the local Redis that refuses connections
// (accepts and closes them) until up is set: a Redis that is down, then back.
type switchable struct {
	addr string
	up   atomic.Bool
}

func switchableRedis(t *testing.T) *switchable {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{addr: l.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !s.up.Load() {
				_ = c.Close()
				continue
			}
			r, err := net.Dial("tcp", "127.0.0.1:6379")
			if err != nil {
				_ = c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, r)
			mu.Unlock()
			go func() { _, _ = io.Copy(r, c); _ = r.Close() }()
			go func() { _, _ = io.Copy(c, r); _ = c.Close() }()
		}
	}()
	return s
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
