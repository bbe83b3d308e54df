package http1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serve starts s on a loopback listener and returns its address.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		_ = ln.Close()
		s.Close()
	})
	return ln.Addr().String()
}

// exchange writes raw on a new connection and reads responses until the
// connection ends or n responses arrived.
func exchange(t *testing.T, addr, raw string, n int) []*http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	send(t, c, raw)
	br := bufio.NewReader(c)
	var out []*http.Response
	for len(out) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, resp)
	}
	return out
}

// dialServer connects to addr with a deadline on the whole exchange; the
// connection is closed when the test ends.
func dialServer(t *testing.T, addr string, d time.Duration) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(d))
	return c, bufio.NewReader(c)
}

// send writes raw on c.
func send(t *testing.T, c net.Conn, raw string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
}

func respBody(r *http.Response) string { b, _ := io.ReadAll(r.Body); return string(b) }

// echo answers with the method, target and body it got.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(499)
		_, _ = io.WriteString(w, err.Error())
		return
	}
	_, _ = fmt.Fprintf(w, "%s %s %s", r.Method, r.RequestURI, b)
})

func TestKeepAliveServesSeveralRequests(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	rs := exchange(t, addr, req("GET /1 HTTP/1.1", "Host: a")+req("GET /2 HTTP/1.1", "Host: a")+req("GET /3 HTTP/1.1", "Host: a", "Connection: close"), 4)
	if len(rs) != 3 {
		t.Fatalf("%d responses", len(rs))
	}
	for i, r := range rs {
		if got, want := respBody(r), fmt.Sprintf("GET /%d ", i+1); got != want {
			t.Errorf("response %d: %q, want %q", i, got, want)
		}
	}
	if !rs[2].Close {
		t.Error("Connection: close not answered with close")
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	var b strings.Builder
	for i := range 20 {
		b.WriteString(fmt.Sprintf("POST /%d HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n%02d", i, i))
	}
	rs := exchange(t, addr, b.String(), 20)
	if len(rs) != 20 {
		t.Fatalf("%d responses", len(rs))
	}
	for i, r := range rs {
		if got, want := respBody(r), fmt.Sprintf("POST /%d %02d", i, i); got != want {
			t.Errorf("response %d: %q, want %q", i, got, want)
		}
	}
}

func TestChunkedBodyDecoded(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	rs := exchange(t, addr, req("POST /c HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")+
		"3;name=value;q=\"x y\"\r\nabc\r\n0A\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"+req("GET /after HTTP/1.1", "Host: a"), 2)
	if len(rs) != 2 || respBody(rs[0]) != "POST /c abc0123456789" || respBody(rs[1]) != "GET /after " {
		t.Fatalf("%d responses", len(rs))
	}
}

// RFC 9112 section 7.1: the chunked coding is parsed strictly; any error
// ends the connection, so nothing after it is read as a request.
func TestMalformedChunkedRefused(t *testing.T) {
	for _, tc := range []struct{ desc, chunks string }{
		{"non-hex size", "zz\r\nabc\r\n0\r\n\r\n"},
		{"0x prefix", "0x3\r\nabc\r\n0\r\n\r\n"},
		{"bare LF after size", "3\nabc\r\n0\r\n\r\n"},
		{"space before extension", "3 ;a=b\r\nabc\r\n0\r\n\r\n"},
		{"extension without name", "3;\r\nabc\r\n0\r\n\r\n"},
		{"unterminated quoted extension", "3;a=\"b\r\nabc\r\n0\r\n\r\n"},
		{"data longer than its size", "3\r\nabcd\r\n0\r\n\r\n"},
		{"no CRLF after data", "3\r\nabc0\r\n\r\n"},
		{"size overflow", "10000000000000000\r\na\r\n0\r\n\r\n"},
		{"negative size", "-1\r\na\r\n0\r\n\r\n"},
		{"trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n"},
		{"trailer without colon", "0\r\nX a\r\n\r\n"},
	} {
		var seen atomic.Int32
		addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Add(1)
			echo(w, r)
		})})
		head := req("POST /c HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")
		rest := tc.chunks + req("GET /smuggled HTTP/1.1", "Host: a")
		// Body bytes that came with the head are checked before the
		// handler runs: refused, and no handler (no upstream) sees it.
		t.Run(tc.desc+"/with the head", func(t *testing.T) {
			seen.Store(0)
			rs := exchange(t, addr, head+rest, 3)
			if len(rs) != 1 || rs[0].StatusCode != 400 || !rs[0].Close {
				t.Fatalf("%d responses (first %v)", len(rs), rs)
			}
			if n := seen.Load(); n != 0 {
				t.Fatalf("handler ran %d times", n)
			}
		})
		// Body bytes that arrive later fail the handler's read; nothing
		// after them is served.
		t.Run(tc.desc+"/later", func(t *testing.T) {
			seen.Store(0)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, head)
			time.Sleep(50 * time.Millisecond)
			_, _ = io.WriteString(c, rest)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 499 || !resp.Close {
				t.Fatalf("%v %v", resp, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if _, err := http.ReadResponse(br, nil); err == nil {
				t.Fatal("a second response after a bad body")
			}
			if n := seen.Load(); n != 1 {
				t.Fatalf("handler ran %d times; the request after a bad body was served", n)
			}
		})
	}
}

