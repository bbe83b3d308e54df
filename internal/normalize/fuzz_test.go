package normalize

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		"/", "/a/./b", "/a/../b", "/a/b/..", "/..", "/%2e%2e/admin", "/a%2Fb", "/a%5Cb",
		"/%C0%AF", "/a;x", "//a//b", "/a%41", "/caf%C3%A9", "/a%zz", "/a%2F..%2Fb", "/\u00e9/{x}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, o := range []Options{{}, {AllowSemicolon: true}} {
			p, err := o.Canonicalize(in)
			if err != nil {
				if _, ok := err.(*PathError); !ok {
					t.Fatalf("error of type %T", err)
				}
				continue
			}
			out := p.Canonical
			again, err := o.Canonicalize(out)
			if err != nil || again != p {
				t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again.Canonical, err)
			}
			if !o.IsCanonical(out) {
				t.Fatalf("IsCanonical(%q) = false", out)
			}
			if !strings.HasPrefix(out, "/") {
				t.Fatalf("%q: output %q", in, out)
			}
			for _, bad := range []string{"/../", "/./", "//", "\\", "%00"} {
				if strings.Contains(out, bad) {
					t.Fatalf("%q: output %q contains %q", in, out, bad)
				}
			}
			if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
				t.Fatalf("%q: output %q ends in a dot segment", in, out)
			}
			for i := 0; i < len(out); i++ {
				if out[i] <= ' ' || out[i] >= 0x7f {
					t.Fatalf("%q: output %q has byte %#x", in, out, out[i])
				}
			}
			if p.HasEncodedSlash != strings.Contains(out, "%2F") {
				t.Fatalf("%q: HasEncodedSlash wrong for %q", in, out)
			}
			dec, err := url.PathUnescape(out)
			if err != nil {
				t.Fatalf("%q: output %q does not decode: %v", in, out, err)
			}
			for _, seg := range strings.Split(dec, "/") {
				if o.AllowSemicolon {
					seg, _, _ = strings.Cut(seg, ";")
				}
				if seg == ".." || seg == "." {
					t.Fatalf("%q: decoded output %q has a dot segment", in, dec)
				}
			}
		}
	})
}

// FuzzConnParser feeds arbitrary bytes, whole and in pieces. The parser
// must not panic, must stay within its memory bounds, must reach the same
// verdicts however the bytes are split, and, for every head it called
// clean, must agree with net/http on which request that head is.
func FuzzConnParser(f *testing.F) {
	for _, s := range []string{
		getA + postCL + postChk + getB,
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + getA,
		"POST /t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n" + getB,
		"GET /a HTTP/1.0\nContent-Length: 2\n\nxy" + getB,
		"GET /ws HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n" + getA,
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + getA,
	} {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		whole := runParser(data, len(data))
		split := runParser(data, int(step%32)+1)
		if len(whole.heads) != len(split.heads) || !equalErrs(whole.verdicts, split.verdicts) {
			t.Fatalf("split changes verdicts: %v vs %v", whole.verdicts, split.verdicts)
		}
		for i := range whole.heads {
			if whole.heads[i] != split.heads[i] {
				t.Fatalf("head %d differs when split", i)
			}
		}
		if whole.maxLine > maxHeadLine || whole.maxPending > maxQueued {
			t.Fatalf("memory bound exceeded: line %d, queued %d", whole.maxLine, whole.maxPending)
		}

		// Differential check against net/http's own request reader.
		var goSums []uint64
		br := bufio.NewReader(bytes.NewReader(data))
		for len(goSums) < 64 {
			req, err := http.ReadRequest(br)
			if err != nil {
				break
			}
			goSums = append(goSums, fnv1aString(req.Method+" "+req.RequestURI))
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				break
			}
		}
		for i, h := range whole.heads {
			if h.err != nil || i >= len(goSums) {
				break
			}
			if h.sum != goSums[i] {
				t.Fatalf("head %d is clean but net/http read a different request there", i)
			}
		}
		clean := !whole.p.broken && whole.p.st != stStopped
		if clean && len(goSums) > len(whole.heads) && len(goSums) < 64 {
			t.Fatalf("net/http read %d requests, the parser saw %d heads", len(goSums), len(whole.heads))
		}
	})
}

type head struct {
	sum uint64
	err error
}

type parserRun struct {
	p          *parser
	heads      []head
	verdicts   []error
	maxLine    int
	maxPending int
}

func runParser(data []byte, step int) parserRun {
	r := parserRun{p: &parser{}}
	r.p.onHead = func(sum uint64, err error) { r.heads = append(r.heads, head{sum, err}) }
	if step <= 0 {
		step = 1
	}
	for len(data) > 0 {
		n := min(step, len(data))
		r.p.feed(data[:n])
		data = data[n:]
		r.maxLine = max(r.maxLine, len(r.p.line))
		r.maxPending = max(r.maxPending, r.p.pending())
	}
	for r.p.pending() > 0 {
		r.verdicts = append(r.verdicts, r.p.pop(0, false))
	}
	return r
}
