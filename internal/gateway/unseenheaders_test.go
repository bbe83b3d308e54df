package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/upstream"
)

// routeHeadersConfig has a route that sends a JWT claim upstream
// (X-User-Id) and a route "admins" whose header condition is the test's.
// listener, service, top, users and admins fill the listener's extra
// fields, the service's, extra top-level blocks, more policies of "users"
// and more fields of "admins".
const routeHeadersConfig = `version: 1
listeners: [{name: public, address: "127.0.0.1:0"%s}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]%s}]
%s
consumers:
  - name: alice
    credentials: {jwt: [{key: alice-hs, algorithm: HS256, secret: "alice-secret-0123456789abcdefghijklmnop"}]}
routes:
  - name: users
    paths: [{prefix: /users/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256], claims_to_headers: {sub: X-User-Id}}}]}
%s
  - name: admins
    paths: [{prefix: /admin/}]
    service: svc
    auth: none
%s
ops: {disable: true}
`

// TestRouteHeaderConditionOnAHeaderThatNeverReachesTheRouterIsRefused:
// the client's copy of a header the gateway sets for the upstream (or one
// only a proxy may set, a method override header, a name with '_' or '.')
// is removed before routing, and Host is never a header field. A route
// that requires one can never match: its policies never run, while the
// config reads as "requests that say X-Consumer-Name: admin go here". Each
// refused row also shows, through the real stage, that a client's copy of
// that header is gone before the router looks.
func TestRouteHeaderConditionOnAHeaderThatNeverReachesTheRouterIsRefused(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(dir, "assert.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	assertion := fmt.Sprintf("identity_assertion: {keys: [{id: k1, private_key_file: %q}]}", keyFile)

	for _, tc := range []struct {
		desc                   string
		header                 string
		listener, service, top string
		want                   string // "" when the condition is accepted
	}{
		{desc: "an identity header", header: "X-Consumer-Name", want: "(identity_headers.consumer)"},
		{desc: "an identity header spelled in lower case", header: "x-consumer-groups", want: "(identity_headers.groups)"},
		{desc: "a renamed identity header", header: "X-User", top: "identity_headers: {consumer: X-User}", want: "(identity_headers.consumer)"},
		{desc: "the default name of a renamed identity header is an ordinary header", header: "X-Consumer-Name", top: "identity_headers: {consumer: X-User}"},
		{desc: "a claim a jwt method sends upstream", header: "X-User-Id", want: "(the auth policy at routes[0].policies[0])"},
		{desc: "the identity assertion header", header: "X-Portcullis-Assertion", service: ", identity_assertion: {}", top: assertion, want: `(the identity assertion of service "svc")`},
		{desc: "the identity assertion header without an assertion is an ordinary header", header: "X-Portcullis-Assertion"},
		{desc: "a header only a proxy sets", header: "X-Real-IP", want: "only a proxy may set it"},
		{desc: "a method override header", header: "X-HTTP-Method-Override", want: "method override headers"},
		{desc: "Host", header: "host", want: "match it with a route's hosts"},
		{desc: "a name with an underscore where no listener keeps them", header: "X_Tenant", want: "no listener sets allow_underscore_and_dot_headers"},
		{desc: "a name with a dot where no listener keeps them", header: "X.Tenant", want: "no listener sets allow_underscore_and_dot_headers"},
		{desc: "a name with an underscore on a listener that keeps them", header: "X_Tenant", listener: ", allow_underscore_and_dot_headers: true"},
		{desc: "an ordinary header", header: "X-Api-Version"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			src := fmt.Sprintf(routeHeadersConfig, tc.listener, tc.service, tc.top, "", fmt.Sprintf("    headers: [{name: %q}]", tc.header))
			if !wantCompileError(t, compileSource(t, src), "routes[1].headers[0].name", "never reaches the router", tc.want) {
				return
			}
			if strings.EqualFold(tc.header, "Host") {
				return // never a field of Request.Header (the engine keeps it in Request.Host)
			}
			// The reason the check exists: without the condition, a
			// client's copy of the header is gone before matchRoute.
			snap := compileSnapshot(t, fmt.Sprintf(routeHeadersConfig, tc.listener, tc.service, tc.top, "", ""))
			x, _ := newExchange(snap, "GET", "/admin/", "example.com")
			x.r.Header = header(tc.header, "admin", "Accept", "*/*")
			x.dropClientHeaders()
			if len(x.r.Header) != 1 {
				t.Errorf("the router would see %v", x.r.Header)
			}
		})
	}
}

