package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// backend is a loopback upstream whose behaviour a test switches at run
// time: it counts the requests it received (and their bodies) and answers
// with status, or hangs until released.
type backend struct {
	*httptest.Server
	hits   atomic.Int64
	health atomic.Int64 // health check requests
	status atomic.Int64 // status of normal requests (0: 200)
	hstat  atomic.Int64 // status of /healthz (0: 200)
	hang   chan struct{}
	hangOn atomic.Bool
	mu     sync.Mutex
	bodies []string
}

func newBackend(t *testing.T) *backend {
	t.Helper()
	b := &backend{hang: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			b.health.Add(1)
			w.WriteHeader(int(or64(b.hstat.Load(), 200)))
			return
		}
		body, _ := io.ReadAll(r.Body)
		b.hits.Add(1)
		b.mu.Lock()
		b.bodies = append(b.bodies, r.Method+" "+string(body))
		b.mu.Unlock()
		if b.hangOn.Load() {
			select {
			case <-b.hang:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(int(or64(b.status.Load(), 200)))
		io.WriteString(w, "from "+b.Listener.Addr().String())
	}))
	// Unblock hung handlers before Close waits for them.
	t.Cleanup(func() { close(b.hang); b.Close() })
	return b
}

func or64(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

func (b *backend) received() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.bodies...)
}

// deadURL returns the URL of a loopback port that refuses connections.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// forward sends one request through s.Forward the way the gateway does and
// returns the status (0 on error), the body and the error.
func forward(t *testing.T, s *Service, method, body string) (int, string, error) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, "http://placeholder/x", rd)
	if err != nil {
		t.Fatal(err)
	}
	req.GetBody = nil // as a server request: the body cannot be re-read
	resp, tg, err := s.Forward(req, "", false)
	if tg != nil {
		defer tg.Release()
	}
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b), nil
}

// eventually polls cond (state that changes on a timer) until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBreakerTransitions(t *testing.T) {
	b := newBreaker(3, time.Minute, 2)
	now := time.Unix(1000, 0)
	for range 2 {
		b.report(false, false, now)
	}
	b.report(false, true, now) // a success resets the run
	for range 2 {
		b.report(false, false, now)
	}
	if b.stateName() != "closed" || !b.allows(now.UnixNano()) {
		t.Fatalf("opened before %d failures in a row: %s", 3, b.stateName())
	}
	b.report(false, false, now)
	if b.stateName() != "open" || b.allows(now.Add(59*time.Second).UnixNano()) {
		t.Fatalf("state %s after threshold, want open and no picks", b.stateName())
	}
	later := now.Add(time.Minute)
	if !b.allows(later.UnixNano()) || b.stateName() != "half_open" {
		t.Fatalf("state %s after the open period, want half_open", b.stateName())
	}
	// Exactly two trial permits.
	tr1, ok1 := b.acquire()
	tr2, ok2 := b.acquire()
	_, ok3 := b.acquire()
	if !tr1 || !ok1 || !tr2 || !ok2 || ok3 || b.allows(later.UnixNano()) {
		t.Fatalf("permits: %v %v %v %v %v", tr1, ok1, tr2, ok2, ok3)
	}
	// A non-trial outcome does not decide; one trial success is not enough.
	b.report(false, true, later)
	b.report(true, true, later)
	if b.stateName() != "half_open" {
		t.Fatalf("closed after 1 of 2 trials: %s", b.stateName())
	}
	b.report(true, false, later) // a failed trial opens again
	if b.stateName() != "open" {
		t.Fatalf("state %s after a failed trial, want open", b.stateName())
	}
	// Next round: both trials succeed and the breaker closes.
	later = later.Add(time.Minute)
	b.allows(later.UnixNano())
	for range 2 {
		if tr, ok := b.acquire(); !tr || !ok {
			t.Fatal("no trial permit")
		}
		b.report(true, true, later)
	}
	if b.stateName() != "closed" {
		t.Fatalf("state %s after successful trials, want closed", b.stateName())
	}
	// Permits that were never reported are renewed after another period.
	for range 3 {
		b.report(false, false, later)
	}
	later = later.Add(time.Minute)
	b.allows(later.UnixNano())
	b.acquire()
	b.acquire()
	if b.allows(later.UnixNano()) {
		t.Fatal("allowed with no permit left")
	}
	if !b.allows(later.Add(time.Minute).UnixNano()) {
		t.Fatal("lost permits were not renewed")
	}
}

