package waf

import (
	"bytes"
	"io"
	"testing"
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
