package http1

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/portcullis/portcullis/internal/ascii"
)

// ClientConn is the client side of one HTTP/1.1 connection to an upstream:
// a write buffer for requests and a strict response parser that reuses one
// http.Response, its header map and its body reader between responses, so
// reading a response allocates one string (its head) and nothing else.
// Not safe for concurrent use; one exchange at a time.
type ClientConn struct {
	nc  net.Conn
	rd  reader
	bw  *bufio.Writer
	out heldWriter      // what bw writes to
	rc  syscall.RawConn // a plain socket: a held request is sent from inside the wait (FlushInWait)
	// sendFn is sendThenRead bound to the connection (no allocation per call);
	// sendErr and readErr carry its results out.
	sendFn  func(fd uintptr) bool
	sendErr error
	readErr error
	resp    http.Response
	hdr     http.Header
	f       fields
	body    body
	te      []string
	// reusable: the last response's framing lets another exchange follow
	// once its body has been read to the end.
	reusable bool
	// MaxHeaderBytes bounds a response head (default DefaultMaxHeaderBytes).
	MaxHeaderBytes int
}

// NewClientConn wraps nc (already connected).
func NewClientConn(nc net.Conn) *ClientConn {
	// No size hint for the reused header map: see connPool in server.go.
	cc := &ClientConn{nc: nc, hdr: make(http.Header), te: make([]string, 1)}
	cc.rd.init(nc)
	cc.out.nc = nc
	cc.bw = bufio.NewWriterSize(&cc.out, 4096)
	cc.rc = rawConnOf(nc)
	cc.sendFn = cc.sendThenRead
	return cc
}

// heldWriter is the connection's writer, which holds back one flush when
// asked (FlushInWait): the bytes stay in the buffered writer's buffer,
// untouched until the next write to it, and are sent by Wait.
type heldWriter struct {
	nc   net.Conn
	hold bool
	held []byte
}

func (w *heldWriter) Write(p []byte) (int, error) {
	if w.held != nil {
		// The held bytes live in the buffer being written again: they are
		// gone, and sending what is there now would send a request the
		// caller never finished. Only Wait (or ReadResponse) may follow
		// FlushInWait.
		return 0, errHeldNotSent
	}
	if w.hold {
		w.hold, w.held = false, p
		return len(p), nil
	}
	return w.nc.Write(p)
}

// errHeldNotSent is a write after FlushInWait that was not followed by
// Wait: the connection is unusable.
var errHeldNotSent = errors.New("http1: write after FlushInWait before Wait")

// FlushInWait is Flush for a request that is complete once flushed (no
// body follows): on a plain socket the bytes are held back and sent by
// the next Wait from inside its wait for the response. The wait is
// registered with the runtime's poller before the request leaves, so the
// response cannot arrive unnoticed, and the read that would find nothing
// (the response cannot be there yet) is never made: one system call less
// per exchange. Elsewhere (TLS) it is Flush.
//
// A pooled connection the upstream closed while it sat idle fails as
// before: the request meets a reset, which wakes the wait, and the read
// reports it. One the upstream only half-closed and never reads from
// again would keep the wait until its deadline; a caller that reuses a
// connection idle long enough for the upstream's idle timeout to have
// passed should Flush and Wait instead, so the read finds the end at once.
func (cc *ClientConn) FlushInWait() error {
	if cc.rc == nil || cc.bw.Buffered() == 0 {
		return cc.bw.Flush()
	}
	cc.out.hold = true
	err := cc.bw.Flush()
	cc.out.hold = false
	return err
}

// Conn is the underlying connection.
func (cc *ClientConn) Conn() net.Conn { return cc.nc }

// Writer is the buffered writer requests are written to; Flush sends them.
func (cc *ClientConn) Writer() *bufio.Writer { return cc.bw }

// Reusable reports whether another request may be sent: the last response
// allowed it and its body was read to the end.
func (cc *ClientConn) Reusable() bool {
	return cc.reusable && cc.body.eof && cc.body.err == nil
}

// Close closes the connection and releases its read buffer.
func (cc *ClientConn) Close() error {
	err := cc.nc.Close()
	cc.rd.release()
	return err
}

// Buffered reports bytes read from the upstream but not yet consumed.
func (cc *ClientConn) Buffered() int { return cc.rd.buffered() }

// Wait returns once at least one byte of the next response has arrived
// (nil), or with the read error: a proxy tells a connection that failed
// before any byte of a response (stale, so safe to retry) from one that
// failed in the middle of one.
func (cc *ClientConn) Wait() error {
	if cc.out.held != nil {
		if err := cc.sendAndWait(); err != nil || cc.rd.buffered() > 0 {
			return err
		}
	}
	for cc.rd.buffered() == 0 {
		if err := cc.rd.fill(readBufSize); err != nil && cc.rd.buffered() == 0 {
			return err
		}
	}
	return nil
}

