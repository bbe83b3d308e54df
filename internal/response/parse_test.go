package response

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	good := map[string][]string{
		"a":              {"a"},
		"user.password":  {"user", "password"},
		"items[].secret": {"items", "", "secret"},
		"[].id":          {"", "id"},
		"m[][]":          {"m", "", ""},
		"a-b.c_d.é":      {"a-b", "c_d", "é"},
	}
	for in, want := range good {
		got, err := parsePath(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"", ".a", "a.", "a..b", "a[", "a]", "a[0]", "a[].", "[]a", "a[]b", strings.Repeat("a", maxPathLen+1)} {
		if _, err := parsePath(in); err == nil {
			t.Errorf("%q parsed", in)
		}
	}
}

// FuzzParsePath: its seed corpus is in testdata/fuzz/FuzzParsePath.
func FuzzParsePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		steps, err := parsePath(s)
		if err != nil {
			return
		}
		// A parsed path prints back to itself.
		var b strings.Builder
		for i, st := range steps {
			switch {
			case st == "":
				b.WriteString("[]")
			case i > 0:
				b.WriteString("." + st)
			default:
				b.WriteString(st)
			}
			if strings.ContainsAny(st, ".[]") {
				t.Fatalf("%q: step %q holds a separator", s, st)
			}
		}
		if b.String() != s {
			t.Fatalf("%q printed back as %q", s, b.String())
		}
	})
}

func TestOriginPattern(t *testing.T) {
	cases := []struct {
		pattern string
		yes, no []string
	}{
		{"https://app.example.com", []string{"https://app.example.com"},
			[]string{"http://app.example.com", "https://app.example.com:443", "https://app.example.com.evil.net", "https://xapp.example.com", "https://app.example.co"}},
		{"HTTPS://*.Example.COM", []string{"https://a.example.com", "https://a-b.c.example.com"},
			[]string{"https://example.com", "https://.example.com", "https://a..example.com", "https://a.example.com:8443", "https://evil.com/.example.com", "https://a@b.example.com", "https://a_b.example.com", "http://a.example.com", "https://aexample.com"}},
		{"http://localhost:3000", []string{"http://localhost:3000"}, []string{"http://localhost", "http://localhost:30000", "http://localhost:300"}},
		{"https://*.example.com:8443", []string{"https://a.example.com:8443"}, []string{"https://a.example.com", "https://a.example.com:443"}},
		{"http://[::1]:8080", []string{"http://[::1]:8080"}, []string{"http://[::1]"}},
	}
	for _, tc := range cases {
		p, err := parseOriginPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		for _, o := range tc.yes {
			if !p.match(o) {
				t.Errorf("%q should match %q", tc.pattern, o)
			}
		}
		for _, o := range tc.no {
			if p.match(o) {
				t.Errorf("%q should not match %q", tc.pattern, o)
			}
		}
	}
	for _, bad := range []string{"example.com", "https://", "https://a.com/", "https://a.com/x", "https://a.*.com", "https://*", "https://*.com", "https://a.com:x", "https://a.com:1234567", "1http://a.com", "https://a b.com"} {
		if _, err := parseOriginPattern(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzOriginMatch: its seed corpus is in testdata/fuzz/FuzzOriginMatch.
func FuzzOriginMatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		p, err := parseOriginPattern(pattern)
		if err != nil || !p.match(origin) {
			return
		}
		// Whatever matches is a plain origin under the pattern's scheme,
		// host suffix and port: nothing that could smuggle another host.
		if strings.ContainsAny(origin, "/?#@\\ ") && !strings.HasPrefix(origin, p.prefix) {
			t.Fatalf("%q matched %q", pattern, origin)
		}
		rest := strings.TrimPrefix(origin, p.prefix)
		if strings.ContainsAny(rest, "/?#@\\ ") {
			t.Fatalf("%q matched %q", pattern, origin)
		}
		if !strings.HasSuffix(rest, p.suffix+p.port) {
			t.Fatalf("%q matched %q", pattern, origin)
		}
	})
}

// TestCORSWildcardUnderAPublicSuffixIsRefused: "https://*.co.uk" or
// "https://*.github.io" trusts every site anyone registered there, not the
// operator's subdomains; a count of labels let them through (two labels
// after the star), the Public Suffix List does not. A wildcard under the
// operator's own name, however deep the suffix, is kept.
func TestCORSWildcardUnderAPublicSuffixIsRefused(t *testing.T) {
	for _, tc := range []struct{ desc, origin, suffix string }{
		{"a country's second level", "https://*.co.uk", "co.uk"},
		{"a hosting provider's pages", "https://*.github.io", "github.io"},
		{"a platform's apps", "https://*.herokuapp.com", "herokuapp.com"},
		{"a cloud's buckets", "https://*.s3.amazonaws.com", "s3.amazonaws.com"},
		{"a top-level domain", "https://*.com", "com"},
		{"a name not on the list", "https://*.internal", "internal"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := parseOriginPattern(tc.origin)
			want := fmt.Sprintf("origin %q: %s is a public suffix", tc.origin, tc.suffix)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %v, want %s...", err, want)
			}
		})
	}
	for _, ok := range []string{"https://*.example.co.uk", "https://*.portcullis.github.io", "https://*.example.com", "https://*.corp.internal", "https://*.a.b.example.com:8443"} {
		p, err := parseOriginPattern(ok)
		if err != nil {
			t.Errorf("%s: %v", ok, err)
			continue
		}
		if host := "https://x" + p.suffix + p.port; !p.match(host) {
			t.Errorf("%s does not match %s", ok, host)
		}
	}
}
