package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/portcullis/portcullis/internal/http1"
)

const (
	// maxInterim bounds the 1xx responses skipped before the final one.
	maxInterim = 8
	// earlyResponseWait is how long a failed body write waits for a
	// response the upstream may have sent before closing (413, 401).
	earlyResponseWait = time.Second
)

// roundTripHTTP is RoundTrip for http:// targets.
func (p *pool) roundTripHTTP(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	body := req.Body
	// A zero ContentLength means no body, whatever Body holds: the gateway
	// passes server requests, whose bodiless form has ContentLength 0.
	hasBody := body != nil && body != http.NoBody && req.ContentLength != 0
	if err := ctx.Err(); err != nil { // do not spend a pooled connection on it
		if body != nil {
			_ = body.Close()
		}
		return nil, p.wrapErr(ctx, "send", err)
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(ctx, attempt > 0)
		if err != nil {
			if body != nil {
				_ = body.Close()
			}
			return nil, err
		}
		idleAt := c.idleAt
		resp, noResponse, err := c.exchange(ctx, req, body, hasBody)
		if err == nil {
			return resp, nil
		}
		// Retry once, on a fresh connection, only when a reused connection
		// failed before any byte of a response: the server most likely
		// closed it while idle and never saw the request. It may have seen
		// it, though, so a non-idempotent request is sent again only when
		// its caller made it replayable (GetBody), as net/http does.
		if attempt > 0 || !reused || !noResponse || ctx.Err() != nil {
			return nil, err
		}
		if !idempotent(req.Method) && req.GetBody == nil {
			return nil, err
		}
		if hasBody {
			if req.GetBody == nil {
				return nil, err
			}
			nb, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			body = nb
		}
		p.dropIdleSince(idleAt)
	}
}

// exchange writes req on c and reads the response head. noResponse reports
// that the failure happened before any response byte arrived (and not while
// reading the client's body), which makes a stale connection the likely cause.
func (c *conn) exchange(ctx context.Context, req *http.Request, body io.ReadCloser, hasBody bool) (resp *http.Response, noResponse bool, err error) {
	p := c.p
	stop := onDone(ctx, c.abortFn)

	werr := c.writeRequest(req, body, hasBody)
	if body != nil {
		_ = body.Close()
	}
	wait := p.respTimeout
	if werr != nil {
		var be *bodyReadError
		clientFault := errors.As(werr, &be)
		if !hasBody || clientFault || ctx.Err() != nil {
			c.finish(stop, false)
			return nil, !clientFault, p.wrapErr(ctx, "write request", werr)
		}
		wait = min(wait, earlyResponseWait)
	}

	c.setReadDeadline(time.Now(), wait)
	if err := c.cc.Wait(); err != nil {
		c.finish(stop, false)
		if werr != nil {
			return nil, true, p.wrapErr(ctx, "write request", werr)
		}
		if isWriteErr(err) { // a request sent by Wait (FlushInWait)
			return nil, true, p.wrapErr(ctx, "write request", err)
		}
		return nil, true, p.wrapErr(ctx, "read response", readErr(err))
	}
	resp, err = readResponse(c, req)
	if err != nil || (werr != nil && resp.StatusCode == http.StatusSwitchingProtocols) {
		c.finish(stop, false)
		if werr != nil {
			return nil, false, p.wrapErr(ctx, "write request", werr)
		}
		return nil, false, p.wrapErr(ctx, "read response", readErr(err))
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		c.setReadDeadline(time.Time{}, 0) // the tunnel has no response timeout
		resp.Body = &upgradedConn{c: c, stop: stop}
		return resp, false, nil
	}
	// The response timeout bounds the wait for the head, not the body.
	// A body that arrived with the head is read from the buffer, so the
	// deadline is left for the next exchange to move (most often it need
	// not: see setReadDeadline) rather than cleared and set again.
	if !c.bodyBuffered(resp) {
		c.setReadDeadline(time.Time{}, 0)
	}
	reuse := werr == nil && !resp.Close && !wantsClose(req)
	// Every response, a bodiless one too, goes back to the pool when its
	// Body is closed, not before: the Response, its Header and the header
	// values are the connection's, reused by its next response.
	b := &c.body // the connection's, like the Response: one exchange at a time
	b.rc, b.c, b.ctx, b.stop, b.reuse = resp.Body, c, ctx, stop, reuse
	b.eof.Store(resp.Body == http.NoBody)
	b.done.Store(false)
	resp.Body = b
	return resp, false, nil
}

