package upstream

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// bodyReader is a response body from an http:// target. Reading it to EOF
// returns the connection to the pool when the response allows reuse;
// closing it early closes the connection (draining an unknown remainder
// could take arbitrarily long).
type bodyReader struct {
	rc    io.ReadCloser // from http.ReadResponse; never closed, it only reads c.br
	c     *conn
	ctx   context.Context
	stop  func() bool
	reuse bool
	eof   bool // touched by the reading goroutine only
	done  atomic.Bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.done.Load() {
		if b.eof {
			return 0, io.EOF
		}
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		b.finish(b.reuse)
	case err != nil:
		b.finish(false)
		err = b.c.p.wrapErr(b.ctx, "read response body", err)
	}
	return n, err
}

// Close ends the response; it may be called while a Read is blocked.
func (b *bodyReader) Close() error {
	b.finish(false)
	return nil
}

func (b *bodyReader) finish(reuse bool) {
	if b.done.CompareAndSwap(false, true) {
		b.c.finish(b.stop, reuse)
	}
}

// upgradedConn is the Body of a 101 response: the raw connection, read
// through its buffer (which may already hold bytes after the 101 head). It
// is never pooled; the request context still closes it when it ends.
type upgradedConn struct {
	c    *conn
	stop func() bool
	once sync.Once
}

func (u *upgradedConn) Read(p []byte) (int, error)  { return u.c.br.Read(p) }
func (u *upgradedConn) Write(p []byte) (int, error) { return u.c.nc.Write(p) }

// CloseWrite half-closes the connection when it is TCP.
func (u *upgradedConn) CloseWrite() error {
	if cw, ok := u.c.nc.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (u *upgradedConn) Close() error {
	u.once.Do(func() {
		if u.stop != nil {
			u.stop()
		}
		u.c.p.discard(u.c)
	})
	return nil
}