// sendAndWait sends the request FlushInWait held back and reads the first
// bytes of the response, both from one RawConn.Read: its callback writes
// the request and asks to wait; woken, it reads. A request the socket did
// not take whole (its buffer is full) is finished by a blocking write, and
// the response is then waited for as usual. The send's error is reported
// as a write error (*net.OpError, Op "write").
func (cc *ClientConn) sendAndWait() error {
	rd := &cc.rd
	if rd.err != nil {
		cc.out.held = nil
		return rd.err
	}
	if rd.buffered() > 0 || len(rd.buf) == 0 { // not the start of an exchange: send as Flush would
		held := cc.out.held
		cc.out.held = nil
		_, err := cc.nc.Write(held)
		return err
	}
	rd.r, rd.w = 0, 0
	cc.sendErr, cc.readErr = nil, nil
	err := cc.rc.Read(cc.sendFn)
	held := cc.out.held
	cc.out.held = nil
	switch {
	case cc.sendErr != nil:
		rd.err = &net.OpError{Op: "write", Net: cc.nc.RemoteAddr().Network(), Source: cc.nc.LocalAddr(), Addr: cc.nc.RemoteAddr(), Err: cc.sendErr}
		return rd.err
	case err != nil: // a deadline, a closed connection: sticky, as a failed read is
		rd.err = err
		return err
	case len(held) > 0: // the socket took part of it, or none
		if _, err := cc.nc.Write(held); err != nil {
			rd.err = err
			return err
		}
		return nil
	case cc.readErr != nil:
		rd.err = cc.readErr
		if rd.buffered() > 0 {
			return nil
		}
		return rd.err
	}
	return nil
}

// sendThenRead is sendAndWait's callback. With the request still held it
// writes it (non-blocking) and, when all of it went, returns false: wait
// until the socket is readable. Otherwise it reads once into the read
// buffer; nothing there yet (a wake-up without data) is another wait.
func (cc *ClientConn) sendThenRead(fd uintptr) bool {
	if held := cc.out.held; len(held) > 0 {
		for {
			n, err := rawWrite(fd, held)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return true // finished by a blocking write
			case err != nil:
				cc.sendErr = os.NewSyscallError("write", err)
				return true
			}
			cc.out.held = held[n:]
			return n < len(held) // all sent: wait for the response
		}
	}
	rd := &cc.rd
	n, err := readNow(fd, rd.buf[rd.w:])
	if err == errWouldBlock {
		return false
	}
	rd.w += n
	cc.readErr = err
	return true
}

// Read reads the raw stream after a 101 (Switching Protocols) response:
// the bytes already buffered first, then the connection.
func (cc *ClientConn) Read(p []byte) (int, error) { return cc.rd.read(p) }

