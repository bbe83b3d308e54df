package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// TestCredentialsStrippedWhicheverMethodWon: after the policy accepts a
// request, every credential any of its methods reads is gone unless the
// method that reads it forwards it.
func TestCredentialsStrippedWhicheverMethodWon(t *testing.T) {
	key, keyHash := akKey(t, "")
	pw, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	consumers := fmt.Sprintf(`  - name: jo
    credentials:
      api_keys: [{id: jo-key, hash: "%s"}]
      jwt: [{key: alice-hs, algorithm: HS256, secret: "%s"}]
      basic: [{username: jo, password_hash: %q}]
  - name: guest
`, keyHash, hmacSecret, pw)
	tok := sign(t, "HS256", "alice-hs", []byte(hmacSecret), nil)
	basic := basicReq("jo", "pw").Header.Get("Authorization")

	type want struct {
		method string
		header http.Header // the credential headers left (nil values: absent)
		query  string
	}
	for _, tc := range []struct {
		desc, methods, anonymous string
		set                      func(r *http.Request)
		want                     want
	}{
		{
			desc:    "jwt wins: the api key header, its ApiKey scheme and query parameter, the basic value and the cookie are removed",
			methods: "[{jwt: {algorithms: [HS256], cookie: session}}, {api_key: {query: api_key}}, basic]",
			set: func(r *http.Request) {
				r.Header.Add("Authorization", "Bearer "+tok)
				r.Header.Add("Authorization", "ApiKey "+key)
				r.Header.Set("X-Api-Key", key)
				r.Header.Set("Cookie", "a=1; session="+tok+"; b=2")
			},
			want: want{method: "jwt", header: http.Header{"Authorization": nil, "X-Api-Key": nil, "Cookie": {"a=1; b=2"}}, query: "x=1"},
		},
		{
			desc:    "api key wins (first method): the bearer token is removed though jwt never read it",
			methods: "[{api_key: {}}, {jwt: {algorithms: [HS256]}}]",
			set: func(r *http.Request) {
				r.Header.Set("X-Api-Key", key)
				r.Header.Set("Authorization", "Bearer "+tok)
			},
			want: want{method: "api_key", header: http.Header{"Authorization": nil, "X-Api-Key": nil}, query: "x=1&api_key=" + key},
		},
		{
			desc:    "basic wins: the api key is removed",
			methods: "[basic, {api_key: {}}]",
			set: func(r *http.Request) {
				r.Header.Set("Authorization", basic)
				r.Header.Set("X-Api-Key", key)
			},
			want: want{method: "basic", header: http.Header{"Authorization": nil, "X-Api-Key": nil}, query: "x=1&api_key=" + key},
		},
		{
			desc:      "anonymous: no method found a credential, what they read is still removed (another Authorization scheme, an empty key)",
			methods:   "[{jwt: {algorithms: [HS256]}}, {api_key: {query: api_key}}]",
			anonymous: "guest",
			set: func(r *http.Request) {
				r.Header.Set("Authorization", "Digest username=x")
				r.Header.Set("X-Api-Key", "")
				r.URL.RawQuery = "x=1&api_key="
			},
			want: want{method: "anonymous", header: http.Header{"Authorization": nil, "X-Api-Key": nil}, query: "x=1"},
		},
		{
			desc:      "anonymous with no credential: other headers untouched",
			methods:   "[{jwt: {algorithms: [HS256], cookie: s}}]",
			anonymous: "guest",
			set:       func(r *http.Request) { r.Header.Set("Cookie", "a=1") },
			want:      want{method: "anonymous", header: http.Header{"Cookie": {"a=1"}}, query: "x=1&api_key=" + key},
		},
		{
			desc:    "forward_key on api_key, jwt wins: the key is kept, the token removed",
			methods: "[{jwt: {algorithms: [HS256]}}, {api_key: {forward_key: true}}]",
			set: func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+tok)
				r.Header.Set("X-Api-Key", key)
			},
			want: want{method: "jwt", header: http.Header{"Authorization": nil, "X-Api-Key": {key}}, query: "x=1&api_key=" + key},
		},
		{
			desc:    "forward_token on jwt, api key wins: the token is kept, the key removed",
			methods: "[{api_key: {query: api_key}}, {jwt: {algorithms: [HS256], forward_token: true}}]",
			set: func(r *http.Request) {
				r.Header.Set("Authorization", "Bearer "+tok)
				r.Header.Set("X-Api-Key", key)
				r.URL.RawQuery = "x=1"
			},
			want: want{method: "api_key", header: http.Header{"Authorization": {"Bearer " + tok}, "X-Api-Key": nil}, query: "x=1"},
		},
		{
			desc:    "an Authorization scheme no method reads is removed where a method reads Authorization",
			methods: "[{jwt: {algorithms: [HS256], forward_token: true}}]",
			set: func(r *http.Request) {
				r.Header.Add("Authorization", "Bearer "+tok)
				r.Header.Add("Authorization", "Digest username=x")
			},
			want: want{method: "jwt", header: http.Header{"Authorization": {"Bearer " + tok}}, query: "x=1&api_key=" + key},
		},
		{
			desc:    "Authorization is left alone when no method reads it",
			methods: "[{api_key: {authorization_scheme: \"\"}}]",
			set: func(r *http.Request) {
				r.Header.Set("X-Api-Key", key)
				r.Header.Set("Authorization", "Bearer upstream-token")
			},
			want: want{method: "api_key", header: http.Header{"Authorization": {"Bearer upstream-token"}, "X-Api-Key": nil}, query: "x=1&api_key=" + key},
		},
	} {
		p := compileMethods(t, consumers, tc.methods, tc.anonymous)
		r := httptest.NewRequest("GET", "http://gw.test/x?x=1&api_key="+key, nil)
		tc.set(r)
		c := &pipeline.Context{Request: r}
		if prob := p.Handle(c); prob != nil {
			t.Errorf("%s: refused: %s", tc.desc, prob.Reason)
			continue
		}
		if c.Identity.Method != tc.want.method {
			t.Errorf("%s: accepted by %q, want %q", tc.desc, c.Identity.Method, tc.want.method)
		}
		for h, v := range tc.want.header {
			if got := r.Header[h]; !reflect.DeepEqual(got, []string(v)) {
				t.Errorf("%s: %s = %q, want %q", tc.desc, h, got, v)
			}
		}
		if r.URL.RawQuery != tc.want.query {
			t.Errorf("%s: query %q, want %q", tc.desc, r.URL.RawQuery, tc.want.query)
		}
	}
}

