package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// resilienceConfig is a gateway with one service over ups and the given
// service-level resilience YAML (indented 4 spaces).
func resilienceConfig(ups []*Upstream, serviceExtra string) GatewayConfig {
	targets := ""
	for _, u := range ups {
		targets += fmt.Sprintf("      - url: %q\n", u.URL)
	}
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - name: svc
    targets:
%s%s
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
ops: {address: "{{ops}}"}
access_log: {output: "off"}
`, targets, serviceExtra))
}

type resResult struct {
	status      int
	contentType string
	body        string
}

func resDo(t *testing.T, method, url, body string) resResult {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resResult{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// isGatewayUnavailable reports a 503 the gateway answered itself.
func isGatewayUnavailable(r resResult) bool {
	if r.status != http.StatusServiceUnavailable || r.contentType != "application/problem+json" {
		return false
	}
	var p struct {
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	return json.Unmarshal([]byte(r.body), &p) == nil && p.Status == 503 && p.Detail == "The service is unavailable."
}

func TestResilienceFailoverWhenTargetDies(t *testing.T) {
	a, b := NewUpstream(t, nil), NewUpstream(t, nil)
	gw := StartGateway(t, resilienceConfig([]*Upstream{a, b}, `    passive_health: {consecutive_failures: 1, cool_off: 1h}
    retries: {attempts: 2, retry_on: [connect_failure], min_retries_per_second: 100}`))
	for range 10 {
		if r := resDo(t, "GET", gw.URL("/x"), ""); r.status != 200 {
			t.Fatalf("status %d", r.status)
		}
	}
	if a.Count() != 5 || b.Count() != 5 {
		t.Fatalf("before: a %d, b %d, want 5 and 5", a.Count(), b.Count())
	}
	// a dies: its listener and connections close.
	_ = a.srv.Close()
	for i := range 20 {
		if r := resDo(t, "GET", gw.URL("/x"), ""); r.status != 200 {
			t.Fatalf("request %d after a died: status %d %s", i, r.status, r.body)
		}
		// POSTs too: a refused connection sent nothing, so it moves on.
		if r := resDo(t, "POST", gw.URL("/order"), "order-"+fmt.Sprint(i)); r.status != 200 {
			t.Fatalf("POST %d after a died: status %d %s", i, r.status, r.body)
		}
	}
	if a.Count() != 5 || b.Count() != 45 {
		t.Fatalf("after: a %d, b %d, want 5 and 45", a.Count(), b.Count())
	}
	posts := 0
	for _, s := range b.Requests() {
		if s.Method == "POST" {
			if want := "order-" + fmt.Sprint(posts); string(s.Body) != want {
				t.Fatalf("POST body %q, want %q", s.Body, want)
			}
			posts++
		}
	}
	if posts != 20 {
		t.Fatalf("b received %d POSTs, want 20 (each exactly once)", posts)
	}
}

func TestResilienceBreakerOpensAndCloses(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "down")
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	gw := StartGateway(t, resilienceConfig([]*Upstream{up}, `    circuit_breaker: {failure_threshold: 3, open_duration: 400ms, half_open_requests: 1}`))
	for range 3 {
		if r := resDo(t, "GET", gw.URL("/x"), ""); r.status != 503 || r.body != "down" {
			t.Fatalf("want the upstream's own 503, got %d %q", r.status, r.body)
		}
	}
	// Open: the gateway answers 503 fast and the upstream is not hammered.
	start := time.Now()
	for range 20 {
		if r := resDo(t, "GET", gw.URL("/x"), ""); !isGatewayUnavailable(r) {
			t.Fatalf("breaker open: got %d %s %q", r.status, r.contentType, r.body)
		}
	}
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("20 refusals took %v", d)
	}
	if n := up.Count(); n != 3 {
		t.Fatalf("upstream received %d requests, want 3 (nothing while open)", n)
	}
	// Recovery: after the open period one trial goes through and closes it.
	down.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := resDo(t, "GET", gw.URL("/x"), "")
		if r.status == 200 {
			break
		}
		if !isGatewayUnavailable(r) || time.Now().After(deadline) {
			t.Fatalf("waiting for half-open: %d %q", r.status, r.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := up.Count(); n != 4 {
		t.Fatalf("upstream received %d requests, want 4 (one trial)", n)
	}
	for range 10 {
		if r := resDo(t, "GET", gw.URL("/x"), ""); r.status != 200 {
			t.Fatalf("breaker closed: status %d", r.status)
		}
	}
}

func TestResilienceNoUnsafeRetry(t *testing.T) {
	failing := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	ok := NewUpstream(t, nil)
	gw := StartGateway(t, resilienceConfig([]*Upstream{failing, ok}, `    retries: {attempts: 3, retry_on: [connect_failure, "502", "503", "504"], min_retries_per_second: 100}`))
	got503 := 0
	for i := range 6 {
		r := resDo(t, "POST", gw.URL("/pay"), fmt.Sprintf("payment-%d", i))
		switch r.status {
		case 200:
		case 503:
			got503++
		default:
			t.Fatalf("POST status %d", r.status)
		}
	}
	// Every POST reached exactly one upstream exactly once; those that
	// reached the failing one got its 503 back rather than a second send.
	if f, o := failing.Count(), ok.Count(); f+o != 6 || f != got503 || f == 0 {
		t.Fatalf("failing %d, ok %d, client 503s %d: a POST was sent twice or lost", f, o, got503)
	}
	seen := map[string]int{}
	for _, s := range append(failing.Requests(), ok.Requests()...) {
		seen[string(s.Body)]++
	}
	for body, n := range seen {
		if n != 1 {
			t.Fatalf("%s sent %d times", body, n)
		}
	}
	// A GET is idempotent: the 503 is retried on the other target.
	for range 6 {
		if r := resDo(t, "GET", gw.URL("/read"), ""); r.status != 200 {
			t.Fatalf("GET status %d, want 200 after a retry", r.status)
		}
	}
}

func TestResilienceHungTargetPerTryTimeout(t *testing.T) {
	release := make(chan struct{})
	hung := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	live := NewUpstream(t, nil)
	gw := StartGateway(t, resilienceConfig([]*Upstream{hung, live}, `    retries: {attempts: 2, per_try_timeout: 200ms, timeout: 2s, retry_on: [timeout], min_retries_per_second: 100}`))
	// Without the per-try timeout, a GET on the hung target would use up
	// the whole 2 s budget and answer 504: a 200 proves it moved on.
	for range 4 {
		if r := resDo(t, "GET", gw.URL("/x"), ""); r.status != 200 {
			t.Fatalf("GET status %d %q", r.status, r.body)
		}
	}
	if live.Count() != 4 {
		t.Fatalf("live received %d, want 4", live.Count())
	}
	// A POST that hangs times out (504) and is not sent again.
	before := hung.Count()
	var r resResult
	for range 2 { // round robin: one of two POSTs goes to the hung target
		if r = resDo(t, "POST", gw.URL("/x"), "once"); r.status == 504 {
			break
		}
	}
	if r.status != 504 || hung.Count() != before+1 {
		t.Fatalf("POST: status %d, hung received %d more", r.status, hung.Count()-before)
	}
}
