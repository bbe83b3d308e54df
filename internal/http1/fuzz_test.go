package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// e2eSeeds are the raw requests of the end-to-end normalization and
// smuggling tests (test/e2e/normalize_test.go, protoerror_test.go), plus
// well-formed requests of every body kind.
func e2eSeeds() []string {
	smuggled := "GET /admin/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"
	raw := func(line, body string, headers ...string) string {
		return line + "\r\n" + strings.Join(append(headers, ""), "\r\n") + "\r\n" + body
	}
	return []string{
		"GET /public/a/../b HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n",
		"GET /public/%2e%2e/admin/x HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"GET /public/a%2Fb?x=1&y=%zz HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"GET http://evil/public/x HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"GET * HTTP/1.1\r\nHost: gw.test\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n",
		"CONNECT evil.test:443 HTTP/1.1\r\nHost: evil.test:443\r\n\r\n",
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n"+smuggled, "Host: gw.test", "Content-Length: 52", "Transfer-Encoding: chunked"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n"+smuggled, "Host: gw.test", "Transfer-Encoding: chunked", "Content-Length: 52"),
		raw("POST /public/x HTTP/1.1", "abcd", "Host: gw.test", "Content-Length: 4", "Content-Length: 4"),
		raw("POST /public/x HTTP/1.1", "abcd", "Host: gw.test", "Content-Length: 4, 4"),
		raw("POST /public/x HTTP/1.1", "abcd", "Host: gw.test", "Content-Length: +4"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n", "Host: gw.test", "Transfer-Encoding: chunked, identity"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n", "Host: gw.test", "Transfer-Encoding: xchunked"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n", "Host: gw.test", "Transfer-Encoding:\tchunked"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n", "Host: gw.test", "Transfer-Encoding: \vchunked"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n", "Host: gw.test", "Transfer-Encoding:", " chunked"),
		raw("POST /public/x HTTP/1.1", "0\r\n\r\n", "Host: gw.test", "Transfer-Encoding : chunked", "Content-Length: 52"),
		raw("POST /public/x HTTP/1.0", "0\r\n\r\n"+smuggled, "Host: gw.test", "Transfer-Encoding: chunked"),
		raw("POST /public/x HTTP/1.1", "zz\r\nabc\r\n0\r\n\r\n", "Host: gw.test", "Transfer-Encoding: chunked"),
		raw("POST /public/x HTTP/1.1", "0x3\r\nabc\r\n0\r\n\r\n", "Host: gw.test", "Transfer-Encoding: chunked"),
		raw("POST /public/x HTTP/1.1", "3\nabc\r\n0\r\n\r\n", "Host: gw.test", "Transfer-Encoding: chunked"),
		raw("POST /public/x HTTP/1.1", "3;ext=\"q v\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", "Host: gw.test", "Transfer-Encoding: chunked", "Trailer: X-T"),
		raw("POST /public/x HTTP/1.1", "hello", "Host: gw.test", "Content-Length: 5", "Expect: 100-continue"),
		raw("GET /public/x HTTP/1.1", "", "Host: gw.test", "Host: evil.test"),
		raw("GET /public/x HTTP/1.1", ""),
		raw("GET /public/x HTTP/1.1", "", "Host: gw.test", "X-Note: a", " folded"),
		raw("GET /public/x HTTP/1.1", "", "Host: gw.test", "X-Note : a"),
		raw("GET /public/x HTTP/2.0", "", "Host: gw.test"),
		raw("GET /public/c HTTP/1.1", "", "Host: gw.test", "Connection: close, X-Request-Id", "x-custom: a", "Pragma: no-cache"),
		raw("GET /ws HTTP/1.1", "", "Host: gw.test", "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: x"),
		raw("GET /x HTTP/1.0", "", "Connection: keep-alive"),
		"GET /x HTTP/1.1\r\nHost: a.example.test\r\nTransfer-Encoding: gzip\r\n\r\n",
	}
}

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
func FuzzRequestAgainstNetHTTP(f *testing.F) {
	for _, s := range e2eSeeds() {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(3))
	}
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
func FuzzChunkedDecoder(f *testing.F) {
	for _, s := range []string{
		"3\r\nabc\r\n0\r\n\r\n", "3;a=b;c=\"d e\"\r\nabc\r\n0\r\nX: y\r\n\r\n", "0\r\n\r\n",
		"A\r\n0123456789\r\n00000\r\n\r\n", "3\nabc\r\n0\r\n\r\n", "3 \r\nabc\r\n0\r\n\r\n",
		"1\r\na\r\n1\r\nb\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
	} {
		f.Add([]byte(s))
	}
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
func FuzzResponseAgainstNetHTTP(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
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
