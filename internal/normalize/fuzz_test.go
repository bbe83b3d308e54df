package normalize

import (
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