// A chunked body whose first bytes came with the head is checked in place
// before the handler runs; a chunk larger than what has arrived is read on.
func TestChunkedBodyPartlyBufferedWithTheHead(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	data := strings.Repeat("x", 20000)
	_, _ = io.WriteString(c, req("POST /p HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")+fmt.Sprintf("%x\r\n", len(data))+data[:100])
	time.Sleep(50 * time.Millisecond)
	_, _ = io.WriteString(c, data[100:]+"\r\n0\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || respBody(resp) != "POST /p "+data {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestChunkExtensionFloodRefused(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	ext := ";" + strings.Repeat("a", 4000)
	var b strings.Builder
	for range 10 {
		b.WriteString("1" + ext + "\r\nx\r\n")
	}
	b.WriteString("0\r\n\r\n")
	rs := exchange(t, addr, req("POST /c HTTP/1.1", "Host: a", "Transfer-Encoding: chunked")+b.String(), 2)
	if len(rs) != 1 || !strings.Contains(respBody(rs[0]), ErrChunkExt.Reason) {
		t.Fatalf("%v", rs)
	}
}

func TestRefusalIsAProblemAndClosesTheConnection(t *testing.T) {
	var seen atomic.Int32
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.Add(1) })})
	rs := exchange(t, addr, req("POST / HTTP/1.1", "Host: a", "Content-Length: 4", "Transfer-Encoding: chunked")+"0\r\n\r\n"+req("GET /smuggled HTTP/1.1", "Host: a"), 3)
	if len(rs) != 1 || rs[0].StatusCode != 400 || !rs[0].Close || rs[0].Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%v", rs)
	}
	if seen.Load() != 0 {
		t.Fatal("handler ran")
	}
}

func TestRefuseHookAnswers(t *testing.T) {
	var got *Error
	var remote string
	addr := serve(t, &Server{Handler: echo, Refuse: func(w http.ResponseWriter, r *http.Request, e *Error) {
		got, remote = e, r.RemoteAddr
		w.Header().Set("X-Request-Id", "rid")
		w.WriteHeader(e.Status)
		_, _ = io.WriteString(w, "refused")
	}})
	rs := exchange(t, addr, req("GET / HTTP/1.1"), 1)
	if len(rs) != 1 || rs[0].StatusCode != 400 || respBody(rs[0]) != "refused" || got != ErrNoHost || remote == "" {
		t.Fatalf("%v %v %q", rs, got, remote)
	}
}

func TestHeadTooLargeIs431(t *testing.T) {
	addr := serve(t, &Server{Handler: echo, MaxHeaderBytes: 1024})
	rs := exchange(t, addr, req("GET / HTTP/1.1", "Host: a", "X-Big: "+strings.Repeat("a", 2000)), 1)
	if len(rs) != 1 || rs[0].StatusCode != 431 {
		t.Fatalf("%v", rs)
	}
}

