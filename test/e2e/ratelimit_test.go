package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rlNeedRedis fails when Redis is unreachable, unless PORTCULLIS_SKIP_REDIS=1
// (never set in CI, where .ci/run starts Redis).
func rlNeedRedis(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second)
	if err == nil {
		_ = c.Close()
		return
	}
	if os.Getenv("PORTCULLIS_SKIP_REDIS") == "1" {
		t.Skip("Redis unreachable and PORTCULLIS_SKIP_REDIS=1")
	}
	t.Fatalf("Redis is not reachable at 127.0.0.1:6379 (%v): start it, or set PORTCULLIS_SKIP_REDIS=1", err)
}

// rlPrefix is a random Redis key prefix: tests never share counters. The
// keys expire on their own within a few seconds.
func rlPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "pcl:e2e:" + hex.EncodeToString(b) + ":"
}

func rlGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestRateLimitLocal429AndBackOff(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, `    policies:
      - kind: rate_limit
        limits:
          - {rate: 2, per: 1s, burst: 3}
          - {name: daily, rate: 1000, per: 24h}`))
	const policy = `"2-per-1s";q=2;w=1, "daily";q=1000;w=86400`

	for i := range 3 {
		resp, body := rlGet(t, gw.URL("/a"))
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		if resp.Header.Get("RateLimit-Policy") != policy || !strings.HasPrefix(resp.Header.Get("RateLimit"), fmt.Sprintf(`"2-per-1s";r=%d;t=`, 2-i)) {
			t.Fatalf("request %d: headers %q %q", i, resp.Header.Get("RateLimit-Policy"), resp.Header.Get("RateLimit"))
		}
	}
	// Hammering while refused: every answer is a 429 problem, nothing
	// reaches the upstream, and the refusals consume nothing.
	for i := range 20 {
		resp, err := http.Get(gw.URL("/a"))
		if err != nil {
			t.Fatal(err)
		}
		body := readProblem(t, resp, http.StatusTooManyRequests)
		if resp.Header.Get("Retry-After") != "1" || resp.Header.Get("RateLimit-Policy") != policy ||
			!strings.HasPrefix(resp.Header.Get("RateLimit"), `"2-per-1s";r=0;t=`) {
			t.Fatalf("429 %d headers: %v", i, resp.Header)
		}
		if strings.Contains(body, "127.0.0.1") || strings.Contains(body, "2-per-1s") {
			t.Fatalf("429 body tells too much: %s", body)
		}
	}
	if n := up.Count(); n != 3 {
		t.Fatalf("upstream saw %d requests, want the 3 admitted", n)
	}
	// The client that waits as told gets back in.
	time.Sleep(time.Second)
	resp, body := rlGet(t, gw.URL("/a"))
	if resp.StatusCode != 200 || body != "ok" || up.Count() != 4 {
		t.Fatalf("after backing off: %d %s, upstream %d", resp.StatusCode, body, up.Count())
	}
	gw.Stop()
	if !strings.Contains(gw.Stdout.String(), "rate limit exceeded") {
		t.Error("the access log lacks the refusal reason")
	}
}

func TestRateLimitRedisFailClosed(t *testing.T) {
	up := NewUpstream(t, nil)
	dead := freeAddr(t)
	gw := StartGateway(t, simpleConfig(up, fmt.Sprintf(`    policies:
      - kind: rate_limit
        limits: [{rate: 100, per: 1s}]
        store: redis
        redis: {address: "%s", timeout: 50ms}
        fail: closed`, dead)))
	for range 3 {
		start := time.Now()
		resp, err := http.Get(gw.URL("/a"))
		if err != nil {
			t.Fatal(err)
		}
		readProblem(t, resp, http.StatusServiceUnavailable)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a request took %s with Redis down", d)
		}
	}
	if up.Count() != 0 {
		t.Fatalf("upstream saw %d requests", up.Count())
	}
}

