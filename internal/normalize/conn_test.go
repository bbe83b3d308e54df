package normalize

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

type connKey struct{}

// seen is what the test handler recorded for one request.
type seen struct {
	path    string
	verdict error
}

func (s seen) String() string { return fmt.Sprintf("%s:%v", s.path, s.verdict) }

// framingServer runs a real http.Server on loopback behind Listener. Its
// handler reads the body, then records the connection's verdict, and
// answers 200 without closing, so the tests also see what later requests
// on a poisoned connection get.
func framingServer(t *testing.T) (addr string, records func() []seen) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []seen
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			var verdict error = ErrFramingUnknown
			if c, ok := FromConn(r.Context().Value(connKey{}).(net.Conn)); ok {
				verdict = c.NextFor(r.Method, r.RequestURI)
			}
			mu.Lock()
			got = append(got, seen{r.URL.Path, verdict})
			mu.Unlock()
			w.WriteHeader(http.StatusOK)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), func() []seen {
		mu.Lock()
		defer mu.Unlock()
		return append([]seen(nil), got...)
	}
}

// exchange writes raw to a new connection and reads responses until the
// server closes it; it returns their status codes.
func exchange(t *testing.T, addr, raw string) []int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	var codes []int
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("timed out waiting for the server to close (got %v)", codes)
			}
			return codes
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
}

func TestConnOverRealServer(t *testing.T) {
	const end = "GET /end HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	cases := []struct {
		name     string
		raw      string
		codes    []int
		verdicts []seen // what handlers saw, in order
	}{
		{
			name:     "clean pipelined keep-alive",
			raw:      getA + postCL + postChk + end,
			codes:    []int{200, 200, 200, 200},
			verdicts: []seen{{"/a", nil}, {"/p", nil}, {"/c", nil}, {"/end", nil}},
		},
		{
			name: "chunked body with trailers",
			raw: "POST /t HTTP/1.1\r\nHost: x\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"4\r\nwiki\r\n5;name=v\r\npedia\r\n0\r\nX-Sum: 9\r\n\r\n" + end,
			codes:    []int{200, 200},
			verdicts: []seen{{"/t", nil}, {"/end", nil}},
		},
		{
			// net/http drops Content-Length and reads chunked; a proxy in
			// front that used Content-Length would have sent "/admin" as a
			// second request inside the body.
			name: "CL and TE",
			raw: "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n" +
				"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n" + end,
			codes:    []int{200, 200, 200},
			verdicts: []seen{{"/s", errCLAndTE}, {"/admin", ErrPoisoned}, {"/end", ErrPoisoned}},
		},
		{
			name:     "duplicate identical Content-Length",
			raw:      "POST /d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + end,
			codes:    []int{200, 200},
			verdicts: []seen{{"/d", errDupCL}, {"/end", ErrPoisoned}},
		},
		{
			name:     "Transfer-Encoding with a tab",
			raw:      "POST /tab HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\t\r\n\r\n0\r\n\r\n" + end,
			codes:    []int{200, 200},
			verdicts: []seen{{"/tab", errBadTE}, {"/end", ErrPoisoned}},
		},
		{
			// net/http ignores Transfer-Encoding on HTTP/1.0.
			name:     "Transfer-Encoding on HTTP/1.0",
			raw:      "POST /old HTTP/1.0\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			codes:    []int{200},
			verdicts: []seen{{"/old", errTE10}},
		},
		{
			// net/http joins the folded line into X-A.
			name:     "obs-fold",
			raw:      "GET /fold HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n" + end,
			codes:    []int{200, 200},
			verdicts: []seen{{"/fold", errObsFold}, {"/end", ErrPoisoned}},
		},
		{
			name:     "malformed chunk size",
			raw:      "POST /bad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + end,
			codes:    []int{200},
			verdicts: []seen{{"/bad", errChunk}},
		},
		{
			name:     "upgrade not taken",
			raw:      "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n" + end,
			codes:    []int{200, 200},
			verdicts: []seen{{"/ws", nil}, {"/end", ErrFramingUnknown}},
		},
		{
			name:     "OPTIONS * answered by net/http",
			raw:      "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + end,
			codes:    []int{200, 200},
			verdicts: []seen{{"/end", nil}},
		},
		// net/http refuses these itself, before any handler.
		{name: "Content-Length list", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", codes: []int{400}},
		{name: "TE chunked, identity", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", codes: []int{501}},
		{name: "TE xchunked", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  xchunked\r\n\r\n0\r\n\r\n", codes: []int{501}},
		{name: "space before colon", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", codes: []int{400}},
		{name: "duplicate Host", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", codes: []int{400}},
		{name: "different Content-Lengths", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", codes: []int{400}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			addr, records := framingServer(t)
			codes := exchange(t, addr, c.raw)
			if !equalInts(codes, c.codes) {
				t.Errorf("status codes %v; want %v", codes, c.codes)
			}
			got := records()
			if len(got) != len(c.verdicts) {
				t.Fatalf("handler saw %v; want %v", got, c.verdicts)
			}
			for i := range got {
				if got[i] != c.verdicts[i] {
					t.Errorf("request %d: handler saw %v; want %v", i, got[i], c.verdicts[i])
				}
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Requests written one at a time, each after the previous response, on a
// keep-alive connection: the verdict queue stays in step.
func TestConnKeepAliveSequential(t *testing.T) {
	addr, records := framingServer(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for _, req := range []string{getA, postChk, postCL, getB} {
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	want := []seen{{"/a", nil}, {"/c", nil}, {"/p", nil}, {"/b", nil}}
	got := records()
	if len(got) != len(want) {
		t.Fatalf("handler saw %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %v; want %v", i, got[i], want[i])
		}
	}
}

func TestFromConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := FromConn(a); ok {
		t.Error("FromConn accepted a plain conn")
	}
	w := WrapConn(a)
	if got, ok := FromConn(w); !ok || got != w || got.NetConn() != a {
		t.Error("FromConn did not return the wrapper")
	}
}
