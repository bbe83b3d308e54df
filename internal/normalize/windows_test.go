package normalize

import (
	"strings"
	"testing"
)

// TestWindowsAmbiguity: each form a Windows upstream reads as another name
// is reported, through Canonicalize first as the gateway calls it; the
// ordinary paths around each are not.
func TestWindowsAmbiguity(t *testing.T) {
	cases := []struct {
		desc, raw string
		want      string // a part of the reason; "" for none
	}{
		{desc: "a plain path", raw: "/admin/report.txt"},
		{desc: "a dot inside a name", raw: "/files/v1.2/report.txt"},
		{desc: "a tilde not before a digit", raw: "/~alice/notes"},
		{desc: "an escaped space inside a name", raw: "/files/my%20report.txt"},
		{desc: "a trailing slash", raw: "/admin/"},
		{desc: "the root", raw: "/"},
		{desc: "a segment ending in a dot", raw: "/admin./report", want: "ends in a dot"},
		{desc: "a file name ending in a dot", raw: "/web.config.", want: "ends in a dot"},
		{desc: "an escaped dot at the end (decoded first)", raw: "/admin%2e/report", want: "ends in a dot"},
		{desc: "several dots", raw: "/admin.../report", want: "ends in a dot"},
		{desc: "a segment ending in a space", raw: "/admin%20/report", want: "ends in a space"},
		{desc: "a dot and a space", raw: "/admin.%20/report", want: "ends in a space"},
		{desc: "an alternate data stream", raw: "/default.aspx::$DATA", want: "colon"},
		{desc: "an escaped colon", raw: "/default.aspx%3a%3a$DATA", want: "colon"},
		{desc: "a drive", raw: "/c:/windows/win.ini", want: "colon"},
		{desc: "a short name", raw: "/ADMINI~1/report", want: "short name"},
		{desc: "a short name with an escaped tilde", raw: "/ADMINI%7E1/report", want: "short name"},
		{desc: "a wildcard star", raw: "/admin*/report", want: "forbids"},
		{desc: "an escaped DOS wildcard", raw: "/admin%3C/report", want: "forbids"},
		{desc: "a quote (DOS_DOT)", raw: "/admin%22/report", want: "forbids"},
		{desc: "a pipe", raw: "/a%7Cb", want: "forbids"},
		{desc: "an escaped question mark", raw: "/a%3Fb", want: "forbids"},
		{desc: "raw characters the canonical form escapes", raw: "/a<b", want: "forbids"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			p, err := Canonicalize(tc.raw)
			if err != nil {
				t.Fatalf("Canonicalize(%q): %v", tc.raw, err)
			}
			got := WindowsAmbiguity(p.Canonical)
			if (got == "") != (tc.want == "") || !strings.Contains(got, tc.want) {
				t.Errorf("WindowsAmbiguity(%q) = %q, want %q", p.Canonical, got, tc.want)
			}
		})
	}
}
