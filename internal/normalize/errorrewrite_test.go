package normalize

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

const canned400 = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"

func TestParseCanned(t *testing.T) {
	for _, tc := range []struct {
		in     string
		ok     bool
		status int
		reason string
	}{
		{canned400, true, 400, "Bad Request"},
		{"HTTP/1.1 400 Bad Request: missing required Host header" + cannedHeaders + "400 Bad Request: missing required Host header", true, 400, "missing required Host header"},
		{"HTTP/1.1 501 Not Implemented" + cannedHeaders + "Unsupported transfer encoding", true, 501, "Unsupported transfer encoding"},
		{"HTTP/1.1 431 Request Header Fields Too Large" + cannedHeaders + "431 Request Header Fields Too Large", true, 431, "Request Header Fields Too Large"},
		{"HTTP/1.1 200 OK" + cannedHeaders + "ok", false, 0, ""},
		{"HTTP/1.1 400 Bad Request" + cannedHeaders, false, 0, ""}, // no body
		{"HTTP/1.1 400 Bad Request\r\nDate: x" + cannedHeaders + "400 Bad Request", false, 0, ""},
		{"HTTP/1.1 200 OK\r\nContent-Length: 118\r\n\r\n" + canned400, false, 0, ""},
		{"HTTP/1.0 400 Bad Request" + cannedHeaders + "400 Bad Request", false, 0, ""},
		{"HTTP/1.1 4x0 Bad Request" + cannedHeaders + "x", false, 0, ""},
		{"", false, 0, ""},
	} {
		status, reason, ok := parseCanned([]byte(tc.in))
		if ok != tc.ok || status != tc.status || reason != tc.reason {
			t.Errorf("parseCanned(%q) = %d %q %v, want %d %q %v", tc.in, status, reason, ok, tc.status, tc.reason, tc.ok)
		}
	}
}

// serveWrapped runs a real net/http server whose connections are wrapped
// like the gateway's, with a rewriter that answers "REWRITTEN <status>".
// track says whether the handler reports itself (BeginResponse).
func serveWrapped(t *testing.T, h http.HandlerFunc, track bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type key struct{}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			sc := c.(*Conn)
			sc.SetErrorRewriter(func(status int, reason string) []byte {
				body := "REWRITTEN " + strconv.Itoa(status) + " " + reason
				return []byte("HTTP/1.1 " + strconv.Itoa(status) + " X\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)
			})
			return context.WithValue(ctx, key{}, sc)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateIdle {
				c.(*Conn).ResponseDone()
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if track {
				r.Context().Value(key{}).(*Conn).BeginResponse()
			}
			h(w, r)
		}),
	}
	go func() { _ = srv.Serve(Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func roundTrip(t *testing.T, addr, raw string, n int) []string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var bodies []string
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies = append(bodies, strconv.Itoa(resp.StatusCode)+" "+string(b))
	}
	return bodies
}

// A handler writing exactly net/http's canned bytes as a separate write (its
// headers flushed first) must reach the client unchanged; net/http's own
// answer to a malformed request is rewritten.
func TestErrorRewriteOnlyOutsideHandlers(t *testing.T) {
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(canned400)))
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, canned400)
		w.(http.Flusher).Flush()
	}
	addr := serveWrapped(t, handler, true)
	get := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	got := roundTrip(t, addr, get+get+"GET / HTTP/1.1\r\n\r\n", 3)
	want := []string{"200 " + canned400, "200 " + canned400, "400 REWRITTEN 400 missing required Host header"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q\nwant %q", got, want)
	}

	// The guard is what protects the body: without BeginResponse the same
	// body write would be taken for net/http's answer.
	untracked := serveWrapped(t, handler, false)
	if got := roundTrip(t, untracked, get, 1); len(got) != 1 || got[0] == "200 "+canned400 {
		t.Fatalf("untracked handler: %q (the test no longer exercises the guard)", got)
	}
}

// FuzzParseCanned: never panics, and what it accepts has net/http's exact
// shape (so no handler response can be taken for it).
func FuzzParseCanned(f *testing.F) {
	f.Add([]byte(canned400))
	f.Add([]byte("HTTP/1.1 501 Not Implemented" + cannedHeaders + "Unsupported transfer encoding"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nDate: x\r\n\r\nok"))
	f.Fuzz(func(t *testing.T, b []byte) {
		status, _, ok := parseCanned(b)
		if !ok {
			return
		}
		i := strings.Index(string(b), cannedHeaders)
		if status < 400 || status > 599 || !strings.HasPrefix(string(b), "HTTP/1.1 ") || i < 0 ||
			strings.ContainsAny(string(b[:i]), "\r\n") || strings.ContainsAny(string(b[i+len(cannedHeaders):]), "\r\n") {
			t.Fatalf("accepted %q", b)
		}
	})
}
