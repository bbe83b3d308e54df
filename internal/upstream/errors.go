package upstream

import (
	"context"
	"errors"
	"os"
)

// ErrNoHealthyTarget is returned by Service.Pick when every target is ejected.
var ErrNoHealthyTarget = errors.New("upstream: no healthy target")

// errResponseTimeout is returned when response headers do not arrive within
// the service's response timeout.
var errResponseTimeout error = &timeoutError{"timeout awaiting response headers"}

// timeoutError is a net.Error-like error whose Timeout method reports true.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// Timeout reports true: IsTimeout and net.Error users rely on it.
func (e *timeoutError) Timeout() bool { return true }

// IsTimeout reports whether err from RoundTrip is a timeout: a connect
// timeout, the response-header timeout or the request context's deadline.
// The gateway answers those with 504 and other upstream errors with 502.
func IsTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
