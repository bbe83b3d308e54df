package normalize

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalize(t *testing.T) {
	type tc struct {
		in, want string // want is the canonical form; "" when refused
		slash    bool   // HasEncodedSlash
		reason   string // refusal reason; "" when accepted
	}
	ok := func(in, want string) tc { return tc{in: in, want: want} }
	bad := func(in, reason string) tc { return tc{in: in, reason: reason} }
	cases := []tc{
		// Already canonical.
		ok("/", "/"),
		ok("/a/b", "/a/b"),
		ok("/a/b/", "/a/b/"),
		ok("/a-b_c.d~e/f", "/a-b_c.d~e/f"),
		ok("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,="),
		ok("/a%20b", "/a%20b"),
		ok("/caf%C3%A9", "/caf%C3%A9"),
		ok("/...", "/..."),
		ok("/a..b/.c/..d", "/a..b/.c/..d"),
		// Dot segments and slashes.
		ok("/a/./b", "/a/b"),
		ok("/a/../b", "/b"),
		ok("/a/b/..", "/a/"),
		ok("/a/b/../", "/a/"),
		ok("/a/b/.", "/a/b/"),
		ok("/./", "/"),
		ok("/.", "/"),
		ok("/a/b/../../c", "/c"),
		ok("//a//b", "/a/b"),
		ok("//", "/"),
		ok("/a//b///", "/a/b/"),
		ok("/a/.//b", "/a/b"),
		ok("/a/..//b", "/b"),
		// Escapes.
		ok("/a%41", "/aA"),
		ok("/%7Euser", "/~user"),
		ok("/%7euser", "/~user"),
		ok("/%61%62%2D%5F%2E", "/ab-_."),
		ok("/a%2e", "/a."),
		ok("/a%3f%23%3b%25", "/a%3F%23%3B%25"),
		ok("/caf%c3%a9", "/caf%C3%A9"),
		ok("/caf\u00e9", "/caf%C3%A9"),
		ok("/\u20ac%e2%82%ac", "/%E2%82%AC%E2%82%AC"),
		ok("/a{b}|c^d`e\"f<g>[h]", "/a%7Bb%7D%7Cc%5Ed%60e%22f%3Cg%3E%5Bh%5D"),
		{in: "/a%2Fb", want: "/a%2Fb", slash: true},
		{in: "/a%2fb", want: "/a%2Fb", slash: true},
		{in: "/a%2F%2Fb/", want: "/a%2F%2Fb/", slash: true},
		bad("/a%2Fb/../c", ReasonAmbiguousDot), // "/c" here, "/a/c" to a server that decodes first
		// Refused.
		bad("", ReasonNotOriginForm),
		bad("a/b", ReasonNotOriginForm),
		bad("*", ReasonNotOriginForm),
		bad("http://host/path", ReasonNotOriginForm),
		bad("/..", ReasonAboveRoot),
		bad("/../a", ReasonAboveRoot),
		bad("/a/../..", ReasonAboveRoot),
		bad("/a/b/../../../c", ReasonAboveRoot),
		bad("/%2e%2e/admin", ReasonEncodedDot),
		bad("/a/%2E/b", ReasonEncodedDot),
		bad("/a/%2E%2e/b", ReasonEncodedDot),
		bad("/a/.%2E/b", ReasonEncodedDot),
		bad("/a/%2e", ReasonEncodedDot),
		bad("/a/..%2Fadmin", ReasonAmbiguousDot),
		bad("/a/%2e%2e%2fadmin", ReasonAmbiguousDot),
		bad("/a%2F..", ReasonAmbiguousDot),
		bad("/a%2F.%2Fb", ReasonAmbiguousDot),
		// ".." dropping a segment that holds "%2F": a server that decodes
		// the whole path first drops only the part after the slash.
		bad("/0/%2f/..", ReasonAmbiguousDot),
		bad("/a/b%2Fc/..", ReasonAmbiguousDot),
		bad("/a/b%2fc/d/../..", ReasonAmbiguousDot),
		bad("/public/%2F/../admin", ReasonAmbiguousDot),
		bad("/a%5Cb", ReasonBackslash),
		bad("/a%5cb", ReasonBackslash),
		bad("/a\\b", ReasonBackslash),
		bad("/..\\admin", ReasonBackslash),
		bad("/a%00b", ReasonControl),
		bad("/a%0Ab", ReasonControl),
		bad("/a%0d%0aX-Injected:1", ReasonControl),
		bad("/a%7Fb", ReasonControl),
		bad("/a\x00b", ReasonControl),
		bad("/a\tb", ReasonControl),
		bad("/a\x7fb", ReasonControl),
		bad("/%C0%AF", ReasonInvalidUTF8),
		bad("/%c0%ae%c0%ae/admin", ReasonInvalidUTF8),
		bad("/%ff", ReasonInvalidUTF8),
		bad("/%C3", ReasonInvalidUTF8),
		bad("/%C3a", ReasonInvalidUTF8),
		bad("/%ED%A0%80", ReasonInvalidUTF8), // surrogate
		bad("/\xff", ReasonInvalidUTF8),
		bad("/\xc3", ReasonInvalidUTF8),
		bad("/a;jsessionid=1", ReasonSemicolon),
		bad("/..;/admin", ReasonSemicolon),
		bad("/a#frag", ReasonFragment),
		bad("/a b", ReasonInvalidChar),
		bad("/a?b", ReasonInvalidChar),
		bad("/a%zzb", ReasonBadEscape),
		bad("/a%2", ReasonBadEscape),
		bad("/a%", ReasonBadEscape),
		bad("/a%4", ReasonBadEscape),
		bad("/a%4g", ReasonBadEscape),
		bad("/%C3%A", ReasonBadEscape),
	}
	for _, c := range cases {
		p, err := Canonicalize(c.in)
		if c.reason != "" {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Reason != c.reason {
				t.Errorf("Canonicalize(%q) = %q, %v; want refusal %q", c.in, p.Canonical, err, c.reason)
			}
			if IsCanonical(c.in) {
				t.Errorf("IsCanonical(%q) = true for a refused path", c.in)
			}
			continue
		}
		if err != nil || p.Canonical != c.want || p.HasEncodedSlash != c.slash {
			t.Errorf("Canonicalize(%q) = %q slash=%v, %v; want %q slash=%v", c.in, p.Canonical, p.HasEncodedSlash, err, c.want, c.slash)
			continue
		}
		if !IsCanonical(p.Canonical) {
			t.Errorf("output %q of %q is not canonical", p.Canonical, c.in)
		}
		if got := IsCanonical(c.in); got != (c.in == c.want) {
			t.Errorf("IsCanonical(%q) = %v", c.in, got)
		}
	}
}

