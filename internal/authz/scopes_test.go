package authz

import (
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func scoped(method string, scopes ...string) *pipeline.Identity {
	return &pipeline.Identity{Consumer: "c", Method: method, Scopes: scopes}
}

func TestScopesRequire(t *testing.T) {
	p := mustCompile(t, "kind: scopes\nrequire: [orders, audit]\n")
	wantAllowed(t, "both", p, reqCtx("DELETE", "/x", scoped("jwt", "audit", "x", "orders")))
	prob := wantRefused(t, "one missing", p, reqCtx("GET", "/x", scoped("jwt", "orders")), 403, "scopes: missing scope")
	if got := prob.Header.Get("Www-Authenticate"); got != insufficientScope {
		t.Errorf("challenge %q", got)
	}
	prob = wantRefused(t, "api key caller", p, reqCtx("GET", "/x", scoped("api_key")), 403, "scopes: missing scope")
	if got := prob.Header.Get("Www-Authenticate"); got != "" {
		t.Errorf("challenge %q for a non-bearer caller", got)
	}
	wantRefused(t, "prefix of a scope is not the scope", p, reqCtx("GET", "/x", scoped("jwt", "orders:read", "audit")), 403, "scopes: missing scope")
	wantRefused(t, "no identity", p, reqCtx("GET", "/x", nil), 403, "scopes: no identity")
}

func TestScopesPerMethod(t *testing.T) {
	p := mustCompile(t, `kind: scopes
require: [orders]
per_method:
  get: [read]
  POST: [write]
  DELETE: []
`)
	wantAllowed(t, "GET read", p, reqCtx("GET", "/x", scoped("jwt", "orders", "read")))
	wantAllowed(t, "HEAD uses GET", p, reqCtx("HEAD", "/x", scoped("jwt", "orders", "read")))
	wantRefused(t, "HEAD without read", p, reqCtx("HEAD", "/x", scoped("jwt", "orders")), 403, "scopes: missing scope")
	wantRefused(t, "GET without require", p, reqCtx("GET", "/x", scoped("jwt", "read")), 403, "scopes: missing scope")
	wantRefused(t, "POST with read only", p, reqCtx("POST", "/x", scoped("jwt", "orders", "read")), 403, "scopes: missing scope")
	wantAllowed(t, "POST write", p, reqCtx("POST", "/x", scoped("jwt", "orders", "write")))
	wantAllowed(t, "DELETE needs only require", p, reqCtx("DELETE", "/x", scoped("jwt", "orders")))
	wantRefused(t, "PUT is not listed", p, reqCtx("PUT", "/x", scoped("jwt", "orders", "read", "write")), 403, "scopes: method has no scope rule")
	wantRefused(t, "methods are case-sensitive", p, reqCtx("get", "/x", scoped("jwt", "orders", "read")), 403, "scopes: method has no scope rule")

	star := mustCompile(t, "kind: scopes\nper_method:\n  GET: [read]\n  \"*\": [admin]\nhide: true\n")
	wantAllowed(t, "star: GET", star, reqCtx("GET", "/x", scoped("jwt", "read")))
	wantAllowed(t, "star: PATCH admin", star, reqCtx("PATCH", "/x", scoped("jwt", "admin")))
	prob := wantRefused(t, "star: PATCH read", star, reqCtx("PATCH", "/x", scoped("jwt", "read")), 404, "scopes: missing scope")
	if prob != nil && prob.Header.Get("Www-Authenticate") != "" {
		t.Error("a hidden refusal must not carry a challenge")
	}
}

func TestScopesConfigErrors(t *testing.T) {
	wantCompileError(t, "kind: scopes\n", "at least one of require or per_method")
	wantCompileError(t, "kind: scopes\nrequire: [\"a b\"]\n", `require[0]: "a b" is not a valid scope`)
	wantCompileError(t, "kind: scopes\nper_method: {GET: [\"\"]}\n", `per_method.GET[0]`)
	wantCompileError(t, "kind: scopes\nper_method: {\"GE T\": [a]}\n", "is not an HTTP method")
	wantCompileError(t, "kind: scopes\nper_method: {GET: [a], get: [b]}\n", "listed twice")
	wantCompileError(t, "kind: scopes\nrequire: a\n", "require")
}
