package concurrency

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// limitedServer is a Listener with lim on a loopback port, accepting in
// the background: what it hands out arrives on accepted; dial connects to
// it from a given loopback address.
func limitedServer(t *testing.T, lim ConnLimits) (ln *Listener, accepted chan net.Conn, dial func(local string) net.Conn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = NewListener(inner, lim).(*Listener)
	t.Cleanup(func() { ln.Close() })
	accepted = make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial = func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: time.Second}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return ln, accepted, dial
}

func TestListenerPerClientLimit(t *testing.T) {
	ln, accepted, dial := limitedServer(t, ConnLimits{Max: 10, PerClient: 2, RefuseHTTP: true})
	c1, c2 := dial("127.0.0.1"), dial("127.0.0.1")
	s1, s2 := <-accepted, <-accepted
	// The third from the same address gets a 503 and is closed.
	c3 := dial("127.0.0.1")
	_ = c3.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c3), nil)
	if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("third connection: %v %v", resp, err)
	}
	if _, err := c3.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("refused connection not closed: %v", err)
	}
	if ln.Refused() != 1 {
		t.Fatalf("refused = %d", ln.Refused())
	}
	// Another address is not affected.
	c4 := dial("127.0.0.2")
	s4 := <-accepted
	// Closing one frees a slot for the first address.
	s1.Close()
	c5 := dial("127.0.0.1")
	s5 := <-accepted
	if ln.Open() != 3 {
		t.Fatalf("open = %d, want 3", ln.Open())
	}
	for _, c := range []net.Conn{c1, c2, c3, c4, c5, s2, s4, s5} {
		c.Close()
	}
	s1.Close() // twice: released once
	if ln.Open() != 0 {
		t.Fatalf("open = %d after closing everything", ln.Open())
	}
}

func TestListenerTotalLimit(t *testing.T) {
	ln, got, dial := limitedServer(t, ConnLimits{Max: 1})
	c1 := dial("127.0.0.1")
	defer c1.Close()
	s1 := <-got
	defer s1.Close()
	c2 := dial("127.0.0.1")
	defer c2.Close()
	_ = c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c2.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("over-limit connection: read %d, %v (want closed, no bytes)", n, err)
	}
	if ln.Open() != 1 {
		t.Fatalf("open = %d", ln.Open())
	}
}

func TestNewListenerNoLimits(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	if NewListener(inner, ConnLimits{}) != inner {
		t.Fatal("no limits must cost nothing")
	}
}

// TestListenerPerClientLimitCountsByClient: with Client set, peers that map
// to one client share its PerClient slots (config.ClientKey maps an IPv6
// peer to its /64; loopback has one IPv6 address, so here 127.0.0.1 and
// 127.0.0.2 are made one client), a slot goes back to that client on close,
// and an exempt peer is still not counted.
func TestListenerPerClientLimitCountsByClient(t *testing.T) {
	one := netip.MustParseAddr("127.0.0.1")
	ln, accepted, dial := limitedServer(t, ConnLimits{Max: 10, PerClient: 2,
		Client: func(a netip.Addr) netip.Addr {
			if a == netip.MustParseAddr("127.0.0.2") {
				return one
			}
			return a
		},
		Exempt: func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.4") },
	})
	refusedAfter := func(c net.Conn, want uint64) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("connection not refused: %v", err)
		}
		if ln.Refused() != want {
			t.Fatalf("refused = %d, want %d", ln.Refused(), want)
		}
	}
	c1, c2 := dial("127.0.0.1"), dial("127.0.0.2")
	s1, s2 := <-accepted, <-accepted
	// The client's two slots are taken, from two addresses: a third from
	// either is refused.
	c3 := dial("127.0.0.2")
	refusedAfter(c3, 1)
	// Another client, and an exempt peer, are served.
	c4, c5, c6 := dial("127.0.0.3"), dial("127.0.0.4"), dial("127.0.0.4")
	s4, s5, s6 := <-accepted, <-accepted, <-accepted
	// Closing the connection from 127.0.0.2 frees the client's slot.
	s2.Close()
	c7 := dial("127.0.0.1")
	s7 := <-accepted
	c8 := dial("127.0.0.1")
	refusedAfter(c8, 2)
	for _, c := range []net.Conn{c1, c2, c3, c4, c5, c6, c7, c8, s1, s4, s5, s6, s7} {
		c.Close()
	}
	deadline := time.Now().Add(2 * time.Second)
	for ln.Open() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	ln.mu.Lock()
	clients := len(ln.perKey)
	ln.mu.Unlock()
	if ln.Open() != 0 || clients != 0 {
		t.Fatalf("open = %d, %d clients counted after closing everything", ln.Open(), clients)
	}
}
