package authz

import (
	"testing"

	"github.com/google/cel-go/common/types"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// FuzzRule compiles arbitrary expressions: compiling never panics, and a
// rule that compiles allows a request only when it evaluates to true (an
// error or a panic inside the evaluator is a refusal, never a pass).
// The seed corpus is in testdata/fuzz/FuzzRule.
func FuzzRule(f *testing.F) {
	ref, err := newRefuser(pipeline.CompileEnv{Route: "fuzz"}, "rule", false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 512 {
			return
		}
		prg, _, err := compileExpr(expr, defaultCostLimit)
		if err != nil {
			return
		}
		tmpl, _ := parseTemplate("/v1/accounts/{id}")
		p := &rulePolicy{prg: prg, ref: ref, tmpl: tmpl}
		c := reqCtx("GET", "/v1/accounts/42?q=abc", benchIdentity())
		if p.Handle(c) != nil {
			return
		}
		req := requestVars{c: c, tmpl: tmpl}
		out, _, err := prg.Eval(&activation{req: &req, id: c.Identity})
		if err != nil || out != types.True {
			t.Fatalf("%q was allowed but evaluates to %v, %v", expr, out, err)
		}
	})
}
