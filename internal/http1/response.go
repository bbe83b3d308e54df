package http1

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// pendingMax is how much body a handler may write before the head is
// committed without a Content-Length: a response that ends within it gets
// an exact Content-Length, a longer one is sent chunked.
const pendingMax = 4096

// response is the http.ResponseWriter of one exchange, reused by the
// connection for every request on it.
type response struct {
	c   *conn
	hdr http.Header

	status      int
	wroteHeader bool // WriteHeader ran (or was implied)
	committed   bool // the head is in the write buffer
	head        bool // HEAD request: no body bytes on the wire
	bodyAllowed bool
	chunked     bool
	closeAfter  bool  // answer with Connection: close and end the connection
	cl          int64 // Content-Length the handler declared, -1 when none
	written     int64
	pending     []byte // body held back until the head is committed
	// vals holds the header values snapshotted at WriteHeader when the
	// head waits for the body (reused between responses).
	vals     []string
	err      error // first write error
	hijacked bool
}

var (
	_ http.ResponseWriter = (*response)(nil)
	_ http.Flusher        = (*response)(nil)
	_ http.Hijacker       = (*response)(nil)
)

func (w *response) reset(c *conn, method string, closeAfter bool) {
	clear(w.hdr)
	*w = response{c: c, hdr: w.hdr, pending: w.pending[:0], vals: w.vals[:0], head: method == http.MethodHead,
		closeAfter: closeAfter, cl: -1, status: http.StatusOK}
}

func (w *response) Header() http.Header { return w.hdr }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.committed {
		return
	}
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		// An interim response (103 Early Hints): written now, the final
		// one follows.
		w.writeInterim(code)
		return
	}
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	w.status = code
	if v := w.hdr["Content-Length"]; len(v) == 1 {
		if n, ok := parseContentLength(v[0]); ok {
			w.cl = n
		}
	}
	// The head is committed to the write buffer now when its length is
	// settled (a declared Content-Length, or no body at all), so a proxy
	// may reuse the upstream response's header storage once WriteHeader
	// returned. Otherwise it waits for the body: a short one gets an exact
	// Content-Length, a long one is chunked.
	if code == http.StatusSwitchingProtocols || w.cl >= 0 || !bodyAllowedFor(code) {
		w.commit(false)
		return
	}
	w.snapshot()
}

// snapshot makes the header values the response's own when WriteHeader
// could not commit the head yet: as with net/http's servers, the fields
// are those of the moment WriteHeader was called, and the handler may
// reuse the slices it put in the map (a proxy's pooled upstream response)
// once WriteHeader returned. The values go into a slab the connection
// reuses; the strings themselves are immutable and are not copied.
func (w *response) snapshot() {
	for k, vv := range w.hdr {
		if len(w.vals)+len(vv) > cap(w.vals) {
			w.vals = make([]string, 0, max(32, 2*cap(w.vals)+len(vv)))
		}
		i := len(w.vals)
		w.vals = append(w.vals, vv...)
		w.hdr[k] = w.vals[i:len(w.vals):len(w.vals)]
	}
}

func (w *response) writeInterim(code int) {
	// RFC 9110 section 15.2: HTTP/1.0 defined no 1xx status codes, so a
	// server MUST NOT send a 1xx response to an HTTP/1.0 client. The
	// interim answer is dropped; the final one follows as usual.
	if w.c.minor == 0 {
		return
	}
	bw := w.c.bw
	bw.Write(statusLine(code))
	writeFields(bw, w.hdr, true)
	bw.WriteString("\r\n")
	w.err = bw.Flush()
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowedFor(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if w.cl >= 0 {
			w.commit(false)
		} else if len(w.pending)+len(p) <= pendingMax {
			w.pending = append(w.pending, p...)
			return len(p), nil
		} else {
			w.commit(true)
		}
	}
	if w.head {
		return len(p), nil
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

func (w *response) WriteString(s string) (int, error) {
	// Through the byte path: a handler writing strings is rare on the
	// proxy path, and one copy keeps a single set of rules.
	return w.Write([]byte(s))
}

func (w *response) writeBody(p []byte) {
	bw := w.c.bw
	w.c.armWrite()
	if w.chunked {
		if len(p) == 0 {
			return
		}
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
		bw.WriteString("\r\n")
		bw.Write(p)
		_, err := bw.WriteString("\r\n")
		w.noteErr(err)
		return
	}
	_, err := bw.Write(p)
	w.noteErr(err)
}

func (w *response) noteErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
		w.closeAfter = true
	}
}

