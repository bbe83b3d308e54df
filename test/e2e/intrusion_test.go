package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/intrusion/webhooktest"
	"github.com/portcullis/portcullis/internal/redisconn/redistest"
)

func expectBanned(t *testing.T, name string, status int, body string) {
	t.Helper()
	var p map[string]any
	if status != 403 || json.Unmarshal([]byte(body), &p) != nil || p["detail"] != "The client is blocked." {
		t.Fatalf("%s: status %d body %s, want the 403 ban problem", name, status, body)
	}
}

// intrusionConfig: an API-key route and intrusion detection (extra is
// appended under intrusion_detection).
func intrusionConfig(up *Upstream, hash, ids string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets:
      - url: %s
consumers:
  - name: alice
    credentials:
      api_keys: [{id: alice-1, hash: "%s"}]
routes:
  - name: api
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {header: X-Api-Key}}]
intrusion_detection:
%s
ops:
  address: "{{ops}}"
`, up.URL, hash, ids))
}

// hookSink is a webhook receiver that accepts only deliveries that verify
// the way docs/traffic.md tells a receiver to (webhooktest: HMAC-SHA256
// over "<timestamp>.<body>", a fresh unix-seconds timestamp), not by
// calling the gateway's own intrusion.Sign.
type hookSink struct {
	mu     sync.Mutex
	alerts []intrusion.Alert
	bad    int
	errs   []error
}

func newHookSink(t *testing.T, secret string) (*hookSink, string) {
	s := &hookSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := webhooktest.Verify([]byte(secret), r.Header, b, time.Now()); err != nil {
			s.bad++
			s.errs = append(s.errs, err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var a intrusion.Alert
		if json.Unmarshal(b, &a) == nil {
			s.alerts = append(s.alerts, a)
		}
	}))
	t.Cleanup(srv.Close)
	return s, srv.URL
}

func TestIntrusionBanAfterFailedLogins(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	sink, hookURL := newHookSink(t, "hook-secret")
	gw := StartGateway(t, intrusionConfig(up, hash, fmt.Sprintf(`  rules: [{event: auth_failure, threshold: 3, window: 1m, ban: 2s}]
  allow: [127.0.0.3]
  alerts:
    webhooks: [{url: "%s", secret: hook-secret}]
`, hookURL)))
	attacker, friend, monitor := keepAliveClient("127.0.0.2"), keepAliveClient("127.0.0.1"), keepAliveClient("127.0.0.3")

	for i := 0; i < 3; i++ {
		if st, body := getWithAPIKey(t, attacker, gw.URL("/login"), "wrong-key"); st != 401 {
			t.Fatalf("failed login %d: %d %s", i, st, body)
		}
	}
	// Banned now, even with the right key; the upstream sees nothing.
	st, body := getWithAPIKey(t, attacker, gw.URL("/orders"), key)
	expectBanned(t, "banned client", st, body)
	if up.Count() != 0 {
		t.Fatalf("the upstream received %d requests from a banned client", up.Count())
	}
	// Another client is served.
	if st, _ := getWithAPIKey(t, friend, gw.URL("/orders"), key); st != 200 || up.Count() != 1 {
		t.Fatalf("another client: %d, upstream %d", st, up.Count())
	}
	// The allow-listed monitor is never banned.
	for i := 0; i < 6; i++ {
		if st, _ := getWithAPIKey(t, monitor, gw.URL("/x"), "wrong-key"); st != 401 {
			t.Fatalf("allow-listed client got %d on failure %d", st, i)
		}
	}
	if st, _ := getWithAPIKey(t, monitor, gw.URL("/orders"), key); st != 200 {
		t.Fatalf("allow-listed client refused: %d", st)
	}
	// The webhook got the ban, signed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		sink.mu.Lock()
		n, bad := len(sink.alerts), sink.bad
		var a intrusion.Alert
		if n > 0 {
			a = sink.alerts[0]
		}
		sink.mu.Unlock()
		if bad > 0 {
			sink.mu.Lock()
			defer sink.mu.Unlock()
			t.Fatalf("a webhook delivery did not verify: %v", sink.errs)
		}
		if n > 0 {
			if a.Type != "ban" || a.Event != "auth_failure" || a.Client != "127.0.0.2" || a.Count != 3 || a.RequestID == "" || a.BanUntil.IsZero() {
				t.Fatalf("alert = %+v", a)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the webhook received no alert")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(gw.Stderr.String(), `"security alert"`) {
		t.Error("the ban is not in the process log")
	}
	// The ban ends on its own.
	time.Sleep(2100 * time.Millisecond) // the ban's own duration: nothing to wait on
	if st, body := getWithAPIKey(t, attacker, gw.URL("/orders"), key); st != 200 {
		t.Fatalf("after the ban: %d %s", st, body)
	}
}

func intrusionRedisPrefix(t *testing.T) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("PORTCULLIS_SKIP_REDIS") == "1" {
			t.Skip("Redis unreachable and PORTCULLIS_SKIP_REDIS=1")
		}
		t.Fatalf("Redis at 127.0.0.1:6379 is unreachable (start it, or set PORTCULLIS_SKIP_REDIS=1 outside CI): %v", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "e2e:ids:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer c.Close()
		c.Del(context.Background(), prefix+"bans")
	})
	return prefix
}

func TestIntrusionBanSharedThroughRedis(t *testing.T) {
	prefix := intrusionRedisPrefix(t)
	testIntrusionBanShared(t, fmt.Sprintf(`{address: "127.0.0.1:6379", prefix: "%s", sync_interval: 100ms}`, prefix))
}

// TestIntrusionBanSharedThroughRedisOverTLS: the same, through a Redis that
// takes TLS only, with a client certificate and an ACL user.
func TestIntrusionBanSharedThroughRedisOverTLS(t *testing.T) {
	srv := redistest.StartTLS(t, false)
	testIntrusionBanShared(t, fmt.Sprintf(`{address: "%s", username: %s, password: %q, sync_interval: 100ms, tls: %s}`,
		srv.Addr, redistest.User, redistest.Password, srv.TLSBlock()))
}

// testIntrusionBanShared: a client banned on node A is banned on node B
// (which saw nothing) within its sync interval, through the Redis that
// redisBlock (a flow mapping) names; other clients still pass.
func testIntrusionBanShared(t *testing.T, redisBlock string) {
	t.Helper()
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	cfg := intrusionConfig(up, hash, `  rules: [{event: auth_failure, threshold: 2, window: 1m, ban: 1m}]
  store: redis
  redis: `+redisBlock+`