// compileMethods compiles an auth policy with the methods (a YAML flow
// list) and the anonymous consumer.
func compileMethods(t *testing.T, consumers, methods, anonymous string) *policy {
	t.Helper()
	if anonymous != "" {
		anonymous = fmt.Sprintf(", anonymous: %q", anonymous)
	}
	y := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:1"}]}]
consumers:
%s
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
      - {kind: auth, methods: %s%s}
`, consumers, methods, anonymous)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return akMustCompile(t, cfg, pipeline.NewSharedValues())
}

// TestStripAuthorizationSchemes: only the values whose scheme, lower-cased,
// is kept survive; an ASCII scheme is compared in place, any other
// lower-cased with Unicode's rules (so "Baſic", whose ſ lower-cases to
// itself, is not "basic", while the Kelvin sign lower-cases to k). A header
// whose values are all kept stays as it is, without an allocation.
func TestStripAuthorizationSchemes(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep []string
		in   []string
		want []string // nil: the header is gone
	}{
		{"bearer kept", []string{"bearer"}, []string{"Bearer abc"}, []string{"Bearer abc"}},
		{"upper case kept", []string{"bearer"}, []string{"BEARER abc"}, []string{"BEARER abc"}},
		{"tab after the scheme", []string{"bearer"}, []string{"Bearer\tabc"}, []string{"Bearer\tabc"}},
		{"leading space", []string{"bearer"}, []string{"  bearer abc"}, []string{"  bearer abc"}},
		{"other scheme dropped", []string{"bearer"}, []string{"Basic dTpw"}, nil},
		{"nothing kept", nil, []string{"Bearer abc"}, nil},
		{"mixed: only the kept one", []string{"bearer"}, []string{"Basic dTpw", "Bearer abc"}, []string{"Bearer abc"}},
		{"prefix is not the scheme", []string{"bearer"}, []string{"Bearerx abc"}, nil},
		{"long s is not s", []string{"basic"}, []string{"Baſic dTpw"}, nil},
		{"Kelvin sign lower-cases to k", []string{"kb"}, []string{"\u212AB abc"}, []string{"\u212AB abc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Authorization": append([]string(nil), tc.in...)}
			stripAuthorization(h, tc.keep)
			got, ok := h["Authorization"]
			if tc.want == nil {
				if ok {
					t.Fatalf("Authorization %q kept, want it gone", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Authorization %q, want %q", got, tc.want)
			}
		})
	}
	h := http.Header{"Authorization": {"Bearer abc"}}
	if n := testing.AllocsPerRun(100, func() { stripAuthorization(h, []string{"bearer"}) }); n != 0 {
		t.Fatalf("%v allocations keeping a forwarded token, want 0", n)
	}
}
