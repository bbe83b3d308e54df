package upstream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/portcullis/portcullis/internal/http1"
)

// bodyReadError marks a failure to read the client's request body, which
// is not the upstream's fault and never a reason to retry.
type bodyReadError struct{ err error }

func (e *bodyReadError) Error() string { return "reading request body: " + e.err.Error() }
func (e *bodyReadError) Unwrap() error { return e.err }

var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// writeRequest writes req as HTTP/1.1. Unlike Request.Write it adds no
// User-Agent and no Connection header of its own, and it writes the body
// with a flush after every read so a streaming client body streams on.
func (c *conn) writeRequest(req *http.Request, body io.Reader, hasBody bool) error {
	bw := c.bw
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !http1.ValidToken(method) {
		return errors.New("invalid method")
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !http1.ValidFieldValue(host) {
		return errors.New("invalid Host header")
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	if err := writeRequestURI(bw, method, req.URL); err != nil {
		return err
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")

	for k, vv := range req.Header {
		if ownHeader(k) {
			continue
		}
		if !http1.ValidToken(k) {
			return fmt.Errorf("invalid header name %q", k)
		}
		for _, v := range vv {
			if !http1.ValidFieldValue(v) {
				return fmt.Errorf("invalid value in header %s", k)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	chunked := hasBody && req.ContentLength < 0
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
		if err := writeTrailerHeader(bw, req.Trailer); err != nil {
			return err
		}
	case hasBody:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), req.ContentLength, 10))
		bw.WriteString("\r\n")
	case method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		// Some servers answer 411 to a bodiless POST without a length.
		bw.WriteString("Content-Length: 0\r\n")
	}
	if req.Close && !hasToken(req.Header["Connection"], "close") {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
	if !hasBody {
		if c.sendInWait {
			return c.cc.FlushInWait() // sent by exchange's Wait
		}
		return bw.Flush()
	}
	if chunked {
		return c.writeChunked(body, req.Trailer)
	}
	return c.writeLength(body, req.ContentLength)
}

// writeLength copies exactly n body bytes.
func (c *conn) writeLength(body io.Reader, n int64) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for n > 0 {
		m, rerr := body.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			n -= int64(m)
			c.bw.Write(buf[:m])
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			if n > 0 {
				return &bodyReadError{io.ErrUnexpectedEOF}
			}
			break
		}
		if rerr != nil {
			return &bodyReadError{rerr}
		}
	}
	return c.bw.Flush() // the headers, when the body read nothing
}

// writeChunked copies the body in chunks, one per read, then the trailers.
func (c *conn) writeChunked(body io.Reader, trailer http.Header) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	bw := c.bw
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(m), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:m])
			bw.WriteString("\r\n")
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return &bodyReadError{rerr}
		}
	}
	bw.WriteString("0\r\n")
	for k, vv := range trailer { // filled in by now: the body hit EOF
		if !http1.ValidToken(k) {
			return fmt.Errorf("invalid trailer name %q", k)
		}
		for _, v := range vv {
			if !http1.ValidFieldValue(v) {
				return fmt.Errorf("invalid value in trailer %s", k)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
	return bw.Flush()
}

// writeTrailerHeader announces the trailer names.
func writeTrailerHeader(bw *bufio.Writer, trailer http.Header) error {
	if len(trailer) == 0 {
		return nil
	}
	bw.WriteString("Trailer: ")
	first := true
	for k := range trailer {
		if !http1.ValidToken(k) || ownHeader(k) {
			return fmt.Errorf("invalid trailer name %q", k)
		}
		if !first {
			bw.WriteString(", ")
		}
		first = false
		bw.WriteString(k)
	}
	bw.WriteString("\r\n")
	return nil
}

// writeRequestURI writes the origin-form target without allocating in the
// common case (a path that needs no escaping).
func writeRequestURI(bw *bufio.Writer, method string, u *url.URL) error {
	if method == http.MethodConnect && u.Path == "" {
		if !http1.ValidFieldValue(u.Host) || strings.ContainsAny(u.Host, " /") {
			return errors.New("invalid CONNECT authority")
		}
		bw.WriteString(u.Host)
		return nil
	}
	if u.Opaque != "" {
		uri := u.RequestURI()
		if !validURI(uri) {
			return errors.New("invalid request URI")
		}
		bw.WriteString(uri)
		return nil
	}
	path := u.EscapedPath()
	switch {
	case path == "":
		path = "/"
	case path[0] != '/' && path != "*":
		return errors.New("request path must start with /")
	}
	bw.WriteString(path)
	if u.RawQuery != "" || u.ForceQuery {
		if !validURI(u.RawQuery) {
			return errors.New("invalid request query")
		}
		bw.WriteByte('?')
		bw.WriteString(u.RawQuery)
	}
	return nil
}

// ownHeader reports the headers writeRequest writes itself.
func ownHeader(k string) bool {
	switch len(k) {
	case 4:
		return strings.EqualFold(k, "Host")
	case 7:
		return strings.EqualFold(k, "Trailer")
	case 14:
		return strings.EqualFold(k, "Content-Length")
	case 17:
		return strings.EqualFold(k, "Transfer-Encoding")
	}
	return false
}

// validURI rejects what would break the request line.
func validURI(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated header value list holds tok.
func hasToken(vv []string, tok string) bool {
	for _, v := range vv {
		for v != "" {
			var part string
			part, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(part), tok) {
				return true
			}
		}
	}
	return false
}