func TestCanonicalizeSemicolonOption(t *testing.T) {
	o := Options{AllowSemicolon: true}
	accept := map[string]string{
		"/a;jsessionid=1":      "/a;jsessionid=1",
		"/a;x/b/../c":          "/a;x/c",
		"/a/b;x/..":            "/a/",
		"/a/;x":                "/a/;x",
		"/a;b%2Fc;d":           "/a;b%2Fc;d",
		"/a;x/..%2e;y/b/../c/": "/a;x/...;y/c/",
	}
	for in, want := range accept {
		p, err := o.Canonicalize(in)
		if err != nil || p.Canonical != want {
			t.Errorf("Canonicalize(%q) = %q, %v; want %q", in, p.Canonical, err, want)
		}
		if !o.IsCanonical(want) {
			t.Errorf("IsCanonical(%q) = false", want)
		}
	}
	// The last three: ".." after a segment of parameters only, which an
	// upstream that strips them reads as an empty segment and collapses.
	for _, in := range []string{"/..;/admin", "/a/.;x/b", "/a/..;", "/a;x%2F..;y", "/0/;/..", "/a/;x/..", "/a/;x/;y/../b"} {
		if _, err := o.Canonicalize(in); err == nil || err.(*PathError).Reason != ReasonAmbiguousDot {
			t.Errorf("Canonicalize(%q) err = %v; want %q", in, err, ReasonAmbiguousDot)
		}
	}
}

// The canonical form must survive net/url: used as RawPath, it has to be
// what EscapedPath returns, or the upstream would get a re-encoded path.
func TestCanonicalKeptByNetURL(t *testing.T) {
	for _, in := range []string{"/a%2Fb", "/a%20b/c%3F", "/caf%C3%A9", "/a{b}", "/x%25y", "/a:b@c"} {
		p, err := Canonicalize(in)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := url.PathUnescape(p.Canonical)
		if err != nil {
			t.Fatalf("%q: %v", p.Canonical, err)
		}
		u := url.URL{Path: dec, RawPath: p.Canonical}
		if got := u.EscapedPath(); got != p.Canonical {
			t.Errorf("EscapedPath() = %q; want %q", got, p.Canonical)
		}
	}
}

func TestCanonicalizeZeroAlloc(t *testing.T) {
	for _, in := range []string{"/api/v1/users/42/orders", "/caf%C3%A9/a%2Fb/", "/a/b/.."} {
		n := testing.AllocsPerRun(100, func() {
			if _, err := Canonicalize(in); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("Canonicalize(%q): %v allocs; want 0", in, n)
		}
	}
	n := testing.AllocsPerRun(100, func() { _, _ = Canonicalize("/a%5Cb") })
	if n != 0 {
		t.Errorf("refusal: %v allocs; want 0", n)
	}
}

func TestPathErrorText(t *testing.T) {
	_, err := Canonicalize("/a%00b")
	if err == nil || !strings.Contains(err.Error(), ReasonControl) || strings.Contains(err.Error(), "%00") {
		t.Errorf("error %v must name the reason and not echo the input", err)
	}
}

func BenchmarkCanonicalize(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"canonical", "/api/v1/users/42/orders/recent"},
		{"canonical-escaped", "/search/caf%C3%A9%20au%20lait"},
		{"dirty", "/api//v1/./users/%34%32/../42/orders%2frecent"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Canonicalize(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
