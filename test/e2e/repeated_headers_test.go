package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// A header that a route matches on or a policy of the route reads is a
// decision header: the rule judges one value, so a request repeating it is
// refused (400) before any policy runs and the upstream never sees it.

// repeatedHeadersConfig: /tenant/ has the docs' ABAC rule (the X-Tenant
// header must equal the token's tenant claim); /scan/ has a rule that
// reads headers by computed names (so no header may repeat there);
// /keyed/ is rate limited per X-Api-Client header. Refusals go to the
// security event file.
func repeatedHeadersConfig(up *Upstream, eventsFile string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: alice
    credentials:
      jwt:
        - {key: alice-hs, algorithm: HS256, secret: "${env:%s}"}
routes:
  - name: tenant
    paths: [{prefix: /tenant/}]
    service: svc
    policies:
      - kind: auth
        methods: [{jwt: {algorithms: [HS256], issuer: %s, audience: [orders]}}]
      - kind: rule
        expr: request.headers["x-tenant"] == identity.claims.tenant
  - name: scan
    paths: [{prefix: /scan/}]
    service: svc
    policies:
      - kind: auth
        methods: [{jwt: {algorithms: [HS256], issuer: %s, audience: [orders]}}]
      - kind: rule
        expr: '!request.headers.exists(k, k.startsWith("x-debug"))'
  - name: keyed
    paths: [{prefix: /keyed/}]
    service: svc
    policies:
      - kind: rate_limit
        key: header:X-Api-Client
        limits: [{rate: 1000, per: 1s}]
ops: {address: "{{ops}}"}
observability:
  security_events: {output: "%s"}
`, up.URL, jwtSecretEnv, jwtIssuer, jwtIssuer, eventsFile))
}

// rawGet sends GET path with the header lines exactly as given.
func rawGet(t *testing.T, gw *Gateway, path string, lines ...string) RawResponse {
	t.Helper()
	return rawRequest(t, gw.Addr, "GET "+path+" HTTP/1.1\r\nHost: api.example\r\n"+
		strings.Join(lines, "\r\n")+"\r\nConnection: close\r\n\r\n")
}

// expectRepeatRefused checks a 400 problem the upstream never saw, its
// access log reason, and its security event (category normalization).
func expectRepeatRefused(t *testing.T, gw *Gateway, up *Upstream, eventsFile string, resp RawResponse, reason string) {
	t.Helper()
	expectRefused(t, up, resp, http.StatusBadRequest)
	rid := resp.Header.Get("X-Request-Id")
	if got := jwtAccessReason(t, gw, rid); got != reason {
		t.Errorf("access log reason %q, want %q", got, reason)
	}
	ev := waitEvent(t, eventsFile, rid)
	if ev["category"] != "normalization" || ev["status"] != 400.0 {
		t.Errorf("security event %v, want category normalization, status 400", ev)
	}
}

// TestRepeatedHeaderReadByRuleRefused: the docs' ABAC rule
// request.headers["x-tenant"] == identity.claims.tenant passed with
// "X-Tenant: acme" and "X-Tenant: other" (the rule saw the first value,
// the upstream got both). Now a request repeating X-Tenant (in any order
// or spelling of the name) is refused with 400 on that route and the
// upstream never sees it; a single X-Tenant: acme passes (the upstream
// gets exactly that one value) and a single other tenant is denied by the
// rule (403). Two Authorization lines are refused the same way (the auth
// policy reads that header). On a route whose rule reads headers by computed names, any
// repeated header is refused, while the constant-key route lets a repeated
// header it does not read through. A rate-limit key header is a decision
// header too.
func TestRepeatedHeaderReadByRuleRefused(t *testing.T) {
	t.Setenv(jwtSecretEnv, jwtSecret)
	up := NewUpstream(t, nil)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	gw := StartGateway(t, repeatedHeadersConfig(up, events))
	authz := "Authorization: Bearer " + jwtSign(t, "HS256", "alice-hs", []byte(jwtSecret), map[string]any{"sub": "alice", "tenant": "acme"})

	t.Run("one X-Tenant of the token's tenant passes", func(t *testing.T) {
		up.Reset()
		resp := rawGet(t, gw, "/tenant/x", authz, "X-Tenant: acme")
		if resp.Status != 200 || up.Count() != 1 {
			t.Fatalf("status %d, upstream %d: %s", resp.Status, up.Count(), resp.Body)
		}
		if got := up.Last(t).Header.Values("X-Tenant"); len(got) != 1 || got[0] != "acme" {
			t.Fatalf("upstream X-Tenant %q, want exactly [acme]", got)
		}
	})
	t.Run("one X-Tenant of another tenant is denied by the rule", func(t *testing.T) {
		up.Reset()
		expectRefused(t, up, rawGet(t, gw, "/tenant/x", authz, "X-Tenant: other"), http.StatusForbidden)
	})
	for _, tc := range []struct{ desc string }{{"acme then other"}, {"other then acme"}, {"two spellings"}, {"same value twice"}} {
		t.Run("repeated: "+tc.desc, func(t *testing.T) {
			up.Reset()
			lines := map[string][]string{
				"acme then other":  {"X-Tenant: acme", "X-Tenant: other"},
				"other then acme":  {"X-Tenant: other", "X-Tenant: acme"},
				"two spellings":    {"x-tenant: acme", "X-TENANT: other"},
				"same value twice": {"X-Tenant: acme", "X-Tenant: acme"},
			}[tc.desc]
			resp := rawGet(t, gw, "/tenant/x", append([]string{authz}, lines...)...)
			expectRepeatRefused(t, gw, up, events, resp, "repeated header: X-Tenant")
		})
	}
	t.Run("two Authorization lines: the auth method's header is a decision header too", func(t *testing.T) {
		up.Reset()
		resp := rawGet(t, gw, "/tenant/x", authz, "Authorization: Bearer other", "X-Tenant: acme")
		expectRepeatRefused(t, gw, up, events, resp, "repeated header: Authorization")
	})
	t.Run("a repeated header the rule does not read passes", func(t *testing.T) {
		up.Reset()
		resp := rawGet(t, gw, "/tenant/x", authz, "X-Tenant: acme", "Accept: text/html", "Accept: application/json")
		if resp.Status != 200 || up.Count() != 1 {
			t.Fatalf("status %d, upstream %d: %s", resp.Status, up.Count(), resp.Body)
		}
	})
	t.Run("a rule reading every header refuses any repeat", func(t *testing.T) {
		up.Reset()
		resp := rawGet(t, gw, "/scan/x", authz, "Accept: text/html", "Accept: application/json")
		expectRepeatRefused(t, gw, up, events, resp, "repeated header (a rule of the route reads every header)")
		if resp := rawGet(t, gw, "/scan/x", authz, "Accept: text/html"); resp.Status != 200 || up.Count() != 1 {
			t.Fatalf("single header: status %d, upstream %d", resp.Status, up.Count())
		}
	})
	t.Run("a rate-limit key header", func(t *testing.T) {
		up.Reset()
		resp := rawGet(t, gw, "/keyed/x", "X-Api-Client: a", "X-Api-Client: b")
		expectRepeatRefused(t, gw, up, events, resp, "repeated header: X-Api-Client")
		if resp := rawGet(t, gw, "/keyed/x", "X-Api-Client: a"); resp.Status != 200 || up.Count() != 1 {
			t.Fatalf("single key header: status %d, upstream %d", resp.Status, up.Count())
		}
	})
}

// TestRepeatedRouteMatchHeaderRefused: a route chosen by a header
// condition (X-Env: canary, one of the values must match) was chosen with
// "X-Env: prod" beside "X-Env: canary", and the canary upstream got both.
// Now a request repeating a header its matched route decides on is
// refused with 400 and neither upstream sees it; one X-Env: canary reaches
// the canary service, and a request in which no value matches the canary
// route goes to the default route, which decides nothing on X-Env.
func TestRepeatedRouteMatchHeaderRefused(t *testing.T) {
	canary := NewUpstream(t, nil)
	stable := NewUpstream(t, nil)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: canary, targets: [{url: "%s"}]}
  - {name: stable, targets: [{url: "%s"}]}
routes:
  - name: canary
    paths: [{prefix: /api/}]
    headers: [{name: X-Env, value: canary}, {name: X-Build, regex: "[0-9]+"}]
    service: canary
  - name: default
    paths: [{prefix: /api/}]
    service: stable
ops: {address: "{{ops}}"}
observability:
  security_events: {output: "%s"}
`, canary.URL, stable.URL, events)))
	both := func() int { return canary.Count() + stable.Count() }

	resp := rawGet(t, gw, "/api/x", "X-Env: canary", "X-Build: 42")
	if resp.Status != 200 || canary.Count() != 1 {
		t.Fatalf("single X-Env: status %d, canary %d", resp.Status, canary.Count())
	}
	if got := canary.Last(t).Header.Values("X-Env"); len(got) != 1 || got[0] != "canary" {
		t.Fatalf("canary got X-Env %q", got)
	}
	for _, tc := range []struct {
		desc   string
		lines  []string
		reason string
	}{
		{"canary then prod", []string{"X-Env: canary", "X-Env: prod", "X-Build: 42"}, "repeated header: X-Env"},
		{"prod then canary", []string{"X-Env: prod", "X-Env: canary", "X-Build: 42"}, "repeated header: X-Env"},
		{"regex-matched header twice", []string{"X-Env: canary", "X-Build: 42", "X-Build: 1; rm"}, "repeated header: X-Build"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			canary.Reset()
			stable.Reset()
			resp := rawGet(t, gw, "/api/x", tc.lines...)
			if resp.Status != http.StatusBadRequest || both() != 0 {
				t.Fatalf("status %d, upstreams %d: %s", resp.Status, both(), resp.Body)
			}
			expectRepeatRefused(t, gw, canary, events, resp, tc.reason)
		})
	}
	t.Run("no value matches: the default route", func(t *testing.T) {
		canary.Reset()
		stable.Reset()
		resp := rawGet(t, gw, "/api/x", "X-Env: prod", "X-Env: stage", "X-Build: 42")
		if resp.Status != 200 || stable.Count() != 1 || canary.Count() != 0 {
			t.Fatalf("status %d, stable %d, canary %d", resp.Status, stable.Count(), canary.Count())
		}
	})
}
