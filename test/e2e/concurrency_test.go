package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestConcurrencyLimit(t *testing.T) {
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
	go func() { st, _ := getWithAPIKey(t, keepAliveClient("127.0.0.1"), gw.URL("/slow"), ""); results <- st }()
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
			resp, err := keepAliveClient("127.0.0.1").Get(gw.URL(path))
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
	if st, _ := getWithAPIKey(t, keepAliveClient("127.0.0.1"), gw.URL("/after"), ""); st != 200 {
		t.Fatalf("after release: %d", st)
	}
}

// TestConcurrencyFloodsDoNotStarveOthers: one address opens hundreds of
// connections, holds slowloris connections and floods requests; another
// address is still served promptly.
func TestConcurrencyFloodsDoNotStarveOthers(t *testing.T) {
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
	attackerDial := dialerFrom("127.0.0.2", 2*time.Second)

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
	flood := keepAliveClient("127.0.0.2")
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
	victim := keepAliveClient("127.0.0.3")
	for i := 0; i < 20; i++ {
		start := time.Now()
		st, _ := getWithAPIKey(t, victim, gw.URL(fmt.Sprintf("/victim/%d", i)), "")
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

// TestConcurrencyPerClientLimitExemptsTrustedProxies: a trusted proxy's
// connections carry many clients, so the per-client connection limit does
// not apply to it; any other peer is held to it.
func TestConcurrencyPerClientLimitExemptsTrustedProxies(t *testing.T) {
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
		d := dialerFrom(ip, 2*time.Second)
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
