//go:build !linux

package http1

import (
	"net"
	"syscall"
)

// rawConnOf: waiting for readiness without a buffer is Linux-only; other
// systems read (net/http's way) and keep the buffer while idle.
func rawConnOf(net.Conn) syscall.RawConn { return nil }

func (c *conn) peek(uintptr) bool { return true }

// rawWrite and rawRead are never called: rawConnOf gives no RawConn here.
func rawWrite(uintptr, []byte) (int, error) { return 0, syscall.ENOSYS }

func rawRead(uintptr, []byte) (int, error) { return 0, syscall.ENOSYS }

// peekOnce is never called: rawConnOf gives no RawConn here.
func peekOnce(uintptr, *[1]byte) uint8 { return peekNone }
