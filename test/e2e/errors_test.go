package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startServer serves h on a loopback port (unlike NewUpstream it does not
// read the request body first, so h sees the body as it streams in).
func startServer(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// readProblem checks that resp is an application/problem+json answer with
// status and the request id of its X-Request-Id header, and returns the body.
func readProblem(t *testing.T, resp *http.Response, status int) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading problem body: %v", err)
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d type %q body %q, want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), b, status)
	}
	var p struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal(b, &p); err != nil || p.Status != status || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("problem body %q (err %v)", b, err)
	}
	return string(b)
}

// noLeak fails when text mentions the upstream address or internals.
func noLeak(t *testing.T, what, text, upAddr string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(upAddr)
	lower := strings.ToLower(text)
	for _, bad := range []string{upAddr, port, "dial", "connect", "refused", "upstream ", "timeout awaiting"} {
		if bad != "" && strings.Contains(lower, strings.ToLower(bad)) {
			t.Errorf("%s leaks %q: %s", what, bad, text)
		}
	}
}

// serviceConfig is a gateway with one prefix route to a service whose
// targets and extra service YAML are given.
func serviceConfig(target, serviceExtra, routeExtra string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets:
      - url: %s
%s
routes:
  - name: all
    paths:
      - prefix: /
    service: svc
%s
ops:
  address: "{{ops}}"
`, target, serviceExtra, routeExtra))
}

func TestUpstreamRefusedIs502ThenEjectedIs503(t *testing.T) {
	dead := freeAddr(t) // nothing listens here
	gw := StartGateway(t, serviceConfig("http://"+dead, "", ""))

	resp, err := http.Get(gw.URL("/orders"))
	if err != nil {
		t.Fatal(err)
	}
	body := readProblem(t, resp, http.StatusBadGateway)
	noLeak(t, "502 body", body, dead)

	// Repeated connection failures eject the only target: the gateway then
	// answers 503 without trying it, until the ejection period ends.
	var statuses []int
	for i := 0; i < 10; i++ {
		resp, err := http.Get(gw.URL("/orders"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusServiceUnavailable {
			body := readProblem(t, resp, http.StatusServiceUnavailable)
			noLeak(t, "503 body", body, dead)
		} else {
			readProblem(t, resp, http.StatusBadGateway)
		}
		statuses = append(statuses, resp.StatusCode)
	}
	first := -1
	for i, s := range statuses {
		if s == http.StatusServiceUnavailable && first < 0 {
			first = i
		}
		if first >= 0 && s != http.StatusServiceUnavailable {
			t.Fatalf("statuses %v: a 502 after ejection", statuses)
		}
	}
	if first < 0 || first > 5 {
		t.Fatalf("statuses %v: the target was not ejected after repeated connection failures", statuses)
	}
}

func TestResponseHeaderTimeoutIs504(t *testing.T) {
	finished := make(chan struct{})
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
			close(finished)
		case <-r.Context().Done(): // the gateway gave up and closed the connection
		}
	})
	gw := StartGateway(t, serviceConfig(up.URL, "    timeouts:\n      response: 300ms", ""))

	resp, err := http.Get(gw.URL("/slow"))
	if err != nil {
		t.Fatal(err)
	}
	body := readProblem(t, resp, http.StatusGatewayTimeout)
	select {
	case <-finished:
		t.Fatal("the 504 came only after the upstream answered")
	default:
	}
	noLeak(t, "504 body", body, up.Addr)
	if up.Count() != 1 {
		t.Errorf("upstream saw %d requests, want 1 (no retry of a timed-out request)", up.Count())
	}
}

func TestUpstreamClosingMidBodyAbortsClientResponse(t *testing.T) {
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		if r.URL.Path == "/chunked" {
			_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		} else {
			_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
		}
		_ = brw.Flush()
	})
	gw := StartGateway(t, simpleConfig(up, ""))

	// The client must get an answer it can tell from a success: the
	// upstream's head with a body cut short (the gateway had already
	// started the response), or a 502 (it had not). A connection closed
	// without any response head is neither.
	for _, path := range []string{"/length", "/chunked"} {
		t.Run(path, func(t *testing.T) {
			c := sendRaw(t, gw.Addr, "GET "+path+" HTTP/1.1\r\nHost: gw.test\r\n\r\n")
			defer c.Close()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no response head arrived: %v", err)
			}
			switch resp.StatusCode {
			case http.StatusOK:
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Errorf("the client read a clean, complete body %q from a truncated upstream response", b)
				}
			case http.StatusBadGateway:
				readProblem(t, resp, http.StatusBadGateway)
			default:
				t.Fatalf("status %d, want the upstream's 200 cut short or a 502", resp.StatusCode)
			}
		})
	}
}

func TestLocationRewrittenForObfuscatedRoute(t *testing.T) {
	const internal = "/internal/7f3a9c/orders-svc"
	var upAddr string
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "absolute":
			w.Header().Set("Location", "http://"+upAddr+internal+"/42")
			w.Header().Set("Content-Location", "http://"+upAddr+internal+"/42/v2")
		default:
			w.Header().Set("Location", internal+"/42")
			w.Header().Set("Content-Location", internal+"/42/v2")
		}
		w.WriteHeader(http.StatusFound)
	})
	upAddr = up.Addr
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: orders, targets: [{url: "`+up.URL+`"}]}]
routes:
  - name: orders
    paths: [{prefix: /v1/orders}]
    service: orders
    rewrite: `+internal+`
ops: {address: "{{ops}}"}
`))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	for _, tc := range []struct{ mode, wantLoc, wantCL string }{
		{"absolute", "http://" + gw.Addr + "/v1/orders/42", "http://" + gw.Addr + "/v1/orders/42/v2"},
		{"relative", "/v1/orders/42", "/v1/orders/42/v2"},
	} {
		resp, err := client.Get(gw.URL("/v1/orders/new?mode=" + tc.mode))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%s: status %d", tc.mode, resp.StatusCode)
		}
		if got := resp.Header.Get("Location"); got != tc.wantLoc {
			t.Errorf("%s: Location = %q, want %q", tc.mode, got, tc.wantLoc)
		}
		if got := resp.Header.Get("Content-Location"); got != tc.wantCL {
			t.Errorf("%s: Content-Location = %q, want %q", tc.mode, got, tc.wantCL)
		}
		for k, vs := range resp.Header {
			for _, v := range vs {
				if strings.Contains(v, "7f3a9c") || strings.Contains(v, up.Addr) {
					t.Errorf("%s: response header %s leaks %q", tc.mode, k, v)
				}
			}
		}
		if got := up.Last(t).RequestURI; got != internal+"/new?mode="+tc.mode {
			t.Errorf("%s: upstream got %q", tc.mode, got)
		}
	}
}