func TestFailoverPassive(t *testing.T) {
	live := newBackend(t)
	r := testRegistry(t)
	cfg := svcConfig(deadURL(t), live.URL)
	cfg.Passive = &config.PassiveHealth{ConsecutiveFailures: 2, CoolOff: config.Duration(time.Hour)}
	s := mustService(t, r, cfg)
	failures := 0
	for range 20 {
		if st, _, err := forward(t, s, "GET", ""); err != nil {
			failures++
		} else if st != 200 {
			t.Fatalf("status %d", st)
		}
	}
	// Round robin sends every other request to the dead target until two
	// failures eject it; then everything goes to the live one.
	if failures != 2 || live.hits.Load() != 18 {
		t.Fatalf("failures %d, live hits %d: want 2 and 18", failures, live.hits.Load())
	}
	if h := s.Targets()[0].Health(); !h.Ejected {
		t.Fatalf("dead target not ejected: %+v", h)
	}
}

func TestPassiveFailureRatio(t *testing.T) {
	bad := newBackend(t)
	bad.status.Store(500)
	r := testRegistry(t)
	cfg := svcConfig(bad.URL)
	cfg.Passive = &config.PassiveHealth{ConsecutiveFailures: 1000, FailureRatio: 0.5, MinRequests: 4, Window: config.Duration(time.Hour), CoolOff: config.Duration(time.Hour)}
	s := mustService(t, r, cfg)
	for i := range 4 {
		st, _, err := forward(t, s, "GET", "")
		if err != nil || st != 500 {
			t.Fatalf("request %d: %d %v", i, st, err)
		}
	}
	if _, _, err := forward(t, s, "GET", ""); !errors.Is(err, ErrNoHealthyTarget) {
		t.Fatalf("after 4 of 4 failures: %v, want ErrNoHealthyTarget", err)
	}
	if n := bad.hits.Load(); n != 4 {
		t.Fatalf("upstream hit %d times, want 4", n)
	}
}

func TestBreakerOpensAndCloses(t *testing.T) {
	up := newBackend(t)
	up.status.Store(503)
	r := testRegistry(t)
	cfg := svcConfig(up.URL)
	const openFor = 300 * time.Millisecond
	cfg.CircuitBreaker = &config.CircuitBreaker{FailureThreshold: 3, OpenDuration: config.Duration(openFor), HalfOpenRequests: 2}
	s := mustService(t, r, cfg)
	for range 3 {
		if st, _, _ := forward(t, s, "GET", ""); st != 503 {
			t.Fatalf("status %d, want the upstream's 503", st)
		}
	}
	// Open: fast refusals, and the upstream sees nothing more.
	opened := time.Now()
	for range 50 {
		if _, _, err := forward(t, s, "GET", ""); !errors.Is(err, ErrNoHealthyTarget) {
			t.Fatalf("breaker open: %v, want ErrNoHealthyTarget", err)
		}
	}
	if d := time.Since(opened); d >= openFor {
		t.Fatalf("50 refusals took %v: not fast", d)
	}
	if n := up.hits.Load(); n != 3 {
		t.Fatalf("upstream hit %d times while open, want 3", n)
	}
	// Half-open with the upstream still failing: one trial, open again.
	eventually(t, "half-open", func() bool { return s.Targets()[0].Available() })
	if st, _, _ := forward(t, s, "GET", ""); st != 503 {
		t.Fatalf("trial status %d", st)
	}
	if got := s.Targets()[0].Health().Breaker; got != "open" || up.hits.Load() != 4 {
		t.Fatalf("after a failed trial: %s, %d hits", got, up.hits.Load())
	}
	// Recovery: two successful trials close it.
	up.status.Store(200)
	eventually(t, "half-open again", func() bool { return s.Targets()[0].Available() })
	for range 2 {
		if st, _, err := forward(t, s, "GET", ""); st != 200 {
			t.Fatalf("trial: %d %v", st, err)
		}
	}
	if got := s.Targets()[0].Health().Breaker; got != "closed" {
		t.Fatalf("breaker %s after recovery, want closed", got)
	}
	for range 5 {
		if st, _, err := forward(t, s, "GET", ""); st != 200 {
			t.Fatalf("closed: %d %v", st, err)
		}
	}
}

