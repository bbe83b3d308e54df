package normalize

import (
	"io"
	"net"
	"sync"
)

// Conn wraps an HTTP/1.x connection. Read passes bytes through unchanged
// and parses them on the side; Next hands out one framing verdict per
// request head, in order.
//
// Wrap the connection net/http reads HTTP/1.x from in clear text: a plain
// TCP connection, or a *tls.Conn whose handshake is complete and which
// negotiated HTTP/1.1 (net/http then no longer sees the TLS state, which
// the caller must carry itself; the gateway's tlsListener does). Wrapping a
// TLS listener's raw TCP connections would parse ciphertext. HTTP/2
// requests have no verdict; do not call Next for them.
type Conn struct {
	net.Conn

	mu sync.Mutex // Read runs on the server's goroutine, Next on the handler's
	p  parser

	rewrite ErrorRewriter // see errorrewrite.go; set before serving
	begun   int           // handlers started (BeginResponse), under mu
	done    int           // responses finished (ResponseDone), under mu
}

// WrapConn wraps c.
func WrapConn(c net.Conn) *Conn { return &Conn{Conn: c} }

// Read reads from the wrapped connection and parses what it returns.
func (c *Conn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.p.feed(b[:n])
		c.mu.Unlock()
	}
	return n, err
}

// Next returns the verdict for the next request head on this connection:
// nil when its framing was clean, or a *FramingError naming the problem.
// The handler calls it exactly once per HTTP/1.x request; net/http serves
// the requests of one connection in order and has read the whole head
// before the handler runs, so the verdict is there. Keep
// http.Server.DisableGeneralOptionsHandler false: "OPTIONS *" gets no
// verdict because net/http answers it without a handler.
//
// After an error the connection is poisoned (ErrPoisoned for every later
// request); the gateway should answer with "Connection: close". After an
// Upgrade or CONNECT head, parsing stops and later calls return
// ErrFramingUnknown, so a failed upgrade should also close the connection.
func (c *Conn) Next() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p.pop(0, false)
}

// NextFor is Next that also checks the verdict belongs to this request:
// method and requestURI are r.Method and r.RequestURI. A mismatch means the
// server and the parser framed the stream differently; it returns
// ErrDesync and poisons the connection.
func (c *Conn) NextFor(method, requestURI string) error {
	sum := fnv1aString(method)
	sum = fnvAdd(sum, ' ')
	for i := 0; i < len(requestURI); i++ {
		sum = fnvAdd(sum, requestURI[i])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.p.pop(sum, true)
}

// ReadFrom lets net/http keep using sendfile/splice when it writes a file
// to a TCP connection; only reads are parsed.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite half-closes a TCP connection, which net/http uses to make
// sure an error response reaches the client before the close.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// FromConn returns c as a *Conn, for a handler that got the connection
// from the request context (stored there by http.Server.ConnContext).
func FromConn(c net.Conn) (*Conn, bool) {
	nc, ok := c.(*Conn)
	return nc, ok
}

// Listener wraps every connection l accepts with WrapConn.
func Listener(l net.Listener) net.Listener { return listener{l} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return WrapConn(c), nil
}
