package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"testing"
)

// engineRequest parses one request from data as the server does: head,
// framing, URL, then the whole body.
type engineRequest struct {
	h    head
	hdr  http.Header
	body []byte
}

func parseWithEngine(data []byte, step int) (*engineRequest, error) {
	var rd reader
	if step > 0 {
		rd.init(&stepReader{data: data, step: step})
	} else {
		rd.init(bytes.NewReader(data))
	}
	defer rd.release()
	raw, _, err := rd.readHead(DefaultMaxHeaderBytes)
	if err != nil {
		return nil, err
	}
	er := &engineRequest{hdr: http.Header{}}
	var f fields
	f.reset(er.hdr, DefaultMaxHeaders)
	if err := parseRequestHead(string(raw), &er.h, &f); err != nil {
		return nil, err
	}
	if _, e := takeTrailer(er.h.chunked, er.hdr); e != nil {
		return nil, e
	}
	if er.h.optionsStar {
		return er, nil
	}
	if e := setURL(new(url.URL), er.h.target); e != nil {
		return nil, e
	}
	var b body
	mode, n := bodyOf(&er.h)
	b.reset(&rd, mode, n)
	er.body, err = io.ReadAll(&b)
	if err != nil {
		return nil, err
	}
	return er, nil
}

// stepReader returns at most step bytes per Read: a client whose bytes
// arrive in pieces.
type stepReader struct {
	data []byte
	step int
}

func (r *stepReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.step)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// FuzzRequestAgainstNetHTTP: whatever the engine accepts, net/http's
// ReadRequest accepts too, with the same method, target, Host, header
// fields, length and body bytes. Where they differ, the engine refuses.
// Whether a request is accepted, and as what, does not depend on how its
// bytes arrive (whole, or step bytes per read).
// The seed corpus is in testdata/fuzz/FuzzRequestAgainstNetHTTP: the raw
// requests of the end-to-end normalization and smuggling tests
// (test/e2e/normalize_test.go, protoerror_test.go) and well-formed requests
// of every body kind, each whole and fed in 3-byte steps.
func FuzzRequestAgainstNetHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		er, err := parseWithEngine(data, 0)
		if step > 0 {
			er2, err2 := parseWithEngine(data, int(step))
			// Both may refuse for different first reasons; what must not
			// differ is whether the request is accepted, and as what.
			if (err == nil) != (err2 == nil) {
				t.Fatalf("verdict whole %v, in pieces of %d %v: %q", err, step, err2, data)
			}
			if err == nil && (er.h != er2.h || !bytes.Equal(er.body, er2.body) || !equalHeader(er.hdr, er2.hdr)) {
				t.Fatalf("result differs in pieces of %d: %q", step, data)
			}
		}
		if err != nil {
			return // refused: nothing to compare
		}
		nr, nerr := http.ReadRequest(bufio.NewReader(bytes.NewReader(data)))
		if nerr != nil {
			t.Fatalf("engine accepted what net/http refuses (%v): %q", nerr, data)
		}
		nb, nerr := io.ReadAll(nr.Body)
		if nerr != nil {
			t.Fatalf("engine read a body net/http cannot (%v): %q", nerr, data)
		}
		h := &er.h
		if nr.Method != h.method || nr.RequestURI != h.target || nr.Host != h.host || nr.ProtoMinor != h.minor {
			t.Fatalf("request line: net/http %s %s %s 1.%d, engine %s %s %s 1.%d: %q",
				nr.Method, nr.RequestURI, nr.Host, nr.ProtoMinor, h.method, h.target, h.host, h.minor, data)
		}
		if !bytes.Equal(nb, er.body) {
			t.Fatalf("body: net/http %q, engine %q: %q", nb, er.body, data)
		}
		wantCL := h.contentLength
		if h.chunked {
			wantCL = -1
		} else if wantCL < 0 {
			wantCL = 0
		}
		if nr.ContentLength != wantCL {
			t.Fatalf("length: net/http %d, engine %d: %q", nr.ContentLength, wantCL, data)
		}
		if nr.Close != h.close {
			t.Fatalf("close: net/http %v, engine %v: %q", nr.Close, h.close, data)
		}
		nh := nr.Header.Clone()
		delete(nh, "Host") // the engine keeps it in Request.Host only, as net/http's server does
		// net/http adds Cache-Control: no-cache to a Pragma: no-cache request
		// (RFC 7234 compatibility); the engine leaves the fields as sent.
		if _, ok := er.hdr["Cache-Control"]; !ok && nh.Get("Pragma") == "no-cache" {
			delete(nh, "Cache-Control")
		}
		if !equalHeader(nh, er.hdr) {
			t.Fatalf("fields: net/http %q, engine %q: %q", nh, er.hdr, data)
		}
	})
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// FuzzChunkedDecoder: the chunked decoder on its own, against net/http's
// (httputil.NewChunkedReader): whatever the engine decodes, net/http
// decodes to the same bytes; and the decoder never reads past the end of
// the body (what follows is the next request).
// The seed corpus is in testdata/fuzz/FuzzChunkedDecoder.
func FuzzChunkedDecoder(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var rd reader
		rd.init(bytes.NewReader(data))
		defer rd.release()
		var b body
		b.reset(&rd, bodyChunked, 0)
		got, err := io.ReadAll(&b)
		if err != nil {
			return
		}
		consumed := len(data) - rd.buffered() - remaining(&rd)
		want, nerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data[:consumed])))
		if nerr != nil {
			t.Fatalf("engine decoded what net/http refuses (%v): %q", nerr, data)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("net/http %q, engine %q: %q", want, got, data)
		}
	})
}

// remaining is what the reader's source still holds (not yet read).
func remaining(rd *reader) int {
	if br, ok := rd.src.(*bytes.Reader); ok {
		return br.Len()
	}
	return 0
}

// FuzzResponseAgainstNetHTTP: the response parser on its own. Whatever it
// accepts, http.ReadResponse accepts with the same status, fields and body.
// The seed corpus is in testdata/fuzz/FuzzResponseAgainstNetHTTP.
func FuzzResponseAgainstNetHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		cc := &ClientConn{hdr: http.Header{}, te: make([]string, 1)}
		cc.rd.init(bytes.NewReader(data))
		defer cc.rd.release()
		resp, err := cc.ReadResponse(method)
		if err != nil {
			return
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			return
		}
		nr, nerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: method})
		if nerr != nil {
			t.Fatalf("engine accepted what net/http refuses (%v): %q", nerr, data)
		}
		want, nerr := io.ReadAll(nr.Body)
		if nerr != nil {
			t.Fatalf("engine read a body net/http cannot (%v): %q", nerr, data)
		}
		if nr.StatusCode != resp.StatusCode || nr.ProtoMinor != resp.ProtoMinor {
			t.Fatalf("status: net/http %d 1.%d, engine %d 1.%d: %q", nr.StatusCode, nr.ProtoMinor, resp.StatusCode, resp.ProtoMinor, data)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("body: net/http %q, engine %q: %q", want, got, data)
		}
		if !equalHeader(nr.Header, resp.Header) {
			t.Fatalf("fields: net/http %q, engine %q: %q", nr.Header, resp.Header, data)
		}
	})
}