func TestActiveHealthChecks(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	r := testRegistry(t)
	cfg := svcConfig(a.URL, b.URL)
	cfg.HealthCheck = &config.HealthCheck{Path: "/healthz", Interval: config.Duration(20 * time.Millisecond),
		Timeout: config.Duration(20 * time.Millisecond), HealthyThreshold: 2, UnhealthyThreshold: 2}
	s := mustService(t, r, cfg)
	ta := s.Targets()[0]
	a.hstat.Store(500)
	eventually(t, "a unhealthy", func() bool { return !ta.Health().Healthy })
	before := a.hits.Load()
	for range 10 {
		if st, body, err := forward(t, s, "GET", ""); st != 200 || !strings.Contains(body, b.Listener.Addr().String()) {
			t.Fatalf("while a is unhealthy: %d %q %v", st, body, err)
		}
	}
	if a.hits.Load() != before {
		t.Fatal("an unhealthy target received requests")
	}
	a.hstat.Store(0)
	eventually(t, "a healthy again", func() bool { return ta.Health().Healthy })
	for range 4 {
		forward(t, s, "GET", "")
	}
	if a.hits.Load() == before {
		t.Fatal("the recovered target received nothing")
	}
	// Closing the registry stops the checks.
	r.Close()
	n := a.health.Load()
	time.Sleep(100 * time.Millisecond)
	if a.health.Load() != n {
		t.Fatal("health checks went on after Close")
	}
}

func TestHealthCheckTimeoutMarksHungTargetDown(t *testing.T) {
	hung := newRawServer(t, func(c net.Conn) { io.Copy(io.Discard, c) }) // never answers
	r := testRegistry(t)
	cfg := svcConfig(hung.URL())
	cfg.HealthCheck = &config.HealthCheck{Path: "/healthz", Interval: config.Duration(20 * time.Millisecond),
		Timeout: config.Duration(20 * time.Millisecond), UnhealthyThreshold: 1, HealthyThreshold: 1}
	s := mustService(t, r, cfg)
	eventually(t, "hung target unhealthy", func() bool { return !s.Targets()[0].Health().Healthy })
	if _, _, err := forward(t, s, "GET", ""); !errors.Is(err, ErrNoHealthyTarget) {
		t.Fatalf("%v, want ErrNoHealthyTarget", err)
	}
}

func TestPruneStopsHealthChecks(t *testing.T) {
	a := newBackend(t)
	r := testRegistry(t)
	cfg := svcConfig(a.URL)
	cfg.HealthCheck = &config.HealthCheck{Path: "/healthz", Interval: config.Duration(10 * time.Millisecond), Timeout: config.Duration(10 * time.Millisecond)}
	mustService(t, r, cfg)
	eventually(t, "a check", func() bool { return a.health.Load() > 0 })
	r.Prune(nil)
	n := a.health.Load()
	time.Sleep(60 * time.Millisecond)
	if a.health.Load() != n {
		t.Fatal("health checks went on after the pool was pruned")
	}
}

func retryConfig(urls ...string) config.Service {
	cfg := svcConfig(urls...)
	cfg.Retries = &config.Retries{Attempts: 3, MinRetriesPerSecond: new(100)}
	return cfg
}

