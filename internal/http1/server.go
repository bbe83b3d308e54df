package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Server serves HTTP/1.0 and HTTP/1.1 on connections it is given (Serve,
// ServeConn). Its fields are read when a connection starts; set them
// before serving.
type Server struct {
	// Handler answers every request the parser accepts.
	Handler http.Handler
	// Refuse answers a request the engine refuses (err says why; r holds
	// what was parsed before the rule that failed: at least RemoteAddr and
	// TLS). The connection is closed after the answer when err.Framing.
	// When nil, a minimal problem+json body is written.
	Refuse func(w http.ResponseWriter, r *http.Request, err *Error)

	MaxHeaderBytes int   // whole head, request line included; default DefaultMaxHeaderBytes
	MaxHeaders     int   // header fields; default DefaultMaxHeaders
	MaxBodyBytes   int64 // request body; 0: no limit here (routes set their own)

	// ReadHeaderTimeout bounds the time from the first byte of a head to
	// its end; ReadTimeout the head and the body together; IdleTimeout the wait for the first byte of the next request;
	// BodyReadTimeout each wait for body bytes (a body that stops arriving);
	// WriteTimeout each wait to write (a client that stops reading). Zero:
	// no limit.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration // the whole request, head and body, from its first read
	IdleTimeout       time.Duration
	BodyReadTimeout   time.Duration
	WriteTimeout      time.Duration

	// WatchAfter is how long a handler runs before the engine starts
	// watching its client for a disconnect (then the request's context is
	// cancelled, and the upstream request with it). Most requests are
	// answered sooner: they cost no watch (a goroutine, a wake-up and a
	// hand-off, about a tenth of the engine's CPU per request), and a
	// client that leaves is noticed at most this late. Zero:
	// DefaultWatchAfter; negative: from the start of every handler.
	WatchAfter time.Duration

	// BaseContext is the parent of every connection's context (cancelled
	// when the connection ends). Default: context.Background().
	BaseContext context.Context
	// ErrorLog receives handler panics. Default: the log package's logger.
	ErrorLog *log.Logger

	draining atomic.Bool
	noInline bool         // tests: the ordinary loop only
	watches  atomic.Int64 // watches started (tests read it)
	inlined  atomic.Int64 // requests answered inline, added when a connection ends (tests read it)
	idle     atomic.Int64 // connections waiting for a request without buffers
	mu       sync.Mutex
	conns    map[*conn]struct{}
	wg       sync.WaitGroup
}

// Draining deadline slack: idle and write deadlines are moved only when
// they would change by more than this, so a busy keep-alive connection
// does not reprogram its timers on every request. A timeout thus fires
// between its value minus the slack and its value.
const deadlineSlack = 500 * time.Millisecond

// DefaultWatchAfter is Server.WatchAfter's default.
const DefaultWatchAfter = 10 * time.Millisecond

// maxDrain is how much unread request body the engine reads and discards
// to keep a connection after the handler returned.
const maxDrain = 256 << 10

// conn is one client connection and everything reused between its
// requests: buffers, the request, its header map and URL, the response.
type conn struct {
	srv    *Server
	nc     net.Conn
	rd     reader
	bw     *bufio.Writer
	remote string
	tls    *tls.ConnectionState
	ctx    context.Context
	cancel context.CancelFunc

	h      head
	f      fields
	hdr    http.Header
	url    url.URL
	req    http.Request
	tmpl   http.Request // fields every request starts from (its context)
	te     []string
	body   body
	w      response
	minor  int
	active atomic.Bool

	// deadlines as last set, for the slack rule
	rdl, wdl    time.Time
	phase       uint8
	headStarted bool
	headDL      time.Time
	bodyDL      time.Time // ReadTimeout's end for the current request, once a body read set it

	hijacked     bool
	aborted      bool // a handler panicked (http.ErrAbortHandler included)
	beforeReadFn func()
	continueFn   func() error
	drainBuf     []byte

	// The watch on the client while a handler runs (bgRun on its own
	// goroutine, bgDone when it returned). bgOn is the serving goroutine's
	// view: a watch is running or finished unawaited. On a plain socket
	// (rc) the watch peeks and holds no buffer; otherwise it reads into
	// the read buffer (bgRead) and is stopped when the handler returns.
	// A watch is due (watchDue, the serving goroutine's flag) from the
	// point the request has been read until the handler returns; the
	// timer wt starts it once WatchAfter has passed (watchFire). wmu
	// orders the two goroutines: under it the timer claims a due watch
	// (wstate) and sets it up, and the serving goroutine settles it.
	bgRun     func()
	bgStartFn func()
	bgDone    chan struct{}
	bgOn      bool
	bgRead    bool
	watchDue  bool
	wt        *time.Timer
	wfireFn   func()
	wmu       sync.Mutex
	wstate    uint8
	bgPoll    bool // the watch peeks on a timer (inline): stopped when the handler returns
	wstop     chan struct{}
	pollT     *time.Timer
	rc        syscall.RawConn
	peekFn    func(fd uintptr) bool
	peekBuf   [1]byte
	peekState uint8

	// Serving inside the read callback (inline.go).
	inl        bool // the callback runs: the handler holds the read lock
	inlShort   bool // the last read took less than it could
	inlWaiting bool // the callback asked to wait
	inlMid     bool // a request's turn has started (its head is being read)
	inlIdle    bool // counted in srv.idle while waiting
	inlStep    step
	inlCount   int64 // requests answered inline on this connection
	inlSrc     rawSource
	inlFn      func(fd uintptr) bool
}

// peekState values: what the last peek found.
const (
	peekNone   = iota
	peekData   // a byte is there
	peekGone   // the client closed or reset the connection
	peekParked // nothing yet: the goroutine waits for the socket to be readable
	peekWoken  // readable, not looked at (no handler running: the next read tells)
)

const (
	phaseHead = iota
	phaseBody
)

// The header maps a connection reuses between messages are made without a
// size hint, on purpose. A hint above eight makes a table map from the
// start, and clearing or walking a table map costs its capacity, not its
// entries: a request with a handful of headers then paid for 16 on every
// clear (one per message) and every walk (the proxy walks each map several
// times). Without a hint the map is one group of eight until a message
// needs more; then it grows once and keeps that size for the connection.
// Measured in the load harness's A/B rig: +5% req/s on the plain route.
var connPool = sync.Pool{New: func() any {
	c := &conn{hdr: make(http.Header)}
	c.w.hdr = make(http.Header)
	c.beforeReadFn = c.beforeRead
	c.continueFn = c.sendContinue
	c.body.mapErr = c.mapBodyErr
	c.te = make([]string, 1)
	c.bgRun = c.backgroundRead
	c.bgStartFn = c.startBackgroundRead
	c.bgDone = make(chan struct{}, 1)
	c.wfireFn = c.watchFire
	c.wstop = make(chan struct{}, 1)
	c.inlSrc.c = c
	c.inlFn = c.inlineCallback
	c.peekFn = c.peek
	return c
}}

var bwPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// Serve accepts connections on l and serves each on its own goroutine
// until l fails or is closed.
func (s *Server) Serve(l net.Listener) error {
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.ServeConn(nc)
		}()
	}
}

