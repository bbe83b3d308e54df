package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// countingListener counts the connections an upstream accepts, to tell
// pooled keep-alive connections from new ones.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// generationUpstream remembers the highest X-Config-Generation it has seen.
type generationUpstream struct {
	url      string
	ln       *countingListener
	highest  atomic.Int64
	requests atomic.Int64
}

func newGenerationUpstream(t *testing.T) *generationUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &generationUpstream{url: "http://" + l.Addr().String(), ln: &countingListener{Listener: l}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.requests.Add(1)
		if n, err := strconv.ParseInt(r.Header.Get("X-Config-Generation"), 10, 64); err == nil {
			for {
				cur := u.highest.Load()
				if n <= cur || u.highest.CompareAndSwap(cur, n) {
					break
				}
			}
		}
		_, _ = io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(u.ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return u
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readyCounters returns the reload counters of /readyz.
func readyCounters(t *testing.T, gw *Gateway) (reloads, failures int) {
	t.Helper()
	code, body := gw.Readyz()
	var r struct {
		Reloads  int `json:"reloads"`
		Failures int `json:"reload_failures"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("/readyz: %d %q", code, body)
	}
	return r.Reloads, r.Failures
}

func generationConfig(upURL string, gen int) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
    policies: [{kind: request_headers, set: {X-Config-Generation: "%d"}}]
access_log: {output: "off"}
ops: {address: "{{ops}}"}
`, upURL, gen))
}

func TestHotReloadUnderLoad(t *testing.T) {
	const workers, steps = 4, 20
	up := newGenerationUpstream(t)
	gw := StartGateway(t, generationConfig(up.url, 0))

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var (
		stop     atomic.Bool
		wg       sync.WaitGroup
		sent     atomic.Int64
		failures atomic.Int64
		firstErr sync.Once
		errText  atomic.Value
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				sent.Add(1)
				resp, err := client.Get(gw.URL("/load"))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failures.Add(1)
					firstErr.Do(func() { errText.Store(err.Error()) })
				}
				time.Sleep(time.Millisecond) // keep the load steady, not CPU-bound
			}
		}()
	}

	for gen := 1; gen <= steps; gen++ {
		gw.WriteConfig(generationConfig(up.url, gen))
		if gen%2 == 0 {
			// SIGHUP reloads at once; the file watcher's debounced reload
			// of the same file follows.
			gw.Signal(syscall.SIGHUP)
		}
		if !waitFor(10*time.Second, func() bool { return up.highest.Load() >= int64(gen) }) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("generation %d never reached the upstream (highest %d)\nstderr:\n%s", gen, up.highest.Load(), gw.Stderr.String())
		}
	}
	before := sent.Load()
	// Let the load run a little on the last generation before stopping.
	waitFor(5*time.Second, func() bool { return sent.Load() >= before+workers*5 })
	stop.Store(true)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during reloads; first: %v", n, sent.Load(), errText.Load())
	}
	if got := up.highest.Load(); got != steps {
		t.Errorf("upstream's last generation %d, want %d", got, steps)
	}
	reloads, fails := readyCounters(t, gw)
	if reloads < steps || fails != 0 {
		t.Errorf("/readyz reloads=%d reload_failures=%d, want >= %d and 0", reloads, fails, steps)
	}
	// Pools outlive snapshots: keep-alive connections to the upstream are
	// reused across reloads instead of being opened per reload or request.
	if acc := up.ln.accepted.Load(); acc > workers+3 {
		t.Errorf("upstream accepted %d connections for %d requests over %d reloads; want <= %d", acc, up.requests.Load(), reloads, workers+3)
	}
	t.Logf("%d requests, %d reloads, %d upstream connections", sent.Load(), reloads, up.ln.accepted.Load())
}

