package response

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
)

var errTooLarge = errors.New("response body larger than max_bytes")

// bufPool holds the buffers response bodies are read into and filtered
// into. Buffers that grew past maxPooled are left to the collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

const maxPooled = 4 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}

// readCapped reads body into a pooled buffer, refusing more than limit
// bytes. declared is the Content-Length (-1 when unknown), which lets an
// oversized body be refused before any of it is read.
func readCapped(body io.Reader, declared, limit int64) (*[]byte, error) {
	if declared > limit {
		return nil, errTooLarge
	}
	bp := getBuf()
	b := *bp
	if declared > 0 && int64(cap(b)) < declared {
		b = make([]byte, 0, declared)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			*bp = b
			putBuf(bp)
			return nil, errTooLarge
		}
		if err == io.EOF {
			*bp = b
			return bp, nil
		}
		if err != nil {
			*bp = b
			putBuf(bp)
			return nil, errors.New("reading the response body failed")
		}
	}
}

// pooledReader serves a filtered body from a pooled buffer and gives the
// buffer back once it has been read to the end. Len lets the gateway send
// an exact Content-Length.
type pooledReader struct {
	bp  *[]byte
	b   []byte
	off int
}

func (r *pooledReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		if r.bp != nil {
			putBuf(r.bp)
			r.bp, r.b, r.off = nil, nil, 0
		}
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// Len is the number of bytes not yet read.
func (r *pooledReader) Len() int { return len(r.b) - r.off }

// isJSON reports whether a Content-Type names JSON: application/json,
// text/json, the legacy application/x-json and text/x-json, and every type
// with the +json structured syntax suffix (RFC 6839 section 3.1:
// application/problem+json, application/vnd.api+json, ...), whatever its
// parameters (charset=utf-8) and case (RFC 9110 section 8.3.1: type,
// subtype and parameter names are case-insensitive). The filter errs
// toward reading: a value whose parameters do not parse is judged by its
// type and subtype alone, so a malformed parameter cannot carry a JSON
// body past the filter.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	switch {
	case mt == "application/json", mt == "text/json", mt == "application/x-json", mt == "text/x-json":
		return true
	case strings.HasSuffix(sub, "+json"):
		return true
	}
	return false
}

// hasBody reports whether a response to this request can carry a body.
func hasBody(method string, status int) bool {
	return method != http.MethodHead && status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// encoded reports whether the body has a content coding other than identity.
func encoded(h http.Header) bool {
	for _, v := range h["Content-Encoding"] {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" && !strings.EqualFold(e, "identity") {
				return true
			}
		}
	}
	return false
}
