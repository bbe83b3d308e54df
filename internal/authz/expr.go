package authz

// String expressions for other policy kinds (the rate_limit key_expr):
// the rule kind's CEL environment, with request and identity, but the
// result must be a string. Checked at load like a rule.

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// ExprSource is a CEL expression as written in the config file; decoding
// into it keeps its position, so errors can name the expression's line.
type ExprSource struct{ exprSource }

// Text is the expression.
func (e *ExprSource) Text() string { return e.text }

// StringExpr is a compiled CEL expression whose value is a string. It is
// safe for concurrent use.
type StringExpr struct {
	prg          cel.Program
	usesIdentity bool
	reads        []string  // the headers it reads (headers.go)
	pool         sync.Pool // *evalState
}

// CompileStringExpr parses and type-checks src, the value of the field
// at path (for error positions); anything but a string result is an error.
func CompileStringExpr(env pipeline.CompileEnv, path string, src *ExprSource) (*StringExpr, error) {
	if strings.TrimSpace(src.text) == "" {
		return nil, errors.New("an expression is required")
	}
	e, err := compileString(src.text)
	if err != nil {
		return nil, exprErrorAt(env, path, src.exprSource, err)
	}
	return e, nil
}

func compileString(text string) (*StringExpr, error) {
	ast, prg, err := compileCEL(text, types.StringType, "string", "expression environment", defaultCostLimit)
	if err != nil {
		return nil, err
	}
	se := &StringExpr{prg: prg, reads: headerReads(ast)}
	for _, ref := range ast.NativeRep().ReferenceMap() {
		if ref.Name == "identity" {
			se.usesIdentity = true
		}
	}
	return se, nil
}

// ReadHeaders names the headers the expression reads (pipeline.AnyHeader
// when it reads them by a computed name), for the policy that uses it to
// declare as a pipeline.HeaderReader.
func (e *StringExpr) ReadHeaders() []string { return e.reads }

// UsesIdentity reports whether the expression reads identity, so the
// route needs authentication.
func (e *StringExpr) UsesIdentity() bool { return e.usesIdentity }

// Eval evaluates the expression for one request. Reading identity when
// the request has none is an error, as is any evaluation error (a missing
// map key, the cost limit).
func (e *StringExpr) Eval(c *pipeline.Context) (string, error) {
	st, _ := e.pool.Get().(*evalState)
	if st == nil {
		st = &evalState{}
	}
	st.req = requestVars{c: c}
	st.act = activation{req: &st.req, id: c.Identity}
	out, _, err := e.prg.Eval(&st.act)
	st.req, st.act = requestVars{}, activation{}
	e.pool.Put(st)
	if err != nil {
		return "", err
	}
	s, ok := out.Value().(string)
	if !ok {
		return "", fmt.Errorf("the expression returned %s, not a string", out.Type())
	}
	return s, nil
}