// ServeConn serves HTTP/1.x on nc until the client or a rule ends the
// connection, then closes it (unless a handler hijacked it). A *tls.Conn
// must have completed its handshake; its state is given to every request.
func (s *Server) ServeConn(nc net.Conn) {
	c := connPool.Get().(*conn)
	c.start(s, nc)
	s.track(c, true)
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				s.logf("http1: panic serving %s: %v\n%s", c.remote, p, buf)
			}
			// The response is cut short: nothing more is flushed, the
			// client sees the connection end.
			c.hijacked, c.aborted = false, true
		}
		s.track(c, false)
		c.end()
	}()
	c.serve()
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) track(c *conn, add bool) {
	s.mu.Lock()
	if add {
		if s.conns == nil {
			s.conns = make(map[*conn]struct{})
		}
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
	s.mu.Unlock()
}

// Shutdown stops serving gracefully: idle connections are closed now,
// busy ones after their current response (which says Connection: close).
// It returns when every connection ended or ctx is done. The listener is
// the caller's to close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.conns)
		for c := range s.conns {
			if !c.active.Load() {
				// Wakes the blocked read; the connection ends without an answer.
				_ = c.nc.SetReadDeadline(time.Unix(1, 0))
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close cancels the requests of every connection and closes every
// connection at once.
func (s *Server) Close() {
	s.draining.Store(true)
	s.mu.Lock()
	ncs := make([]net.Conn, 0, len(s.conns))
	for c := range s.conns {
		// The requests stop first: a handler answered inline holds the
		// socket, and closing it waits until that handler returns (the
		// runtime closes a descriptor once no operation holds it).
		c.cancel()
		ncs = append(ncs, c.nc)
	}
	s.mu.Unlock()
	for _, nc := range ncs {
		_ = nc.Close()
	}
}

func (c *conn) start(s *Server, nc net.Conn) {
	c.srv, c.nc = s, nc
	c.rd.init(nc)
	c.rd.onRead = c.beforeReadFn
	ra := nc.RemoteAddr()
	c.remote = ra.String()
	c.tls = nil
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tls = &st
	}
	c.rc = rawConnOf(nc)
	base := s.BaseContext
	if base == nil {
		base = context.Background()
	}
	cc, cancel := newConnContext(base)
	cc.peer = addrPortOf(ra)
	c.ctx, c.cancel = cc, cancel
	c.tmpl = *(&http.Request{}).WithContext(c.ctx)
	c.rdl, c.wdl = time.Time{}, time.Time{}
	c.hijacked, c.aborted = false, false
	c.inl, c.inlIdle, c.inlCount = false, false, 0 // a handler's panic may have left serveInline midway
}

func (c *conn) end() {
	c.srv.inlined.Add(c.inlCount)
	c.inlCount = 0
	c.settleWatch()
	c.stopBackgroundRead()
	c.cancel()
	if !c.hijacked {
		if !c.aborted && c.bw != nil {
			_ = c.bw.Flush()
		}
		_ = c.nc.Close()
	}
	c.releaseWriter()
	c.rd.release()
	c.rc = nil
	c.req, c.tmpl = http.Request{}, http.Request{}
	c.ctx, c.cancel, c.tls, c.srv, c.nc = nil, nil, nil, nil, nil
	clear(c.hdr)
	clear(c.w.hdr)
	clear(c.f.vals)
	c.body = body{mapErr: c.body.mapErr}
	c.w.c = nil
	if cap(c.w.pending) > pendingMax {
		c.w.pending = nil
	}
	connPool.Put(c)
}

func (c *conn) maxHead() int {
	if n := c.srv.MaxHeaderBytes; n > 0 {
		return n
	}
	return DefaultMaxHeaderBytes
}

// serve is the request loop of one connection. On a plain socket it
// serves from inside the read callback (serveInline) and takes the
// ordinary loop for one request at a time when a request needs it.
func (c *conn) serve() {
	for {
		// A watch left running by an ordinary turn is that turn's wait for
		// the next request (idleWait): the ordinary loop takes it.
		if c.rc != nil && !c.srv.noInline && c.srv.WatchAfter >= 0 && !c.bgOn {
			if c.serveInline() == stepEnd {
				return
			}
		}
		if c.serveOne() == stepEnd {
			return
		}
	}
}

// step is what follows a request.
type step uint8

const (
	stepNext     step = iota // the next request
	stepEnd                  // the connection ends
	stepOrdinary             // (inline) this request needs the ordinary loop
)

// serveOne is one turn of the ordinary loop: wait for a request, read its
// head (blocking reads through the connection), answer it.
func (c *conn) serveOne() step {
	s := c.srv
	c.phase, c.headStarted, c.bodyDL = phaseHead, false, time.Time{}
	c.active.Store(false)
	if s.draining.Load() && c.rd.buffered() == 0 {
		return stepEnd
	}
	if c.rd.buffered() == 0 {
		// Idle: the buffers go back to their pools until the client
		// sends again (the response was flushed before this point).
		c.releaseWriter()
		if c.rc != nil && c.rd.err == nil {
			c.idleWait()
			if s.draining.Load() {
				return stepEnd
			}
		}
	}
	raw, started, err := c.rd.readHead(c.maxHead())
	return c.answer(raw, started, err, false)
}

// answer answers the request whose head readHead returned (or refuses
// it). Inline, a request that the handler could not be given without
// reading the socket (a body, an Upgrade, Expect, OPTIONS *) is left in
// the buffer, head and all, for the ordinary loop (stepOrdinary).
func (c *conn) answer(raw []byte, started bool, err error, inline bool) step {
	s := c.srv
	c.acquireWriter()
	c.active.Store(true)
	c.phase = phaseBody
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e):
			c.refuse(e)
		case started && isTimeout(err):
			c.refuse(ErrHeaderTimeout)
		}
		return stepEnd
	}
	maxHeaders := s.MaxHeaders
	if maxHeaders <= 0 {
		maxHeaders = DefaultMaxHeaders
	}
	c.f.reset(c.hdr, maxHeaders)
	perr := parseRequestHead(string(raw), &c.h, &c.f) // the one copy of the head
	c.minor = c.h.minor
	if perr == nil {
		perr = setURL(&c.url, c.h.target)
	}
	if perr == nil && inline && !inlineable(&c.h, c.rd.buffered()) {
		c.rd.r -= len(raw) // the head again, for the ordinary loop
		return stepOrdinary
	}
	var trailer http.Header
	if perr == nil {
		trailer, perr = takeTrailer(c.h.chunked, c.hdr)
	}
	if perr != nil {
		c.refuse(perr)
		return stepEnd
	}
	c.fillRequest()
	c.req.Trailer, c.body.trailer = trailer, trailer
	if c.h.chunked {
		if c.drainBuf == nil {
			c.drainBuf = make([]byte, 4096)
		}
		if e := checkBuffered(&c.rd, c.drainBuf); e != nil {
			c.refuse(e)
			return stepEnd
		}
	}
	if c.h.optionsStar {
		c.w.reset(c, c.h.method, c.h.close)
		c.w.hdr["Content-Length"] = []string{"0"}
		c.w.WriteHeader(http.StatusOK)
	} else {
		c.w.reset(c, c.h.method, c.h.close)
		if c.body.eof {
			c.startBackgroundRead()
		} else {
			c.body.onEOF = c.bgStartFn // once the handler has read it all
		}
		s.Handler.ServeHTTP(&c.w, &c.req)
		c.body.onEOF = nil
		c.settleWatch()
		if c.bgRead {
			c.stopBackgroundRead() // the read buffer is the loop's again
		} // a peeking watch goes on: it is the wait for the next request
		if c.hijacked {
			return stepEnd
		}
	}
	keep := c.w.finish()
	if keep && !c.body.eof {
		if c.h.expectContinue && c.body.sendContinue != nil {
			// RFC 9110 section 10.1.1: a final answer before the body
			// was asked for leaves open whether the client sends it,
			// so the connection closes (RFC 9112 section 9.6).
			keep = false
		} else {
			if c.drainBuf == nil {
				c.drainBuf = make([]byte, 4096)
			}
			keep = c.body.drain(maxDrain, c.drainBuf)
		}
	}
	if !keep || s.draining.Load() || c.rd.buffered() == 0 {
		// Pipelined requests already buffered are answered before the
		// responses are flushed, in one write.
		c.armWrite()
		if err := c.bw.Flush(); err != nil || !keep {
			return stepEnd
		}
	}
	return stepNext
}

