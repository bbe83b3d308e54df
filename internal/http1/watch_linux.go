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
func (c *conn) peek(fd uintptr) bool {
	// #nosec G103 -- recvfrom(2) into the connection's own 1-byte buffer, which outlives the call; no sockaddr is asked for.
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&c.peekBuf[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	switch {
	case errno == syscall.EAGAIN || errno == syscall.EINTR:
		return false
	case errno != 0:
		c.peekState = peekGone
	case n == 0:
		c.peekState = peekGone // the client closed (FIN)
	default:
		c.peekState = peekData
	}
	return true
}
