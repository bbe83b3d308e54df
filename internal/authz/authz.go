// Package authz decides what an authenticated caller may do: the policy
// kinds of the authz phase. Each kind is one file that registers itself:
//
//   - acl:    allow and deny consumer groups (acl.go)
//   - scopes: required OAuth scopes, for every method or per method (scopes.go)
//   - rule:   a CEL expression over the request and the identity (rule.go)
//
// Every kind needs an identity, so a route that lists one without an auth
// policy fails to compile. A refusal is a 403 problem body with a generic
// detail (or, with hide: true, the same 404 the gateway sends when no
// route matches, so the answer does not tell that the resource exists);
// the precise reason goes to the access log and to the refusal counters.
package authz

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// The texts clients see. They never say which check failed.
const (
	detailForbidden = "The request is not allowed."
	// detailNotFound is the gateway's own no-route text: a hidden refusal
	// must look exactly like a path that does not exist.
	detailNotFound = "No route matches the request."
)

// Refusal reasons: a fixed set (a log field and a counter label). None of
// them carries anything taken from the request.
const (
	reasonNoIdentity       = "no identity"
	reasonGroupDenied      = "group denied"
	reasonGroupNotAllowed  = "group not allowed"
	reasonAnonymous        = "anonymous consumer"
	reasonMissingScope     = "missing scope"
	reasonMethodNoScopes   = "method has no scope rule"
	reasonRuleFalse        = "rule denied"
	reasonRuleError        = "rule error"
	reasonRuleCostExceeded = "rule cost limit exceeded"
)

// refuser answers refused requests for one policy of one route.
type refuser struct {
	route   string
	kind    string
	hide    bool
	detail  string // the 403 detail; detailForbidden unless configured
	metrics *Metrics
}

func newRefuser(env pipeline.CompileEnv, kind string, hide bool) (*refuser, error) {
	m, err := MetricsOf(env)
	if err != nil {
		return nil, err
	}
	return &refuser{route: env.Route, kind: kind, hide: hide, detail: detailForbidden, metrics: m}, nil
}

// refuse counts the refusal and returns the answer. reason must be one of
// the reason constants above.
func (r *refuser) refuse(reason string) *pipeline.Problem {
	r.metrics.refused(r.route, r.kind, reason)
	if r.hide {
		return pipeline.NewProblem(http.StatusNotFound, detailNotFound, r.kind+": "+reason)
	}
	return pipeline.NewProblem(http.StatusForbidden, r.detail, r.kind+": "+reason)
}
