package authz

import (
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// The per-request cost of each kind on the allowed path, the one a real
// API pays on every call.

func benchPolicy(b *testing.B, src string, c *pipeline.Context) {
	p := mustCompile(b, src)
	if prob := p.Handle(c); prob != nil {
		b.Fatalf("refused: %s", prob.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		if p.Handle(c) != nil {
			b.Fatal("refused")
		}
	}
}

func benchIdentity() *pipeline.Identity {
	return &pipeline.Identity{Consumer: "alice", Method: "jwt", CredentialID: "alice-hs",
		Groups: []string{"eu", "customers", "staff"}, Scopes: []string{"openid", "profile", "accounts:read", "accounts:write"},
		Claims: map[string]any{"sub": "u1", "account_id": "42", "tier": "gold"}}
}

func BenchmarkACL(b *testing.B) {
	benchPolicy(b, "kind: acl\nallow: [admins, staff]\ndeny: [suspended, blocked]\n", reqCtx("GET", "/v1/accounts/42", benchIdentity()))
}

func BenchmarkScopes(b *testing.B) {
	benchPolicy(b, "kind: scopes\nrequire: [openid]\nper_method: {GET: [accounts:read], POST: [accounts:write]}\n",
		reqCtx("GET", "/v1/accounts/42", benchIdentity()))
}

func BenchmarkRule(b *testing.B) {
	b.Run("own-account", func(b *testing.B) {
		benchPolicy(b, accountRule, reqCtx("GET", "/v1/accounts/42", benchIdentity()))
	})
	b.Run("groups-and-claims", func(b *testing.B) {
		benchPolicy(b, "kind: rule\nexpr: '\"staff\" in identity.groups && identity.claims.tier == \"gold\"'\n",
			reqCtx("GET", "/v1/accounts/42", benchIdentity()))
	})
	b.Run("headers", func(b *testing.B) {
		c := reqCtx("GET", "/v1/accounts/42", benchIdentity())
		c.Request.Header.Set("X-Tenant", "t1")
		c.Request.Header.Set("Accept", "application/json")
		benchPolicy(b, "kind: rule\nexpr: 'request.headers[\"x-tenant\"] == \"t1\"'\n", c)
	})
}
