package waf

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// FuzzReadBounded checks the body buffering the WAF relies on: whatever
// the declared length and limit, the bytes read plus the rest of the
// stream are the original body, and "more" is true exactly when the body
// is longer than the limit.
// The seed corpus is in testdata/fuzz/FuzzReadBounded.
func FuzzReadBounded(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, size, limit int64) {
		if limit < 1 || limit > 1<<16 {
			return
		}
		if size >= 0 {
			size = int64(len(body)) // a declared length is enforced by net/http
		} else {
			size = -1
		}
		src := bytes.NewReader(body)
		data, more, err := readBounded(src, size, limit)
		if err != nil {
			t.Fatal(err)
		}
		if more != (int64(len(body)) > limit) {
			t.Fatalf("more=%v for %d bytes, limit %d", more, len(body), limit)
		}
		rest, _ := io.ReadAll(src)
		if got := append(append([]byte{}, data...), rest...); !bytes.Equal(got, body) {
			t.Fatalf("read %q + %q, body %q", data, rest, body)
		}
		if int64(len(data)) > limit+1 {
			t.Fatalf("read %d bytes beyond limit %d", len(data), limit)
		}
	})
}

// FuzzPrunedSameVerdicts sends a request built from the fuzzer's bytes
// through the paranoia 4 rule set (every rule active) as it is and with
// pruning, and requires the same matched rules with the same messages:
// TestPrunedSameVerdicts on inputs the CRS's corpus does not have. The
// seeds are a clean request, encodings pruning reads (percent, plus,
// entities, backslashes, comments, case, bytes that are not ASCII), a
// few attacks, and headers the protocol rules name or count (header:
// "Name: value", added when Name is a header name).
func FuzzPrunedSameVerdicts(f *testing.F) {
	for _, s := range [][5]string{
		{"GET", "/v1/users?name=O%27Brien&page=2", "example-client/1.2", "", ""},
		{"GET", "/a?q=%3Cscript%3E+alert(1)", "Mozilla/5.0", "", ""},
		{"GET", "/a?q=&lt;script&gt;", "x", "", ""},
		{"GET", "/a?q=\\x3cscript\\u003e", "\u212aelvin", "", ""},
		{"GET", "/a?q=SeLeCt/**/1", "\xff\xfe", "", ""},
		{"POST", "/a", "curl/8", "q=1%27+OR+%271%27%3D%271", ""},
		{"GET", "/..%2F..%2Fetc%2Fpasswd", "x", "", ""},
		{"GET", "/a?c=;cat%20/etc/passwd", "x", "", ""},
		{"GET", "/a", "", "", "Content-Length: 1x"},
		{"GET", "/a", "x", "", "Range: bytes=9-1"},
		{"GET", "/a", "x", "", "Accept: "},
		{"GET", "/a", "x", "", "Content-Type: text/plain"},
		{"GET", "/a", "x", "", "Request-Range: 1-2"},
		{"GET", "/a", "x", "", "X-Filename: a.php"},
		{"GET", "/a", "x", "", "Accept-Encoding: " + strings.Repeat("gzip,", 21)},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	var e *engine
	f.Fuzz(func(t *testing.T, method, uri, agent, body, header string) {
		if e == nil {
			var err error
			if e, _, err = pruneConfigs[0].build(); err != nil {
				t.Fatal(err)
			}
		}
		r := crstest.Request{Name: "fuzz", Method: method, URI: uri, Version: "HTTP/1.1",
			Headers: map[string]string{"Host": "example.com", "User-Agent": agent}, Data: body}
		if body != "" {
			r.Headers["Content-Type"] = "application/x-www-form-urlencoded"
		}
		if name, value, ok := strings.Cut(header, ":"); ok && httpguts.ValidHeaderFieldName(name) {
			r.Headers[name] = strings.TrimLeft(value, " ")
		}
		want, got, _ := verdicts(e, r)
		if !slices.Equal(got, want) {
			t.Fatalf("%q %q %q %q %q: pruned adds %q, lacks %q", method, uri, agent, body, header, difference(got, want), difference(want, got))
		}
	})
}