func TestExpect100Continue(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, req("POST /e HTTP/1.1", "Host: a", "Expect: 100-continue", "Content-Length: 3"))
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q before the body was sent", line)
	}
	_, _ = br.ReadString('\n')
	_, _ = io.WriteString(c, "abc")
	resp, err := http.ReadResponse(br, nil)
	if err != nil || respBody(resp) != "POST /e abc" {
		t.Fatalf("%v %v", resp, err)
	}
}

// RFC 9110 section 10.1.1: a server MUST ignore 100-continue in an
// HTTP/1.0 request, so no interim response comes before the final one.
func TestExpect100ContinueIgnoredOnHTTP10(t *testing.T) {
	addr := serve(t, &Server{Handler: echo})
	rs := exchange(t, addr, req("POST /e HTTP/1.0", "Expect: 100-continue", "Content-Length: 3")+"abc", 1)
	if len(rs) != 1 || rs[0].StatusCode != 200 || respBody(rs[0]) != "POST /e abc" {
		t.Fatalf("%v", rs)
	}
}

// RFC 9110 section 15.2: a server MUST NOT send a 1xx response to an
// HTTP/1.0 client. A handler's 103 (Early Hints) reaches an HTTP/1.1
// client before the final answer and is dropped for an HTTP/1.0 one.
func TestInterimResponseNotSentToHTTP10(t *testing.T) {
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		_, _ = io.WriteString(w, "final")
	})})
	rs := exchange(t, addr, req("GET /h HTTP/1.1", "Host: a"), 2)
	if len(rs) != 2 || rs[0].StatusCode != http.StatusEarlyHints || rs[1].StatusCode != 200 || respBody(rs[1]) != "final" {
		t.Fatalf("HTTP/1.1: %v", rs)
	}
	rs = exchange(t, addr, req("GET /h HTTP/1.0"), 1)
	if len(rs) != 1 || rs[0].StatusCode != 200 || respBody(rs[0]) != "final" {
		t.Fatalf("HTTP/1.0 got an interim response: %v", rs)
	}
}

func TestExpectContinueNotSentWhenBodyUnread(t *testing.T) {
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	})})
	rs := exchange(t, addr, req("POST /e HTTP/1.1", "Host: a", "Expect: 100-continue", "Content-Length: 3"), 2)
	if len(rs) != 1 || rs[0].StatusCode != 401 || !rs[0].Close {
		t.Fatalf("%v", rs)
	}
}

func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("x", 10000)
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			_, _ = io.WriteString(w, "hello")
		case "/long":
			_, _ = io.WriteString(w, big)
		case "/declared":
			w.Header().Set("Content-Length", "3")
			_, _ = io.WriteString(w, "abc")
		case "/204":
			w.WriteHeader(204)
		case "/flush":
			_, _ = io.WriteString(w, "a")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "b")
		case "/forge":
			w.Header().Set("X-Forge", "a\r\nSet-Cookie: evil=1")
			w.Header()["Transfer-Encoding"] = []string{"identity"}
		}
	})})
	for _, tc := range []struct {
		desc, path, method string
		cl                 int64
		chunked            bool
		body               string
	}{
		{"short body gets an exact length", "/short", "GET", 5, false, "hello"},
		{"long body is chunked", "/long", "GET", -1, true, big},
		{"declared length passed through", "/declared", "GET", 3, false, "abc"},
		{"HEAD has the length and no body", "/short", "HEAD", 5, false, ""},
		{"204 has no body and no length", "/204", "GET", 0, false, ""},
		{"flush streams chunked", "/flush", "GET", -1, true, "ab"},
		{"CR LF in a value cannot forge a field", "/forge", "GET", 0, false, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.WriteString(c, req(tc.method+" "+tc.path+" HTTP/1.1", "Host: a"))
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: tc.method})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.ContentLength != tc.cl || (len(resp.TransferEncoding) > 0) != tc.chunked || string(b) != tc.body {
				t.Fatalf("length %d chunked %v body %d bytes", resp.ContentLength, resp.TransferEncoding, len(b))
			}
			if resp.Header.Get("Date") == "" {
				t.Error("no Date")
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Error("a header value forged a field")
			}
		})
	}
}

