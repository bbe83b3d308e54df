package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/portcullis/portcullis/internal/http1"
)

// bodyReader is a response body from an http:// target. Closing it ends
// the exchange: the connection goes back to the pool when the response
// allowed reuse and was read to its end, and is closed otherwise (draining
// an unknown remainder could take arbitrarily long). Reading to EOF does
// not pool the connection by itself: the Response, its Header and its
// values belong to the connection and are reused by its next response, so
// they must stay the caller's until it closes the body. It is the
// connection's too, reused by its next exchange: Close is the caller's last
// call on it.
type bodyReader struct {
	rc    io.ReadCloser // the connection's body reader; never closed, it only reads its buffer
	c     *conn
	ctx   context.Context
	stop  abortHook
	reuse bool
	eof   atomic.Bool // read to the end (Close may run while a Read is blocked)
	done  atomic.Bool
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.eof.Load() {
		return 0, io.EOF
	}
	if b.done.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof.Store(true)
	case err != nil:
		var he *http1.Error
		if errors.As(err, &he) {
			err = errMalformedResponse // the upstream's framing, not the client's
		}
		b.finish(false)
		err = b.c.p.wrapErr(b.ctx, "read response body", err)
	}
	return n, err
}

// Close ends the response; it may be called while a Read is blocked.
func (b *bodyReader) Close() error {
	b.finish(b.reuse && b.eof.Load())
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
	stop abortHook
	once sync.Once
}

func (u *upgradedConn) Read(p []byte) (int, error)  { return u.c.cc.Read(p) }
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
		u.stop.stop()
		u.c.p.discard(u.c)
	})
	return nil
}