func TestServerSentEventsStream(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		// The upstream goes quiet until the test has seen the first event
		// (500 ms at most, so a buffering gateway fails instead of hanging).
		select {
		case <-release:
		case <-time.After(500 * time.Millisecond):
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	})
	gw := StartGateway(t, simpleConfig(up, ""))

	resp, err := http.Get(gw.URL("/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first line %q, err %v", line, err)
	}
	select {
	case <-finished:
		t.Fatal("the first event reached the client only after the upstream finished: the response was buffered")
	default:
	}
	close(release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: second\n\n" {
		t.Fatalf("rest %q, err %v", rest, err)
	}
}

func TestChunkedRequestBodyStreamsToUpstream(t *testing.T) {
	gotFirst := make(chan struct{})
	type result struct {
		body string
		err  error
	}
	results := make(chan result, 1)
	addr := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first := make([]byte, len("part-one;"))
		if _, err := io.ReadFull(r.Body, first); err != nil {
			results <- result{err: err}
			return
		}
		close(gotFirst)
		rest, err := io.ReadAll(r.Body)
		results <- result{body: string(first) + string(rest), err: err}
		_, _ = io.WriteString(w, "done")
	}))
	gw := StartGateway(t, serviceConfig("http://"+addr, "", ""))

	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", gw.URL("/upload"), pr)
	req.ContentLength = -1 // chunked
	type reply struct {
		resp *http.Response
		err  error
	}
	replies := make(chan reply, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		replies <- reply{resp, err}
	}()
	if _, err := io.WriteString(pw, "part-one;"); err != nil {
		t.Fatal(err)
	}
	// The second part is written only once the upstream has the first: a
	// gateway that buffers the whole body would never get there.
	select {
	case <-gotFirst:
	case r := <-results:
		t.Fatalf("upstream: %v", r.err)
	case <-time.After(10 * time.Second):
		_ = pw.CloseWithError(errors.New("test gave up"))
		t.Fatal("the upstream did not receive the first chunk while the client was still sending")
	}
	_, _ = io.WriteString(pw, "part-two")
	_ = pw.Close()
	rep := <-replies
	if rep.err != nil {
		t.Fatal(rep.err)
	}
	b, _ := io.ReadAll(rep.resp.Body)
	rep.resp.Body.Close()
	if rep.resp.StatusCode != 200 || string(b) != "done" {
		t.Fatalf("status %d body %q", rep.resp.StatusCode, b)
	}
	if r := <-results; r.err != nil || r.body != "part-one;part-two" {
		t.Fatalf("upstream body %q err %v", r.body, r.err)
	}
}

