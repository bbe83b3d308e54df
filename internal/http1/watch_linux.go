package http1

import (
	"net"
	"syscall"
	"unsafe"
)

// rawConnOf is the socket of a plain TCP (or Unix) connection, whose
// readiness the engine can wait for without a read buffer; nil for other
// connections (TLS: decrypted bytes may wait inside *tls.Conn while the
// socket is quiet, so only a read tells).
func rawConnOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(interface {
		net.Conn
		SyscallConn() (syscall.RawConn, error)
	})
	if !ok {
		return nil
	}
	switch sc.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// peek is the callback of RawConn.Read: it looks at the next byte without
// consuming it (MSG_PEEK, non-blocking). It returns false while nothing has
// arrived, so the runtime's poller parks the goroutine until the socket is
// readable; the result (a byte, the end of the stream, an error) is kept
// in c.peekState.
//
// Woken after a peek that found nothing when no request is being served
// (the handler has returned: this is the wait for the next request), it
// does not peek again: the socket is readable, and the read of the next
// head that follows at once tells data from the end of the stream. That
// saves one system call per request on a keep-alive connection. While a
// handler runs, the watch peeks on every wake-up: only a peek tells a
// client that left (cancel the request) from one that pipelined its next
// request (carry on).
func (c *conn) peek(fd uintptr) bool {
	if c.peekState == peekParked && !c.active.Load() {
		c.peekState = peekWoken
		return true
	}
	if st := peekOnce(fd, &c.peekBuf); st != peekNone {
		c.peekState = st
		return true
	}
	c.peekState = peekParked
	return false
}

// rawWrite and rawRead are write(2) and read(2) on a socket from inside a
// RawConn callback (non-blocking: EAGAIN when the socket is not ready).
func rawWrite(fd uintptr, p []byte) (int, error) {
	return syscall.Write(int(fd), p) // #nosec G115 -- a file descriptor the runtime got from the kernel as an int
}

func rawRead(fd uintptr, p []byte) (int, error) {
	return syscall.Read(int(fd), p) // #nosec G115 -- a file descriptor the runtime got from the kernel as an int
}

// peekOnce looks at the next byte without taking it or waiting (the inline
// watch, through RawConn.Control): peekData, peekGone, or peekNone when
// nothing has arrived.
func peekOnce(fd uintptr, buf *[1]byte) uint8 {
	// #nosec G103 -- recvfrom(2) into the connection's own 1-byte buffer, which outlives the call; no sockaddr is asked for.
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return peekNone
	case errno != 0 || n == 0:
		return peekGone
	}
	return peekData
}
