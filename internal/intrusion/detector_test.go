package intrusion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/intrusion/webhooktest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func rules(threshold int, window, ban time.Duration) []config.IntrusionRule {
	return []config.IntrusionRule{{Event: "auth_failure", Threshold: threshold, Window: config.Duration(window), Ban: config.Duration(ban)}}
}

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Unix(1_700_000_000, 0).UnixNano())
	return c
}
func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

func newDetClock(t *testing.T, cfg *config.IntrusionDetection, clk *fakeClock) *Detector {
	t.Helper()
	d, err := newDetector(cfg, quiet, nil, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func newDet(t *testing.T, cfg *config.IntrusionDetection) *Detector {
	t.Helper()
	d, err := NewDetector(cfg, 0, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

var (
	attacker  = netip.MustParseAddr("192.0.2.10")
	bystander = netip.MustParseAddr("192.0.2.11")
)

func TestBanAfterThresholdAndExpiry(t *testing.T) {
	clk := newClock()
	d := newDetClock(t, &config.IntrusionDetection{Rules: rules(3, time.Minute, 10*time.Minute)}, clk)
	for i := 0; i < 2; i++ {
		d.Record(EventAuthFailure, Info{Client: attacker})
	}
	d.Record(EventNotFound, Info{Client: attacker}) // another event: no rule
	if d.Banned(attacker) {
		t.Fatal("banned before the threshold")
	}
	d.Record(EventAuthFailure, Info{Client: attacker})
	if !d.Banned(attacker) || d.Banned(bystander) {
		t.Fatal("the third failure must ban the attacker and only them")
	}
	// IPv4-mapped IPv6 is the same client.
	if !d.Banned(netip.MustParseAddr("::ffff:192.0.2.10")) {
		t.Fatal("mapped address escapes the ban")
	}
	clk.add(10*time.Minute + time.Second)
	if d.Banned(attacker) {
		t.Fatal("the ban must expire on its own")
	}
	if s := d.Stats(); s.Bans != 1 || s.Events != 3 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestSlidingWindow(t *testing.T) {
	clk := newClock()
	d := newDetClock(t, &config.IntrusionDetection{Rules: rules(3, time.Minute, time.Hour)}, clk)
	// Three failures spread over more than a minute never ban.
	for i := 0; i < 6; i++ {
		d.Record(EventAuthFailure, Info{Client: attacker})
		clk.add(31 * time.Second)
	}
	if d.Banned(attacker) {
		t.Fatal("banned though no minute held three failures")
	}
	for i := 0; i < 2; i++ {
		clk.add(time.Second)
		d.Record(EventAuthFailure, Info{Client: attacker})
	}
	if !d.Banned(attacker) {
		t.Fatal("three failures within a minute (one old, two new) must ban")
	}
}

func TestAllowListNeverBanned(t *testing.T) {
	d := newDet(t, &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Hour), Allow: []string{"192.0.2.0/28"}})
	for i := 0; i < 5; i++ {
		d.Record(EventAuthFailure, Info{Client: attacker})
	}
	if d.Banned(attacker) {
		t.Fatal("an allow-listed address was banned")
	}
	d.Record(EventAuthFailure, Info{Client: netip.MustParseAddr("192.0.2.99")})
	if !d.Banned(netip.MustParseAddr("192.0.2.99")) {
		t.Fatal("an address outside the allow list was not banned")
	}
}

func TestCountersBounded(t *testing.T) {
	d := newDet(t, &config.IntrusionDetection{Rules: rules(5, time.Hour, time.Hour)})
	for i := 0; i < counterShards*maxPerShard+5000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		d.Record(EventAuthFailure, Info{Client: a})
	}
	if n := d.counts.size(); n > counterShards*maxPerShard {
		t.Fatalf("%d counters held, bound is %d", n, counterShards*maxPerShard)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status  int
		reason  string
		gateway bool
		want    Event
	}{
		{401, "authn: no credentials", true, EventAuthFailure},
		{403, "authz: scope", true, EventForbidden},
		{403, "validate: waf: rule 942100", true, EventWAF},
		{404, "no route", true, EventNotFound},
		{404, "", false, EventNotFound},
		{429, "limit: rate", true, EventRateLimited},
		{400, "path: dot segment", true, EventMalformed},
		{400, "", false, EventNone},
		{200, "", false, EventNone},
		{503, "concurrency limit", true, EventNone},
	} {
		if got := Classify(tc.status, tc.reason, tc.gateway); got != tc.want {
			t.Errorf("Classify(%d, %q, %v) = %v, want %v", tc.status, tc.reason, tc.gateway, got, tc.want)
		}
	}
}

// hookRecorder is a webhook receiver that checks each delivery's
// signature on arrival, as docs/traffic.md tells a receiver to
// (webhooktest, not this package's Sign).
type hookRecorder struct {
	secret []byte
	mu     sync.Mutex
	bodies [][]byte
	errs   []error
	got    chan struct{}
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	err := webhooktest.Verify(h.secret, r.Header, b, time.Now())
	h.mu.Lock()
	h.bodies = append(h.bodies, b)
	h.errs = append(h.errs, err)
	h.mu.Unlock()
	h.got <- struct{}{}
}

func TestWebhookAlertSigned(t *testing.T) {
	rec := &hookRecorder{secret: []byte("hook-secret"), got: make(chan struct{}, 4)}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	d := newDet(t, &config.IntrusionDetection{Rules: rules(2, time.Minute, time.Minute),
		Alerts: &config.IntrusionAlerts{Webhooks: []config.AlertWebhook{{URL: srv.URL, Secret: "hook-secret"}}}})
	d.Record(EventAuthFailure, Info{Client: attacker, RequestID: "r1"})
	d.Record(EventAuthFailure, Info{Client: attacker, RequestID: "r2", Route: "login"})
	select {
	case <-rec.got:
	case <-time.After(5 * time.Second):
		t.Fatal("no alert delivered")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.errs[0] != nil {
		t.Fatalf("the delivery does not verify as the docs tell a receiver: %v", rec.errs[0])
	}
	var a Alert
	if err := json.Unmarshal(rec.bodies[0], &a); err != nil {
		t.Fatal(err)
	}
	if a.Type != "ban" || a.Event != "auth_failure" || a.Client != "192.0.2.10" || a.Count != 2 || a.RequestID != "r2" ||
		a.Route != "login" || a.Window != "1m0s" || a.BanUntil.Before(time.Now().Add(50*time.Second)) {
		t.Fatalf("alert = %+v", a)
	}
}

func TestWebhookRetriesThenSucceeds(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		close(done)
	}))
	defer srv.Close()
	d := newDet(t, &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Minute),
		Alerts: &config.IntrusionAlerts{Webhooks: []config.AlertWebhook{{URL: srv.URL}}, Retries: new(3)}})
	d.Record(EventAuthFailure, Info{Client: attacker})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the alert was not retried to success")
	}
	deadline := time.Now().Add(2 * time.Second)
	for d.Stats().AlertsSent != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := d.Stats(); s.AlertsSent != 1 || s.AlertsFailed != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