`)
	a, b := StartGateway(t, cfg), StartGateway(t, cfg)
	attacker, friend := keepAliveClient("127.0.0.2"), keepAliveClient("127.0.0.1")
	for i := 0; i < 2; i++ {
		if st, _ := getWithAPIKey(t, attacker, a.URL("/login"), "wrong"); st != 401 {
			t.Fatalf("failed login on node A: %d", st)
		}
	}
	st, body := getWithAPIKey(t, attacker, a.URL("/orders"), key)
	expectBanned(t, "node A", st, body)
	// Node B never saw a failure, but holds the ban within its sync interval.
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, body := getWithAPIKey(t, attacker, b.URL("/orders"), key)
		if st == 403 {
			expectBanned(t, "node B", st, body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B still serves the banned client: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	upBefore := up.Count()
	if st, _ := getWithAPIKey(t, friend, b.URL("/orders"), key); st != 200 || up.Count() != upBefore+1 {
		t.Fatalf("another client on node B: %d", st)
	}
}

// TestIntrusionCountsAndBansAnIPv6ClientByItsNetwork: a host on IPv6 can
// take any address of its /64, so the failures it spreads over several of
// them count as one client's, the ban covers the network (an address it
// had not used yet is refused, and the upstream never sees it), and
// another network is served. The alert names the address and the network.
// The clients come through a trusted proxy on loopback (X-Forwarded-For).
func TestIntrusionCountsAndBansAnIPv6ClientByItsNetwork(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	cfg := string(intrusionConfig(up, hash, "  rules: [{event: auth_failure, threshold: 3, window: 1m, ban: 1m}]\n"))
	cfg = strings.Replace(cfg, "version: 1\n", "version: 1\ntrusted_proxies: [127.0.0.1]\n", 1)
	gw := StartGateway(t, GatewayConfig(cfg))
	get := func(client, apiKey string) (int, string) {
		t.Helper()
		resp, body := doRequest(t, http.DefaultClient, "GET", gw.URL("/orders"), "", "X-Forwarded-For", client, "X-Api-Key", apiKey)
		return resp.StatusCode, body
	}
	for i, client := range []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2:ffff::c"} {
		if st, body := get(client, "wrong-key"); st != 401 {
			t.Fatalf("failure %d from %s: %d %s", i, client, st, body)
		}
	}
	st, body := get("2001:db8:1:2::d", key)
	expectBanned(t, "a fresh address of the banned /64, with the right key", st, body)
	if up.Count() != 0 {
		t.Fatalf("the upstream received %d requests from the banned network", up.Count())
	}
	if st, body := get("2001:db8:1:3::a", key); st != 200 || up.Count() != 1 {
		t.Fatalf("another /64: %d %s, upstream %d", st, body, up.Count())
	}
	if !gw.WaitLog(`"client_network":"2001:db8:1:2::/64"`, 5*time.Second) {
		t.Errorf("the alert does not name the banned network:\n%s", gw.Stderr.String())
	}
}
