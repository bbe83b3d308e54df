package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

func TestKeepAliveReuse(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.RawQuery)
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	for i := range 100 {
		code, body := get(t, s, fmt.Sprintf("/x?%d", i))
		if code != 200 || body != fmt.Sprintf("hello %d", i) {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
	}
	if n := up.accepted.Load(); n != 1 {
		t.Fatalf("upstream accepted %d connections over 100 sequential requests, want 1", n)
	}
}

func TestRequestHeadersExact(t *testing.T) {
	type seen struct {
		host    string
		header  http.Header
		close   bool
		te      []string
		cl      int64
		uaIsSet bool
	}
	got := make(chan seen, 1)
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ua := r.Header["User-Agent"]
		got <- seen{r.Host, r.Header.Clone(), r.Close, r.TransferEncoding, r.ContentLength, ua}
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()

	req := newReq(context.Background(), tg, http.MethodGet, "/a%2Fb/c?q=1&r=%20", nil)
	req.Host = "api.example.com"
	req.Header.Set("X-Custom", "v1")
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	resp, err := tg.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g := <-got
	if g.host != "api.example.com" {
		t.Errorf("Host = %q", g.host)
	}
	if g.uaIsSet {
		t.Errorf("a User-Agent was added: %q", g.header.Get("User-Agent"))
	}
	if g.close || g.header.Get("Connection") != "" {
		t.Errorf("Connection header sent unasked: %v", g.header)
	}
	if g.header.Get("X-Custom") != "v1" || strings.Join(g.header["X-Multi"], ",") != "a,b" {
		t.Errorf("headers = %v", g.header)
	}
	if g.cl != 0 || len(g.te) != 0 {
		t.Errorf("GET sent a body framing: cl=%d te=%v", g.cl, g.te)
	}

	// A header value with CR LF is refused, never written.
	bad := newReq(context.Background(), tg, http.MethodGet, "/", nil)
	bad.Header["X-Evil"] = []string{"a\r\nInjected: yes"}
	if _, err := tg.RoundTrip(bad); err == nil {
		t.Fatal("header with CRLF accepted")
	}
	select {
	case g := <-got:
		t.Fatalf("request with an invalid header reached the upstream: %v", g.header)
	default:
	}

	// req.Close asks for Connection: close.
	cl := newReq(context.Background(), tg, http.MethodGet, "/", nil)
	cl.Close = true
	resp, err = tg.RoundTrip(cl)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if g := <-got; !g.close {
		t.Error("req.Close did not send Connection: close")
	}
}

func TestConnectionCloseFromUpstreamNotReused(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	}))
	r := testRegistry(t)
	s := mustService(t, r, svcConfig(up.URL))
	for range 3 {
		if code, body := get(t, s, "/"); code != 200 || body != "bye" {
			t.Fatalf("%d %q", code, body)
		}
	}
	if n := up.accepted.Load(); n != 3 {
		t.Fatalf("accepted %d connections, want 3 (Connection: close must not be reused)", n)
	}
	if n := s.targets[0].p.idleCount(); n != 0 {
		t.Fatalf("%d idle connections kept after Connection: close", n)
	}
}

func TestStreamingResponse(t *testing.T) {
	release := make(chan struct{})
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second")
	}))
	g := newGate(t, release)
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()
	resp, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first;" {
		t.Fatalf("first chunk: %q %v", buf, err)
	}
	g.open() // the handler is still running: the first chunk streamed
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest: %q %v", rest, err)
	}
	// The response (its header map and values) is the connection's until
	// the body is closed: read to EOF, the connection is not pooled yet.
	if n := tg.p.idleCount(); n != 0 {
		t.Fatalf("chunked response read to EOF, body not closed: %d idle conns, want 0", n)
	}
	resp.Body.Close()
	if n := tg.p.idleCount(); n != 1 {
		t.Fatalf("chunked response read to EOF and closed: %d idle conns, want 1", n)
	}
}

