package http1

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
)

// connContext is the context of one connection, the parent of its
// requests' contexts. Besides being a context it has one slot for a
// function to run when it ends (SetAbort, StopAbort): a proxy registers
// the abort of its upstream exchange there for each request without
// allocating (context.AfterFunc allocates twice per call). Requests on a
// connection are served one at a time, so one slot is enough; a second
// registration is refused and the caller falls back to context.AfterFunc.
type connContext struct {
	context.Context // the cancelable context the connection ends

	// peer is the connection's remote address, taken once when it starts
	// (zero when the listener's addresses are not TCP): RemoteAddrPort.
	peer netip.AddrPort

	mu    sync.Mutex
	ended bool
	abort func()
}

// newConnContext derives the connection's context from base; cancel ends
// it. The slot runs from context.AfterFunc, registered once here, so it
// fires whatever ends the context (the connection, the client leaving,
// base).
func newConnContext(base context.Context) (*connContext, context.CancelFunc) {
	inner, cancel := context.WithCancel(base)
	c := &connContext{Context: inner}
	context.AfterFunc(inner, c.fire)
	return c, cancel
}

// RemoteAddrPort is the remote address of the connection a request the
// engine serves came on, as r.RemoteAddr says but read once per
// connection, not parsed from that text per request. ok is false for a
// request that did not come from the engine as it is (HTTP/2, a context
// replaced with WithContext) or from a listener whose addresses are not
// TCP: parse r.RemoteAddr then. An IPv4 peer of a dual-stack listener may
// come in its IPv4-mapped IPv6 form (Unmap it), where r.RemoteAddr shows
// the IPv4 one.
func RemoteAddrPort(r *http.Request) (ap netip.AddrPort, ok bool) {
	cc, ok := r.Context().(*connContext)
	if !ok || !cc.peer.IsValid() {
		return netip.AddrPort{}, false
	}
	return cc.peer, true
}

// addrPortOf is a's address and port when a is a TCP address.
func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}

func (c *connContext) fire() {
	c.mu.Lock()
	c.ended = true
	f := c.abort
	c.abort = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

// SetAbort registers f to run when the context ends. It reports false, and
// registers nothing, when the context has ended or the slot is taken.
func (c *connContext) SetAbort(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.abort != nil {
		return false
	}
	c.abort = f
	return true
}

// StopAbort withdraws the function registered; false when it has run (or
// is running) because the context ended, or none was registered.
func (c *connContext) StopAbort() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abort == nil {
		return false
	}
	c.abort = nil
	return true
}