// aLongTimeAgo is a read deadline that wakes a blocked read at once.
var aLongTimeAgo = time.Unix(1, 0)

// startBackgroundRead watches the connection while the handler runs, once
// the request has been read to its end: when the client closes or resets
// the connection, the connection's context (every request's parent) is
// cancelled, so the work done for a client that is gone (the upstream
// request above all) stops, as net/http's server does. When bytes of a
// pipelined request are already buffered, the client is still there and
// nothing is watched.
//
// On a plain socket the watch peeks: it waits until the socket is readable
// and looks at the next byte without taking it, so it needs no buffer and
// need not be stopped when the handler returns; it goes on as the wait for
// the next request (idleWait). Elsewhere (TLS) it reads into the read
// buffer (bytes that arrive, the next pipelined request, are kept for the
// next head) and is stopped when the handler returns; the serving
// goroutine does not touch the read buffer until then.
func (c *conn) startBackgroundRead() {
	rd := &c.rd
	if c.bgOn || c.watchDue || c.hijacked || rd.src == nil || rd.err != nil || rd.buffered() > 0 {
		return
	}
	c.bgRead = c.rc == nil
	if c.bgRead {
		if len(rd.buf) == 0 {
			return
		}
		rd.r, rd.w = 0, 0 // the watch's to fill from here until it is stopped
	}
	after := c.srv.WatchAfter
	if after == 0 {
		after = DefaultWatchAfter
	}
	if after < 0 {
		c.claimWatch()
		c.bgOn = true
		c.srv.watches.Add(1) // counted here, not in the goroutine: the count is current when the handler answers
		go c.bgRun()
		return
	}
	c.watchDue = true
	c.wmu.Lock()
	c.wstate = watchDueState
	c.wmu.Unlock()
	if c.wt == nil {
		c.wt = time.AfterFunc(after, c.wfireFn)
	} else {
		c.wt.Reset(after)
	}
}

