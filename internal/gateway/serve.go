package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/http1"
)

// publicServer serves one public listener. HTTP/1.x, plain or over TLS
// (ALPN http/1.1 or none), is served by the gateway's own engine
// (internal/http1), whose parser is the framing check; HTTP/2 (ALPN h2)
// by net/http's HTTP/2 server (the golang.org/x/net/http2 code Go bundles)
// on the same *tls.Conn with the same handler.
// Plain listeners speak HTTP/1.x only: h2c is refused by the engine (an
// "HTTP/2.0" request line is 505) and by the proxy (no h2c upgrade).
type publicServer struct {
	name    string
	handler http.Handler
	h1      *http1.Server

	// TLS listeners only.
	tlsConfig *tls.Config
	handshake time.Duration
	log       *slog.Logger
	h2        *http.Server // HTTP/2 only ever gets connections that chose h2; nil when off
	h2conns   *connQueue

	mu       sync.Mutex
	ln       net.Listener
	stopping bool
}

// serve serves ln until it is closed (Shutdown) or fails.
func (ps *publicServer) serve(ln net.Listener) error {
	ps.mu.Lock()
	if ps.stopping {
		ps.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	ps.ln = ln
	ps.mu.Unlock()
	var err error
	if ps.tlsConfig == nil {
		err = ps.h1.Serve(ln)
	} else {
		err = ps.serveTLS(newTLSListener(ln, ps.tlsConfig, ps.handshake, ps.log))
	}
	ps.mu.Lock()
	stopping := ps.stopping
	ps.mu.Unlock()
	if stopping && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// serveTLS hands each handshaken connection to the engine or to HTTP/2,
// by the protocol ALPN chose.
func (ps *publicServer) serveTLS(tl *tlsListener) error {
	if ps.h2 != nil {
		ps.h2conns = newConnQueue(tl.Addr())
		go func() { _ = ps.h2.Serve(ps.h2conns) }()
		defer ps.h2conns.Close()
	}
	for {
		c, err := tl.Accept()
		if err != nil {
			return err
		}
		tc := c.(*tls.Conn)
		if ps.h2 != nil && tc.ConnectionState().NegotiatedProtocol == "h2" {
			ps.h2conns.push(tc)
			continue
		}
		go ps.h1.ServeConn(tc)
	}
}

// connQueue is a net.Listener whose connections are handed to it: how the
// HTTP/2 server gets the connections that negotiated h2.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.done:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// shutdown stops accepting, lets in-flight requests finish (HTTP/1.x
// connections close after their current response, HTTP/2 ones get a
// GOAWAY) and returns when every connection ended or ctx is done.
func (ps *publicServer) shutdown(ctx context.Context) error {
	ps.mu.Lock()
	ps.stopping = true
	if ps.ln != nil {
		_ = ps.ln.Close()
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	var h2err error
	if ps.h2 != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h2err = ps.h2.Shutdown(ctx) // GOAWAY on every HTTP/2 connection, then waits for them
			if h2err != nil {
				_ = ps.h2.Close()
			}
		}()
	}
	err := ps.h1.Shutdown(ctx)
	if err != nil {
		ps.h1.Close()
	}
	wg.Wait()
	return errors.Join(err, h2err)
}
