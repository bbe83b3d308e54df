package authz

// The "rule" kind: a boolean CEL expression over the request and the
// identity (RBAC and ABAC), type-checked at load.
//
//	- kind: rule
//	  path_template: /v1/accounts/{id}
//	  expr: request.path_params.id == identity.claims.account_id
//	  message: You may only read your own account.   # optional 403 detail
//	  cost_limit: 10000                                # optional
//	  hide: false
//
// The request passes only when the expression evaluates to true. False,
// and any evaluation error (division by zero, a missing map key, a claim
// of an unexpected type, the cost limit), refuses it: rules fail closed.

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() { pipeline.Register("rule", ruleConfig{}, compileRule) }

const (
	defaultCostLimit = 10_000
	maxCostLimit     = 1_000_000
	maxMessageBytes  = 256
)

type ruleConfig struct {
	Expr         exprSource `yaml:"expr"`
	Message      string     `yaml:"message,omitempty"`
	PathTemplate string     `yaml:"path_template,omitempty"`
	CostLimit    uint64     `yaml:"cost_limit,omitempty"`
	Hide         bool       `yaml:"hide,omitempty"`
}

// exprSource is the expression text with where it stands in the file, so
// a CEL error can name its line.
type exprSource struct {
	text string
	node *yaml.Node
}

func (e *exprSource) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expr must be a string")
	}
	e.text, e.node = n.Value, n
	return nil
}

type rulePolicy struct {
	prg   cel.Program
	reads []string // the headers the expression reads (headers.go)
	tmpl  *pathTemplate
	ref   *refuser
	pool  sync.Pool // *evalState
}

// evalState is the per-evaluation state, reused through the pool.
type evalState struct {
	req requestVars
	act activation
}

// activation resolves the two variables without a map.
type activation struct {
	req *requestVars
	id  *pipeline.Identity
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "request":
		return a.req, true
	case "identity":
		return a.id, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

func compileRule(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg ruleConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Expr.text) == "" {
		return nil, errors.New("expr: an expression is required")
	}
	p := &rulePolicy{}
	if cfg.PathTemplate != "" {
		t, err := parseTemplate(cfg.PathTemplate)
		if err != nil {
			return nil, err
		}
		p.tmpl = t
	}
	limit := cfg.CostLimit
	switch {
	case limit == 0:
		limit = defaultCostLimit
	case limit > maxCostLimit:
		return nil, fmt.Errorf("cost_limit: must be at most %d", maxCostLimit)
	}
	if len(cfg.Message) > maxMessageBytes || strings.ContainsAny(cfg.Message, "\r\n\x00") {
		return nil, fmt.Errorf("message: must be one line of at most %d bytes", maxMessageBytes)
	}
	prg, reads, err := compileExpr(cfg.Expr.text, limit)
	if err != nil {
		return nil, exprError(env, cfg.Expr, err)
	}
	p.prg, p.reads = prg, reads
	if p.ref, err = newRefuser(env, "rule", cfg.Hide); err != nil {
		return nil, err
	}
	if cfg.Message != "" {
		p.ref.detail = cfg.Message
	}
	return p, nil
}

// celError is a CEL parse or check error at a position inside the
// expression (1-based line, 0-based column as CEL counts them).
type celError struct {
	line, col int
	msg       string
}

func (e *celError) Error() string { return e.msg }

// compileExpr parses and type-checks text and plans its program; reads
// are the headers it reads.
func compileExpr(text string, costLimit uint64) (prg cel.Program, reads []string, err error) {
	ast, prg, err := compileCEL(text, types.BoolType, "bool", "rule environment", costLimit)
	if err != nil {
		return nil, nil, err
	}
	return prg, headerReads(ast), nil
}

// compileCEL is the one compile step of every CEL expression (rule
// policies, string expressions such as rate-limit keys): parse and
// type-check text in the rule environment, require its result to be
// exactly want (named in the error as wantName), and plan its program
// under costLimit. A parse or type error is a *celError with its position
// inside the expression; envName names the environment in the error when
// it cannot be built.
func compileCEL(text string, want *types.Type, wantName, envName string, costLimit uint64) (*cel.Ast, cel.Program, error) {
	env, err := ruleEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", envName, err)
	}
	ast, iss := env.Compile(text)
	if iss != nil && iss.Err() != nil {
		e := iss.Errors()[0]
		return nil, nil, &celError{line: e.Location.Line(), col: e.Location.Column(), msg: e.Message}
	}
	if !ast.OutputType().IsExactType(want) {
		return nil, nil, &celError{line: 1, msg: fmt.Sprintf("the expression must be a %s, not %s", wantName, ast.OutputType())}
	}
	var opts []cel.ProgramOption
	if !staticallyWithin(env, ast, costLimit) {
		opts = append(opts, cel.CostLimit(costLimit))
	}
	prg, err := env.Program(ast, opts...)
	if err != nil {
		return nil, nil, err
	}
	return ast, prg, nil
}