// TestAlertRetriesZeroIsOneAttempt: alerts.retries: 0 is one attempt and
// no retry (it used to mean the default, three).
func TestAlertRetriesZeroIsOneAttempt(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	d := newDet(t, &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Minute),
		Alerts: &config.IntrusionAlerts{Webhooks: []config.AlertWebhook{{URL: srv.URL}}, Retries: new(0)}})
	d.Record(EventAuthFailure, Info{Client: attacker})
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().AlertsFailed != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no failed alert after %d calls: %+v", calls.Load(), d.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(3 * backoffBase) // a retry would have come by now
	if n := calls.Load(); n != 1 {
		t.Fatalf("the receiver got %d attempts, want 1", n)
	}
}

func TestWebhookDownNeverBlocks(t *testing.T) {
	// A receiver that accepts and never answers.
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-hang }))
	defer srv.Close()
	defer close(hang)
	d := newDet(t, &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Minute),
		Alerts: &config.IntrusionAlerts{Webhooks: []config.AlertWebhook{{URL: srv.URL}}, Timeout: config.Duration(10 * time.Second)}})
	start := time.Now()
	for i := 0; i < alertQueue+100; i++ {
		d.Record(EventAuthFailure, Info{Client: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})})
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("recording took %v with a hung webhook", el)
	}
	if s := d.Stats(); s.AlertsDropped == 0 || s.Bans != alertQueue+100 {
		t.Fatalf("stats = %+v: a full queue must drop and count, bans must still happen", s)
	}
}

