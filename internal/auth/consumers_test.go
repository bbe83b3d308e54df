package auth

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Consumer scopes reach identities from credentials that carry none of
// their own (api_key here, and the anonymous consumer).
func TestConsumerScopesReachIdentity(t *testing.T) {
	key, hash := akKey(t, "")
	other, otherHash := akKey(t, "")
	consumers := fmt.Sprintf(`  - name: reader
    scopes: [orders:read, orders:list]
    credentials:
      api_keys: [{id: r-1, hash: "%s"}]
  - name: plain
    credentials:
      api_keys: [{id: p-1, hash: "%s"}]
  - name: guest
    scopes: [public:read]
`, hash, otherHash)
	p := akMustCompile(t, akConfig(t, consumers, "          - api_key: {}\n        anonymous: guest"), pipeline.NewSharedValues())

	cases := []struct {
		key, consumer string
		scopes        []string
	}{
		{key, "reader", []string{"orders:read", "orders:list"}},
		{other, "plain", nil},
		{"", "guest", []string{"public:read"}},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.key != "" {
			r.Header.Set("X-API-Key", tc.key)
		}
		reason, c := akReason(p, r)
		if reason != "" || c.Identity == nil {
			t.Fatalf("%s: refused: %q", tc.consumer, reason)
		}
		if c.Identity.Consumer != tc.consumer || !slices.Equal(c.Identity.Scopes, tc.scopes) {
			t.Errorf("identity = %s %q, want %s %q", c.Identity.Consumer, c.Identity.Scopes, tc.consumer, tc.scopes)
		}
	}
}

// For jwt the token's scopes are authoritative: the consumer's standing
// scopes are not added, so a token without a scope claim has none.
func TestConsumerScopesNotAddedToJWT(t *testing.T) {
	cs := defaultConsumers(t)
	cs[0].Scopes = []string{"admin:all"} // alice
	p, err := compileWith(t, testConfig(t, `{algorithms: [HS256]}`, cs), pipeline.NewSharedValues())
	if err != nil {
		t.Fatal(err)
	}
	m := p.methods[0].(*jwtMethod)
	for _, tc := range []struct {
		claims map[string]any
		want   []string
	}{
		{map[string]any{"sub": "u"}, nil},
		{map[string]any{"scope": "orders:read"}, []string{"orders:read"}},
	} {
		id, _, err := authenticate(m, "Bearer "+sign(t, "HS256", "alice-hs", []byte(hmacSecret), tc.claims))
		if err != nil {
			t.Fatal(err)
		}
		if id.Consumer != "alice" || !slices.Equal(id.Scopes, tc.want) {
			t.Errorf("claims %v: identity %s %q, want scopes %q", tc.claims, id.Consumer, id.Scopes, tc.want)
		}
	}
}
