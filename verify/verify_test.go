package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNewRequiresAudienceAndOneKeySource(t *testing.T) {
	for _, tc := range []struct {
		desc string
		cfg  Config
		want string
	}{
		{"no audience", Config{JWKSURL: "http://gw/jwks"}, "Audience"},
		{"no key source", Config{Audience: "a"}, "exactly one"},
		{"both key sources", Config{Audience: "a", JWKSURL: "http://gw/jwks", JWKS: []byte(`{"keys":[]}`)}, "exactly one"},
		{"a key set without usable keys", Config{Audience: "a", JWKS: []byte(`{"keys":[{"kty":"oct","k":"AAAA","kid":"x"}]}`)}, "no EdDSA or ES256"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.desc, err, tc.want)
		}
	}
}

func TestGatewaySignatureRules(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	now := time.Unix(1_800_000_000, 0)
	good := GatewaySignature(secret, now, "POST", "/a?b=1", "rid")
	for _, tc := range []struct {
		desc, method, target, rid, sig string
		at                             time.Time
		want                           error
	}{
		{"the signed request", "POST", "/a?b=1", "rid", good, now, nil},
		{"within the skew", "POST", "/a?b=1", "rid", good, now.Add(29 * time.Second), nil},
		{"too old", "POST", "/a?b=1", "rid", good, now.Add(31 * time.Second), ErrSignatureTooOld},
		{"from the future", "POST", "/a?b=1", "rid", good, now.Add(-31 * time.Second), ErrSignatureTooOld},
		{"another method", "GET", "/a?b=1", "rid", good, now, ErrSignatureMismatch},
		{"another query", "POST", "/a?b=2", "rid", good, now, ErrSignatureMismatch},
		{"another request id", "POST", "/a?b=1", "other", good, now, ErrSignatureMismatch},
		{"another secret", "POST", "/a?b=1", "rid", GatewaySignature([]byte(strings.Repeat("x", 32)), now, "POST", "/a?b=1", "rid"), now, ErrSignatureMismatch},
		{"missing", "POST", "/a?b=1", "rid", "", now, ErrNoSignature},
		{"malformed", "POST", "/a?b=1", "rid", "t=abc,v1=zz", now, ErrMalformedSig},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		r.Header.Set("X-Request-Id", tc.rid)
		if tc.sig != "" {
			r.Header.Set(DefaultSignatureHeader, tc.sig)
		}
		if err := CheckGatewaySignature(r, "", secret, 30*time.Second, tc.at); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.desc, err, tc.want)
		}
	}
}

// TestGatewaySignatureFormat recomputes the header as docs/zero-trust.md
// tells a non-Go service to: HMAC-SHA256 over "v1\n" t "\n" method "\n"
// path?query "\n" request id, base64url without padding.
func TestGatewaySignatureFormat(t *testing.T) {
	secret := []byte(strings.Repeat("k", 32))
	at := time.Unix(1_800_000_123, 0)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("v1\n1800000123\nPOST\n/a/b?c=d\nrid-7"))
	want := "t=1800000123,v1=" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	s := NewGatewaySigner(secret)
	for range 3 { // the pooled state gives the same answer every time
		if got := s.Sign(at, "POST", "/a/b?c=d", "rid-7"); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	if got := GatewaySignature(secret, at, "POST", "/a/b?c=d", "rid-7"); got != want {
		t.Fatalf("GatewaySignature: %s", got)
	}
}
