package validate

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// The per-request cost of the signature policy: parse both fields, build
// the signature base, verify. Without replay protection (each iteration
// reuses one request, which the replay store would refuse from the second
// on) and, for the POST, with the body digest.
func benchSignature(b *testing.B, ed bool, body string) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	const secret = "0123456789abcdef0123456789abcdef"
	digest := ""
	components := []string{"@method", "@authority", "@path", "@query", "date"}
	if body != "" {
		digest = ", require_digest: true"
		components = append(components, "content-digest")
	}
	p, err := sigCompile(b, fmt.Sprintf(`{kind: signature, keys: [{id: hk, algorithm: hmac-sha256, secret: %q}, {id: ek, algorithm: ed25519, public_key: %q}], required_components: [%s]%s, replay_protection: false}`,
		secret, base64.StdEncoding.EncodeToString(pub), `"`+strings.Join(components, `", "`)+`"`, digest), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p.v.now = func() time.Time { return now }
	s := sigSigner{keyID: "hk", secret: []byte(secret)}
	if ed {
		s = sigSigner{keyID: "ek", priv: priv}
	}
	method := "GET"
	if body != "" {
		method = "POST"
	}
	r := httptest.NewRequest(method, "/v1/accounts/42?expand=owner", strings.NewReader(body))
	r.Header.Set("Date", now.UTC().Format(time.RFC1123))
	if body != "" {
		cd, _ := ContentDigest("sha-256", []byte(body))
		r.Header.Set("Content-Digest", cd)
	}
	s.sign(b, r, "sig1", components, sigParams(s.keyID, now, ""))
	c := &pipeline.Context{Request: r}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if body != "" {
			r.Body = nopBody{strings.NewReader(body)}
			r.ContentLength = int64(len(body))
		}
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

type nopBody struct{ *strings.Reader }

func (nopBody) Close() error { return nil }

func BenchmarkSignatureHMAC(b *testing.B)    { benchSignature(b, false, "") }
func BenchmarkSignatureEd25519(b *testing.B) { benchSignature(b, true, "") }
func BenchmarkSignatureHMACDigestPOST(b *testing.B) {
	benchSignature(b, false, strings.Repeat(`{"k":"v"},`, 100))
}