// wstate values.
const (
	watchNone     = iota
	watchDueState // armed: the timer may start the watch
	watchOnState  // the timer started it
)

// claimWatch prepares the connection for a watch that starts now: the
// read deadline is cleared, since the handler's time is the handler's
// (write and route timeouts bound it).
func (c *conn) claimWatch() {
	c.setReadDeadline(time.Time{}, true)
}

// watchFire runs on the timer's goroutine once WatchAfter has passed: when
// the handler still runs (the watch is still due) that goroutine becomes
// the watch.
func (c *conn) watchFire() {
	c.wmu.Lock()
	if c.wstate != watchDueState {
		c.wmu.Unlock()
		return
	}
	c.wstate = watchOnState
	c.bgPoll = c.inl
	c.claimWatch()
	c.wmu.Unlock()
	c.srv.watches.Add(1)
	if c.bgPoll {
		c.pollWatch()
		return
	}
	c.backgroundRead()
}

// settleWatch is the serving goroutine's end of a due watch (the handler
// returned, the connection is handed over or ends): a watch the timer has
// not started never will; one it has is the serving goroutine's to stop or
// await (bgOn), as a watch started at once is.
func (c *conn) settleWatch() {
	if !c.watchDue {
		return
	}
	c.watchDue = false
	c.wmu.Lock()
	on := c.wstate == watchOnState
	c.wstate = watchNone
	c.wmu.Unlock()
	if on && c.bgPoll {
		// An inline watch ends with its handler: it does not wait on the
		// socket, so it cannot serve as the wait for the next request.
		select {
		case c.wstop <- struct{}{}:
		default:
		}
		<-c.bgDone
		select {
		case <-c.wstop: // it had ended on its own
		default:
		}
		c.bgPoll = false
		return
	}
	if on {
		c.bgOn = true
		return
	}
	c.wt.Stop()
}

