package normalize

import (
	"errors"
	"strings"
	"testing"
)

const (
	getA    = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	getB    = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	postCL  = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
	postChk = "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\n\r\n"
)

// verdicts feeds in to a parser in pieces of size step (0: all at once)
// and drains every queued verdict.
func verdicts(in string, step int) (got []error, p *parser) {
	p = &parser{}
	b := []byte(in)
	if step <= 0 {
		step = len(b)
	}
	for len(b) > 0 {
		n := min(step, len(b))
		p.feed(b[:n])
		b = b[n:]
	}
	for p.pending() > 0 {
		got = append(got, p.pop(0, false))
	}
	return got, p
}

func TestParserVerdicts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []error
	}{
		{"single get", getA, []error{nil}},
		{"bare LF", "GET /a HTTP/1.1\nHost: x\n\n" + getB, []error{nil, nil}},
		{"pipelined", getA + postCL + postChk + getB, []error{nil, nil, nil, nil}},
		{"http/1.0", "GET / HTTP/1.0\r\n\r\n" + getA, []error{nil, nil}},
		{"chunked trailers", "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n" +
			"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n" + getB, []error{nil, nil}},
		{"chunk data looks like a request", "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"20\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n", []error{nil}},
		{"CL body looks like a request", "POST /p HTTP/1.1\r\nContent-Length: 32\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n", []error{nil}},
		{"connection upgrade list", "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85garbage", []error{nil}},
		{"options star has no verdict", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + getA, []error{nil}},
		{"upgrade header alone is no upgrade", "GET /a HTTP/1.1\r\nUpgrade: websocket\r\n\r\n" + getB, []error{nil, nil}},

		{"CL+TE", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + getB, []error{errCLAndTE}},
		{"TE+CL", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", []error{errCLAndTE}},
		{"dup CL identical", "POST / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\nx" + getB, []error{errDupCL}},
		{"CL list", "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", []error{errBadCL}},
		{"CL sign", "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx", []error{errBadCL}},
		{"CL empty", "POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", []error{errBadCL}},
		{"CL huge", "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", []error{errBadCL}},
		{"TE list", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n", []error{errBadTE}},
		{"TE xchunked", "POST / HTTP/1.1\r\nTransfer-Encoding:  xchunked\r\n\r\n", []error{errBadTE}},
		{"TE tab", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\t\r\n\r\n", []error{errBadTE}},
		{"TE vtab", "POST / HTTP/1.1\r\nTransfer-Encoding:\vchunked\r\n\r\n", []error{errBadTE}},
		{"TE identity", "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", []error{errBadTE}},
		{"TE dup", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", []error{errDupTE}},
		{"TE on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", []error{errTE10}},
		{"obs-fold", "GET / HTTP/1.1\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", []error{errObsFold}},
		{"obs-fold tab", "GET / HTTP/1.1\r\nX-A: 1\r\n\tmore\r\n\r\n", []error{errObsFold}},
		{"space before colon", "POST / HTTP/1.1\r\nContent-Length : 5\r\n\r\nhello", []error{errHeaderName}},
		{"tab in name", "POST / HTTP/1.1\r\nTransfer-Encoding\t: chunked\r\n\r\n", []error{errHeaderName}},
		{"no colon", "GET / HTTP/1.1\r\nHost\r\n\r\n", []error{errHeaderLine}},
		{"dup host", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", []error{errDupHost}},
		{"bad request line", "GET /\r\n\r\n", []error{errRequestLine}},
		{"leading empty line", "\r\n" + getA, []error{errRequestLine}},
		{"bad version", "GET / HTTP/2.0\r\n\r\n", []error{errVersion}},
		{"chunk size zz", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", []error{errChunk}},
		{"chunk size space", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", []error{errChunk}},
		{"chunk size negative", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", []error{errChunk}},
		{"chunk size too long", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", []error{errChunk}},
		{"chunk bare LF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n", []error{errChunk}},
		{"chunk missing CRLF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n", []error{errChunk}},
		{"chunk missing LF", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX", []error{errChunk}},
		{"trailer obs-fold", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\n B\r\n\r\n", []error{errObsFold}},
		{"poisoned after error", "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx" + getA + getB, []error{errDupCL}},
		{"line too long", "GET /" + strings.Repeat("a", maxHeadLine) + " HTTP/1.1\r\n\r\n", []error{errLineTooLong}},
		{"header too long", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", maxHeadLine) + "\r\n\r\n", []error{errLineTooLong}},
	}
	for _, c := range cases {
		for _, step := range []int{0, 1, 2, 3, 7, 64} {
			got, _ := verdicts(c.in, step)
			if !equalErrs(got, c.want) {
				t.Errorf("%s (step %d): verdicts %v; want %v", c.name, step, got, c.want)
			}
		}
	}
}

func equalErrs(a, b []error) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParserPoisonAndTunnel(t *testing.T) {
	// Once poisoned, every later request gets ErrPoisoned, even when the
	// handler asks before the parser got that far.
	p := &parser{}
	p.feed([]byte("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx" + getA))
	if err := p.pop(0, false); err != errDupCL {
		t.Fatalf("first verdict %v", err)
	}
	for range 3 {
		if err := p.pop(0, false); err != ErrPoisoned {
			t.Fatalf("later verdict %v; want ErrPoisoned", err)
		}
	}

	// A bad chunk after the head's clean verdict was queued replaces it.
	p = &parser{}
	p.feed([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))
	p.feed([]byte("zz\r\n"))
	if err := p.pop(0, false); err != errChunk {
		t.Fatalf("verdict %v; want errChunk", err)
	}
	// Taken before the body went wrong: the next request is poisoned.
	p = &parser{}
	p.feed([]byte("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))
	if err := p.pop(0, false); err != nil {
		t.Fatalf("verdict %v; want nil", err)
	}
	p.feed([]byte("zz\r\n" + getA))
	if err := p.pop(0, false); err != ErrPoisoned {
		t.Fatalf("verdict %v; want ErrPoisoned", err)
	}

	// A bad body on a request without a verdict ("OPTIONS *") must not
	// rewrite the verdict of the request before it.
	got, p := verdicts(getA+"OPTIONS * HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0)
	if !equalErrs(got, []error{nil}) || p.pop(0, false) != ErrPoisoned {
		t.Errorf("OPTIONS * with a bad body: verdicts %v", got)
	}

	// After an upgrade the rest is a tunnel: unknown, not an error verdict
	// of its own.
	for _, head := range []string{
		"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
	} {
		got, p := verdicts(head+"\x00\xff garbage\r\n\r\n"+getA, 5)
		if !equalErrs(got, []error{nil}) || p.st != stStopped || p.broken {
			t.Errorf("%q: verdicts %v, state %v", head, got, p.st)
		}
		if err := p.pop(0, false); err != ErrFramingUnknown {
			t.Errorf("after tunnel: %v; want ErrFramingUnknown", err)
		}
	}
	got, p = verdicts("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"+getA, 0)
	if len(got) != 0 || p.pop(0, false) != ErrFramingUnknown {
		t.Errorf("h2 preface: verdicts %v", got)
	}
}

func TestParserNextForChecksTheRequest(t *testing.T) {
	c := &Conn{}
	c.p.feed([]byte(getA + getB + getA))
	if err := c.NextFor("GET", "/a"); err != nil {
		t.Fatalf("NextFor(/a) = %v", err)
	}
	if err := c.NextFor("GET", "/x"); !errors.Is(err, ErrDesync) {
		t.Fatalf("NextFor(/x) = %v; want ErrDesync", err)
	}
	if err := c.NextFor("GET", "/a"); err != ErrPoisoned {
		t.Fatalf("after desync: %v; want ErrPoisoned", err)
	}
}

func TestParserBoundedMemory(t *testing.T) {
	p := &parser{}
	long := []byte("GET /" + strings.Repeat("a", 1000))
	for range 200 { // 200 KB without a newline
		p.feed(long)
	}
	if cap(p.line) > maxHeadLine+len(long) || !p.broken {
		t.Fatalf("line buffer cap %d, broken %v", cap(p.line), p.broken)
	}

	// Pipelined requests nobody asks verdicts for are capped.
	p = &parser{}
	for range maxQueued + 10 {
		p.feed([]byte(getA))
	}
	if p.pending() > maxQueued || !p.broken {
		t.Fatalf("pending %d, broken %v", p.pending(), p.broken)
	}
}

// A queue that never drains (always one request ahead) stays small.
func TestParserQueueCompacts(t *testing.T) {
	p := &parser{}
	p.feed([]byte(getA))
	for range 10000 {
		p.feed([]byte(getB))
		if err := p.pop(0, false); err != nil {
			t.Fatal(err)
		}
	}
	if p.pending() != 1 || cap(p.q) > 256 {
		t.Fatalf("pending %d, queue capacity %d", p.pending(), cap(p.q))
	}
}

func TestParserSteadyStateNoAlloc(t *testing.T) {
	stream := []byte(getA + postCL + postChk)
	p := &parser{}
	p.feed(stream) // warm up the queue
	for p.pending() > 0 {
		p.pop(0, false)
	}
	n := testing.AllocsPerRun(100, func() {
		for i := 0; i < len(stream); i += 13 { // lines split across reads
			p.feed(stream[i:min(i+13, len(stream))])
		}
		for p.pending() > 0 {
			if err := p.pop(0, false); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocs per stream; want 0", n)
	}
}
