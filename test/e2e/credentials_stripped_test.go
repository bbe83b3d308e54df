package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// credsGatewayConfig: one consumer with an API key, an HS256 JWT secret
// and a Basic password, a guest consumer, and one route per combination
// of methods.
func credsGatewayConfig(up *Upstream, keyHash, secretFile, pwHash string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: jo
    credentials:
      api_keys: [{id: jo-key, hash: "%s"}]
      jwt: [{key: jo-hs, algorithm: HS256, secret: "${file:%s}"}]
      basic: [{username: jo, password_hash: %q}]
  - name: guest
routes:
  - name: all
    paths: [{prefix: /all/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: {algorithms: [HS256], header: Authorization, cookie: session}
          - api_key: {query: api_key}
          - basic: {cache_ttl: 0s}
  - name: keyfirst
    paths: [{prefix: /keyfirst/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - api_key: {query: api_key}
          - jwt: {algorithms: [HS256], header: Authorization, cookie: session}
  - name: basicfirst
    paths: [{prefix: /basicfirst/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - basic: {cache_ttl: 0s}
          - api_key: {query: api_key}
  - name: anon
    paths: [{prefix: /anon/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: {algorithms: [HS256], header: Authorization, cookie: session}
          - api_key: {query: api_key}
        anonymous: guest
  - name: fwdkey
    paths: [{prefix: /fwdkey/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - jwt: {algorithms: [HS256]}
          - api_key: {forward_key: true}
  - name: fwdtoken
    paths: [{prefix: /fwdtoken/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - api_key: {query: api_key}
          - jwt: {algorithms: [HS256], forward_token: true}
  - name: fwdbasic
    paths: [{prefix: /fwdbasic/}]
    service: svc
    policies:
      - kind: auth
        methods:
          - basic: {forward_credentials: true, cache_ttl: 0s}
          - api_key: {}
ops: {address: "{{ops}}"}
`, up.URL, keyHash, secretFile, pwHash))
}

// TestCredentialsOfEveryMethodStripped: a credential meant for the gateway
// never reaches the upstream, whichever method accepted the request (or
// none, for the anonymous consumer); only a method configured to forward
// its own credential (forward_key, forward_token, forward_credentials)
// keeps it, and only that one.
func TestCredentialsOfEveryMethodStripped(t *testing.T) {
	key, keyHash := akGenerate(t)
	secretFile := filepath.Join(t.TempDir(), "jo-hs")
	if err := os.WriteFile(secretFile, []byte(jwtSecret), 0o600); err != nil {
		t.Fatal(err)
	}
	pwHash := bhHash(t, "jo-password", "--algorithm", "bcrypt", "--cost", "4")
	tok := jwtSign(t, "HS256", "jo-hs", []byte(jwtSecret), nil)
	bearer := "Bearer " + tok
	basic := bhAuth("jo", "jo-password")["Authorization"]

	up := NewUpstream(t, nil)
	gw := StartGateway(t, credsGatewayConfig(up, keyHash, secretFile, pwHash))

	for _, tc := range []struct {
		desc   string
		target string      // path and query sent
		header http.Header // sent
		method string      // X-Auth-Method the upstream must see
		uri    string      // RequestURI the upstream must see
		want   http.Header // headers the upstream must see exactly (nil: absent)
	}{
		{
			desc:   "jwt wins, an API key header is present too",
			target: "/all/r",
			header: http.Header{"Authorization": {bearer}, "X-Api-Key": {key}},
			method: "jwt", uri: "/all/r",
			want: http.Header{"Authorization": nil, "X-Api-Key": nil},
		},
		{
			desc:   "jwt wins, an API key in the query too (other parameters kept as sent)",
			target: "/all/r?x=1&api_key=" + key + "&y=2",
			header: http.Header{"Authorization": {bearer}},
			method: "jwt", uri: "/all/r?x=1&y=2",
			want: http.Header{"Authorization": nil},
		},
		{
			desc:   "jwt wins from its cookie: that cookie is removed, other cookies kept, the API key header removed",
			target: "/all/r",
			header: http.Header{"Cookie": {"theme=dark; session=" + tok + "; lang=en"}, "X-Api-Key": {key}},
			method: "jwt", uri: "/all/r",
			want: http.Header{"Cookie": {"theme=dark; lang=en"}, "X-Api-Key": nil},
		},
		{
			desc:   "the API key in its Authorization scheme wins, a JWT cookie is present too",
			target: "/keyfirst/r",
			header: http.Header{"Authorization": {"ApiKey " + key}, "Cookie": {"session=" + tok}},
			method: "api_key", uri: "/keyfirst/r",
			want: http.Header{"Authorization": nil, "Cookie": nil},
		},
		{
			desc:   "API key wins (listed first), a bearer token is present too",
			target: "/keyfirst/r",
			header: http.Header{"X-Api-Key": {key}, "Authorization": {bearer}},
			method: "api_key", uri: "/keyfirst/r",
			want: http.Header{"Authorization": nil, "X-Api-Key": nil},
		},
		{
			desc:   "API key from the query parameter wins, the JWT cookie is present too",
			target: "/keyfirst/r?api_key=" + key,
			header: http.Header{"Cookie": {"session=" + tok}},
			method: "api_key", uri: "/keyfirst/r",
			want: http.Header{"Cookie": nil},
		},
		{
			desc:   "Basic wins, an API key header and query parameter are present too",
			target: "/basicfirst/r?api_key=" + key,
			header: http.Header{"Authorization": {basic}, "X-Api-Key": {key}},
			method: "basic", uri: "/basicfirst/r",
			want: http.Header{"Authorization": nil, "X-Api-Key": nil},
		},
		{
			desc:   "anonymous: no method found a credential, and what they read is still removed (a foreign Authorization scheme, an empty key)",
			target: "/anon/r?api_key=&x=1",
			header: http.Header{"Authorization": {"Digest username=\"jo\""}, "X-Api-Key": {""}, "Cookie": {"theme=dark"}},
			method: "anonymous", uri: "/anon/r?x=1",
			want: http.Header{"Authorization": nil, "X-Api-Key": nil, "Cookie": {"theme=dark"}},
		},
		{
			desc:   "forward_key on the API key method: jwt wins, the key is kept, the token removed",
			target: "/fwdkey/r",
			header: http.Header{"Authorization": {bearer}, "X-Api-Key": {key}},
			method: "jwt", uri: "/fwdkey/r",
			want: http.Header{"Authorization": nil, "X-Api-Key": {key}},
		},
		{
			desc:   "forward_token on the jwt method: the API key wins, the token is kept, the key removed",
			target: "/fwdtoken/r?api_key=" + key,
			header: http.Header{"Authorization": {bearer}, "X-Api-Key": {key}},
			method: "api_key", uri: "/fwdtoken/r",
			want: http.Header{"Authorization": {bearer}, "X-Api-Key": nil},
		},
		{
			desc:   "forward_credentials on the basic method: Basic wins and is kept, the API key removed",
			target: "/fwdbasic/r",
			header: http.Header{"Authorization": {basic}, "X-Api-Key": {key}},
			method: "basic", uri: "/fwdbasic/r",
			want: http.Header{"Authorization": {basic}, "X-Api-Key": nil},
		},
	} {
		up.Reset()
		req, err := http.NewRequest("GET", gw.URL(tc.target), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = tc.header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 || up.Count() != 1 {
			t.Errorf("%s: status %d, upstream saw %d requests", tc.desc, resp.StatusCode, up.Count())
			continue
		}
		s := up.Last(t)
		if got := s.Header.Get("X-Auth-Method"); got != tc.method {
			t.Errorf("%s: accepted by %q, want %q", tc.desc, got, tc.method)
		}
		if s.RequestURI != tc.uri {
			t.Errorf("%s: upstream request URI %q, want %q", tc.desc, s.RequestURI, tc.uri)
		}
		for h, want := range tc.want {
			if got := s.Header.Values(h); fmt.Sprint(got) != fmt.Sprint([]string(want)) {
				t.Errorf("%s: upstream %s = %q, want %q", tc.desc, h, got, want)
			}
		}
	}
}