func TestWebSocketUpgradeTunnels(t *testing.T) {
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		if brw.Flush() != nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(c, brw) // echo until the client closes
	})
	gw := StartGateway(t, simpleConfig(up, ""))

	c := sendRaw(t, gw.Addr, "GET /ws HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	defer c.Close()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("status %d Upgrade %q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	for _, msg := range []string{"hello, tunnel", "second message"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo %q, err %v", got, err)
		}
	}
	seen := up.Last(t)
	if !strings.EqualFold(seen.Header.Get("Upgrade"), "websocket") || seen.Header.Get("Sec-Websocket-Key") == "" {
		t.Errorf("upstream headers %v", seen.Header)
	}
}

func TestSlowHeaderClientIsDisconnected(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    read_header_timeout: 1s
services: [{name: svc, targets: [{url: "`+up.URL+`"}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
ops: {address: "{{ops}}"}
`))

	slow, err := net.DialTimeout("tcp", gw.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Dribble a header byte every 100 ms, for far longer than the timeout.
	go func() {
		if _, err := io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			return
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := slow.Write([]byte("a")); err != nil {
					return
				}
			}
		}
	}()
	closed := make(chan error, 1)
	go func() {
		_ = slow.SetReadDeadline(time.Now().Add(8 * time.Second))
		_, err := io.ReadAll(slow)
		closed <- err
	}()

	// Meanwhile an ordinary client is served.
	resp, err := http.Get(gw.URL("/normal"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("normal client: status %d", resp.StatusCode)
	}
	select {
	case err := <-closed:
		t.Fatalf("the slow client was disconnected (%v) before the normal client was served", err)
	default:
	}

	if err := <-closed; isTimeout(err) {
		t.Fatal("the slow client was still connected after 8 s")
	}
	for _, s := range up.Requests() {
		if s.RequestURI != "/normal" {
			t.Errorf("upstream got %q", s.RequestURI)
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestOversizedHeadersAre431(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    max_header_bytes: 4KiB
services: [{name: svc, targets: [{url: "`+up.URL+`"}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
ops: {address: "{{ops}}"}
`))
	var b strings.Builder
	b.WriteString("GET /big HTTP/1.1\r\nHost: x\r\n")
	for i := 0; b.Len() < 16<<10; i++ {
		fmt.Fprintf(&b, "X-Filler-%d: %s\r\n", i, strings.Repeat("v", 100))
	}
	b.WriteString("\r\n")
	resp := rawRequest(t, gw.Addr, b.String())
	if resp.Status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.Status)
	}
	// A request just under the limit still passes.
	ok := rawRequest(t, gw.Addr, "GET /small HTTP/1.1\r\nHost: x\r\nX-Filler: "+strings.Repeat("v", 2000)+"\r\nConnection: close\r\n\r\n")
	if ok.Status != 200 {
		t.Fatalf("small request: status %d", ok.Status)
	}
	for _, s := range up.Requests() {
		if s.RequestURI == "/big" {
			t.Fatal("the oversized request reached the upstream")
		}
	}
	if up.Count() != 1 {
		t.Fatalf("upstream saw %d requests, want 1", up.Count())
	}
}