func TestBrokenConfigNeverGoesLive(t *testing.T) {
	up := newGenerationUpstream(t)
	gw := StartGateway(t, generationConfig(up.url, 1))
	get := func() {
		t.Helper()
		resp, err := http.Get(gw.URL("/x"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	get()

	broken := `version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "` + up.url + `"}]}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
    policies: [{kind: request_headers, set: {X-Config-Generation: "2"}}]
    bogus_field: true
  - name: other
    paths: [{prefix: /other}]
    service: missing-svc
ops: {address: "{{ops}}"}
`
	gw.WriteConfig(GatewayConfig(broken))
	// The file watcher tries the file first; then SIGHUP tries again.
	if !waitFor(10*time.Second, func() bool { _, f := readyCounters(t, gw); return f >= 1 }) {
		t.Fatalf("the broken file was not tried\nstderr:\n%s", gw.Stderr.String())
	}
	_, f0 := readyCounters(t, gw)
	gw.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { _, f := readyCounters(t, gw); return f == f0+1 }) {
		t.Fatalf("SIGHUP did not count a failed reload\nstderr:\n%s", gw.Stderr.String())
	}

	for range 5 {
		get()
	}
	if got := up.highest.Load(); got != 1 {
		t.Errorf("upstream saw generation %d: the broken config went live", got)
	}
	if reloads, _ := readyCounters(t, gw); reloads != 0 {
		t.Errorf("reloads = %d, want 0", reloads)
	}

	lines := strings.Split(broken, "\n")
	lineOf := func(s string) int {
		for i, l := range lines {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("%q not in config", s)
		return 0
	}
	logText := gw.Stderr.String()
	// The log line is JSON: the error text's quotes are escaped.
	for _, want := range []string{
		fmt.Sprintf("%s:%d:%d: routes[0].bogus_field: unknown field", gw.ConfigPath, lineOf("bogus_field"), 5),
		fmt.Sprintf("%s:%d:%d: routes[1].service: service \\\"missing-svc\\\" is not defined", gw.ConfigPath, lineOf("missing-svc"), 14),
	} {
		if !strings.Contains(logText, want) {
			t.Errorf("process log lacks %q:\n%s", want, logText)
		}
	}

	// Fixing the file brings reloads back.
	gw.WriteConfig(generationConfig(up.url, 3))
	if !waitFor(10*time.Second, func() bool { get(); return up.highest.Load() == 3 }) {
		t.Fatal("the fixed config did not go live")
	}
}

func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			return
		}
		close(started)
		select { // a 1 s request, ended early once the test has checked the listener
		case <-release:
		case <-time.After(time.Second):
		}
		_, _ = io.WriteString(w, "slow and complete")
	})
	gw := StartGateway(t, simpleConfig(up, "shutdown: {drain_timeout: 10s}"))

	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(gw.URL("/slow"))
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request did not reach the upstream")
	}
	gw.Signal(syscall.SIGTERM)
	refused := waitFor(5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", gw.Addr, time.Second)
		if err != nil {
			return true
		}
		_ = c.Close()
		return false
	})
	close(release)
	if !refused {
		t.Error("new connections were still accepted after SIGTERM")
	}
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "slow and complete" {
		t.Fatalf("in-flight request: status %d body %q err %v", r.status, r.body, r.err)
	}
	if err := gw.Wait(10 * time.Second); err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, gw.Stderr.String())
	}
}

func TestDrainTimeoutBoundsShutdown(t *testing.T) {
	started := make(chan struct{})
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	gw := StartGateway(t, simpleConfig(up, "shutdown: {drain_timeout: 300ms}"))
	errs := make(chan error, 1)
	go func() {
		resp, err := http.Get(gw.URL("/stuck"))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errs <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the request did not reach the upstream")
	}
	gw.Signal(syscall.SIGTERM)
	if err := gw.Wait(2500 * time.Millisecond); err != nil {
		t.Fatalf("exit: %v\nstderr:\n%s", err, gw.Stderr.String())
	}
	if err := <-errs; err == nil {
		t.Error("the request cut off by the drain deadline looked complete")
	}
	if !strings.Contains(gw.Stderr.String(), "drain deadline reached") {
		t.Errorf("the log does not say the drain deadline cut requests off:\n%s", gw.Stderr.String())
	}
}
