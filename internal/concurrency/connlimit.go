package concurrency

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ConnLimits configures Listener. Zero means unlimited.
type ConnLimits struct {
	Max       int
	PerClient int
	// RefuseHTTP writes a minimal HTTP 503 before closing a refused
	// connection (plain HTTP listeners; a TLS listener just closes).
	RefuseHTTP bool
	// Exempt, when set, names peers that PerClient does not apply to: the
	// trusted proxies, whose connections carry many clients (counting
	// them as one client would cap every client behind them). Max still
	// counts them.
	Exempt func(netip.Addr) bool
	// Client, when set, maps a peer to the client PerClient counts it as
	// (config.ClientKey: an IPv6 peer's network, since a host takes any
	// address of its /64); without it, each address is a client.
	Client func(netip.Addr) netip.Addr
}

// Listener bounds the connections a net.Listener hands out. A connection
// over a limit is closed at once and never reaches the HTTP server; Accept
// goes on with the next one.
type Listener struct {
	net.Listener
	lim     ConnLimits
	total   atomic.Int64
	refused atomic.Uint64

	mu     sync.Mutex
	perKey map[netip.Addr]int
}

// NewListener wraps ln; with no limits it returns ln unchanged.
func NewListener(ln net.Listener, lim ConnLimits) net.Listener {
	if lim.Max <= 0 && lim.PerClient <= 0 {
		return ln
	}
	return &Listener{Listener: ln, lim: lim, perKey: map[netip.Addr]int{}}
}

const refuseResponse = "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

// Accept returns the next connection within the limits.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr := peerIP(c.RemoteAddr())
		perClient := l.lim.PerClient > 0 && (l.lim.Exempt == nil || !l.lim.Exempt(addr))
		if perClient && l.lim.Client != nil {
			addr = l.lim.Client(addr) // counted, and released, as its client
		}
		if l.admit(addr, perClient) {
			return &limitedConn{Conn: c, l: l, addr: addr, perClient: perClient}, nil
		}
		l.refused.Add(1)
		if l.lim.RefuseHTTP {
			// A fresh socket's send buffer takes these few bytes without
			// blocking; the deadline only guards against the impossible.
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			_, _ = c.Write([]byte(refuseResponse))
		}
		_ = c.Close()
	}
}

// Refused is how many connections were closed for being over a limit.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Open is the number of connections currently open.
func (l *Listener) Open() int64 { return l.total.Load() }

func (l *Listener) admit(a netip.Addr, perClient bool) bool {
	if l.lim.Max > 0 && l.total.Add(1) > int64(l.lim.Max) {
		l.total.Add(-1)
		return false
	} else if l.lim.Max <= 0 {
		l.total.Add(1)
	}
	if perClient {
		l.mu.Lock()
		n := l.perKey[a]
		if n >= l.lim.PerClient {
			l.mu.Unlock()
			l.total.Add(-1)
			return false
		}
		l.perKey[a] = n + 1
		l.mu.Unlock()
	}
	return true
}

func (l *Listener) release(a netip.Addr, perClient bool) {
	l.total.Add(-1)
	if perClient {
		l.mu.Lock()
		if n := l.perKey[a]; n <= 1 {
			delete(l.perKey, a) // the map holds only clients with open connections
		} else {
			l.perKey[a] = n - 1
		}
		l.mu.Unlock()
	}
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	l         *Listener
	addr      netip.Addr
	perClient bool // counted in perKey (not an exempt peer)
	once      sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.addr, c.perClient) })
	return err
}

// CloseWrite keeps half-close working for tunnels through the wrapper.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func peerIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
