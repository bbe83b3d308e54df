package e2e

import (
	"fmt"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// key_expr through the binary: quotas keyed by a JWT claim (one consumer,
// two tenants) and by a header with a fallback; an expression that fails
// refuses 403 and the upstream sees nothing.
func TestRateLimitKeyExprEndToEnd(t *testing.T) {
	t.Setenv(azSecretEnv, azSecret)
	up := NewUpstream(t, nil)
	g := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
ops: {address: "{{ops}}"}
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: app
    credentials:
      jwt: [{key: app, algorithm: HS256, secret: "${env:%s}"}]
routes:
  - name: by-claim
    paths: [{prefix: /claim/}]
    service: svc
    policies:
      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}]}
      - kind: rate_limit
        limits: [{rate: 2, per: 1h}]
        key_expr: string(identity.claims.tenant)
  - name: by-header
    paths: [{prefix: /header/}]
    service: svc
    policies:
      - kind: rate_limit
        limits: [{rate: 1, per: 1h}]
        key_expr: 'request.headers[?"x-tenant"].orValue("ip:" + request.client_ip)'
  - name: strict-header
    paths: [{prefix: /strict/}]
    service: svc
    policies:
      - kind: rate_limit
        limits: [{rate: 1, per: 1h}]
        key_expr: 'request.headers["x-tenant"]'
`, up.URL, azSecretEnv)))

	const tooMany = "Too many requests; retry later."
	t1 := "Bearer " + azToken(t, "app", jwt.MapClaims{"tenant": "t1"})
	t2 := "Bearer " + azToken(t, "app", jwt.MapClaims{"tenant": "t2"})
	t1b := "Bearer " + azToken(t, "app", jwt.MapClaims{"tenant": "t1", "jti": "another-token"})
	noTenant := "Bearer " + azToken(t, "app", jwt.MapClaims{"sub": "x"})

	t.Run("claim", func(t *testing.T) {
		for i := range 2 {
			resp, body := azDo(t, g, "GET", "/claim/a", "Authorization", t1)
			azAllowed(t, fmt.Sprintf("t1 #%d", i), up, resp, body, "/claim/a", "app")
		}
		resp, body := azDo(t, g, "GET", "/claim/a", "Authorization", t1b)
		azRefused(t, "t1 over quota, another token", up, 429, tooMany, resp, body)
		// Same consumer, another tenant: its own quota.
		for i := range 2 {
			resp, body := azDo(t, g, "GET", "/claim/a", "Authorization", t2)
			azAllowed(t, fmt.Sprintf("t2 #%d", i), up, resp, body, "/claim/a", "app")
		}
		resp, body = azDo(t, g, "GET", "/claim/a", "Authorization", t2)
		azRefused(t, "t2 over quota", up, 429, tooMany, resp, body)
		// No tenant claim: the expression fails, the request is refused.
		resp, body = azDo(t, g, "GET", "/claim/a", "Authorization", noTenant)
		p := azRefused(t, "no tenant claim", up, 403, azForbidden, resp, body)
		// The access log prefixes the phase to the policy's reason.
		if rid, _ := p["request_id"].(string); jwtAccessReason(t, g, rid) != "limit: ratelimit: key error" {
			t.Errorf("access log reason for %s is %q, not the key error", rid, jwtAccessReason(t, g, rid))
		}
	})

	t.Run("header", func(t *testing.T) {
		for _, tenant := range []string{"a", "b"} {
			resp, body := azDo(t, g, "GET", "/header/x", "X-Tenant", tenant)
			azAllowed(t, "tenant "+tenant, up, resp, body, "/header/x", "")
			resp, body = azDo(t, g, "GET", "/header/x", "X-Tenant", tenant)
			azRefused(t, "tenant "+tenant+" again", up, 429, tooMany, resp, body)
		}
		// Without the header: the client address, a quota of its own.
		resp, body := azDo(t, g, "GET", "/header/x", "", "")
		azAllowed(t, "no header", up, resp, body, "/header/x", "")
		resp, body = azDo(t, g, "GET", "/header/x", "", "")
		azRefused(t, "no header again", up, 429, tooMany, resp, body)
		// The strict expression has no fallback: a missing header refuses.
		resp, body = azDo(t, g, "GET", "/strict/x", "", "")
		azRefused(t, "strict without header", up, 403, azForbidden, resp, body)
		resp, body = azDo(t, g, "GET", "/strict/x", "X-Tenant", "a")
		azAllowed(t, "strict with header", up, resp, body, "/strict/x", "")
	})
}