// commit writes the status line and header fields into the write buffer.
// stream: the length is unknown and the body continues (chunked on
// HTTP/1.1, until close on HTTP/1.0).
func (w *response) commit(stream bool) {
	if w.committed {
		return
	}
	w.committed = true
	c := w.c
	bw := c.bw
	c.armWrite()
	w.bodyAllowed = bodyAllowedFor(w.status)
	bw.Write(statusLine(w.status))
	if v := w.hdr["Connection"]; len(v) > 0 && hasTokenList(v, "close") {
		w.closeAfter = true
	}
	if c.srv.draining.Load() {
		w.closeAfter = true
	}
	// A request body that failed (bad chunk, timeout, too large), or one
	// the client was told to hold back (Expect: 100-continue, never
	// answered), leaves the connection's next bytes unknown: it ends.
	if b := &c.body; b.err != nil || (b.sendContinue != nil && !b.eof) {
		w.closeAfter = true
	}
	writeFields(bw, w.hdr, false)
	if _, ok := w.hdr["Date"]; !ok {
		bw.Write(appendDate(bw.AvailableBuffer(), time.Now()))
	}
	switch {
	case w.status == http.StatusSwitchingProtocols:
	case !w.bodyAllowed:
		// RFC 9110 section 8.6: no Content-Length in 1xx or 204; a 304
		// may carry the length of the representation, which the handler
		// set itself.
		if w.status != http.StatusNoContent {
			w.writeCL()
		}
	case w.cl >= 0:
		w.writeCL()
	case !stream:
		w.cl = int64(len(w.pending))
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.cl, 10))
		bw.WriteString("\r\n")
	case w.head:
	case c.minor == 1:
		w.chunked = true
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	default:
		// RFC 9112 section 6.1: no Transfer-Encoding toward an HTTP/1.0
		// request, so the end of the connection ends the body (6.3 (8)).
		w.closeAfter = true
	}
	if w.closeAfter && w.status != http.StatusSwitchingProtocols {
		bw.WriteString("Connection: close\r\n")
	} else if c.minor == 0 && !w.closeAfter {
		bw.WriteString("Connection: keep-alive\r\n")
	}
	_, err := bw.WriteString("\r\n")
	w.noteErr(err)
	if len(w.pending) > 0 && !w.head {
		p := w.pending
		w.pending = w.pending[:0]
		w.writeBody(p)
	}
}

func (w *response) writeCL() {
	if v := w.hdr["Content-Length"]; len(v) == 1 && w.cl >= 0 {
		return // written with the fields
	}
	bw := w.c.bw
	if w.cl >= 0 {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.cl, 10))
		bw.WriteString("\r\n")
	}
}

// finish completes the response after the handler returned. It reports
// whether the connection may carry another request.
func (w *response) finish() bool {
	if w.hijacked {
		return false
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.commit(false)
	if w.chunked {
		_, err := w.c.bw.WriteString("0\r\n\r\n")
		w.noteErr(err)
	}
	if w.cl >= 0 && w.written < w.cl && w.bodyAllowed && !w.head {
		// The handler wrote less than it declared: the client would wait
		// for the rest, so the connection ends (RFC 9112 section 6.3 (6):
		// the client then sees an incomplete message).
		w.closeAfter = true
	}
	return !w.closeAfter && w.err == nil
}

func (w *response) Flush() {
	if w.hijacked {
		return
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.commit(true)
	w.c.armWrite()
	w.noteErr(w.c.bw.Flush())
}

// FlushError is http.ResponseController's Flush with an error.
func (w *response) FlushError() error {
	w.Flush()
	return w.err
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (w *response) SetReadDeadline(t time.Time) error {
	w.c.rdl = t
	return w.c.nc.SetReadDeadline(t)
}

func (w *response) SetWriteDeadline(t time.Time) error {
	w.c.wdl = t
	return w.c.nc.SetWriteDeadline(t)
}

// Hijack hands the connection to the handler (an Upgrade, the WebSocket
// tunnel): what the engine has buffered from the client comes first from
// the returned reader. The engine forgets the connection.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	if c.inl {
		return nil, nil, errHijackInline
	}
	c.settleWatch()
	c.stopBackgroundRead() // the connection and its buffered bytes are the handler's now
	if w.committed {
		if err := c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	w.hijacked = true
	var src io.Reader = c.nc
	if n := c.rd.buffered(); n > 0 {
		rest := bytes.Clone(c.rd.buf[c.rd.r:c.rd.w])
		c.rd.r = c.rd.w
		src = io.MultiReader(bytes.NewReader(rest), c.nc)
	}
	c.hijacked = true
	_ = c.nc.SetDeadline(time.Time{})
	return c.nc, bufio.NewReadWriter(bufio.NewReader(src), bufio.NewWriter(c.nc)), nil
}

func bodyAllowedFor(status int) bool {
	// RFC 9110 sections 15.2, 15.3.5, 15.4.5: 1xx, 204 and 304 have no body.
	return !(status >= 100 && status <= 199 || status == http.StatusNoContent || status == http.StatusNotModified)
}

func hasTokenList(vv []string, tok string) bool {
	for _, v := range vv {
		if hasToken(v, tok) {
			return true
		}
	}
	return false
}

// writeFields writes the handler's header fields. The framing fields are
// the engine's: Transfer-Encoding is never taken from the handler (RFC
// 9112 section 6.1 limits when a server may send it), and Content-Length
// only when it is one valid number (RFC 9110 section 8.6) and the
// response is final. A name that is not a token (RFC 9110 section 5.1) is
// skipped and CR, LF and other control bytes in a value become SP, so no
// handler input can forge a line (RFC 9110 section 5.5).
func writeFields(bw *bufio.Writer, h http.Header, interim bool) {
	for k, vv := range h {
		switch len(k) {
		case 14:
			if k == "Content-Length" {
				if interim || len(vv) != 1 {
					continue
				}
				if _, ok := parseContentLength(vv[0]); !ok {
					continue
				}
			}
		case 17:
			if k == "Transfer-Encoding" {
				continue
			}
		case 10:
			if k == "Connection" {
				continue // the engine decides; a "close" was noted
			}
		}
		if !ValidToken(k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
}

func writeValue(bw *bufio.Writer, v string) {
	if ValidFieldValue(v) {
		bw.WriteString(v)
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !isValueByte[c] {
			c = ' '
		}
		bw.WriteByte(c)
	}
}

var statusLines = func() (t [600][]byte) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
		}
	}
	return
}()

func statusLine(code int) []byte {
	if code < len(statusLines) && statusLines[code] != nil {
		return statusLines[code]
	}
	return []byte("HTTP/1.1 " + strconv.Itoa(code) + " status code " + strconv.Itoa(code) + "\r\n")
}