// staticallyWithin reports whether the expression's worst-case cost, as
// CEL's static estimator bounds it, is within limit: then no evaluation
// can reach the limit and its program needs no runtime cost tracking,
// which costs as much as the evaluation itself (a tracker observing every
// step). The estimator's maximum is an upper bound of the tracked cost; an
// expression whose cost depends on the size of its inputs (a comprehension
// over a list, a string function on a request value) has no finite bound
// and keeps the tracker, so the limit still stops it at run time.
func staticallyWithin(env *cel.Env, ast *cel.Ast, limit uint64) bool {
	est, err := env.EstimateCost(ast, unsizedInputs{})
	return err == nil && est.Max <= limit
}

// unsizedInputs is the cost estimator that knows nothing of the inputs:
// every request and identity value may be of any size.
type unsizedInputs struct{}

func (unsizedInputs) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (unsizedInputs) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// exprError places a CEL error at its line in the config file: the line
// of the expr value plus the line inside the expression (a block scalar's
// text starts on the line after its indicator).
func exprError(env pipeline.CompileEnv, src exprSource, err error) error {
	return exprErrorAt(env, env.Path+".expr", src, err)
}

// exprErrorAt is exprError for the expression at field path.
func exprErrorAt(env pipeline.CompileEnv, path string, src exprSource, err error) error {
	var ce *celError
	if env.Config == nil || src.node == nil || !errors.As(err, &ce) {
		if env.Config == nil {
			return fmt.Errorf("expr: %w", err)
		}
		return env.Config.ErrorAt(src.node, path, err)
	}
	fe := &config.FieldError{File: env.Config.File, Path: path, Msg: "invalid expression: " + oneLine(ce.msg),
		Line: src.node.Line, Column: src.node.Column}
	switch src.node.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		fe.Line += ce.line
	default:
		if ce.line > 1 {
			fe.Line += ce.line - 1
		} else if src.node.Style == 0 {
			fe.Column += ce.col // a plain one-line scalar: the column is exact
		}
	}
	return fe
}

func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (p *rulePolicy) Phase() pipeline.Phase { return pipeline.PhaseAuthz }

// ReadHeaders names the headers the expression reads (pipeline.AnyHeader
// when it reads them by a computed name): the gateway refuses a request
// that repeats one, and drops their aliases.
func (p *rulePolicy) ReadHeaders() []string { return p.reads }
func (p *rulePolicy) NeedsIdentity() bool   { return true }

// Handle evaluates the rule. Only a true result lets the request on.
func (p *rulePolicy) Handle(c *pipeline.Context) *pipeline.Problem {
	if c.Identity == nil {
		return p.ref.refuse(reasonNoIdentity)
	}
	st, _ := p.pool.Get().(*evalState)
	if st == nil {
		st = &evalState{}
	}
	st.req = requestVars{c: c, tmpl: p.tmpl}
	st.act = activation{req: &st.req, id: c.Identity}
	out, _, err := p.prg.Eval(&st.act)
	st.req, st.act = requestVars{}, activation{} // drop references before pooling
	p.pool.Put(st)
	switch {
	case err != nil && costExceeded(err):
		return p.ref.refuse(reasonRuleCostExceeded)
	case err != nil:
		return p.ref.refuse(reasonRuleError)
	case out != types.True:
		return p.ref.refuse(reasonRuleFalse)
	}
	return nil
}

var (
	_ pipeline.RequestPolicy = (*rulePolicy)(nil)
	_ pipeline.IdentityUser  = (*rulePolicy)(nil)
	_ pipeline.HeaderReader  = (*rulePolicy)(nil)
)

func costExceeded(err error) bool {
	var ec interpreter.EvalCancelledError
	return errors.As(err, &ec) && ec.Cause == interpreter.CostLimitExceeded
}