// wantCompileError checks a compile result: no error when want is "",
// else one at path holding both texts. It reports whether it was refused.
func wantCompileError(t *testing.T, err error, path, what, want string) bool {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return false
	}
	if err == nil {
		t.Fatal("accepted")
	}
	if msg := err.Error(); !strings.Contains(msg, path+": ") || !strings.Contains(msg, what) || !strings.Contains(msg, want) {
		t.Fatalf("error %q, want it at %s with %q", msg, path, want)
	}
	return true
}

// compileSource parses and compiles a config as validate does (a config in
// error is compiled too, for its policies' errors); the error is either's.
func compileSource(t *testing.T, src string) error {
	t.Helper()
	cfg, err := parseConfig("gw.yaml", []byte(src))
	if err != nil {
		return err
	}
	reg := upstream.NewRegistry()
	t.Cleanup(reg.Close)
	_, err = Compile(cfg, reg)
	return err
}

// compileSnapshot compiles a config that must be valid.
func compileSnapshot(t *testing.T, src string) *Snapshot {
	t.Helper()
	cfg, err := config.Parse("gw.yaml", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	reg := upstream.NewRegistry()
	t.Cleanup(reg.Close)
	s, err := Compile(cfg, reg)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return s
}

// TestPolicyReadingAHeaderNoPolicySeesIsRefused: a policy that reads a
// header removed before the policies run (or set for the upstream only
// after them) never sees a client's value: a rate limit keyed on
// X-Consumer-Name would put every client in one bucket, a rule or
// require_headers would refuse everyone. A claim the route's own jwt
// method sends upstream is set in the authentication phase, before the
// phases that read headers, and may be read.
func TestPolicyReadingAHeaderNoPolicySeesIsRefused(t *testing.T) {
	limit := func(key string) string {
		return fmt.Sprintf("{kind: rate_limit, key: %q, limits: [{rate: 10, per: 1m}]}", key)
	}
	for _, tc := range []struct {
		desc          string
		users, admins string // a policy on each route ("" for none)
		at, want      string // "" when accepted
	}{
		{desc: "a rate limit keyed on an identity header", users: limit("header:X-Consumer-Name"),
			at: "routes[0].policies[1]", want: `the rate_limit policy reads "X-Consumer-Name", which never reaches the policies: the gateway removes it from every client request before routing and sets it for the upstream itself (identity_headers.consumer)`},
		{desc: "a rate limit keyed on a claim the route's own jwt method sets", users: limit("header:X-User-Id")},
		{desc: "a rate limit keyed on a claim only another route's jwt method sets", admins: limit("header:X-User-Id"),
			at: "routes[1].policies[0]", want: "(the auth policy at routes[0].policies[0])"},
		{desc: "a rate limit's key_expr reading a header only a proxy sets", admins: `{kind: rate_limit, key_expr: 'request.headers[?"x-real-ip"].orValue("none")', limits: [{rate: 10, per: 1m}]}`,
			at: "routes[1].policies[0]", want: "only a proxy may set it"},
		{desc: "a rate limit keyed on a client header", users: limit("header:X-Tenant")},
		{desc: "a rule reading an identity header", users: `{kind: rule, expr: 'request.headers[?"x-consumer-groups"].orValue("") == "admins"'}`,
			at: "routes[0].policies[1]", want: "(identity_headers.groups)"},
		{desc: "a rule reading the identity", users: `{kind: rule, expr: '"admins" in identity.groups'}`},
		{desc: "require_headers on a method override header", admins: "{kind: require_headers, headers: [{name: X-HTTP-Method-Override}]}",
			at: "routes[1].policies[0]", want: "method override headers"},
		{desc: "require_headers on a client header", admins: "{kind: require_headers, headers: [{name: X-Tenant}]}"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			users, admins := "", ""
			if tc.users != "" {
				users = "      - " + tc.users
			}
			if tc.admins != "" {
				admins = "    policies: [" + tc.admins + "]"
			}
			wantCompileError(t, compileSource(t, fmt.Sprintf(routeHeadersConfig, "", "", "", users, admins)), tc.at, "never reaches the policies", tc.want)
		})
	}
}
