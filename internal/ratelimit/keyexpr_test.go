package ratelimit

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

const exprPolicy = "kind: rate_limit\nlimits: [{rate: 1, per: 1h}]\nkey_expr: "

func TestKeyExprSeparatesQuotas(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		mk         func(v string) *pipeline.Context
	}{
		{"header", `request.headers["x-tenant"]`, func(v string) *pipeline.Context {
			return withHeader(reqCtx("192.0.2.1", nil), v)
		}},
		{"claim", `string(identity.claims.tenant)`, func(v string) *pipeline.Context {
			return reqCtx("192.0.2.1", &pipeline.Identity{Consumer: "shared", Claims: map[string]any{"tenant": v}})
		}},
		{"header with fallback", `request.headers[?"x-tenant"].orValue("ip:" + request.client_ip)`, func(v string) *pipeline.Context {
			return withHeader(reqCtx("192.0.2.1", nil), v)
		}},
	} {
		p := mustPolicy(t, exprPolicy+"'"+tc.expr+"'\n")
		withClock(p)
		for _, v := range []string{"t1", "t2"} {
			if n := count(p, 3, func() *pipeline.Context { return tc.mk(v) }); n != 1 {
				t.Errorf("%s: tenant %s admitted %d of 3, want 1", tc.name, v, n)
			}
		}
		// Another client address does not escape the tenant's quota.
		c := tc.mk("t1")
		c.ClientAddr = reqCtx("198.51.100.9", nil).ClientAddr
		if prob := p.Handle(c); prob == nil || prob.Status != http.StatusTooManyRequests {
			t.Errorf("%s: t1 from another address: %+v, want 429", tc.name, prob)
		}
	}
}

func TestKeyExprNeedsIdentityOnlyWhenItReadsIt(t *testing.T) {
	if mustPolicy(t, exprPolicy+`'request.headers["x-tenant"]'`+"\n").NeedsIdentity() {
		t.Error("a header expression needs an identity")
	}
	if !mustPolicy(t, exprPolicy+"identity.consumer\n").NeedsIdentity() {
		t.Error("an identity expression does not need an identity")
	}
}

// An evaluation error refuses the request: 403, a generic detail and the
// fixed reason, never counted under some shared key.
func TestKeyExprErrorRefuses(t *testing.T) {
	for _, tc := range []struct {
		expr string
		c    *pipeline.Context
	}{
		{`request.headers["x-tenant"]`, reqCtx("192.0.2.1", nil)},                                  // header missing
		{`identity.consumer`, reqCtx("192.0.2.1", nil)},                                            // no identity
		{`string(identity.claims.tenant)`, reqCtx("192.0.2.1", &pipeline.Identity{Consumer: "a"})}, // claim missing
		{`string(1 / (size(request.path) - size(request.path)))`, reqCtx("192.0.2.1", nil)},        // division by zero
		{`request.query["t"]`, withQuery(reqCtx("192.0.2.1", nil), "t=%zz")},                       // query does not parse
	} {
		p := mustPolicy(t, exprPolicy+"'"+tc.expr+"'\n")
		prob := p.Handle(tc.c)
		if prob == nil || prob.Status != http.StatusForbidden || prob.Reason != ReasonKeyError || prob.Detail != "The request is not allowed." {
			t.Errorf("%s: %+v, want 403 %q", tc.expr, prob, ReasonKeyError)
		}
	}
}

func withQuery(c *pipeline.Context, q string) *pipeline.Context { c.Request.URL.RawQuery = q; return c }

func TestKeyExprConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{exprPolicy + "size(request.path)\n", `t.yaml:3:11: routes[0].policies[0].key_expr: invalid expression: the expression must be a string, not int`},
		{exprPolicy + "request.pth\n", `t.yaml:3:18: routes[0].policies[0].key_expr: invalid expression: undefined field 'pth'`},
		{exprPolicy + "|\n  request.method +\n    identity.consmer\n", `t.yaml:5:`},
		{exprPolicy + "request.method\nkey: consumer\n", "key and key_expr: set one, not both"},
		{exprPolicy + "'  '\n", "an expression is required"},
		{exprPolicy + "[a]\n", "expr must be a string"},
	} {
		_, err := compileYAML(t, tc.src, nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
}

// A long result is hashed like any other value from the request.
func TestKeyExprLongValueHashed(t *testing.T) {
	p := mustPolicy(t, exprPolicy+`'request.headers["x-tenant"]'`+"\n")
	withClock(p)
	a := withHeader(reqCtx("192.0.2.1", nil), strings.Repeat("x", 10_000))
	if p.Handle(a) != nil {
		t.Fatal("first request refused")
	}
	if prob := p.Handle(withHeader(reqCtx("192.0.2.1", nil), strings.Repeat("x", 10_000))); prob == nil {
		t.Error("the same long value got a fresh quota")
	}
	if p.Handle(withHeader(reqCtx("192.0.2.1", nil), strings.Repeat("x", 9_999)+"y")) != nil {
		t.Error("a different long value shares the quota")
	}
}

func BenchmarkKeyExpr(b *testing.B) {
	p := mustPolicy(b, "kind: rate_limit\nlimits: [{rate: 1000000000, per: 1h}]\nkey_expr: 'request.headers[\"x-tenant\"]'\n")
	c := withHeader(reqCtx("192.0.2.1", nil), "tenant-1")
	b.ReportAllocs()
	for b.Loop() {
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}
