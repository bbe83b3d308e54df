package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestStrictPrefixIsNeverApplied: what was loaded is compared with the
// file once more before it goes live; a load that is the beginning of the
// file as it is now was read mid-write.
func TestStrictPrefixIsNeverApplied(t *testing.T) {
	for _, tc := range []struct {
		desc, loaded, now string
		changed           bool
		stillWriting      bool
	}{
		{desc: "unchanged", loaded: "version: 1\n", now: "version: 1\n"},
		{desc: "grew after the read: still being written", loaded: "version: 1\n", now: "version: 1\nroutes: []\n", changed: true, stillWriting: true},
		{desc: "replaced by something else", loaded: "version: 1\nroutes: []\n", now: "version: 1\n", changed: true},
		{desc: "same length, other bytes", loaded: "a: 1\n", now: "b: 1\n", changed: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.now), 0o600); err != nil {
				t.Fatal(err)
			}
			changed, err := changedSince(p, []byte(tc.loaded))
			if changed != tc.changed || errors.Is(err, errStillWriting) != tc.stillWriting {
				t.Fatalf("changed %v, err %v", changed, err)
			}
		})
	}
}

// TestAnAuthPolicyInErrorIsStillTheRoutesAuthentication: a route whose auth
// policy is refused (here for a consumer's credential it needs, or a field
// of its own) gets that error alone, not also "the route has no
// authentication policy" for the policies that need an identity: the
// second error was false and sent the operator after a policy that is
// there. A route with no auth policy at all still gets it.
// oneRouteHead is a config with one route, ending where its policies are listed
// (each "      - {kind: ...}" on line 9 on).
const oneRouteHead = `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: api
    paths: [{prefix: /}]
    service: svc
    policies:
`

// TestASecondPolicyOfAOnePerRouteKindIsRefused: a route holds at most one
// policy of a kind whose second would contradict the first (auth, cors,
// security_headers, deprecation, signature, waf); before, two auth
// policies with the same method refused every request (the second looked
// for the API key the first had removed), and a second cors policy's
// origins were refused by the first at every preflight. Kinds whose
// policies add up (every one must pass) may repeat.
func TestASecondPolicyOfAOnePerRouteKindIsRefused(t *testing.T) {
	const consumers = `consumers:
  - {name: app, credentials: {api_keys: [{id: k1, hash: "sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}}
`
	const secret = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ desc, first, second, tail, why string }{
		{"auth", `{kind: auth, methods: [{api_key: {}}]}`, `{kind: auth, methods: [{api_key: {}}], anonymous: guest}`, consumers + `  - {name: guest}
`,
			"a request has one identity"},
		{"cors", `{kind: cors, origins: ["https://a.example"]}`, `{kind: cors, origins: ["https://b.example"]}`, "",
			"the first answers every preflight"},
		{"security_headers", `{kind: security_headers}`, `{kind: security_headers, strip: [X-Powered-By]}`, "",
			"both set the same response headers"},
		{"deprecation", `{kind: deprecation, deprecated: "true"}`, `{kind: deprecation, deprecated: "true", sunset: "2030-01-01T00:00:00Z"}`, "",
			"a response carries one Deprecation and one Sunset"},
		{"signature", `{kind: signature, keys: [{id: a, algorithm: hmac-sha256, secret: "` + secret + `"}], required_components: ["@method"]}`,
			`{kind: signature, keys: [{id: b, algorithm: hmac-sha256, secret: "` + secret + `"}], required_components: ["@method"]}`, "",
			"a request carries one signature"},
		{"waf", `{kind: waf}`, `{kind: waf, paranoia_level: 2}`, "",
			"a second rule set inspects every request again"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := compileSource(t, routeWith(tc.first, tc.second)+tc.tail)
			want := "gw.yaml:10:16: routes[0].policies[1].kind: a second " + tc.desc + " policy on this route (the first is routes[0].policies[0]): " + tc.why
			if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
				t.Errorf("error:\n%v\nwant one error starting:\n%s", err, want)
			}
			// One of them alone compiles: the refusal is the second's.
			if err := compileSource(t, routeWith(tc.second)+tc.tail); err != nil {
				t.Errorf("the second alone: %v", err)
			}
		})
	}
	// Kinds whose policies add up: each must pass.
	for _, p := range []string{
		"{kind: rate_limit, limits: [{rate: 10, per: 1s}]}\n      - {kind: rate_limit, limits: [{rate: 100, per: 1m}]}",
		"{kind: ip_filter, allow: [10.0.0.0/8]}\n      - {kind: ip_filter, deny: [10.0.0.1]}",
		"{kind: validate, max_body: 1KiB}\n      - {kind: validate, content_types: [application/json]}",
		"{kind: concurrency, max: 10}\n      - {kind: concurrency, max: 100}",
	} {
		wantPolicyCompiles(t, p)
	}
}

// routeWith is the one-route config with these policies, in order.
func routeWith(policies ...string) string {
	src := oneRouteHead
	for _, p := range policies {
		src += "      - " + p + "\n"
	}
	return src
}