func TestRequestBodyStreaming(t *testing.T) {
	type result struct {
		body string
		cl   int64
		te   []string
	}
	firstSeen := make(chan struct{})
	results := make(chan result, 1)
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first []byte
		if r.URL.Path == "/stream" {
			first = make([]byte, 5)
			if _, err := io.ReadFull(r.Body, first); err != nil {
				t.Errorf("read first part: %v", err)
				return
			}
			close(firstSeen)
		}
		rest, _ := io.ReadAll(r.Body)
		results <- result{string(first) + string(rest), r.ContentLength, r.TransferEncoding}
		io.WriteString(w, "ok")
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()

	t.Run("chunked", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("hello"))
			<-firstSeen // the upstream read the first part before the body ended
			pw.Write([]byte(" world"))
			pw.Close()
		}()
		req := newReq(context.Background(), tg, "POST", "/stream", pr)
		req.ContentLength = -1
		resp, err := tg.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res := <-results
		if res.body != "hello world" || res.cl != -1 || len(res.te) != 1 || res.te[0] != "chunked" {
			t.Fatalf("upstream got %+v", res)
		}
	})
	t.Run("content-length", func(t *testing.T) {
		req := newReq(context.Background(), tg, "PUT", "/cl", strings.NewReader("hello there"))
		resp, err := tg.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res := <-results
		if res.body != "hello there" || res.cl != 11 || len(res.te) != 0 {
			t.Fatalf("upstream got %+v", res)
		}
	})
	t.Run("zero length sends no body", func(t *testing.T) {
		req := newReq(context.Background(), tg, "POST", "/cl", strings.NewReader("ignored"))
		req.ContentLength = 0
		req.GetBody = nil
		resp, err := tg.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if res := <-results; res.body != "" || res.cl != 0 {
			t.Fatalf("upstream got %+v", res)
		}
	})
	if n := up.accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections, want 1", n)
	}
}

func TestZeroLengthPostWire(t *testing.T) {
	heads := make(chan string, 1)
	rs := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		head, err := readHead(br)
		if err != nil {
			return
		}
		heads <- head
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	})
	s := mustService(t, testRegistry(t), svcConfig(rs.URL()))
	tg, _ := s.Pick("")
	defer tg.Release()
	req := newReq(context.Background(), tg, "POST", "/p", strings.NewReader("must not be sent"))
	req.ContentLength = 0
	resp, err := tg.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	head := <-heads
	want := "POST /p HTTP/1.1\r\nHost: " + tg.Host() + "\r\nContent-Length: 0\r\n\r\n"
	if head != want {
		t.Fatalf("wire head:\n%q\nwant\n%q", head, want)
	}
}