func TestRetryGetOnConnectFailure(t *testing.T) {
	live := newBackend(t)
	r := testRegistry(t)
	s := mustService(t, r, retryConfig(deadURL(t), live.URL))
	for i := range 6 {
		st, _, err := forward(t, s, "GET", "")
		if err != nil || st != 200 {
			t.Fatalf("GET %d: %d %v", i, st, err)
		}
	}
	if n := live.hits.Load(); n != 6 {
		t.Fatalf("live hits %d, want 6 (each request once)", n)
	}
}

func TestRetryPostOnlyBeforeSending(t *testing.T) {
	live := newBackend(t)
	r := testRegistry(t)
	// Connection refused: nothing was sent, so even a POST with a
	// streamed body moves to the next target, body intact.
	s := mustService(t, r, retryConfig(deadURL(t), live.URL))
	for i := range 4 {
		if st, _, err := forward(t, s, "POST", "order-"+string(rune('a'+i))); err != nil || st != 200 {
			t.Fatalf("POST %d: %d %v", i, st, err)
		}
	}
	if got := live.received(); len(got) != 4 || got[0] != "POST order-a" || got[3] != "POST order-d" {
		t.Fatalf("live received %q", got)
	}

	// The first target answers 503 after reading the POST: never again.
	failing, other := newBackend(t), newBackend(t)
	failing.status.Store(503)
	s = mustService(t, r, retryConfig(failing.URL, other.URL))
	var codes []int
	for range 4 {
		st, _, err := forward(t, s, "POST", "pay-once")
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, st)
	}
	if failing.hits.Load() != 2 || other.hits.Load() != 2 {
		t.Fatalf("POST hits: failing %d, other %d (codes %v): a POST was retried", failing.hits.Load(), other.hits.Load(), codes)
	}
	// The same with GET is retried: every GET succeeds.
	for range 4 {
		if st, _, _ := forward(t, s, "GET", ""); st != 200 {
			t.Fatalf("GET not retried after 503: %d", st)
		}
	}
	// A PUT with a small body is replayed whole.
	if st, _, _ := forward(t, s, "PUT", "replay-me"); st != 200 {
		t.Fatalf("PUT: %d", st)
	}
	if got := other.received(); got[len(got)-1] != "PUT replay-me" {
		t.Fatalf("other received %q", got)
	}
}