func TestHeaderTimeoutIs408(t *testing.T) {
	addr := serve(t, &Server{Handler: echo, ReadHeaderTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("%v %v", resp, err)
	}
}

func TestSlowHeaderTrickleStillTimesOut(t *testing.T) {
	addr := serve(t, &Server{Handler: echo, ReadHeaderTimeout: 300 * time.Millisecond, IdleTimeout: 5 * time.Second})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go func() {
		for _, b := range []byte("GET / HTTP/1.1\r\nHost: a\r\nX: aaaaaaaaaaaaaaaaaaaaa") {
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 408 {
		t.Fatalf("%v %v", resp, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("answered after %v", d)
	}
}

func TestIdleConnectionClosedSilently(t *testing.T) {
	addr := serve(t, &Server{Handler: echo, IdleTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || len(b) != 0 {
		t.Fatalf("%q %v", b, err)
	}
}

func TestSlowBodyGets408FromTheBody(t *testing.T) {
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		if e, ok := err.(*Error); ok {
			w.WriteHeader(e.Status)
			return
		}
		w.WriteHeader(200)
	}), BodyReadTimeout: 200 * time.Millisecond})
	rs := exchange(t, addr, req("POST / HTTP/1.1", "Host: a", "Content-Length: 10")+"abc", 1)
	if len(rs) != 1 || rs[0].StatusCode != 408 {
		t.Fatalf("%v", rs)
	}
}

func TestHijackHandsOverBufferedBytes(t *testing.T) {
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "echo")
		w.WriteHeader(http.StatusSwitchingProtocols)
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer nc.Close()
		b := make([]byte, 5)
		if _, err := io.ReadFull(brw, b); err != nil {
			t.Error(err)
			return
		}
		_, _ = nc.Write(append([]byte("got:"), b...))
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, req("GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: echo")+"hello")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("%v %v", resp, err)
	}
	b, _ := io.ReadAll(br)
	if string(b) != "got:hello" {
		t.Fatalf("%q", b)
	}
}

func TestShutdownDrainsIdleAndBusyConnections(t *testing.T) {
	release := make(chan struct{})
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})}
	addr := serve(t, s)
	idle, _ := net.Dial("tcp", addr)
	defer idle.Close()
	busy, _ := net.Dial("tcp", addr)
	defer busy.Close()
	_ = busy.SetDeadline(time.Now().Add(5 * time.Second))
	_ = idle.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(busy, req("GET /slow HTTP/1.1", "Host: a"))
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	if b, err := io.ReadAll(idle); err != nil || len(b) != 0 {
		t.Fatalf("idle connection: %q %v", b, err)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil || respBody(resp) != "done" || !resp.Close {
		t.Fatalf("busy connection: %v %v", resp, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		_, _ = io.WriteString(w, "ok")
	}), ErrorLog: discardLog()})
	if rs := exchange(t, addr, req("GET /panic HTTP/1.1", "Host: a"), 1); len(rs) != 0 {
		t.Fatalf("%v", rs)
	}
	if rs := exchange(t, addr, req("GET /ok HTTP/1.1", "Host: a"), 1); len(rs) != 1 || respBody(rs[0]) != "ok" {
		t.Fatalf("%v", rs)
	}
}

// TestClientCloseCancelsRequestContext: once the request is read (its body
// included), the engine watches the connection; the client closing it
// cancels the request's context while the handler still runs.
// watchModes are the two ways a handler's client is watched: from the
// handler's start, and the default, once it has run for WatchAfter.
var watchModes = []struct {
	desc  string
	after time.Duration
}{
	{"watched from the start", -1},
	{"watched after WatchAfter", 0},
}

