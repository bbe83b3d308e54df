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

	"golang.org/x/net/http2"

	"github.com/portcullis/portcullis/internal/http1"
)

// publicServer serves one public listener. HTTP/1.x, plain or over TLS
// (ALPN http/1.1 or none), is served by the gateway's own engine
// (internal/http1), whose parser is the framing check; HTTP/2 (ALPN h2)
// by golang.org/x/net/http2 on the same *tls.Conn with the same handler.
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
	h2        *http2.Server // nil when HTTP/2 is off
	h2base    *http.Server  // h2's timeouts and its graceful-shutdown hook; never serves
	h2conns   sync.WaitGroup

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
	for {
		c, err := tl.Accept()
		if err != nil {
			return err
		}
		tc := c.(*tls.Conn)
		if ps.h2 != nil && tc.ConnectionState().NegotiatedProtocol == http2.NextProtoTLS {
			ps.h2conns.Add(1)
			go func() {
				defer ps.h2conns.Done()
				ps.h2.ServeConn(tc, &http2.ServeConnOpts{BaseConfig: ps.h2base, Handler: ps.handler})
			}()
			continue
		}
		go ps.h1.ServeConn(tc)
	}
}

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
	if ps.h2base != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ps.h2base.Shutdown(ctx) // sends GOAWAY on every HTTP/2 connection
			done := make(chan struct{})
			go func() { ps.h2conns.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				h2err = ctx.Err()
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
