package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
)

// guardClient is an HTTP client whose connections come from a given
// loopback address, so tests can play several clients.
func guardClient(src string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

func guardGet(t *testing.T, c *http.Client, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

func guardBlocked(t *testing.T, name string, status int, body string) {
	t.Helper()
	var p map[string]any
	if status != 403 || json.Unmarshal([]byte(body), &p) != nil || p["detail"] != "The client is blocked." {
		t.Fatalf("%s: status %d body %s, want the 403 ban problem", name, status, body)
	}
}

// guardConfig: an API-key route and intrusion detection (extra is
// appended under intrusion_detection).
func guardConfig(up *Upstream, hash, ids string) GatewayConfig {
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

func TestGuardBanAfterFailedLogins(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	sink, hookURL := newHookSink(t, "hook-secret")
	gw := StartGateway(t, guardConfig(up, hash, fmt.Sprintf(`  rules: [{event: auth_failure, threshold: 3, window: 1m, ban: 2s}]
  allow: [127.0.0.3]
  alerts:
    webhooks: [{url: "%s", secret: hook-secret}]
`, hookURL)))
	attacker, friend, monitor := guardClient("127.0.0.2"), guardClient("127.0.0.1"), guardClient("127.0.0.3")

	for i := 0; i < 3; i++ {
		if st, body := guardGet(t, attacker, gw.URL("/login"), "wrong-key"); st != 401 {
			t.Fatalf("failed login %d: %d %s", i, st, body)
		}
	}
	// Banned now, even with the right key; the upstream sees nothing.
	st, body := guardGet(t, attacker, gw.URL("/orders"), key)
	guardBlocked(t, "banned client", st, body)
	if up.Count() != 0 {
		t.Fatalf("the upstream received %d requests from a banned client", up.Count())
	}
	// Another client is served.
	if st, _ := guardGet(t, friend, gw.URL("/orders"), key); st != 200 || up.Count() != 1 {
		t.Fatalf("another client: %d, upstream %d", st, up.Count())
	}
	// The allow-listed monitor is never banned.
	for i := 0; i < 6; i++ {
		if st, _ := guardGet(t, monitor, gw.URL("/x"), "wrong-key"); st != 401 {
			t.Fatalf("allow-listed client got %d on failure %d", st, i)
		}
	}
	if st, _ := guardGet(t, monitor, gw.URL("/orders"), key); st != 200 {
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
	if st, body := guardGet(t, attacker, gw.URL("/orders"), key); st != 200 {
		t.Fatalf("after the ban: %d %s", st, body)
	}
}

func guardRedis(t *testing.T) string {
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

func TestGuardBanSharedThroughRedis(t *testing.T) {
	prefix := guardRedis(t)
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	cfg := guardConfig(up, hash, fmt.Sprintf(`  rules: [{event: auth_failure, threshold: 2, window: 1m, ban: 1m}]
  store: redis
  redis: {address: "127.0.0.1:6379", prefix: "%s", sync_interval: 100ms}
`, prefix))
	a, b := StartGateway(t, cfg), StartGateway(t, cfg)
	attacker, friend := guardClient("127.0.0.2"), guardClient("127.0.0.1")
	for i := 0; i < 2; i++ {
		if st, _ := guardGet(t, attacker, a.URL("/login"), "wrong"); st != 401 {
			t.Fatalf("failed login on node A: %d", st)
		}
	}
	st, body := guardGet(t, attacker, a.URL("/orders"), key)
	guardBlocked(t, "node A", st, body)
	// Node B never saw a failure, but holds the ban within its sync interval.
	deadline := time.Now().Add(3 * time.Second)
	for {
		st, body := guardGet(t, attacker, b.URL("/orders"), key)
		if st == 403 {
			guardBlocked(t, "node B", st, body)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B still serves the banned client: %d", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	upBefore := up.Count()
	if st, _ := guardGet(t, friend, b.URL("/orders"), key); st != 200 || up.Count() != upBefore+1 {
		t.Fatalf("another client on node B: %d", st)
	}
}

func TestGuardConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		w.WriteHeader(200)
	})
	gw := StartGateway(t, simpleConfig(up, `    auth: none
    policies:
      - {kind: concurrency, max: 1, queue: 1, queue_timeout: 2s}
`))
	results := make(chan int, 1)
	go func() { st, _ := guardGet(t, guardClient("127.0.0.1"), gw.URL("/slow"), ""); results <- st }()
	waitUp := time.Now().Add(5 * time.Second)
	for up.Count() < 1 {
		if time.Now().After(waitUp) {
			t.Fatal("the first request never reached the upstream")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Two more arrive together while the slot is held: whichever comes
	// first takes the one queue place and waits; the other finds the slot
	// and the queue full and gets 503 at once. The refusal itself is the
	// signal: no sleep decides which one queued.
	type answer struct {
		path   string
		status int
		header http.Header
		body   string
		after  time.Duration
	}
	answers := make(chan answer, 2)
	start := time.Now()
	for _, path := range []string{"/second", "/third"} {
		go func() {
			resp, err := guardClient("127.0.0.1").Get(gw.URL(path))
			if err != nil {
				answers <- answer{path: path, body: err.Error()}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{path, resp.StatusCode, resp.Header, string(b), time.Since(start)}
		}()
	}
	refused := <-answers
	if refused.status != 503 || refused.header.Get("Retry-After") != "1" || refused.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s: %d %v %s, want the 503 of a full queue while the slot is held", refused.path, refused.status, refused.header, refused.body)
	}
	if refused.after > time.Second {
		t.Fatalf("%s was refused after %s: a full queue must refuse at once", refused.path, refused.after)
	}
	for _, s := range up.Requests() {
		if s.RequestURI == "/second" || s.RequestURI == "/third" {
			t.Fatalf("the upstream received %s while the slot was held", s.RequestURI)
		}
	}
	once.Do(func() { close(release) })
	if st := <-results; st != 200 {
		t.Fatalf("the request holding the slot: %d", st)
	}
	if queued := <-answers; queued.status != 200 {
		t.Fatalf("the queued request %s: %d %s", queued.path, queued.status, queued.body)
	}
	for _, s := range up.Requests() {
		if s.RequestURI == refused.path {
			t.Fatalf("the upstream received the refused %s", s.RequestURI)
		}
	}
	// The slots were given back: a new request passes.
	if st, _ := guardGet(t, guardClient("127.0.0.1"), gw.URL("/after"), ""); st != 200 {
		t.Fatalf("after release: %d", st)
	}
}

// TestGuardFloodsDoNotStarveOthers: one address opens hundreds of
// connections, holds slowloris connections and floods requests; another
// address is still served promptly.
func TestGuardFloodsDoNotStarveOthers(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    read_header_timeout: 1s
    max_connections: 400
    max_connections_per_client: 20
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
    auth: none
ops:
  address: "{{ops}}"
`, up.URL)))
	attackerDial := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 2 * time.Second}

	// Hundreds of connections, each a slowloris: a partial request line
	// and then silence.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 300; i++ {
		c, err := attackerDial.Dial("tcp", gw.Addr)
		if err != nil {
			continue // the kernel backlog may refuse some: fine
		}
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		conns = append(conns, c)
	}
	// A request flood from the same address, over the connections it may have.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	flood := guardClient("127.0.0.2")
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw.URL("/flood"), nil)
				if resp, err := flood.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	// The other client: every request answered, promptly.
	victim := guardClient("127.0.0.3")
	for i := 0; i < 20; i++ {
		start := time.Now()
		st, _ := guardGet(t, victim, gw.URL(fmt.Sprintf("/victim/%d", i)), "")
		if st != 200 {
			t.Fatalf("victim request %d: %d", i, st)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("victim request %d took %v", i, d)
		}
	}
	stop()
	wg.Wait()
	// The attacker's slowloris connections were closed by the gateway:
	// refused over the per-client limit, or timed out reading headers.
	open := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		// EOF or a reset (closed with unread bytes) both mean closed; only
		// the read deadline means the gateway still holds it open.
		if _, err := io.ReadAll(c); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
			}
		}
	}
	if open > 0 {
		t.Fatalf("%d slowloris connections still open after read_header_timeout", open)
	}
	seen := 0
	for _, s := range up.Requests() {
		if strings.HasPrefix(s.RequestURI, "/victim/") {
			seen++
		}
	}
	if seen != 20 {
		t.Fatalf("the upstream saw %d victim requests, want 20", seen)
	}
}

// TestGuardPerClientLimitExemptsTrustedProxies: a trusted proxy's
// connections carry many clients, so the per-client connection limit does
// not apply to it; any other peer is held to it.
func TestGuardPerClientLimitExemptsTrustedProxies(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    max_connections_per_client: 2
trusted_proxies: [127.0.0.2/32]
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
ops:
  address: "{{ops}}"
`, up.URL)))
	// openServed opens n connections from ip, keeps them open, and reports
	// how many of them got a 200 to a request.
	openServed := func(ip string, n int) int {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		served := 0
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for i := 0; i < n; i++ {
			c, err := d.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: gw.test\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n"); err != nil {
				continue
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil && resp.StatusCode == 200 {
				served++
			}
		}
		return served
	}
	if got := openServed("127.0.0.2", 5); got != 5 {
		t.Errorf("trusted proxy: %d of 5 connections served, want all", got)
	}
	if got := openServed("127.0.0.3", 5); got != 2 {
		t.Errorf("other peer: %d of 5 connections served, want 2 (the per-client limit)", got)
	}
}
