package normalize

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzCanonicalize checks Canonicalize against a reference written from
// the rules, not from the code: decode each segment's escapes, resolve dot
// segments and collapse empty ones (RFC 3986 section 5.2.4), and compare
// the segments the router sees in the output. It also checks what the
// package doc promises: idempotence, no escape of an unreserved character,
// upper-case escapes, only characters valid raw in a path, and that the
// output reaches the same resource as the input would under each way an
// upstream decodes a path (per segment, as net/url does; the whole path at
// once, as servers that decode before splitting do, when no %2F is left;
// with ";params" stripped, as Tomcat and Jetty do, when ";" is allowed).
// The seed corpus is in testdata/fuzz/FuzzCanonicalize.
func FuzzCanonicalize(f *testing.F) {
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
			if p.HasEncodedSlash != strings.Contains(out, "%2F") {
				t.Fatalf("%q: HasEncodedSlash wrong for %q", in, out)
			}
			refCheckEscapes(t, in, out, o.AllowSemicolon)

			// What the router sees: the output's segments, each decoded.
			routed := refRouterView(out)
			// The reference: the input's segments, each decoded, resolved.
			if want := refResolve(strings.Split(in[1:], "/"), refDecodeSegment); !slices.Equal(routed, want) {
				t.Fatalf("%q: routed as %q, the reference resolves %q", in, routed, want)
			}
			// An upstream that decodes the whole path before splitting it.
			if !p.HasEncodedSlash {
				full := func(raw string) []string {
					dec, err := url.PathUnescape(raw)
					if err != nil {
						t.Fatalf("%q does not decode: %v", raw, err)
					}
					return refResolve(strings.Split(dec[1:], "/"), func(s string) string { return s })
				}
				if a, b := full(in), full(out); !slices.Equal(a, b) || !slices.Equal(a, routed) {
					t.Fatalf("decoding the whole path: input %q reaches %q, output %q reaches %q, routed %q", in, a, out, b, routed)
				}
			}
			// An upstream that strips ";params" from each segment.
			if o.AllowSemicolon {
				strip := func(raw string) []string {
					return refResolve(strings.Split(raw[1:], "/"), func(s string) string {
						s, _, _ = strings.Cut(s, ";")
						return refDecodeSegment(s)
					})
				}
				if a, b := strip(in), strip(out); !slices.Equal(a, b) {
					t.Fatalf("stripping ;params: input %q reaches %q, output %q reaches %q", in, a, out, b)
				}
			}
		}
	})
}

// refDecodeSegment decodes every escape in one raw segment (a segment
// holds no raw "/", so a decoded "%2F" stays inside it).
func refDecodeSegment(s string) string {
	d, err := url.PathUnescape(s)
	if err != nil {
		return "\x00undecodable:" + s // never equal to a decoded output segment
	}
	return d
}

// refResolve applies RFC 3986 remove_dot_segments to raw segments (the
// path after its leading "/", split on "/") after decoding each, and
// collapses empty segments. A path that ends in "/", "/." or "/.." keeps a
// trailing empty segment, so "/a/b/.." is "/a/" and differs from "/a".
func refResolve(raw []string, decode func(string) string) []string {
	var out []string
	trailing := false
	for _, seg := range raw {
		switch d := decode(seg); d {
		case "", ".":
			trailing = true
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			trailing = true
		default:
			out = append(out, d)
			trailing = false
		}
	}
	if trailing && len(out) > 0 {
		out = append(out, "")
	}
	return out
}

// refRouterView is the output's segments, each decoded.
func refRouterView(out string) []string {
	if out == "/" {
		return nil
	}
	segs := strings.Split(out[1:], "/")
	for i, s := range segs {
		segs[i] = refDecodeSegment(s)
	}
	return segs
}

// refCheckEscapes checks the output's spelling: every byte is unreserved,
// a sub-delim, ':' or '@' (';' only when allowed), or starts an upper-case
// escape of a byte that is not unreserved; no dot segment, "//" or NUL.
func refCheckEscapes(t *testing.T, in, out string, semicolon bool) {
	t.Helper()
	const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	const rawOK = unreserved + "!$&'()*+,=:@/"
	if !strings.HasPrefix(out, "/") {
		t.Fatalf("%q: output %q does not start with /", in, out)
	}
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case c == '%':
			if i+2 >= len(out) || !strings.ContainsRune("0123456789ABCDEF", rune(out[i+1])) || !strings.ContainsRune("0123456789ABCDEF", rune(out[i+2])) {
				t.Fatalf("%q: output %q has an escape that is not two upper-case hex digits at %d", in, out, i)
			}
			v, _ := strconv.ParseUint(out[i+1:i+3], 16, 8)
			if strings.IndexByte(unreserved, byte(v)) >= 0 {
				t.Fatalf("%q: output %q keeps the unreserved %q escaped", in, out, rune(v))
			}
			if v < 0x20 || v == 0x7f {
				t.Fatalf("%q: output %q holds an escaped control byte", in, out)
			}
			i += 2
		case c == ';' && semicolon:
		case strings.IndexByte(rawOK, c) < 0:
			t.Fatalf("%q: output %q holds %q raw", in, out, c)
		}
	}
	for _, bad := range []string{"/../", "/./", "//"} {
		if strings.Contains(out, bad) {
			t.Fatalf("%q: output %q contains %q", in, out, bad)
		}
	}
	if strings.HasSuffix(out, "/.") || strings.HasSuffix(out, "/..") {
		t.Fatalf("%q: output %q ends in a dot segment", in, out)
	}
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