func TestUpgradeTunnel(t *testing.T) {
	rs := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "echo" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		// The first echoed bytes travel in the same packet as the 101 head.
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nwelcome;")
		io.Copy(c, br)
	})
	s := mustService(t, testRegistry(t), svcConfig(rs.URL()))
	tg, _ := s.Pick("")
	defer tg.Release()
	req := newReq(context.Background(), tg, "GET", "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	resp, err := tg.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	rw, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("101 body is %T, not an io.ReadWriteCloser", resp.Body)
	}
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("welcome;ping"))
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "welcome;ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	rw.Close()
	if n := tg.p.idleCount(); n != 0 {
		t.Fatalf("an upgraded connection was pooled")
	}
	tg.p.mu.Lock()
	open := tg.p.open
	tg.p.mu.Unlock()
	if open != 0 {
		t.Fatalf("open count %d after closing the tunnel, want 0", open)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	done := make(chan struct{})
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	defer close(done)
	cfg := svcConfig(up.URL)
	cfg.Timeouts.Response = config.Duration(100 * time.Millisecond)
	s := mustService(t, testRegistry(t), cfg)
	tg, _ := s.Pick("")
	defer tg.Release()
	start := time.Now()
	_, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/", nil))
	if err == nil {
		t.Fatal("no error")
	}
	if !IsTimeout(err) {
		t.Fatalf("IsTimeout(%v) = false", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestConnectRefusedAndEjection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()

	r := newRegistry(time.Hour, 150*time.Millisecond)
	t.Cleanup(r.Close)
	s := mustService(t, r, svcConfig(dead))
	for i := range ejectAfter {
		tg, err := s.Pick("")
		if err != nil {
			t.Fatalf("pick %d: %v", i, err)
		}
		_, err = tg.RoundTrip(newReq(context.Background(), tg, "GET", "/", nil))
		tg.Release()
		if err == nil {
			t.Fatal("request to a closed port succeeded")
		}
		if IsTimeout(err) {
			t.Fatalf("connection refused reported as timeout: %v", err)
		}
	}
	if _, err := s.Pick(""); !errors.Is(err, ErrNoHealthyTarget) {
		t.Fatalf("after %d dial failures Pick = %v, want ErrNoHealthyTarget", ejectAfter, err)
	}
	// Ejection state lives in the pool: a recompiled service sees it.
	s2 := mustService(t, r, svcConfig(dead))
	if _, err := s2.Pick(""); !errors.Is(err, ErrNoHealthyTarget) {
		t.Fatalf("recompiled service: Pick = %v", err)
	}
	// The ejection ends after its period.
	deadline := time.Now().Add(5 * time.Second)
	for {
		tg, err := s.Pick("")
		if err == nil {
			tg.Release()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("target never came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStaleIdleConnRetry(t *testing.T) {
	// The upstream answers one request per connection and then closes it
	// without announcing it: every pooled connection goes stale.
	rs := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	r := testRegistry(t)
	s := mustService(t, r, svcConfig(rs.URL()))
	tg, _ := s.Pick("")
	defer tg.Release()

	do := func(method string, body io.Reader, keepGetBody bool) error {
		req := newReq(context.Background(), tg, method, "/", body)
		if !keepGetBody {
			req.GetBody = nil
		}
		resp, err := tg.RoundTrip(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "ok" {
			err = fmt.Errorf("body %q", b)
		}
		return err
	}
	if err := do("GET", nil, false); err != nil {
		t.Fatal(err)
	}
	if err := do("GET", nil, false); err != nil {
		t.Fatalf("GET on a stale connection was not retried: %v", err)
	}
	if n := rs.accepted.Load(); n != 2 {
		t.Fatalf("accepted %d, want 2", n)
	}
	if err := do("POST", strings.NewReader("payload"), false); err == nil {
		t.Fatal("POST with a body on a stale connection succeeded: it must not be retried")
	}
	if n := rs.accepted.Load(); n != 2 {
		t.Fatalf("POST was retried: accepted %d, want 2", n)
	}
	// With GetBody the body can be sent again, so the retry is allowed.
	if err := do("GET", nil, false); err != nil {
		t.Fatal(err)
	}
	if err := do("POST", strings.NewReader("payload"), true); err != nil {
		t.Fatalf("POST with GetBody on a stale connection: %v", err)
	}
}

func TestContextCancelAbortsQuickly(t *testing.T) {
	arrived := make(chan struct{}, 2)
	done := make(chan struct{})
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-done:
		case <-r.Context().Done():
		}
	}))
	defer close(done)
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	start := time.Now()
	_, err := tg.RoundTrip(newReq(ctx, tg, "GET", "/", nil))
	if !errors.Is(err, context.Canceled) || IsTimeout(err) {
		t.Fatalf("err = %v, want context.Canceled and not a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer dcancel()
	_, err = tg.RoundTrip(newReq(dctx, tg, "GET", "/", nil))
	if !IsTimeout(err) {
		t.Fatalf("context deadline: IsTimeout(%v) = false", err)
	}
	tg.p.mu.Lock()
	open := tg.p.open
	tg.p.mu.Unlock()
	if open != 0 {
		t.Fatalf("aborted connections still counted open: %d", open)
	}
}

func TestCancelDuringBody(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := tg.RoundTrip(newReq(ctx, tg, "GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("body read after cancel: %v", err)
	}
	resp.Body.Close()
	up.waitClosed(t, 1)
}

func TestBodilessResponses(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		case "/103":
			w.Header().Set("Link", "</a.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			io.WriteString(w, "final")
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()
	for _, tc := range []struct{ method, path string }{{"HEAD", "/"}, {"GET", "/204"}, {"GET", "/304"}} {
		resp, err := tg.RoundTrip(newReq(context.Background(), tg, tc.method, tc.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != 0 {
			t.Fatalf("%s %s: body %q err %v", tc.method, tc.path, b, err)
		}
		if tc.method == "HEAD" && resp.ContentLength != 5 {
			t.Fatalf("HEAD Content-Length = %d", resp.ContentLength)
		}
	}
	// 1xx interim responses are skipped; the framing stays in step.
	resp, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/103", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "final" {
		t.Fatalf("after 103: %d %q", resp.StatusCode, b)
	}
	if code, body := get(t, s, "/"); code != 200 || body != "hello" {
		t.Fatalf("GET after bodiless responses: %d %q", code, body)
	}
	if n := up.accepted.Load(); n != 1 {
		t.Fatalf("accepted %d connections, want 1", n)
	}
}

func TestEarlyCloseDiscardsConn(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100<<10))
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()
	resp, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Read(make([]byte, 10))
	resp.Body.Close()
	if n := tg.p.idleCount(); n != 0 {
		t.Fatalf("a half-read connection was pooled")
	}
	if _, err := resp.Body.Read(make([]byte, 1)); !errors.Is(err, http.ErrBodyReadAfterClose) {
		t.Fatalf("read after close: %v", err)
	}
	if code, body := get(t, s, "/"); code != 200 || len(body) != 100<<10 {
		t.Fatalf("next GET: %d, %d bytes", code, len(body))
	}
}

func TestMaxConnsPerTarget(t *testing.T) {
	var mu sync.Mutex
	inHandler, maxSeen := 0, 0
	arrived := make(chan struct{}, 16)
	release := make(chan struct{})
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inHandler++
		maxSeen = max(maxSeen, inHandler)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		inHandler--
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	cfg := svcConfig(up.URL)
	cfg.MaxConnsPerTarget = 2
	g := newGate(t, release)
	s := mustService(t, testRegistry(t), cfg)
	tg, _ := s.Pick("")
	defer tg.Release()

	errs := make(chan error, 5)
	for range 5 {
		go func() {
			resp, err := tg.RoundTrip(newReq(context.Background(), tg, "GET", "/", nil))
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	<-arrived
	<-arrived
	// Two requests hold both connections; a third caller with a short
	// deadline must give up waiting rather than open a third.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := tg.RoundTrip(newReq(ctx, tg, "GET", "/", nil))
	cancel()
	if !IsTimeout(err) {
		t.Fatalf("waiting at the connection limit: %v", err)
	}
	g.open()
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if maxSeen != 2 || up.accepted.Load() != 2 {
		t.Fatalf("max concurrent %d, accepted %d; want 2 and 2", maxSeen, up.accepted.Load())
	}
}

func TestEarlyResponseWhileSendingBody(t *testing.T) {
	// The upstream refuses the body after the head and closes with unread
	// data (which resets the connection): the client still gets the 413.
	rs := newRawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readHead(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!")
	})
	s := mustService(t, testRegistry(t), svcConfig(rs.URL()))
	tg, _ := s.Pick("")
	defer tg.Release()
	req := newReq(context.Background(), tg, "POST", "/upload", strings.NewReader(strings.Repeat("x", 8<<20)))
	req.GetBody = nil
	resp, err := tg.RoundTrip(req)
	if err != nil {
		t.Fatalf("early response lost: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || string(b) != "too big!" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}

func TestRequestTrailersAndURIs(t *testing.T) {
	type got struct {
		uri     string
		body    string
		trailer http.Header
	}
	seen := make(chan got, 1)
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- got{r.RequestURI, string(b), r.Trailer}
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	tg, _ := s.Pick("")
	defer tg.Release()

	req := newReq(context.Background(), tg, "POST", "/t", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Checksum": nil}
	req.Body = &trailerSetter{r: req.Body, set: func() { req.Trailer.Set("X-Checksum", "42") }}
	resp, err := tg.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	g := <-seen
	if g.body != "abcdef" || g.trailer.Get("X-Checksum") != "42" {
		t.Fatalf("body %q trailer %v", g.body, g.trailer)
	}

	for _, uri := range []string{"/a%2Fb/c%20d?x=1&y=%2F", "/?", "/only"} {
		req := newReq(context.Background(), tg, "GET", uri, nil)
		if uri == "/?" {
			req.URL.ForceQuery = true
		}
		resp, err := tg.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if g := <-seen; g.uri != uri {
			t.Errorf("request URI %q, want %q", g.uri, uri)
		}
	}
	bad := newReq(context.Background(), tg, "GET", "/", nil)
	bad.URL.RawQuery = "a b"
	if _, err := tg.RoundTrip(bad); err == nil {
		t.Fatal("a query with a space was sent")
	}
}

// trailerSetter fills the trailer when the body ends, as a server request
// body does.
type trailerSetter struct {
	r   io.ReadCloser
	set func()
}

func (ts *trailerSetter) Read(p []byte) (int, error) {
	n, err := ts.r.Read(p)
	if err == io.EOF {
		ts.set()
	}
	return n, err
}

func (ts *trailerSetter) Close() error { return ts.r.Close() }

type failingBody struct{ n int }

func (f *failingBody) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("client went away")
	}
	f.n--
	return copy(p, "x"), nil
}

func TestClientBodyErrorNotRetried(t *testing.T) {
	up := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	s := mustService(t, testRegistry(t), svcConfig(up.URL))
	get(t, s, "/") // an idle connection to reuse
	tg, _ := s.Pick("")
	defer tg.Release()
	req := newReq(context.Background(), tg, "POST", "/", &failingBody{n: 3})
	req.ContentLength = 10
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("0123456789")), nil }
	_, err := tg.RoundTrip(req)
	if err == nil || !strings.Contains(err.Error(), "client went away") {
		t.Fatalf("err = %v", err)
	}
	if n := up.accepted.Load(); n != 1 {
		t.Fatalf("a client body failure was retried (%d connections)", n)
	}
	up.waitClosed(t, 1) // the half-written connection is closed
}

// TestStaleConnFoundWhicheverWayTheRequestIsSent: a pooled connection the
// upstream gave up while it sat idle costs the request a retry on a new
// connection, not a wait for the response timeout. A connection idle less
// than sendInWaitIdle sends a bodiless request from inside the wait for the
// response (http1.ClientConn.FlushInWait): a closed socket answers the
// request with a reset, which wakes the wait. One idle longer sends, then
// reads, so even an upstream that only half-closed it (and never reads
// again) is found at once by the read. The one case left to the response
// timeout, a half-close followed within sendInWaitIdle by a request, is
// retried once that timeout passes.
func TestStaleConnFoundWhicheverWayTheRequestIsSent(t *testing.T) {
	const respTimeout = time.Second
	for _, tc := range []struct {
		desc     string
		idle     time.Duration
		halfOnly bool
		wantFast bool
	}{
		{desc: "closed, reused at once: sent from inside the wait", idle: 0, wantFast: true},
		{desc: "closed, reused after sendInWaitIdle: sent, then read", idle: sendInWaitIdle + 100*time.Millisecond, wantFast: true},
		{desc: "half-closed, reused after sendInWaitIdle: the read finds the end", idle: sendInWaitIdle + 100*time.Millisecond, halfOnly: true, wantFast: true},
		{desc: "half-closed, reused at once: retried after the response timeout", idle: 0, halfOnly: true, wantFast: false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			hold := make(chan struct{})
			answered := make(chan struct{}, 4)
			rs := newRawServer(t, func(c net.Conn) {
				br := bufio.NewReader(c)
				if _, err := readHead(br); err != nil {
					return
				}
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				if tc.halfOnly {
					_ = c.(*net.TCPConn).CloseWrite()
					answered <- struct{}{}
					<-hold // open, never read again
					return
				}
				answered <- struct{}{}
			})
			g := newGate(t, hold)
			defer g.open()
			cfg := svcConfig(rs.URL())
			cfg.Timeouts.Response = config.Duration(respTimeout)
			s := mustService(t, testRegistry(t), cfg)
			if code, body := get(t, s, "/1"); code != 200 || body != "ok" {
				t.Fatalf("first: %d %q", code, body)
			}
			<-answered
			time.Sleep(50 * time.Millisecond) // the close (or half-close) reaches the gateway's socket
			time.Sleep(tc.idle)
			start := time.Now()
			if code, body := get(t, s, "/2"); code != 200 || body != "ok" {
				t.Fatalf("second: %d %q", code, body)
			}
			took := time.Since(start)
			if n := rs.accepted.Load(); n != 2 {
				t.Fatalf("accepted %d connections, want 2 (a retry on a new one)", n)
			}
			if fast := took < respTimeout/2; fast != tc.wantFast {
				t.Fatalf("the retry came after %v (response timeout %v), want fast=%v", took, respTimeout, tc.wantFast)
			}
		})
	}
}
