package verify

import (
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
