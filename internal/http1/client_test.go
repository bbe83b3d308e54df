package http1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

const getOK = "GET /ok HTTP/1.1\r\nHost: up\r\n\r\n"

// upstreamOnce accepts one connection and answers n requests on it with
// "ok", sending each request it read to got; when n is 0 it reads one
// request and never answers.
func upstreamOnce(t *testing.T, n int, got chan<- string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; i < max(n, 1); i++ {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				head.WriteString(line)
				if line == "\r\n" {
					break
				}
			}
			got <- head.String()
			if n == 0 {
				_, _ = io.Copy(io.Discard, c)
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}()
	return ln.Addr().String()
}

func dialClient(t *testing.T, addr string) *ClientConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := NewClientConn(nc)
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

func readOK(t *testing.T, cc *ClientConn) {
	t.Helper()
	resp, err := cc.ReadResponse("GET")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("response %d %q %v", resp.StatusCode, b, err)
	}
}

// TestFlushInWaitSendsFromTheWait: on a plain socket FlushInWait holds the
// request back and the next Wait (or ReadResponse) sends it from inside
// its wait; the exchange is the same as Flush's, on one connection after
// another.
func TestFlushInWaitSendsFromTheWait(t *testing.T) {
	got := make(chan string, 3)
	cc := dialClient(t, upstreamOnce(t, 3, got))
	for i := 0; i < 3; i++ {
		_, _ = cc.Writer().WriteString(getOK)
		if err := cc.FlushInWait(); err != nil {
			t.Fatal(err)
		}
		if cc.out.held == nil {
			t.Fatal("the request was sent by FlushInWait; it should wait for Wait")
		}
		if i%2 == 0 {
			if err := cc.Wait(); err != nil {
				t.Fatal(err)
			}
		}
		readOK(t, cc)
		if h := <-got; h != getOK {
			t.Fatalf("upstream read %q", h)
		}
		if !cc.Reusable() {
			t.Fatal("not reusable after a complete exchange")
		}
	}
}

// TestFlushInWaitFlushesWhenNotASocket: a connection the runtime's poller
// cannot be asked about (a pipe here, TLS in the gateway) is flushed at once.
func TestFlushInWaitFlushesWhenNotASocket(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	cc := NewClientConn(a)
	defer cc.Close()
	_, _ = cc.Writer().WriteString(getOK)
	done := make(chan error, 1)
	go func() { done <- cc.FlushInWait() }()
	buf := make([]byte, len(getOK))
	if _, err := io.ReadFull(b, buf); err != nil || string(buf) != getOK {
		t.Fatalf("read %q %v", buf, err)
	}
	if err := <-done; err != nil || cc.out.held != nil {
		t.Fatalf("FlushInWait: %v, held %q", err, cc.out.held)
	}
}

// TestFlushInWaitResponseTimeout: the read deadline bounds the wait of a
// request sent from inside it, and the request did leave.
func TestFlushInWaitResponseTimeout(t *testing.T) {
	got := make(chan string, 1)
	cc := dialClient(t, upstreamOnce(t, 0, got))
	_, _ = cc.Writer().WriteString(getOK)
	if err := cc.FlushInWait(); err != nil {
		t.Fatal(err)
	}
	_ = cc.Conn().SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	err := cc.Wait()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait: %v, want a deadline error", err)
	}
	if h := <-got; h != getOK {
		t.Fatalf("upstream read %q", h)
	}
}

// TestFlushInWaitOnClosedConnection: a request sent to an upstream that
// closed the connection fails with the reset or the end of the stream,
// at once, never with the deadline.
func TestFlushInWaitOnClosedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.Close()
		}
		close(closed)
	}()
	cc := dialClient(t, ln.Addr().String())
	<-closed
	time.Sleep(50 * time.Millisecond) // the FIN arrives while the connection is idle
	_, _ = cc.Writer().WriteString(getOK)
	if err := cc.FlushInWait(); err != nil {
		t.Fatal(err)
	}
	_ = cc.Conn().SetReadDeadline(time.Now().Add(5 * time.Second))
	err = cc.Wait()
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Wait: %v, want the reset or the end of the stream", err)
	}
	if _, err := cc.ReadResponse("GET"); err == nil {
		t.Fatal("a response read after the failure")
	}
}

// TestWriteAfterFlushInWaitRefused: bytes written after FlushInWait and
// before Wait would overwrite the held request in the buffer; the flush
// that would send them fails instead, and nothing reaches the upstream.
func TestWriteAfterFlushInWaitRefused(t *testing.T) {
	got := make(chan string, 1)
	cc := dialClient(t, upstreamOnce(t, 1, got))
	_, _ = cc.Writer().WriteString(getOK)
	if err := cc.FlushInWait(); err != nil {
		t.Fatal(err)
	}
	_, _ = cc.Writer().WriteString("GET /other HTTP/1.1\r\nHost: up\r\n\r\n")
	if err := cc.Writer().Flush(); !errors.Is(err, errHeldNotSent) {
		t.Fatalf("Flush after FlushInWait: %v, want errHeldNotSent", err)
	}
	select {
	case h := <-got:
		t.Fatalf("the upstream read %q", h)
	case <-time.After(100 * time.Millisecond):
	}
}
