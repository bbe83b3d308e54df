package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	azSecretEnv = "E2E_AUTHZ_HS_SECRET"
	azSecret    = "e2e-authz-hmac-secret-0123456789abcdef"
)

// azConfig: JWT (HS256, key "app") and API-key consumers, and one route
// per authorization kind. alice is staff, bob a suspended partner, svc an
// API-key partner.
func azConfig(up *Upstream, svcHash string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
ops: {address: "{{ops}}"}
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: alice
    groups: [staff]
    credentials:
      jwt: [{key: alice, algorithm: HS256, secret: "${env:%[2]s}"}]
  - name: bob
    groups: [partners, suspended]
    credentials:
      jwt: [{key: bob, algorithm: HS256, secret: "${env:%[2]s}"}]
  - name: svc
    groups: [partners]
    credentials:
      api_keys: [{id: svc-key, hash: "%[3]s"}]
routes:
  - name: acl
    paths: [{prefix: /acl/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - {kind: acl, allow: [staff, partners], deny: [suspended]}
  - name: hidden
    paths: [{prefix: /hidden/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - {kind: acl, allow: [staff], hide: true}
  - name: orders
    paths: [{prefix: /orders/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - kind: scopes
        require: [orders]
        per_method: {GET: [read], POST: [write]}
  - name: admin
    paths: [{exact: /v1/admin}, {prefix: /v1/admin/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - {kind: scopes, require: [admin]}
  - name: accounts
    paths: [{prefix: /v1/accounts/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - kind: rule
        path_template: /v1/accounts/{id}
        expr: request.method == "GET" && request.path_params.id == identity.claims.account_id
        message: You may read only your own account.
  - name: v1
    paths: [{prefix: /v1/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      # For upstreams that compare paths without case: the admin area
      # needs the admin scope however it is spelt.
      - kind: rule
        expr: '!request.path.lowerAscii().startsWith("/v1/admin") || "admin" in identity.scopes'
  - name: divide
    paths: [{prefix: /divide/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - kind: rule
        expr: 1 / (size(identity.groups) - size(identity.groups)) == 0
  - name: claim
    paths: [{prefix: /claim/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}, {api_key: {}}]}
      - kind: rule
        expr: identity.claims.department == "eng"
`, up.URL, azSecretEnv, svcHash))
}

// azToken is an HS256 token for consumer kid with the given claims.
func azToken(t *testing.T, kid string, claims jwt.MapClaims) string {
	t.Helper()
	return jwtSign(t, "HS256", kid, []byte(azSecret), claims)
}

// azDo sends method path with an Authorization or X-Api-Key credential.
func azDo(t *testing.T, g *Gateway, method, path, header, value string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// azAllowed asserts a 200 and that the upstream received path once, with
// the identity.
func azAllowed(t *testing.T, name string, up *Upstream, resp *http.Response, body, path, consumer string) {
	t.Helper()
	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("%s: status %d body %q, want 200", name, resp.StatusCode, body)
		up.Reset()
		return
	}
	if n := up.Count(); n != 1 {
		t.Errorf("%s: upstream received %d requests, want 1", name, n)
	}
	s := up.Last(t)
	if s.RequestURI != path || s.Header.Get("X-Consumer-Name") != consumer {
		t.Errorf("%s: upstream saw %s as %q", name, s.RequestURI, s.Header.Get("X-Consumer-Name"))
	}
	up.Reset()
}

// azRefused asserts the status, the problem body with detail, and that
// the upstream received nothing.
func azRefused(t *testing.T, name string, up *Upstream, status int, detail string, resp *http.Response, body string) map[string]any {
	t.Helper()
	defer up.Reset()
	if n := up.Count(); n != 0 {
		t.Errorf("%s: upstream received %d requests", name, n)
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("%s: status %d (%s) body %q, want %d", name, resp.StatusCode, resp.Header.Get("Content-Type"), body, status)
		return nil
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil || p["status"] != float64(status) || p["detail"] != detail {
		t.Errorf("%s: problem %s (%v), want detail %q", name, body, err, detail)
	}
	return p
}

const azForbidden = "The request is not allowed."

func TestAuthzEndToEnd(t *testing.T) {
	t.Setenv(azSecretEnv, azSecret)
	svcKey, svcHash := akGenerate(t)
	up := NewUpstream(t, nil)
	g := StartGateway(t, azConfig(up, svcHash))

	alice := "Bearer " + azToken(t, "alice", jwt.MapClaims{"scope": "orders read", "account_id": "42"})
	aliceWriter := "Bearer " + azToken(t, "alice", jwt.MapClaims{"scope": "orders write"})
	aliceAdmin := "Bearer " + azToken(t, "alice", jwt.MapClaims{"scp": []string{"admin"}})
	bob := "Bearer " + azToken(t, "bob", jwt.MapClaims{"scope": "orders read admin", "account_id": "43"})

	t.Run("acl", func(t *testing.T) {
		resp, body := azDo(t, g, "GET", "/acl/x", "Authorization", alice)
		azAllowed(t, "staff", up, resp, body, "/acl/x", "alice")
		resp, body = azDo(t, g, "GET", "/acl/x", "X-Api-Key", svcKey)
		azAllowed(t, "partner by api key", up, resp, body, "/acl/x", "svc")
		resp, body = azDo(t, g, "GET", "/acl/x", "Authorization", bob)
		azRefused(t, "deny wins", up, 403, azForbidden, resp, body)
		resp, body = azDo(t, g, "GET", "/acl/x", "", "")
		azRefused(t, "no credentials", up, 401, "Invalid or missing credentials.", resp, body)
	})

	t.Run("hide", func(t *testing.T) {
		resp, body := azDo(t, g, "GET", "/hidden/x", "Authorization", alice)
		azAllowed(t, "staff", up, resp, body, "/hidden/x", "alice")
		resp, body = azDo(t, g, "GET", "/hidden/x", "X-Api-Key", svcKey)
		hidden := azRefused(t, "partner", up, 404, "No route matches the request.", resp, body)
		resp, body = azDo(t, g, "GET", "/nothing-here", "X-Api-Key", svcKey)
		none := azRefused(t, "no route", up, 404, "No route matches the request.", resp, body)
		delete(hidden, "request_id")
		delete(none, "request_id")
		if fmt.Sprint(hidden) != fmt.Sprint(none) {
			t.Errorf("a hidden refusal %v differs from no route %v", hidden, none)
		}
	})

	t.Run("scopes", func(t *testing.T) {
		resp, body := azDo(t, g, "GET", "/orders/1", "Authorization", alice)
		azAllowed(t, "GET read", up, resp, body, "/orders/1", "alice")
		resp, body = azDo(t, g, "POST", "/orders/1", "Authorization", aliceWriter)
		azAllowed(t, "POST write", up, resp, body, "/orders/1", "alice")
		resp, body = azDo(t, g, "POST", "/orders/1", "Authorization", alice)
		azRefused(t, "POST with read", up, 403, azForbidden, resp, body)
		if got := resp.Header.Get("Www-Authenticate"); !strings.Contains(got, `error="insufficient_scope"`) {
			t.Errorf("challenge %q", got)
		}
		resp, body = azDo(t, g, "DELETE", "/orders/1", "Authorization", bob)
		azRefused(t, "DELETE not listed", up, 403, azForbidden, resp, body)
		resp, body = azDo(t, g, "GET", "/orders/1", "X-Api-Key", svcKey)
		azRefused(t, "api key has no scopes", up, 403, azForbidden, resp, body)
		resp, body = azDo(t, g, "GET", "/v1/admin/users", "Authorization", aliceAdmin)
		azAllowed(t, "scp list", up, resp, body, "/v1/admin/users", "alice")
	})

	t.Run("path tricks", func(t *testing.T) {
		token := alice // holds orders and read, not admin
		for _, target := range []string{
			"/v1/admin",
			"/v1/admin/",
			"/v1/admin/users",
			"/v1/admin/../admin",
			"/v1/admin/./users",
			"/v1/x/../admin/users",
			"/v1//admin/users",
			"/v1/%61dmin/users",
			"/v1/%61%64%6d%69%6e",
			"/v1/ADMIN/users",
			"/v1/Admin",
			"/V1/ADMIN",
			"/V1/admin/users",
			"/v1/admin%2Fusers",
			"/v1/admin%2fusers",
			"/v1/%2e%2e/v1/admin",
			"/v1/admin;x/users",
			"/v1/admin\\users",
			"/v1/admin/users?x=/../public",
		} {
			raw := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: api.test\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", target, token)
			r := rawRequest(t, g.Addr, raw)
			if r.Status != 400 && r.Status != 403 && r.Status != 404 {
				t.Errorf("%s: status %d, want a refusal (body %q)", target, r.Status, r.Body)
			}
			if n := up.Count(); n != 0 {
				t.Errorf("%s: upstream received %v", target, up.Requests()[0].RequestURI)
			}
			up.Reset()
		}
		// The same tricks with the admin scope reach the one protected route,
		// under the one canonical path.
		for target, want := range map[string]string{
			"/v1/admin/../admin":   "/v1/admin",
			"/v1/x/../admin/users": "/v1/admin/users",
			"/v1/%61dmin/users":    "/v1/admin/users",
			"/v1//admin/users":     "/v1/admin/users",
		} {
			raw := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: api.test\r\nAuthorization: %s\r\nConnection: close\r\n\r\n", target, aliceAdmin)
			r := rawRequest(t, g.Addr, raw)
			if r.Status != 200 {
				t.Errorf("%s with admin: status %d", target, r.Status)
			} else if got := up.Last(t).RequestURI; got != want {
				t.Errorf("%s with admin: upstream saw %s, want %s", target, got, want)
			}
			up.Reset()
		}
	})

	t.Run("rule", func(t *testing.T) {
		resp, body := azDo(t, g, "GET", "/v1/accounts/42", "Authorization", alice)
		azAllowed(t, "own account", up, resp, body, "/v1/accounts/42", "alice")
		resp, body = azDo(t, g, "GET", "/v1/accounts/43", "Authorization", alice)
		azRefused(t, "other account", up, 403, "You may read only your own account.", resp, body)
		resp, body = azDo(t, g, "GET", "/v1/accounts/42/../43", "Authorization", alice)
		azRefused(t, "dot segments", up, 403, "You may read only your own account.", resp, body)
		resp, body = azDo(t, g, "PUT", "/v1/accounts/42", "Authorization", alice)
		azRefused(t, "write", up, 403, "You may read only your own account.", resp, body)
		resp, body = azDo(t, g, "GET", "/v1/accounts/42", "Authorization", aliceWriter)
		azRefused(t, "missing claim fails closed", up, 403, "You may read only your own account.", resp, body)
		resp, body = azDo(t, g, "GET", "/v1/accounts/42", "X-Api-Key", svcKey)
		azRefused(t, "no claims fails closed", up, 403, "You may read only your own account.", resp, body)
		resp, body = azDo(t, g, "GET", "/divide/x", "Authorization", alice)
		azRefused(t, "division by zero fails closed", up, 403, azForbidden, resp, body)
		resp, body = azDo(t, g, "GET", "/claim/x", "Authorization", alice)
		azRefused(t, "missing claim", up, 403, azForbidden, resp, body)
		resp, body = azDo(t, g, "GET", "/claim/x", "Authorization", "Bearer "+azToken(t, "alice", jwt.MapClaims{"department": "eng"}))
		azAllowed(t, "claim present", up, resp, body, "/claim/x", "alice")
	})

	// The reasons reach the access log, never the client.
	for _, reason := range []string{`authz: acl: group denied`, `authz: scopes: missing scope`, `authz: scopes: method has no scope rule`,
		`authz: rule: rule denied`, `authz: rule: rule error`, `authz: acl: group not allowed`} {
		if !g.WaitAccessLog(reason, 5*time.Second) {
			t.Errorf("access log has no %q", reason)
		}
	}
}

func TestAuthzValidate(t *testing.T) {
	p := writeFile(t, "authz.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: open
    paths: [{prefix: /}]
    service: svc
    policies:
      - {kind: acl, allow: [staff]}
  - name: typo
    paths: [{prefix: /t/}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {}}]
      - kind: rule
        message: m
        expr: |
          request.method == "GET" &&
          identity.grups.exists(g, g == "staff")
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorLine(t, r.stderr, p, "routes[0].policies", "needs an authenticated identity")
	wantErrorLine(t, r.stderr, p, "routes[1].policies[1].expr", "undefined field 'grups'")
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + `:20:\d+: routes\[1\]\.policies\[1\]\.expr`).MatchString(r.stderr) {
		t.Errorf("the CEL error does not name line 20:\n%s", r.stderr)
	}
}
