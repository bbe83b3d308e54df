package http1

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"
)

// Serving from inside the read callback (plain sockets).
//
// The runtime's poller resets a socket's readiness each time a read or a
// wait on it starts (RawConn.Read, net.Conn.Read), so bytes that arrived
// before that point are only found by trying a read: the ordinary loop's
// wait for the next request starts with a peek that finds nothing on
// nearly every keep-alive request, one system call nginx does not make.
// Within one RawConn.Read, though, nothing is reset: readiness that
// arrives while its callback runs is kept for the callback's next wait.
// So the engine reads, parses and answers requests inside one callback,
// and waits (returns false) without a read only after a read that took
// less than it could (the socket was empty then; anything later is
// readiness the poller keeps), which is how nginx uses edge-triggered
// epoll.
//
// The handler then runs holding the socket's read lock. So only a request
// whose handler never reads the socket is answered there: no body or a
// Content-Length body already whole in the buffer, no Upgrade (Hijack is
// refused inline), no Expect, not OPTIONS *. Any other
// request is left in the buffer, head and all, and the ordinary loop
// answers it (stepOrdinary); the next request starts a new callback.
// The watch on a client that leaves cannot wait on the socket while the
// handler holds it: inline, it peeks through RawConn.Control, after
// WatchAfter and then at doubling intervals up to pollWatchMax.

// errWouldBlock is the inline source's "nothing there yet": fill returns
// it without making it sticky, and the callback waits.
var errWouldBlock = errors.New("http1: would block")

// errHijackInline refuses Hijack for a request answered inside the read
// callback (no Upgrade: nothing should ask).
var errHijackInline = errors.New("http1: hijack refused: the request has no Upgrade")

// pollWatchMax bounds the interval between two peeks of an inline watch.
const pollWatchMax = time.Second

// rawSource is the reader's source while inline: read(2) on the socket,
// non-blocking.
type rawSource struct {
	c  *conn
	fd uintptr
}

func (s *rawSource) Read(p []byte) (int, error) {
	n, err := readNow(s.fd, p)
	s.c.inlShort = err == errWouldBlock || err == nil && n < len(p)
	return n, err
}

// readNow is one non-blocking read(2) from inside a RawConn callback:
// errWouldBlock when nothing has arrived, io.EOF at the end of the stream.
func readNow(fd uintptr, p []byte) (int, error) {
	for {
		n, err := rawRead(fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// inlineable reports whether the handler of the request h heads can run
// without reading the socket, given the bytes buffered after its head: no
// body, or a Content-Length body already whole in the buffer (a small
// POST usually arrives in the same segment as its head). A chunked body's
// end is only known by parsing it, and a body still on its way needs
// reads that wait: both take the ordinary loop.
func inlineable(h *head, buffered int) bool {
	if h.chunked || h.upgrade || h.expectContinue || h.optionsStar {
		return false
	}
	return h.contentLength <= int64(buffered) // -1 when there is no body
}

// serveInline serves requests from inside one RawConn.Read until one needs
// the ordinary loop (stepOrdinary) or the connection ends (stepEnd).
func (c *conn) serveInline() step {
	c.inl, c.inlShort, c.inlWaiting, c.inlMid = true, false, false, false
	c.inlStep = stepOrdinary
	// The wait starts with the deadline the wait needs: a head's deadline
	// from the request before may have passed while its handler ran.
	c.phase, c.headStarted, c.bodyDL = phaseHead, false, time.Time{}
	c.beforeRead()
	// Reads from inside the callback never wait, so the deadline upkeep
	// before each read (onRead) is not needed there: inlineWait does it
	// before every wait, which is where a deadline applies.
	c.rd.src, c.rd.onRead = &c.inlSrc, nil
	err := c.rc.Read(c.inlFn)
	c.rd.src, c.rd.onRead = c.nc, c.beforeReadFn
	c.inl = false
	if c.inlIdle {
		c.inlIdle = false
		c.srv.idle.Add(-1)
	}
	c.rd.unpark()
	if err != nil {
		// The read deadline (idle, a head that stalls, a shutdown) or a
		// closed connection, met while waiting.
		if c.inlMid && c.headStarted && isTimeout(err) {
			c.acquireWriter()
			c.refuse(ErrHeaderTimeout)
		}
		return stepEnd
	}
	return c.inlStep
}

// inlineCallback is the RawConn.Read callback of serveInline.
func (c *conn) inlineCallback(fd uintptr) bool {
	c.inlSrc.fd = fd
	woken := c.inlWaiting
	c.inlWaiting = false
	if c.inlIdle {
		c.inlIdle = false
		c.srv.idle.Add(-1)
	}
	c.rd.unpark()
	s := c.srv
	for {
		if !c.inlMid {
			c.phase, c.headStarted, c.bodyDL = phaseHead, false, time.Time{}
			c.active.Store(false)
			if s.draining.Load() && c.rd.buffered() == 0 {
				c.inlStep = stepEnd
				return true
			}
			c.inlMid = true
		}
		if c.rd.buffered() == 0 {
			c.releaseWriter()
			if c.rd.err != nil {
				c.inlStep = stepOrdinary // the ordinary loop reports it
				return true
			}
			if c.inlShort && !woken {
				return c.inlineWait()
			}
		}
		woken = false
		raw, started, err := c.rd.readHead(c.maxHead())
		if err == errWouldBlock {
			return c.inlineWait()
		}
		c.inlMid = false
		st := c.answer(raw, started, err, true)
		if st != stepOrdinary && err == nil {
			c.inlCount++
		}
		switch st {
		case stepNext:
		default:
			c.inlStep = st
			return true
		}
	}
}

// inlineWait asks the poller to wait: the deadline was set before the read
// that found nothing (fill's beforeRead); with nothing buffered the
// buffers go back to their pools, as in the ordinary idle wait.
func (c *conn) inlineWait() bool {
	if c.srv.draining.Load() && c.rd.buffered() == 0 {
		c.inlStep = stepEnd
		return true
	}
	c.beforeRead()
	c.inlShort = false // the wake-up reads
	c.inlWaiting = true
	c.rd.park()
	if c.bw == nil && c.rd.buf == nil {
		c.inlIdle = true
		c.srv.idle.Add(1)
	}
	return false
}

// pollWatch is the watch of a handler answered inline: it peeks without
// the read lock, first when WatchAfter has passed and then at doubling
// intervals, until the client leaves (the request is cancelled), bytes
// arrive (the client is there), or the handler returns (settleWatch).
func (c *conn) pollWatch() {
	d := c.srv.WatchAfter
	if d <= 0 {
		d = DefaultWatchAfter
	}
	for {
		var st uint8
		_ = c.rc.Control(func(fd uintptr) { st = peekOnce(fd, &c.peekBuf) })
		if st == peekGone {
			c.cancel()
			break
		}
		if st == peekData {
			break
		}
		d = min(2*d, pollWatchMax)
		if c.pollT == nil {
			c.pollT = time.NewTimer(d)
		} else {
			c.pollT.Reset(d)
		}
		select {
		case <-c.wstop:
			c.pollT.Stop()
			c.bgDone <- struct{}{}
			return
		case <-c.pollT.C:
		}
	}
	c.bgDone <- struct{}{}
}