// backgroundRead is the watch itself, on its own goroutine.
func (c *conn) backgroundRead() {
	if !c.bgRead {
		c.peekState = peekNone
		// An error here is a deadline (the idle timeout, a stop, a
		// shutdown) or a closed connection: nothing to conclude, the next
		// read tells.
		_ = c.rc.Read(c.peekFn)
		if c.peekState == peekGone {
			c.cancel() // the client closed or reset the connection
		}
		c.bgDone <- struct{}{}
		return
	}
	rd := &c.rd
	n, err := rd.src.Read(rd.buf[rd.w:])
	rd.w += n
	if err != nil && !isTimeout(err) {
		// Sticky: the next head read ends the connection (after the bytes
		// that came with the error, if any).
		rd.err = err
		if n == 0 {
			c.cancel() // the client is gone: nothing it sent is unanswered
		}
	}
	c.bgDone <- struct{}{}
}

// stopBackgroundRead ends the watch (a deadline in the past wakes it) and
// waits for it.
func (c *conn) stopBackgroundRead() {
	if !c.bgOn {
		return
	}
	c.bgOn = false
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	<-c.bgDone
	c.rdl = aLongTimeAgo // the next read sets its own deadline
}

// idleWait waits, holding no buffer, until the client sends the first byte
// of its next request, closes the connection, or the idle timeout passes
// (then the read that follows reports which). A plain socket only: the
// watch started for the last request is this wait when it still runs.
func (c *conn) idleWait() {
	c.beforeRead() // the idle deadline
	c.rd.park()
	if c.bw == nil && c.rd.buf == nil {
		c.srv.idle.Add(1)
		defer c.srv.idle.Add(-1)
	}
	if c.bgOn {
		c.bgOn = false
		<-c.bgDone
	} else {
		c.peekState = peekNone
		_ = c.rc.Read(c.peekFn)
	}
	c.rd.unpark()
}

