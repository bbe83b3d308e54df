package http1

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestPeekAfterWakeWhenIdle: the watch's peek skips its system call only
// when it was woken after finding nothing and no handler runs (the read of
// the next head tells data from the end). A first look, and every look
// while a handler runs, peeks. A descriptor that is not open tells which:
// a peek on it fails (EBADF) and reports the client gone.
func TestPeekAfterWakeWhenIdle(t *testing.T) {
	const notOpen = ^uintptr(0)
	for _, tc := range []struct {
		name   string
		state  uint8
		active bool
		want   uint8
	}{
		{"woken, idle: no syscall", peekParked, false, peekWoken},
		{"woken, handler running: peeks", peekParked, true, peekGone},
		{"first look, idle: peeks", peekNone, false, peekGone},
		{"first look, handler running: peeks", peekNone, true, peekGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &conn{peekState: tc.state}
			c.active.Store(tc.active)
			if !c.peek(notOpen) {
				t.Fatal("peek asked to wait")
			}
			if c.peekState != tc.want {
				t.Fatalf("peekState %d, want %d", c.peekState, tc.want)
			}
		})
	}
}

// TestFlushInWaitSocketBufferFull: a request the socket cannot take (its
// send buffer is full) is finished by a blocking write, and the response
// is then read as usual.
func TestFlushInWaitSocketBufferFull(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "sock")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := conn(fds[0]), conn(fds[1])
	defer b.Close()
	// Fill a's send buffer: writes that cannot finish time out.
	filler := bytes.Repeat([]byte("x"), 1<<16)
	var sent int
	_ = a.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		n, err := a.Write(filler)
		sent += n
		if err != nil {
			break
		}
	}
	_ = a.SetWriteDeadline(time.Time{})
	cc := NewClientConn(a)
	defer cc.Close()
	_, _ = cc.Writer().WriteString(getOK)
	if err := cc.FlushInWait(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond) // the held write meets the full buffer first
		buf := make([]byte, sent+len(getOK))
		if _, err := io.ReadFull(b, buf); err != nil {
			served <- err
			return
		}
		if got := string(buf[sent:]); got != getOK {
			served <- errors.New("upstream read " + got)
			return
		}
		_, err := io.WriteString(b, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		served <- err
	}()
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	readOK(t, cc)
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}