func TestClientCloseCancelsRequestContext(t *testing.T) {
	for _, mode := range watchModes {
		for _, tc := range []struct{ desc, raw string }{
			{desc: "no body", raw: req("GET /w HTTP/1.1", "Host: a")},
			{desc: "Content-Length body read by the handler", raw: req("POST /w HTTP/1.1", "Host: a", "Content-Length: 3") + "abc"},
			{desc: "chunked body read by the handler", raw: req("POST /w HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "3\r\nabc\r\n0\r\n\r\n"},
		} {
			t.Run(mode.desc+"/"+tc.desc, func(t *testing.T) {
				started, done := make(chan struct{}), make(chan error, 1)
				addr := serve(t, &Server{WatchAfter: mode.after, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.ReadAll(r.Body)
					close(started)
					select {
					case <-r.Context().Done():
						done <- r.Context().Err()
					case <-time.After(10 * time.Second):
						done <- nil
					}
				})})
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				send(t, c, tc.raw)
				<-started
				_ = c.Close()
				if err := <-done; err != context.Canceled {
					t.Fatalf("request context: %v, want canceled", err)
				}
			})
		}
	}
}

// TestClientWatchedOnlyOnceHandlerRunsForWatchAfter: a handler that
// answers within WatchAfter costs no watch; one that runs longer is
// watched from then on, so a client that left is noticed no sooner than
// WatchAfter and then at once; a negative WatchAfter watches every
// handler from its start.
func TestClientWatchedOnlyOnceHandlerRunsForWatchAfter(t *testing.T) {
	for _, tc := range []struct {
		desc        string
		after       time.Duration
		wantWatches int64
	}{
		{desc: "fast handlers: no watch", after: time.Hour, wantWatches: 0},
		{desc: "negative: a watch for every handler", after: -1, wantWatches: 20},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := &Server{WatchAfter: tc.after, Handler: echo}
			addr := serve(t, s)
			c, br := dialServer(t, addr, 5*time.Second)
			for i := 0; i < 20; i++ { // one at a time: nothing pipelined, so every handler is watchable
				send(t, c, req(fmt.Sprintf("GET /%d HTTP/1.1", i), "Host: a"))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := respBody(resp), fmt.Sprintf("GET /%d ", i); got != want {
					t.Fatalf("response %d: %q, want %q", i, got, want)
				}
			}
			if got := s.watches.Load(); got != tc.wantWatches {
				t.Fatalf("%d watches started, want %d", got, tc.wantWatches)
			}
		})
	}

	t.Run("a timer set for an earlier request does not start a later one's watch early", func(t *testing.T) {
		const after = 300 * time.Millisecond
		started, done := make(chan struct{}), make(chan time.Duration, 1)
		s := &Server{WatchAfter: after, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/fast" {
				_, _ = io.WriteString(w, "fast")
				return
			}
			t0 := time.Now()
			close(started)
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			done <- time.Since(t0)
		})}
		addr := serve(t, s)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		send(t, c, req("GET /fast HTTP/1.1", "Host: a"))
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after / 2) // the timer /fast set is half-way
		send(t, c, req("GET /slow HTTP/1.1", "Host: a"))
		<-started
		_ = c.Close()
		if took := <-done; took < after {
			t.Fatalf("cancelled after %v: the watch started before the slow handler had run for WatchAfter (%v)", took, after)
		}
	})

	t.Run("slow handler: watched after WatchAfter, cancelled when the client leaves", func(t *testing.T) {
		const after = 150 * time.Millisecond
		type outcome struct {
			err     error
			elapsed time.Duration
		}
		started, done := make(chan struct{}), make(chan outcome, 1)
		s := &Server{WatchAfter: after, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t0 := time.Now()
			close(started)
			select {
			case <-r.Context().Done():
				done <- outcome{r.Context().Err(), time.Since(t0)}
			case <-time.After(10 * time.Second):
				done <- outcome{nil, time.Since(t0)}
			}
		})}
		addr := serve(t, s)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		send(t, c, req("GET /slow HTTP/1.1", "Host: a"))
		<-started
		_ = c.Close()
		o := <-done
		if o.err != context.Canceled {
			t.Fatalf("request context: %v, want canceled", o.err)
		}
		if o.elapsed < after {
			t.Fatalf("cancelled after %v, before WatchAfter (%v) had passed", o.elapsed, after)
		}
		if got := s.watches.Load(); got != 1 {
			t.Fatalf("%d watches started, want 1", got)
		}
	})
}