// wantPolicyRefused compiles the one-route config with policy and wants
// exactly the error want.
func wantPolicyRefused(t *testing.T, policy, want string) {
	t.Helper()
	if err := compileSource(t, routeWith(policy)); err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// wantPolicyCompiles compiles the one-route config with policy and wants
// no error (the rows a refusal must leave alone).
func wantPolicyCompiles(t *testing.T, policy string) {
	t.Helper()
	if err := compileSource(t, routeWith(policy)); err != nil {
		t.Errorf("%s: %v", policy, err)
	}
}

func TestAnAuthPolicyInErrorIsStillTheRoutesAuthentication(t *testing.T) {
	const consumer = `consumers:
  - name: app
    credentials:
      jwt: [{key: app, algorithm: HS256, secret: "%s"}]
`
	good, short := "0123456789abcdef0123456789abcdef", "short"
	for _, tc := range []struct{ desc, src, want string }{
		{"a consumer's secret refused",
			oneRouteHead + "      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}]}\n      - {kind: scopes, require: [read]}\n" + fmt.Sprintf(consumer, short),
			`gw.yaml:14:50: consumers[0].credentials.jwt[0].secret: is shorter than 32 bytes, the minimum for HS256`},
		{"a field of the auth policy refused",
			oneRouteHead + "      - {kind: auth, methods: [{jwt: {algorithms: [HS256], leeway: soon}}]}\n      - {kind: scopes, require: [read]}\n" + fmt.Sprintf(consumer, good),
			`gw.yaml:9:68: routes[0].policies[0].methods[0].jwt.leeway: invalid duration "soon" (use Go syntax such as "30s" or "1m")`},
		{"no auth policy",
			oneRouteHead + "      - {kind: scopes, require: [read]}\n" + fmt.Sprintf(consumer, good),
			`gw.yaml:9:7: routes[0].policies: a policy needs an authenticated identity, but the route has no authentication policy`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := compileSource(t, tc.src)
			if err == nil || err.Error() != tc.want {
				t.Errorf("errors:\n%v\nwant exactly:\n%s", err, tc.want)
			}
		})
	}
}

// TestAWrittenZeroInAPolicyIsRefused: a policy option written as a zero
// duration or size, which its policy would read as "not set" and replace
// with its default (a zero timeout becoming 3 s, a zero body limit 128
// KiB), is refused at its field. Options whose zero is a value of their
// own keep it.
// TestAWrittenEmptyListInAPolicyIsRefused: a policy's list written empty
// where empty means "everything" (every address not denied, every group
// not denied, any media type) or the default list is refused through the
// gateway's compile path; before, "allow: []" beside a deny list let
// every other address through.
func TestAWrittenEmptyListInAPolicyIsRefused(t *testing.T) {
	const msg = `, as if it were left out: leave it out for that, or list at least one`
	for _, tc := range []struct{ desc, policy, want string }{
		{"ip_filter allow: []", `{kind: ip_filter, allow: [], deny: [10.0.0.1]}`,
			`gw.yaml:9:34: routes[0].policies[0].allow: [] here would mean every address not denied` + msg},
		{"acl allow: []", `{kind: acl, allow: [], deny: [contractors]}`,
			`gw.yaml:9:28: routes[0].policies[0].allow: [] here would mean every group not denied` + msg},
		{"validate content_types: []", `{kind: validate, max_body: 1KiB, content_types: []}`,
			`gw.yaml:9:57: routes[0].policies[0].content_types: [] here would mean any media type` + msg},
		{"cors methods: []", `{kind: cors, origins: ["https://app.example"], methods: []}`,
			`gw.yaml:9:65: routes[0].policies[0].methods: [] here would mean the default, GET, HEAD and POST` + msg},
		{"hide_errors statuses: []", `{kind: hide_errors, statuses: []}`,
			`gw.yaml:9:39: routes[0].policies[0].statuses: [] here would mean the default, 5xx` + msg},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantPolicyRefused(t, tc.policy, tc.want) })
	}
	// Empty lists that mean "none": no address denied beside an allow
	// list, no header exposed to a page.
	for _, p := range []string{
		`{kind: ip_filter, allow: [10.0.0.0/8], deny: []}`,
		`{kind: cors, origins: ["https://app.example"], expose_headers: []}`,
	} {
		wantPolicyCompiles(t, p)
	}
}

