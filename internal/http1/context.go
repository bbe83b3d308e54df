package http1

import (
	"context"
	"sync"
)

// connContext is the context of one connection, the parent of its
// requests' contexts. Besides being a context it has one slot for a
// function to run when it ends (SetAbort, StopAbort): a proxy registers
// the abort of its upstream exchange there for each request without
// allocating (context.AfterFunc allocates twice per call). Requests on a
// connection are served one at a time, so one slot is enough; a second
// registration is refused and the caller falls back to context.AfterFunc.
type connContext struct {
	context.Context // the cancelable context the connection ends

	mu    sync.Mutex
	ended bool
	abort func()
}

// newConnContext derives the connection's context from base; cancel ends
// it. The slot runs from context.AfterFunc, registered once here, so it
// fires whatever ends the context (the connection, the client leaving,
// base).
func newConnContext(base context.Context) (*connContext, context.CancelFunc) {
	inner, cancel := context.WithCancel(base)
	c := &connContext{Context: inner}
	context.AfterFunc(inner, c.fire)
	return c, cancel
}

func (c *connContext) fire() {
	c.mu.Lock()
	c.ended = true
	f := c.abort
	c.abort = nil
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

// SetAbort registers f to run when the context ends. It reports false, and
// registers nothing, when the context has ended or the slot is taken.
func (c *connContext) SetAbort(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.abort != nil {
		return false
	}
	c.abort = f
	return true
}

// StopAbort withdraws the function registered; false when it has run (or
// is running) because the context ended, or none was registered.
func (c *connContext) StopAbort() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.abort == nil {
		return false
	}
	c.abort = nil
	return true
}
