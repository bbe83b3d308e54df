package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestConnContextAbortSlot: the connection context's slot runs its
// function once when the context ends, not after StopAbort, and holds one
// function at a time.
func TestConnContextAbortSlot(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		stopFirst bool
	}{
		{desc: "the context ends: the function runs", stopFirst: false},
		{desc: "withdrawn before the end: it never runs", stopFirst: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ctx, cancel := newConnContext(context.Background())
			ran := make(chan struct{}, 2)
			if !ctx.SetAbort(func() { ran <- struct{}{} }) {
				t.Fatal("SetAbort refused on a live context")
			}
			if ctx.SetAbort(func() {}) {
				t.Fatal("a second function was accepted into the one slot")
			}
			if tc.stopFirst {
				if !ctx.StopAbort() {
					t.Fatal("StopAbort before the end reported the function as run")
				}
			}
			cancel()
			<-ctx.Done()
			if tc.stopFirst {
				// The slot's AfterFunc has run once the context is done
				// and SetAbort reports the end: the function did not run.
				for ctx.SetAbort(func() {}) {
					ctx.StopAbort()
					runtime.Gosched()
				}
				if len(ran) != 0 {
					t.Fatal("a withdrawn function ran")
				}
				return
			}
			select {
			case <-ran:
			case <-time.After(10 * time.Second):
				t.Fatal("the function did not run when the context ended")
			}
			if ctx.StopAbort() {
				t.Fatal("StopAbort after the function ran reported it withdrawn")
			}
			if ctx.SetAbort(func() {}) {
				t.Fatal("SetAbort accepted on an ended context")
			}
		})
	}
}

// TestIdleConnectionsHoldNoBuffers measures the memory of idle keep-alive
// connections: after one request each, the engine's connections wait for
// the next without their read and write buffers (they are back in their
// pools), so what an idle connection costs is its goroutine, its reused
// request state and the sockets. The bound is what docs/http1-conformance.md
// reports; the figure is logged.
func TestIdleConnectionsHoldNoBuffers(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("waiting without a buffer is Linux-only")
	}
	const n = 200
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), IdleTimeout: time.Minute}
	addr := serve(t, s)

	hb, sb := memParts()
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	buf := make([]byte, 512)
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req("GET / HTTP/1.1", "Host: a")); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Read(buf); err != nil || !strings.HasSuffix(string(buf[:m]), "\r\n\r\nok") {
			t.Fatalf("response %q %v", buf[:m], err)
		}
	}
	// The positive signal: every connection is in its idle wait, counted
	// only when it holds neither its read nor its write buffer.
	deadline := time.Now().Add(10 * time.Second)
	for s.idle.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections idle", s.idle.Load(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ha, sa := memParts()
	per := (ha + sa - hb - sb) / n
	t.Logf("memory per idle connection (server and client sides): %d bytes: heap %d, goroutine stacks %d",
		per, (ha-hb)/n, (sa-sb)/n)
	// With its 4 KiB read and 4 KiB write buffers a connection measured
	// about 22 KiB here; without them 14-15 KiB (docs/http1-conformance.md).
	if per > 18<<10 {
		t.Fatalf("%d bytes per idle connection, want at most 18 KiB", per)
	}
	// They still serve.
	for _, c := range conns[:3] {
		if _, err := io.WriteString(c, req("GET / HTTP/1.1", "Host: a")); err != nil {
			t.Fatal(err)
		}
		if m, err := c.Read(buf); err != nil || !strings.HasSuffix(string(buf[:m]), "\r\n\r\nok") {
			t.Fatalf("after idle: %q %v", buf[:m], err)
		}
	}
}

// memParts is the heap and stack memory in use after collections (stacks
// shrink at collection time).
func memParts() (heap, stack int64) {
	var ms runtime.MemStats
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse), int64(ms.StackInuse)
}

// TestWriteTimeoutCutsOffSlowReader: a client that stops reading a large
// response is cut off by WriteTimeout: the handler's write fails with a
// timeout (a positive signal, within a generous bound) and the client gets
// less than the whole body, never a response that looks complete.
func TestWriteTimeoutCutsOffSlowReader(t *testing.T) {
	const total = 256 << 20
	werr := make(chan error, 1)
	var written atomic.Int64
	addr := serve(t, &Server{WriteTimeout: 500 * time.Millisecond, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "268435456")
		chunk := make([]byte, 64<<10)
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, req("GET /big HTTP/1.1", "Host: a")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The client reads the head and then nothing.
	select {
	case err := <-werr:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("handler's write ended with %v, want a write timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write of a response nobody reads was not cut off")
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= total {
		t.Fatalf("client read %d bytes, err %v: the body must end short", n, err)
	}
	t.Logf("cut off after %d of %d bytes written", written.Load(), total)
}

// TestClientCloseCancelsRequestContextTLS: on a TLS connection (where the
// watch reads rather than peeks, and is stopped when the handler returns)
// the client closing cancels the request's context too, and a keep-alive
// connection whose handler ended normally goes on serving.
func TestClientCloseCancelsRequestContextTLS(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.desc, func(t *testing.T) { clientCloseTLS(t, mode.after) })
	}
}

func clientCloseTLS(t *testing.T, after time.Duration) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	cert := ts.TLS.Certificates[0]
	pool := x509.NewCertPool()
	pool.AddCert(ts.Certificate())
	ts.Close()

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	started, done := make(chan struct{}, 1), make(chan error, 1)
	s := &Server{WatchAfter: after, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			_, _ = io.WriteString(w, "quick")
			return
		}
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			done <- r.Context().Err()
		case <-time.After(10 * time.Second):
			done <- nil
		}
	})}
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tc := nc.(*tls.Conn)
				if tc.Handshake() != nil {
					_ = nc.Close()
					return
				}
				s.ServeConn(tc)
			}()
		}
	}()
	defer s.Close()

	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ { // the watch is stopped and the connection reused
		if _, err := io.WriteString(c, req("GET /quick HTTP/1.1", "Host: a")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := respBody(resp); got != "quick" {
			t.Fatalf("response %d: %q", i, got)
		}
	}
	if _, err := io.WriteString(c, req("GET /wait HTTP/1.1", "Host: a")); err != nil {
		t.Fatal(err)
	}
	<-started
	_ = c.Close()
	if err := <-done; err != context.Canceled {
		t.Fatalf("request context: %v, want canceled", err)
	}
}

// RemoteAddrPort gives a handler the address r.RemoteAddr names without
// parsing it per request, for every request on the connection, and says
// so only for requests as the engine made them.
func TestRemoteAddrPortIsTheConnectionsPeer(t *testing.T) {
	type seen struct {
		ap      netip.AddrPort
		ok      bool
		remote  string
		wrapped bool // RemoteAddrPort of r.WithContext: must be false
	}
	got := make(chan seen, 2)
	addr := serve(t, &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ap, ok := RemoteAddrPort(r)
		_, wrapped := RemoteAddrPort(r.WithContext(context.Background()))
		got <- seen{ap: ap, ok: ok, remote: r.RemoteAddr, wrapped: wrapped}
	})})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	send(t, c, "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
	for i := 0; i < 2; i++ {
		s := <-got
		if !s.ok || s.ap.String() != s.remote || s.remote != local {
			t.Fatalf("request %d: RemoteAddrPort %v %v, RemoteAddr %q, client %q", i+1, s.ap, s.ok, s.remote, local)
		}
		if s.wrapped {
			t.Fatalf("request %d: RemoteAddrPort answered for a request with another context", i+1)
		}
	}
}
