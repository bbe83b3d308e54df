package validate

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Parsing never panics, and what parses re-serializes to text that
// parses to the same canonical form.
// The seed corpus is in testdata/fuzz/FuzzParseSFDictionary.
func FuzzParseSFDictionary(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseSFDictionary(s)
		if err != nil {
			return
		}
		canon := serializeDict(d)
		d2, err := parseSFDictionary(canon)
		if err != nil {
			t.Fatalf("%q -> %q does not parse: %v", s, canon, err)
		}
		if again := serializeDict(d2); again != canon {
			t.Fatalf("not stable: %q -> %q -> %q", s, canon, again)
		}
	})
}

// Any Signature-Input / Signature pair is refused or accepted without a
// panic; a random pair is never accepted.
// The seed corpus is in testdata/fuzz/FuzzSignatureHeaders.
func FuzzSignatureHeaders(f *testing.F) {
	const secret = "0123456789abcdef0123456789abcdef"
	p, err := sigCompile(f, `{kind: signature, keys: [{id: hk, algorithm: hmac-sha256, secret: "`+secret+`"}, {id: ek, algorithm: ed25519, public_key: "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="}], required_components: ["@method"], nonce_required: false}`, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	p.v.now = func() time.Time { return time.Unix(1_800_000_000, 0) }
	f.Fuzz(func(t *testing.T, input, sig string) {
		r := httptest.NewRequest("GET", "/a?b=c", nil)
		r.Header.Set("Date", "x")
		r.Header.Set("X", "y")
		r.Header["Signature-Input"] = []string{input}
		r.Header["Signature"] = []string{sig}
		if prob := p.Handle(&pipeline.Context{Request: r}); prob == nil {
			t.Fatalf("accepted a random signature: %q %q", input, sig)
		}
	})
}

// FuzzContentDigest: its seed corpus is in testdata/fuzz/FuzzContentDigest.
func FuzzContentDigest(f *testing.F) {
	f.Fuzz(func(t *testing.T, field string, body []byte) {
		err := verifyContentDigest(field, body)
		if err != nil {
			return
		}
		// Accepted: it must hold a supported digest of exactly this body.
		d, _ := parseSFDictionary(field)
		ok := false
		for _, m := range d {
			if m.Key == "sha-256" || m.Key == "sha-512" {
				want, _ := ContentDigest(m.Key, body)
				got := string(appendSFItem([]byte(m.Key+"="), m.Item))
				if m.IsList || got != want {
					t.Fatalf("accepted %q for a different body", field)
				}
				ok = true
			}
		}
		if !ok {
			t.Fatalf("accepted %q with no supported digest", field)
		}
	})
}