// acquireWriter and releaseWriter lend the connection a write buffer while
// it has a request to answer.
func (c *conn) acquireWriter() {
	if c.bw == nil {
		c.bw = bwPool.Get().(*bufio.Writer)
		c.bw.Reset(c.nc)
	}
}

func (c *conn) releaseWriter() {
	if c.bw != nil {
		c.bw.Reset(nil) // unflushed bytes, if any, are dropped: only an ending connection has them
		bwPool.Put(c.bw)
		c.bw = nil
	}
}

// fillRequest sets up the reused request from the parsed head.
func (c *conn) fillRequest() {
	h := &c.h
	r := &c.req
	*r = c.tmpl
	r.Method = h.method
	r.URL = &c.url
	r.RequestURI = h.target
	r.Proto, r.ProtoMajor, r.ProtoMinor = h.proto, 1, h.minor
	r.Header = c.hdr
	r.Host = h.host
	r.RemoteAddr = c.remote
	r.TLS = c.tls
	r.Close = h.close
	mode, n := bodyOf(h)
	c.body.reset(&c.rd, mode, n)
	switch mode {
	case bodyChunked:
		c.te[0] = "chunked"
		r.TransferEncoding = c.te
		r.ContentLength = -1
		r.Body = &c.body
	case bodyLength:
		r.ContentLength = n
		r.Body = &c.body
	default:
		r.Body = http.NoBody
	}
	c.body.limit = c.srv.MaxBodyBytes
	// RFC 9110 section 10.1.1: 100 (Continue) is sent only when the body
	// is read, and never to HTTP/1.0, whose expectation MUST be ignored.
	if h.expectContinue && h.minor == 1 && !c.body.eof {
		c.body.sendContinue = c.continueFn
	}
}

func (c *conn) sendContinue() error {
	c.armWrite()
	c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return c.bw.Flush()
}

// refuse answers a request the parser refused and leaves the connection
// to be closed.
func (c *conn) refuse(e *Error) {
	r := &c.req
	*r = c.tmpl
	r.Method, r.RequestURI = c.h.method, c.h.target
	r.URL = &c.url
	c.url = url.URL{}
	if c.h.target != "" && c.h.target[0] == '/' {
		_ = setURL(&c.url, c.h.target)
	}
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	if c.h.proto != "" {
		r.Proto, r.ProtoMinor = c.h.proto, c.h.minor
	}
	r.Header = c.hdr
	r.Host = c.h.host
	r.RemoteAddr, r.TLS = c.remote, c.tls
	r.Body = http.NoBody
	r.Close = true
	c.minor = 1
	c.w.reset(c, r.Method, e.Framing || true)
	if c.srv.Refuse != nil {
		c.srv.Refuse(&c.w, r, e)
	} else {
		defaultRefuse(&c.w, e)
	}
	if !c.hijacked {
		c.w.finish()
		c.armWrite()
		_ = c.bw.Flush()
	}
}