// ReadResponse reads the next response head for a request of method (HEAD
// responses have no body). The returned Response, its Header and its Body
// are reused by the next call: read the body to the end (or give up the
// connection) before reading again.
func (cc *ClientConn) ReadResponse(method string) (*http.Response, error) {
	cc.reusable = false
	if cc.out.held != nil {
		if err := cc.Wait(); err != nil {
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	limit := cc.MaxHeaderBytes
	if limit <= 0 {
		limit = DefaultMaxHeaderBytes
	}
	raw, _, err := cc.rd.readHead(limit)
	if err != nil {
		// A head over the limit or a bare LF (RFC 9112 section 2.2), as for
		// requests: the proxy answers 502.
		if err == ErrHeadTooLarge || err == ErrBareLF {
			return nil, ErrResponseHead
		}
		if err == io.EOF {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	cc.f.reset(cc.hdr, 1<<16)
	r := &cc.resp
	*r = http.Response{Header: cc.hdr}
	var h respHead
	if err := parseResponseHead(string(raw), &h, &cc.f, r); err != nil {
		return nil, err
	}
	cc.reusable = !h.close
	// RFC 9112 section 6.3 (1): a response to HEAD and a 1xx, 204 or 304
	// response end with their head, whatever their fields say.
	noBody := method == http.MethodHead || !bodyAllowedFor(r.StatusCode)
	switch {
	case noBody:
		cc.body.reset(&cc.rd, bodyNone, 0)
		r.Body = http.NoBody
		r.ContentLength = h.contentLength
		if method != http.MethodHead && r.StatusCode != http.StatusNotModified {
			r.ContentLength = 0
		}
		if r.StatusCode == http.StatusSwitchingProtocols {
			cc.reusable = false // RFC 9110 section 7.8: the connection speaks another protocol now
		}
		return r, nil
	case h.chunked:
		cc.te[0] = "chunked"
		r.TransferEncoding = cc.te
		r.ContentLength = -1
		cc.body.reset(&cc.rd, bodyChunked, 0)
		t, terr := takeTrailer(true, cc.hdr)
		if terr != nil {
			return nil, ErrResponseHead
		}
		r.Trailer, cc.body.trailer = t, t
	case h.contentLength >= 0:
		r.ContentLength = h.contentLength
		cc.body.reset(&cc.rd, bodyLength, h.contentLength)
	default:
		// RFC 9112 section 6.3 (8): no framing, the body ends with the
		// connection.
		r.ContentLength = -1
		cc.reusable = false
		cc.body.reset(&cc.rd, bodyEOF, 0)
	}
	if cc.body.eof {
		r.Body = http.NoBody
	} else {
		r.Body = &cc.body
	}
	return r, nil
}

type respHead struct {
	contentLength int64
	chunked       bool
	close         bool
}

// parseResponseHead parses status-line and fields (RFC 9112 sections 4 and
// 5) with the request parser's field rules. Framing is checked as for
// requests: a response whose length two parsers could read differently
// would desynchronise the pooled connection (response splitting), so it
// is refused and the connection dropped.
func parseResponseHead(s string, h *respHead, f *fields, r *http.Response) *Error {
	*h = respHead{contentLength: -1}
	line, s, err := nextLine(s)
	if err != nil {
		return ErrStatusLine
	}
	// RFC 9112 section 4: status-line = HTTP-version SP status-code SP
	// [ reason-phrase ], status-code = 3DIGIT (section 2.3 for the
	// version; only HTTP/1.0 and HTTP/1.1 are read). A line that ends
	// right after the code, without that SP, is tolerated as net/http does.
	if len(line) < 12 || line[:7] != "HTTP/1." || (line[7] != '0' && line[7] != '1') || line[8] != ' ' ||
		!isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) || (len(line) > 12 && line[12] != ' ') {
		return ErrStatusLine
	}
	// reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): no CTL but HTAB.
	for i := 13; i < len(line); i++ {
		if !isValueByte[line[i]] {
			return ErrStatusLine
		}
	}
	r.StatusCode = int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if r.StatusCode < 100 { // RFC 9110 section 15: status codes start at 100
		return ErrStatusLine
	}
	r.Status = line[9:]
	if len(line) == 12 {
		r.Status = line[9:12]
	}
	r.ProtoMajor, r.ProtoMinor = 1, int(line[7]-'0')
	r.Proto = line[:8]
	if r.ProtoMinor == 1 {
		r.Proto = "HTTP/1.1"
	}
	nTE, keepAlive := 0, false
	for {
		line, s, err = nextLine(s)
		if err != nil {
			return ErrResponseHead
		}
		if line == "" {
			break
		}
		// RFC 9112 section 5.2: a proxy that receives obs-fold in a
		// response MUST either discard the message (502) or replace it.
		if line[0] == ' ' || line[0] == '\t' {
			return ErrResponseHead
		}
		// The request parser's field rules: a colon (RFC 9112 section 5)
		// after a token name with no whitespace before it (RFC 9112
		// section 5.1, RFC 9110 section 5.1), a value without CR, LF, NUL
		// or other CTL but HTAB (RFC 9110 section 5.5).
		colon := strings.IndexByte(line, ':')
		if colon < 0 || !ValidToken(line[:colon]) {
			return ErrResponseHead
		}
		name, value := line[:colon], line[colon+1:]
		if !ValidFieldValue(value) {
			return ErrResponseHead
		}
		value = trimOWS(value)
		switch len(name) {
		case 10:
			if ascii.EqualFoldLower(name, "connection") {
				if hasToken(value, "close") {
					h.close = true
				}
				if hasToken(value, "keep-alive") {
					keepAlive = true
				}
			}
		case 14:
			if ascii.EqualFoldLower(name, "content-length") {
				n, ok := parseContentLength(value)
				// RFC 9112 section 6.3 (5): differing or invalid lengths
				// are unrecoverable; identical repeats are one length.
				if !ok || h.contentLength >= 0 && n != h.contentLength {
					return ErrResponseHead
				}
				h.contentLength = n
			}
		case 17:
			if ascii.EqualFoldLower(name, "transfer-encoding") {
				// RFC 9112 section 6.3 (4) would have a response whose
				// final coding is not chunked read until close; a proxy
				// cannot forward that framing faithfully, so anything but
				// one lone "chunked" is refused (502).
				if nTE++; nTE > 1 || !ascii.EqualFoldLower(value, "chunked") {
					return ErrResponseHead
				}
				h.chunked = true
				continue // as net/http: in Response.TransferEncoding only
			}
		}
		if err := f.add(name, value); err != nil {
			return ErrResponseHead
		}
	}
	// RFC 9112 section 6.3 (3): Transfer-Encoding with Content-Length
	// "ought to be handled as an error" by a proxy.
	if h.chunked && h.contentLength >= 0 {
		return ErrResponseHead
	}
	if r.ProtoMinor == 0 && !keepAlive {
		h.close = true // RFC 9112 section 9.3: HTTP/1.0 closes unless kept alive
	}
	r.Close = h.close
	return nil
}