// TestBytesDuringHandlerKeptForNextRequest: a request pipelined while the
// handler of the one before still runs is read by the watch into the
// connection's buffer and answered next, in order; the first request's
// context is not cancelled by it.
func TestBytesDuringHandlerKeptForNextRequest(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.desc, func(t *testing.T) { bytesDuringHandler(t, mode.after) })
	}
}

func bytesDuringHandler(t *testing.T, after time.Duration) {
	started, proceed := make(chan struct{}, 2), make(chan struct{})
	s := &Server{WatchAfter: after, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/1" {
			started <- struct{}{}
			<-proceed
		}
		_, _ = fmt.Fprintf(w, "%s %s ctx=%v", r.URL.Path, b, r.Context().Err())
	})}
	addr := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	send(t, c, req("POST /1 HTTP/1.1", "Host: a", "Content-Length: 2")+"ab")
	<-started
	for s.watches.Load() == 0 { // the bytes arrive while the watch runs
		time.Sleep(time.Millisecond)
	}
	send(t, c, req("POST /2 HTTP/1.1", "Host: a", "Content-Length: 2")+"cd")
	close(proceed)
	br := bufio.NewReader(c)
	for _, want := range []string{"/1 ab ctx=<nil>", "/2 cd ctx=<nil>"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := respBody(resp); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

// inlineModes are the engine's two loops on a plain socket: requests
// answered inside the read callback where they can be, and the ordinary
// loop only.
var inlineModes = []struct {
	desc     string
	noInline bool
}{
	{"inline", false},
	{"ordinary loop only", true},
}

// TestRequestPipelinedDuringHandlerAnsweredAtOnce: a request that arrives
// while the handler of the one before runs is answered as soon as that
// handler returns, not when the idle timeout wakes the connection. Inline,
// its readiness arrives while the callback runs and is kept for the
// callback's next wait; a wait begun after a reset of the socket's
// readiness would miss it.
func TestRequestPipelinedDuringHandlerAnsweredAtOnce(t *testing.T) {
	for _, mode := range inlineModes {
		t.Run(mode.desc, func(t *testing.T) {
			started, proceed := make(chan struct{}, 1), make(chan struct{})
			s := &Server{IdleTimeout: time.Minute, WatchAfter: time.Hour, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/1" {
					started <- struct{}{}
					<-proceed
				}
				_, _ = io.WriteString(w, r.URL.Path)
			})}
			s.noInline = mode.noInline
			addr := serve(t, s)
			c, br := dialServer(t, addr, 5*time.Second)
			// A first exchange, so the second is read after a short read.
			send(t, c, req("GET /0 HTTP/1.1", "Host: a"))
			if resp, err := http.ReadResponse(br, nil); err != nil || respBody(resp) != "/0" {
				t.Fatalf("first exchange: %v", err)
			}
			send(t, c, req("GET /1 HTTP/1.1", "Host: a"))
			<-started
			send(t, c, req("GET /2 HTTP/1.1", "Host: a"))
			time.Sleep(50 * time.Millisecond) // /2 is in the socket before /1's handler returns
			close(proceed)
			for _, want := range []string{"/1", "/2"} {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("waiting for %s: %v", want, err)
				}
				if got := respBody(resp); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			}
			_ = c.Close()
			s.Close()
			for i := 0; i < 200 && s.inlined.Load() == 0 && !mode.noInline; i++ {
				time.Sleep(5 * time.Millisecond) // the connection adds its count when it ends
			}
			if n := s.inlined.Load(); mode.noInline != (n == 0) {
				t.Fatalf("%d requests answered inline (noInline %v)", n, mode.noInline)
			}
		})
	}
}