func TestAWrittenZeroInAPolicyIsRefused(t *testing.T) {
	const msg = ` here would be the default, not zero: leave it out for the default, or write a value above zero`
	const strMsg = ` is empty, and empty here would be the default: leave it out for the default, or write a value`
	for _, tc := range []struct{ desc, policy, want string }{
		{"jwt max_token_bytes: 0", `{kind: auth, methods: [{jwt: {algorithms: [RS256], max_token_bytes: 0, jwks: {url: "https://idp.example/jwks", consumer_claim: sub}}}]}`,
			`gw.yaml:9:77: routes[0].policies[0].methods[0].jwt.max_token_bytes: "0"` + msg},
		{"jwks refresh: 0s", `{kind: auth, methods: [{jwt: {algorithms: [RS256], jwks: {url: "https://idp.example/jwks", refresh: 0s}}}]}`,
			`gw.yaml:9:109: routes[0].policies[0].methods[0].jwt.jwks.refresh: "0s"` + msg},
		{"introspection timeout: 0s", `{kind: auth, methods: [{introspection: {url: "https://idp.example/i", client_id: gw, client_secret: s3cret, timeout: 0s}}]}`,
			`gw.yaml:9:126: routes[0].policies[0].methods[0].introspection.timeout: "0s"` + msg},
		{"waf body_limit: 0", `{kind: waf, body_limit: 0}`,
			`gw.yaml:9:33: routes[0].policies[0].body_limit: "0"` + msg},
		{"validate max_body: 0B", `{kind: validate, max_body: 0B}`,
			`gw.yaml:9:36: routes[0].policies[0].max_body: "0B"` + msg},
		{"rate limit redis timeout: 0s", `{kind: rate_limit, limits: [{rate: 10, per: 1s}], store: redis, redis: {address: "127.0.0.1:6379", timeout: 0s}}`,
			`gw.yaml:9:117: routes[0].policies[0].redis.timeout: "0s"` + msg},
		{"rate limit key: \"\"", `{kind: rate_limit, limits: [{rate: 10, per: 1s}], key: ""}`,
			`gw.yaml:9:64: routes[0].policies[0].key: ""` + strMsg},
		{"rate limit bucket: \"\"", `{kind: rate_limit, limits: [{rate: 10, per: 1s}], bucket: ""}`,
			`gw.yaml:9:67: routes[0].policies[0].bucket: ""` + strMsg},
		{"rate limit max_keys: 0", `{kind: rate_limit, limits: [{rate: 10, per: 1s}], max_keys: 0}`,
			`gw.yaml:9:69: routes[0].policies[0].max_keys: "0"` + msg},
		{"rule cost_limit: 0", `{kind: rule, expr: "request.method == 'GET'", cost_limit: 0}`,
			`gw.yaml:9:67: routes[0].policies[0].cost_limit: "0"` + msg},
		{"validate max_headers: 0", `{kind: validate, max_body: 1KiB, max_headers: 0}`,
			`gw.yaml:9:55: routes[0].policies[0].max_headers: "0"` + msg},
		{"validate max_url_length: 0", `{kind: validate, max_body: 1KiB, max_url_length: 0}`,
			`gw.yaml:9:58: routes[0].policies[0].max_url_length: "0"` + msg},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantPolicyRefused(t, tc.policy, tc.want) })
	}
	// Zeros that are values: a CORS preflight answer without Max-Age, a
	// concurrency limit without a queue, the jwt leeway (a pointer), no
	// query parameter at all (a pointer).
	for _, p := range []string{
		`{kind: cors, origins: ["https://app.example"], max_age: 0s}`,
		`{kind: concurrency, max: 10, queue_timeout: 0s}`,
		`{kind: concurrency, max: 10, queue: 0}`,
		`{kind: validate, max_query_params: 0}`,
		`{kind: auth, methods: [{jwt: {algorithms: [RS256], leeway: 0s, audience: [api], issuer: "https://idp.example", jwks: {url: "https://idp.example/jwks", consumer_claim: sub}}}]}`,
	} {
		wantPolicyCompiles(t, p)
	}
}

// TestARouteThatListsGETMatchesHEAD: routeMethods adds HEAD to a route that
// lists GET (TestHeadFollowsTheGetRoute has the bypass it closes), so a
// HEAD-only route written after the GET route for the same path is never
// reached and is refused as every shadowed route is; written first, it
// keeps HEAD.
func TestARouteThatListsGETMatchesHEAD(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		listed []string
		want   []string
	}{
		{"GET gains HEAD", []string{"GET"}, []string{"GET", "HEAD"}},
		{"GET among others gains HEAD", []string{"POST", "GET"}, []string{"POST", "GET", "HEAD"}},
		{"HEAD already listed", []string{"GET", "HEAD"}, []string{"GET", "HEAD"}},
		{"no GET, no HEAD", []string{"POST"}, []string{"POST"}},
		{"every method", nil, nil},
	} {
		if got := routeMethods(tc.listed); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.desc, got, tc.want)
		}
	}
	listed := []string{"GET", "PUT"}
	_ = routeMethods(listed[:1])
	if listed[1] != "PUT" {
		t.Errorf("routeMethods wrote into the config's list: %v", listed)
	}
	const head = `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
`
	getRoute := "  - {name: pages, paths: [{prefix: /p}], methods: [GET], service: svc}\n"
	headRoute := "  - {name: probes, paths: [{prefix: /p}], methods: [HEAD], service: svc}\n"
	err := compileSource(t, head+getRoute+headRoute)
	if want := `gw.yaml:6:28: routes[1].paths[0]: is never reached: routes[0] ("pages") comes first`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("HEAD route after the GET route: %v, want %s...", err, want)
	}
	if err := compileSource(t, head+headRoute+getRoute); err != nil {
		t.Errorf("HEAD route first: %v", err)
	}
}
