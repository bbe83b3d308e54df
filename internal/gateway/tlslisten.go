package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// tlsListener terminates TLS itself instead of leaving it to a server, so
// that the gateway can hand each connection to the protocol ALPN chose:
// HTTP/1.x (ALPN http/1.1 or none) to its own engine, whose parser is the
// framing check, HTTP/2 to net/http's HTTP/2 server (see publicServer).
//
// Handshakes run in their own goroutines with a deadline, so a client that
// stalls its handshake never holds up Accept. Accept returns *tls.Conn
// values whose handshake is complete.
type tlsListener struct {
	inner   net.Listener
	config  *tls.Config
	timeout time.Duration
	log     *slog.Logger

	start     sync.Once
	conns     chan net.Conn
	done      chan struct{} // closed by Close
	closeOnce sync.Once
	stopped   chan struct{} // closed when the accept loop ended on an error
	err       error         // that error; read after stopped is closed
}

// newTLSListener wraps inner. config must not change once Accept has been
// called.
func newTLSListener(inner net.Listener, config *tls.Config, handshakeTimeout time.Duration, log *slog.Logger) *tlsListener {
	return &tlsListener{
		inner:   inner,
		config:  config,
		timeout: handshakeTimeout,
		log:     log,
		conns:   make(chan net.Conn),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.stopped:
		return nil, l.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// acceptLoop accepts until the listener fails or is closed. Temporary
// errors (too many open files) are waited out with a growing pause, as
// http.Server does.
func (l *tlsListener) acceptLoop() {
	var pause time.Duration
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(pause):
					continue
				case <-l.done:
					return
				}
			}
			l.err = err
			close(l.stopped)
			return
		}
		pause = 0
		go l.handshake(c)
	}
}

// handshake completes the TLS handshake on c and hands the connection to
// Accept, or closes it.
func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		// The same event net/http logs as "TLS handshake error": scanners
		// and health probes cause most of them, so debug, not warn.
		l.log.Debug("tls handshake failed", "client", c.RemoteAddr().String(), "error", err)
		_ = c.Close()
		return
	}
	select {
	case l.conns <- tc:
	case <-l.done:
		_ = tc.Close()
	}
}

// handshakeTimeout is what http.Server would allow a TLS handshake: the
// smallest of the read-header, read and write timeouts that is set.
func handshakeTimeout(timeouts ...time.Duration) time.Duration {
	var d time.Duration
	for _, t := range timeouts {
		if t > 0 && (d == 0 || t < d) {
			d = t
		}
	}
	if d == 0 {
		d = 10 * time.Second
	}
	return d
}
