package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"

	"github.com/portcullis/portcullis/internal/http1"
)

// bodyTracker wraps a client's request body. It counts the bytes that
// arrived and remembers why reading stopped, so that the gateway can tell a
// client whose body never fully arrived (408, or a close) from an upstream
// that failed (502/504), whichever layer happened to read the body first
// (a policy or the upstream client).
type bodyTracker struct {
	rc  io.ReadCloser
	n   int64 // bytes read
	err error // the first read error other than io.EOF
}

func (b *bodyTracker) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func (b *bodyTracker) Close() error { return b.rc.Close() }

// timedOut reports whether the body stopped because the listener's read
// deadline (read_timeout) passed.
func (b *bodyTracker) timedOut() bool {
	if b == nil || b.err == nil {
		return false
	}
	if errors.Is(b.err, os.ErrDeadlineExceeded) {
		return true
	}
	if he := (*http1.Error)(nil); errors.As(b.err, &he) {
		return he.Status == http.StatusRequestTimeout // the engine's read_timeout
	}
	var ne net.Error
	return errors.As(b.err, &ne) && ne.Timeout()
}

// failed reports whether the body broke off (the client went away or sent
// a malformed chunk) rather than ending.
func (b *bodyTracker) failed() bool { return b != nil && b.err != nil }

var _ io.ReadCloser = (*bodyTracker)(nil)