func defaultRefuse(w http.ResponseWriter, e *Error) {
	w.Header()["Content-Type"] = []string{"application/problem+json"}
	w.WriteHeader(e.Status)
	_, _ = io.WriteString(w, `{"type":"about:blank","title":"`+http.StatusText(e.Status)+
		`","status":`+strconv.Itoa(e.Status)+`,"detail":"`+e.Reason+`"}`)
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// mapBodyErr turns a body read deadline into the engine's 408 verdict.
func (c *conn) mapBodyErr(err error) error {
	if isTimeout(err) {
		return ErrBodyTimeout
	}
	return err
}

// beforeRead keeps the read deadline right for what is being read: the
// idle timeout while no byte of the next head has come, the header timeout
// from its first byte, the body timeout per body read.
func (c *conn) beforeRead() {
	s := c.srv
	if c.phase == phaseHead && c.bw != nil && c.bw.Buffered() > 0 {
		// Answers to pipelined requests wait in the buffer until the
		// buffered requests are all answered; a read for the next head
		// that has to wait would hold them back from a client that may be
		// waiting for them before it sends the rest of that head.
		c.armWrite()
		_ = c.bw.Flush() // a failure ends the connection at its next write
	}
	now := time.Now()
	if c.phase == phaseHead && (c.headStarted || c.rd.buffered() > 0) {
		if !c.headStarted {
			c.headStarted = true
			c.headDL = earliest(now, s.ReadHeaderTimeout, s.ReadTimeout)
			c.bodyDL = c.headDL
			if s.ReadTimeout > 0 {
				c.bodyDL = now.Add(s.ReadTimeout)
			}
		}
		c.setReadDeadline(c.headDL, true)
		return
	}
	if c.phase == phaseHead {
		if s.IdleTimeout <= 0 {
			c.setReadDeadline(time.Time{}, true)
			return
		}
		c.setReadDeadline(now.Add(s.IdleTimeout), false)
		return
	}
	// A body read: the request's ReadTimeout (counted from the first body
	// read when the head came in one piece) and the per-read timeout.
	if c.bodyDL.IsZero() && s.ReadTimeout > 0 {
		c.bodyDL = now.Add(s.ReadTimeout)
	}
	dl := c.bodyDL
	if d := s.BodyReadTimeout; d > 0 && (dl.IsZero() || now.Add(d).Before(dl)) {
		dl = now.Add(d)
	}
	c.setReadDeadline(dl, true)
}

// earliest is now plus the smallest positive duration of ds (zero time
// when none is positive).
func earliest(now time.Time, ds ...time.Duration) time.Time {
	var m time.Duration
	for _, d := range ds {
		if d > 0 && (m == 0 || d < m) {
			m = d
		}
	}
	if m == 0 {
		return time.Time{}
	}
	return now.Add(m)
}

// setReadDeadline sets t unless (coarse) the current deadline is within
// the slack below it.
func (c *conn) setReadDeadline(t time.Time, exact bool) {
	if t.Equal(c.rdl) {
		return
	}
	if !exact && !c.rdl.IsZero() && !t.Before(c.rdl) && t.Sub(c.rdl) < deadlineSlack {
		return
	}
	c.rdl = t
	_ = c.nc.SetReadDeadline(t)
}

// armWrite moves the write deadline forward before writing (coarsely).
func (c *conn) armWrite() {
	d := c.srv.WriteTimeout
	if d <= 0 {
		return
	}
	t := time.Now().Add(d)
	if !c.wdl.IsZero() && !t.Before(c.wdl) && t.Sub(c.wdl) < deadlineSlack {
		return
	}
	c.wdl = t
	_ = c.nc.SetWriteDeadline(t)
}