// errMalformedResponse is an upstream answer the response parser refused
// (internal/http1: its framing or fields break RFC 9112): the upstream's
// fault, never mistaken for the client's framing errors, which are
// *http1.Error too.
var errMalformedResponse = errors.New("malformed HTTP response")

// readResponse reads the final response head, skipping 1xx interim
// responses other than 101. The response is the connection's own, reused
// by its next response (see bodyReader).
func readResponse(c *conn, req *http.Request) (*http.Response, error) {
	for i := 0; ; i++ {
		resp, err := c.cc.ReadResponse(req.Method)
		if err != nil {
			var he *http1.Error
			if errors.As(err, &he) {
				return nil, errMalformedResponse
			}
			return nil, err
		}
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		if i == maxInterim {
			return nil, errors.New("too many 1xx responses")
		}
	}
}

// abortSlot is a context that runs one function when it ends, registered
// and withdrawn without allocating: internal/http1's connection context
// (one exchange at a time per client connection). context.AfterFunc costs
// two allocations per request.
type abortSlot interface {
	SetAbort(f func()) bool
	StopAbort() bool
}

// abortHook is the registration of the function that aborts an exchange
// when its request context ends: on the context's slot, or through
// context.AfterFunc.
type abortHook struct {
	slot     abortSlot
	stopFunc func() bool
}

// onDone registers f to run when ctx ends.
func onDone(ctx context.Context, f func()) abortHook {
	if s, ok := ctx.(abortSlot); ok && s.SetAbort(f) {
		return abortHook{slot: s}
	}
	if ctx.Done() == nil {
		return abortHook{}
	}
	return abortHook{stopFunc: context.AfterFunc(ctx, f)}
}

// stop withdraws the function; false when the context ended (it has run
// or is running).
func (h abortHook) stop() bool {
	switch {
	case h.slot != nil:
		return h.slot.StopAbort()
	case h.stopFunc != nil:
		return h.stopFunc()
	}
	return true
}

// finish ends c's use by one request: back to the pool when reuse holds and
// the context did not fire, closed otherwise.
func (c *conn) finish(stop abortHook, reuse bool) {
	if !stop.stop() {
		reuse = false // the context ended: abort has closed or is closing c
	}
	if reuse {
		c.p.put(c)
	} else {
		c.p.discard(c)
	}
}

// deadlineSlack is how far setReadDeadline lets a response timeout fire
// early rather than move the deadline: a busy keep-alive connection does
// not reprogram its timer on every exchange (a timer change takes a lock
// and reorders the runtime's timer heap).
const deadlineSlack = 100 * time.Millisecond

// setReadDeadline sets the connection's read deadline to now+wait (wait 0:
// none), unless the deadline in force is already at most deadlineSlack
// (and at most 1/64 of wait) before it: the timeout then fires a little
// early, never late.
func (c *conn) setReadDeadline(now time.Time, wait time.Duration) {
	var t time.Time // no deadline when wait is 0
	if wait > 0 {
		t = now.Add(wait)
	}
	switch {
	case t.Equal(c.rdl):
		return
	case !t.IsZero() && !c.rdl.IsZero() && !t.Before(c.rdl):
		if d := t.Sub(c.rdl); d < deadlineSlack && d < wait/64 {
			return
		}
	}
	c.rdl = t
	_ = c.nc.SetReadDeadline(t)
}

// bodyBuffered reports whether resp's body (framed by its length) is
// already in the connection's buffer, so reading it makes no read on the
// connection.
func (c *conn) bodyBuffered(resp *http.Response) bool {
	if resp.Body == http.NoBody {
		return true
	}
	return resp.ContentLength >= 0 && int64(c.cc.Buffered()) >= resp.ContentLength
}

// readErr turns the read deadline, which only the response timeout sets,
// into errResponseTimeout.
func readErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return errResponseTimeout
	}
	return err
}

// isWriteErr reports a failed write on the connection.
func isWriteErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "write"
}

// wrapErr names the target and the step; when the request context ended,
// its error is the cause (the I/O error is only the effect of the abort).
func (p *pool) wrapErr(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		err = cerr
	}
	return fmt.Errorf("upstream %s: %s: %w", p.host, op, err)
}

// wantsClose reports whether the request asked to close the connection.
func wantsClose(req *http.Request) bool {
	return req.Close || hasToken(req.Header["Connection"], "close")
}