func redisAddr(t *testing.T) string {
	t.Helper()
	addr := "127.0.0.1:6379"
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("PORTCULLIS_SKIP_REDIS") == "1" {
			t.Skip("Redis unreachable and PORTCULLIS_SKIP_REDIS=1")
		}
		t.Fatalf("Redis at %s is unreachable (start it, or set PORTCULLIS_SKIP_REDIS=1 outside CI): %v", addr, err)
	}
	return addr
}

func randomPrefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	p := "test:ids:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
		defer c.Close()
		c.Del(context.Background(), p+"bans")
	})
	return p
}

func TestRedisSharedBan(t *testing.T) {
	addr := redisAddr(t)
	prefix := randomPrefix(t)
	cfg := func(allow ...string) *config.IntrusionDetection {
		return &config.IntrusionDetection{Rules: rules(2, time.Minute, 2*time.Second), Allow: allow, Store: "redis",
			Redis: &config.IntrusionRedis{RedisServer: config.RedisServer{Address: addr}, Prefix: prefix, SyncInterval: config.Duration(100 * time.Millisecond)}}
	}
	a, b := newDet(t, cfg()), newDet(t, cfg())
	c := newDet(t, cfg("192.0.2.0/24")) // allow-lists the attacker locally
	a.Record(EventAuthFailure, Info{Client: attacker})
	a.Record(EventAuthFailure, Info{Client: attacker})
	if !a.Banned(attacker) {
		t.Fatal("not banned on the node that saw the failures")
	}
	waitFor(t, 3*time.Second, "the ban to reach the other node", func() bool { return b.Banned(attacker) })
	if b.Banned(bystander) {
		t.Fatal("the bystander was banned")
	}
	if c.Banned(attacker) {
		t.Fatal("a node's allow list must win over a shared ban")
	}
	// The shared ban ends on its own everywhere.
	waitFor(t, 4*time.Second, "the shared ban to expire", func() bool { return !a.Banned(attacker) && !b.Banned(attacker) })
}

func waitFor(t *testing.T, max time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReloadKeepsBans(t *testing.T) {
	cfg := &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Hour)}
	d := newDet(t, cfg)
	d.Record(EventAuthFailure, Info{Client: attacker})
	d2, err := NewDetector(&config.IntrusionDetection{Rules: rules(5, time.Minute, time.Hour)}, 0, quiet, d)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	d.Close()
	if !d2.Banned(attacker) {
		t.Fatal("a reload forgave a banned client")
	}
}

func BenchmarkBannedMiss(b *testing.B) {
	d, _ := NewDetector(&config.IntrusionDetection{Rules: rules(1, time.Minute, time.Hour)}, 0, quiet, nil)
	defer d.Close()
	for i := 0; i < 1000; i++ { // a realistic table: some bans in force
		d.Record(EventAuthFailure, Info{Client: netip.AddrFrom4([4]byte{203, 0, byte(i >> 8), byte(i)})})
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d.Banned(bystander) {
				b.Fatal("banned")
			}
		}
	})
}

func BenchmarkBannedEmpty(b *testing.B) {
	d, _ := NewDetector(&config.IntrusionDetection{Rules: rules(1, time.Minute, time.Hour)}, 0, quiet, nil)
	defer d.Close()
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Banned(bystander)
	}
}

func BenchmarkRecordEvent(b *testing.B) {
	d, _ := NewDetector(&config.IntrusionDetection{Rules: rules(1_000, time.Minute, time.Hour)}, 0, quiet, nil)
	defer d.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			d.Record(EventAuthFailure, Info{Client: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i % 200)})})
		}
	})
}
