package normalize

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
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
	// timedOut: a 408 was written for a head that did not arrive in time.
	timedOut bool
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
	if err != nil && c.rewrite != nil && isTimeout(err) {
		c.headTimeout()
	}
	return n, err
}

// headTimeout answers a request whose head started to arrive but did not
// finish before the read deadline (read_header_timeout or read_timeout).
// net/http closes such a connection without a word; RFC 9110 section
// 15.5.9 gives the server 408 for it, so the client (and the access log)
// learns why. An idle keep-alive connection that times out before any byte
// of a new request is closed silently, as it should be, and nothing is
// written while a handler's response is in flight.
func (c *Conn) headTimeout() {
	c.mu.Lock()
	answer := !c.timedOut && c.p.inHead() && c.done >= c.begun
	c.timedOut = c.timedOut || answer
	c.mu.Unlock()
	if !answer {
		return
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Conn.Write(c.rewrite(http.StatusRequestTimeout, HeadTimeoutReason))
}

// HeadTimeoutReason is the reason an ErrorRewriter gets for a request head
// that did not arrive in time.
const HeadTimeoutReason = "request head not received in time"

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
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