// TestInlineOnlyForRequestsThatNeedNoRead: a request whose handler may
// have to read the socket goes to the ordinary loop: a chunked body, a
// Content-Length body not yet whole in the buffer, Upgrade or Expect. A
// bodiless request, or one whose Content-Length body came whole with its
// head, is answered inline (read or left unread by the handler), and
// Hijack is refused there.
func TestInlineOnlyForRequestsThatNeedNoRead(t *testing.T) {
	var hijackErr atomic.Value
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b []byte
		if r.URL.Path != "/unread" {
			b, _ = io.ReadAll(r.Body)
		}
		if r.URL.Path == "/hijack" {
			_, _, err := http.NewResponseController(w).Hijack()
			hijackErr.Store(fmt.Sprint(err))
		}
		_, _ = fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	})}
	addr := serve(t, s)
	raw := req("GET /a HTTP/1.1", "Host: a") +
		req("POST /b HTTP/1.1", "Host: a", "Content-Length: 3") + "abc" +
		req("GET /c HTTP/1.1", "Host: a") +
		req("POST /d HTTP/1.1", "Host: a", "Transfer-Encoding: chunked") + "2\r\nde\r\n0\r\n\r\n" +
		req("POST /unread HTTP/1.1", "Host: a", "Content-Length: 5") + "fghij" +
		req("GET /hijack HTTP/1.1", "Host: a")
	resps := exchange(t, addr, raw, 6)
	want := []string{"/a ", "/b abc", "/c ", "/d de", "/unread ", "/hijack "}
	if len(resps) != len(want) {
		t.Fatalf("%d responses, want %d", len(resps), len(want))
	}
	for i, r := range resps {
		if got := respBody(r); got != want[i] {
			t.Fatalf("response %d: %q, want %q", i, got, want[i])
		}
	}
	if got := hijackErr.Load(); got != errHijackInline.Error() {
		t.Fatalf("Hijack inline: %v, want %v", got, errHijackInline)
	}
	// A body that arrives after its head: the ordinary loop waits for it.
	c, br := dialServer(t, addr, 5*time.Second)
	send(t, c, req("POST /late HTTP/1.1", "Host: a", "Content-Length: 4")+"kl")
	time.Sleep(50 * time.Millisecond)
	send(t, c, "mn")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := respBody(resp); got != "/late klmn" {
		t.Fatalf("late body: %q", got)
	}
	c.Close()
	s.Close()
	for i := 0; i < 200 && s.inlined.Load() < 5; i++ {
		time.Sleep(5 * time.Millisecond) // the connection adds its count when it ends
	}
	if n := s.inlined.Load(); n != 5 {
		t.Fatalf("%d requests answered inline, want 5 (/a, /b, /c, /unread, /hijack)", n)
	}
}

// TestNextRequestAfterAHandlerOutlastsTheHeadTimeout: a handler that runs
// longer than ReadHeaderTimeout does not leave the head's deadline, passed
// by then, on the wait for the next request.
func TestNextRequestAfterAHandlerOutlastsTheHeadTimeout(t *testing.T) {
	for _, mode := range inlineModes {
		for _, first := range []string{
			req("POST /slow HTTP/1.1", "Host: a", "Content-Length: 3") + "abc", // the ordinary loop, then inline
			req("GET /slow HTTP/1.1", "Host: a"),                               // inline throughout
			req("GET /slow HTTP/1.1", "Host: a", "Expect: 100-continue"),       // the ordinary loop, no body read: the head's deadline stays
		} {
			t.Run(mode.desc+"/"+strings.Fields(first)[0]+"/"+fmt.Sprint(strings.Contains(first, "Expect")), func(t *testing.T) {
				s := &Server{ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 10 * time.Second, WatchAfter: time.Hour,
					Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						_, _ = io.ReadAll(r.Body)
						if r.URL.Path == "/slow" {
							time.Sleep(300 * time.Millisecond)
						}
						_, _ = io.WriteString(w, r.URL.Path)
					})}
				s.noInline = mode.noInline
				addr := serve(t, s)
				c, br := dialServer(t, addr, 5*time.Second)
				for _, raw := range []string{first, req("GET /next HTTP/1.1", "Host: a")} {
					// In two pieces: a head split across reads is what puts
					// the head's deadline on the socket.
					send(t, c, raw[:10])
					time.Sleep(20 * time.Millisecond)
					send(t, c, raw[10:])
					resp, err := http.ReadResponse(br, nil)
					if err != nil {
						t.Fatalf("%s: %v", strings.Fields(raw)[1], err)
					}
					if resp.StatusCode != 200 {
						t.Fatalf("%s: status %d", strings.Fields(raw)[1], resp.StatusCode)
					}
					_ = respBody(resp)
				}
			})
		}
	}
}