func TestRetryHungTargetPerTryTimeout(t *testing.T) {
	hung, live := newBackend(t), newBackend(t)
	hung.hangOn.Store(true)
	r := testRegistry(t)
	cfg := retryConfig(hung.URL, live.URL)
	cfg.Retries.PerTryTimeout = config.Duration(100 * time.Millisecond)
	cfg.Retries.RetryOn = []string{"timeout"}
	s := mustService(t, r, cfg)
	for range 2 {
		start := time.Now()
		st, _, err := forward(t, s, "GET", "")
		if err != nil || st != 200 {
			t.Fatalf("%d %v", st, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("took %v", d)
		}
	}
	// Each GET reached the live target once; the hung one at most once each.
	if h := hung.hits.Load(); h < 1 || h > 2 || live.hits.Load() != 2 {
		t.Fatalf("hung %d live %d, want 1-2 and 2", h, live.hits.Load())
	}
	// A POST to the hung target times out and is not retried.
	hung2 := newBackend(t)
	hung2.hangOn.Store(true)
	s = mustService(t, r, func() config.Service {
		c := cfg
		c.Targets = []config.Target{{URL: hung2.URL}, {URL: live.URL}}
		return c
	}())
	_, _, err := forward(t, s, "POST", "x")
	if !IsTimeout(err) {
		t.Fatalf("POST to a hung target: %v, want a timeout", err)
	}
	if hung2.hits.Load() != 1 || live.hits.Load() != 2 {
		t.Fatalf("POST was retried: hung %d live %d", hung2.hits.Load(), live.hits.Load())
	}
}

func TestRetryTotalTimeout(t *testing.T) {
	a, b := newBackend(t), newBackend(t)
	a.hangOn.Store(true)
	b.hangOn.Store(true)
	r := testRegistry(t)
	cfg := retryConfig(a.URL, b.URL)
	cfg.Retries.Attempts = 10
	cfg.Retries.PerTryTimeout = config.Duration(80 * time.Millisecond)
	cfg.Retries.Timeout = config.Duration(200 * time.Millisecond)
	cfg.Retries.RetryOn = []string{"timeout"}
	s := mustService(t, r, cfg)
	start := time.Now()
	_, _, err := forward(t, s, "GET", "")
	d := time.Since(start)
	if !IsTimeout(err) || !errors.Is(err, errTotalTimeout) {
		t.Fatalf("err %v, want the total timeout", err)
	}
	if d < 200*time.Millisecond || d > 2*time.Second {
		t.Fatalf("took %v, want about 200ms", d)
	}
	if n := a.hits.Load() + b.hits.Load(); n < 2 || n > 3 {
		t.Fatalf("%d tries in 200ms with 80ms per try", n)
	}
}

func TestRetryBudgetCapsRetries(t *testing.T) {
	up := newBackend(t)
	up.status.Store(503)
	r := testRegistry(t)
	cfg := svcConfig(up.URL)
	cfg.Retries = &config.Retries{Attempts: 5, BudgetRatio: new(0.2), MinRetriesPerSecond: new(1)}
	s := mustService(t, r, cfg)
	const n = 100
	secs := retryBurst(t, s, n)
	// Without a budget: 500 requests upstream. With it: n, plus 20% of n,
	// plus the minimum per second, plus a few lost to racing goroutines.
	max := int64(n) + n/5 + secs + 4
	if got := up.hits.Load(); got > max || got <= n {
		t.Fatalf("upstream received %d requests for %d client requests; want between %d and %d", got, n, n+1, max)
	}
}

// TestRetryBudgetRatioZeroAllowsOnlyTheFloor: budget_ratio: 0 with
// min_retries_per_second: 1 is "at most one retry a second", not the
// default ratio (0.2) a zero used to become.
func TestRetryBudgetRatioZeroAllowsOnlyTheFloor(t *testing.T) {
	up := newBackend(t)
	up.status.Store(503)
	r := testRegistry(t)
	cfg := svcConfig(up.URL)
	cfg.Retries = &config.Retries{Attempts: 5, BudgetRatio: new(0.0), MinRetriesPerSecond: new(1)}
	s := mustService(t, r, cfg)
	const n = 100
	secs := retryBurst(t, s, n)
	// One retry a second, plus a few lost to racing goroutines; the
	// default ratio would have allowed about twenty.
	if got := up.hits.Load(); got > n+secs+4 || got <= n {
		t.Fatalf("upstream received %d requests for %d client requests in %ds; want between %d and %d", got, n, secs, n+1, n+secs+4)
	}
}

// retryBurst forwards n GETs through s from four goroutines and returns
// the seconds it took, rounded up: the number of per-second budget floors
// the burst could use.
func retryBurst(t *testing.T, s *Service, n int) int64 {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 4 {
				forward(t, s, "GET", "")
			}
		}()
	}
	wg.Wait()
	return int64(time.Since(start)/time.Second) + 1
}

func TestStaleConnBodilessPostNotResent(t *testing.T) {
	// One request per connection, then a silent close: pooled connections
	// go stale. A bodiless POST on one is not sent again (the server may
	// have processed it); a GET is.
	rs := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	r := testRegistry(t)
	s := mustService(t, r, svcConfig(rs.URL()))
	if st, _, err := forward(t, s, "GET", ""); err != nil || st != 200 {
		t.Fatal(st, err)
	}
	if _, _, err := forward(t, s, "POST", ""); err == nil {
		t.Fatal("bodiless POST on a stale connection succeeded: it was sent twice")
	}
	if n := rs.accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections, want 1 (no resend)", n)
	}
	if st, _, err := forward(t, s, "GET", ""); err != nil || st != 200 {
		t.Fatalf("GET after a fresh dial: %d %v", st, err)
	}
}