// TestRateLimitClusterThroughRedis: three gateway processes share one
// Redis; traffic spread over all three is admitted, in total, within 5% of
// what the limit allows over the test's duration.
func TestRateLimitClusterThroughRedis(t *testing.T) {
	rlNeedRedis(t)
	up := NewUpstream(t, nil)
	// 50 per 2s is one request per 40ms; the default burst (50) lets the
	// bucket bank up to 2s of earned slots, so a loaded machine stalling
	// the clients for a moment loses none (the allowance stays exact).
	const burst, interval = 50, 40 * time.Millisecond
	route := fmt.Sprintf(`    policies:
      - kind: rate_limit
        key: route
        limits: [{rate: 50, per: 2s}]
        store: redis
        redis: {address: "127.0.0.1:6379", prefix: "%s", timeout: 2s}
        fail: closed`, rlPrefix())
	gws := []*Gateway{StartGateway(t, simpleConfig(up, route)), StartGateway(t, simpleConfig(up, route)), StartGateway(t, simpleConfig(up, route))}

	const duration = 4 * time.Second
	var admitted [3]atomic.Int64
	var other atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 5 * time.Second}
	start := time.Now()
	for i, gw := range gws {
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < duration {
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
						if resp.Header.Get("Retry-After") == "" {
							other.Add(1)
						}
					default:
						if other.Add(1) < 3 {
							t.Logf("status %d", resp.StatusCode)
						}
					}
					time.Sleep(2 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := admitted[0].Load() + admitted[1].Load() + admitted[2].Load()
	allowed := burst + int64(elapsed/interval) // exact GCRA allowance over the whole span
	t.Logf("admitted %d (%d/%d/%d) in %s; allowance %d", total, admitted[0].Load(), admitted[1].Load(), admitted[2].Load(), elapsed, allowed)
	if other.Load() != 0 {
		t.Fatalf("%d requests failed or were answered unexpectedly", other.Load())
	}
	for i := range admitted {
		if admitted[i].Load() == 0 {
			t.Fatalf("gateway %d admitted nothing: traffic was not spread", i)
		}
	}
	if total > allowed+1 || float64(total) < 0.95*float64(allowed) {
		t.Fatalf("admitted %d, allowance %d: off by more than 5%%", total, allowed)
	}
	if n := int64(up.Count()); n != total {
		t.Fatalf("upstream saw %d, gateways admitted %d", n, total)
	}
}

// TestRateLimitCountsAnIPv6ClientByItsNetwork: a host on IPv6 can take any
// address of its /64 (temporary addresses, RFC 8981), so a limit keyed by
// the client address counts an IPv6 client by its network
// (client_ipv6_prefix, 64 by default): a new address in the same /64 gets
// no new quota, and its refused request never reaches the upstream. The
// clients come through a trusted proxy on loopback (X-Forwarded-For), as
// behind a load balancer.
func TestRateLimitCountsAnIPv6ClientByItsNetwork(t *testing.T) {
	for _, tc := range []struct {
		desc, top string
		// the client addresses of five requests under a limit of 3 a
		// minute, and which of them must be refused.
		clients []string
		refused []bool
	}{
		{desc: "default /64: four addresses of one /64 are one client",
			clients: []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c", "2001:db8:1:2::d", "2001:db8:1:3::a"},
			refused: []bool{false, false, false, true, false}},
		{desc: "default /64: IPv4 clients by their address",
			clients: []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.1"},
			refused: []bool{false, false, false, false, false}},
		{desc: "a /56: two /64s of one /56 are one client", top: "client_ipv6_prefix: 56\n",
			clients: []string{"2001:db8:1:200::a", "2001:db8:1:201::a", "2001:db8:1:2ff::a", "2001:db8:1:2ff::b", "2001:db8:1:300::a"},
			refused: []bool{false, false, false, true, false}},
		{desc: "/128: every address its own client", top: "client_ipv6_prefix: 128\n",
			clients: []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2::c", "2001:db8:1:2::d", "2001:db8:1:2::e"},
			refused: []bool{false, false, false, false, false}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up := NewUpstream(t, nil)
			cfg := string(simpleConfig(up, `    policies:
      - kind: rate_limit
        key: client_address
        limits: [{rate: 3, per: 1m}]`))
			cfg = strings.Replace(cfg, "version: 1\n", "version: 1\ntrusted_proxies: [127.0.0.1]\n"+tc.top, 1)
			gw := StartGateway(t, GatewayConfig(cfg))
			for i, client := range tc.clients {
				before := up.Count()
				resp, _ := doRequest(t, http.DefaultClient, "GET", gw.URL("/a"), "", "X-Forwarded-For", client)
				switch {
				case tc.refused[i] && (resp.StatusCode != http.StatusTooManyRequests || up.Count() != before):
					t.Fatalf("request %d from %s: %d, upstream %d -> %d; want 429, never upstream", i, client, resp.StatusCode, before, up.Count())
				case !tc.refused[i] && resp.StatusCode != http.StatusOK:
					t.Fatalf("request %d from %s: %d, want 200", i, client, resp.StatusCode)
				}
			}
		})
	}
}