// TestInlineRequestsWatchedAfterAnOrdinaryWatch: a watch started for a
// request the ordinary loop answered (it had a body) is that loop's wait
// for the next request; the requests answered inline after it are still
// watched, and a client that leaves during one cancels it.
func TestInlineRequestsWatchedAfterAnOrdinaryWatch(t *testing.T) {
	started, done := make(chan struct{}), make(chan error, 1)
	s := &Server{WatchAfter: 30 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/slowbody":
			time.Sleep(100 * time.Millisecond) // watched by the ordinary loop's peek
		case "/wait":
			close(started)
			select {
			case <-r.Context().Done():
				done <- r.Context().Err()
			case <-time.After(10 * time.Second):
				done <- nil
			}
			return
		}
		_, _ = io.WriteString(w, r.URL.Path)
	})}
	addr := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, raw := range []string{
		req("POST /slowbody HTTP/1.1", "Host: a", "Content-Length: 2") + "ab",
		req("GET /fast HTTP/1.1", "Host: a"),
		req("GET /fast HTTP/1.1", "Host: a"),
	} {
		send(t, c, raw)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = respBody(resp)
	}
	send(t, c, req("GET /wait HTTP/1.1", "Host: a"))
	<-started
	_ = c.Close()
	if err := <-done; err != context.Canceled {
		t.Fatalf("request context: %v, want canceled", err)
	}
	s.Close()
	for i := 0; i < 200 && s.inlined.Load() == 0; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if s.inlined.Load() == 0 {
		t.Fatal("no request was answered inline")
	}
}

// TestCloseStopsRunningHandlers: Close cancels the requests in flight and
// closes their connections at once, whichever loop answers them (inline,
// the handler holds the socket, so a close alone would wait for it).
func TestCloseStopsRunningHandlers(t *testing.T) {
	for _, mode := range inlineModes {
		t.Run(mode.desc, func(t *testing.T) {
			started, done := make(chan struct{}), make(chan error, 1)
			s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				close(started)
				select {
				case <-r.Context().Done():
					done <- r.Context().Err()
				case <-time.After(10 * time.Second):
					done <- nil
				}
			})}
			s.noInline = mode.noInline
			addr := serve(t, s)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			send(t, c, req("GET /wait HTTP/1.1", "Host: a"))
			<-started
			closed := make(chan struct{})
			go func() { s.Close(); close(closed) }()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("Close waited for the handler")
			}
			if err := <-done; err != context.Canceled {
				t.Fatalf("request context: %v, want canceled", err)
			}
		})
	}
}

// TestPipelinedAnswerNotHeldByAPartialNextHead: a response waiting in the
// buffer behind a pipelined request is sent before the engine waits for
// the rest of that request's head: a client may wait for it before it
// sends more.
func TestPipelinedAnswerNotHeldByAPartialNextHead(t *testing.T) {
	for _, mode := range inlineModes {
		t.Run(mode.desc, func(t *testing.T) {
			s := &Server{Handler: echo}
			s.noInline = mode.noInline
			addr := serve(t, s)
			c, br := dialServer(t, addr, 5*time.Second)
			second := req("GET /b HTTP/1.1", "Host: a")
			send(t, c, req("GET /a HTTP/1.1", "Host: a")+second[:12])
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("the first answer waited for the second head: %v", err)
			}
			if got := respBody(resp); got != "GET /a " {
				t.Fatalf("first: %q", got)
			}
			send(t, c, second[12:])
			resp, err = http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := respBody(resp); got != "GET /b " {
				t.Fatalf("second: %q", got)
			}
		})
	}
}
