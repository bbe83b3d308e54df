package authz

// Which request headers an expression reads, found statically in its
// checked AST. request.headers exposes one value per header (the first),
// while the upstream receives every line: a rule checking
// request.headers["x-tenant"] would judge "X-Tenant: acme" and forward
// "X-Tenant: other" beside it. So the expression declares the headers it
// reads (pipeline.HeaderReader) and the gateway refuses a request to the
// route that repeats one of them: what the rule saw is then all the
// upstream gets.

import (
	"net/textproto"
	"sort"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// headerReads returns the canonical names of the headers ast reads with a
// constant key: request.headers["x-tenant"], request.headers[?"x-tenant"],
// "x-tenant" in request.headers, request.headers.x_tenant (and has() of
// it, and the optional select .?x_tenant). Any other use of
// request.headers (a computed key, a comprehension over it, the whole map
// compared or measured) reads headers the gateway cannot name: then the
// result is [pipeline.AnyHeader].
func headerReads(ast *cel.Ast) []string {
	w := headerWalker{names: map[string]bool{}}
	w.visit(ast.NativeRep().Expr())
	if w.any {
		return []string{pipeline.AnyHeader}
	}
	out := make([]string, 0, len(w.names))
	for n := range w.names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

type headerWalker struct {
	names map[string]bool
	any   bool
}

// isHeaders reports the expression request.headers.
func isHeaders(e celast.Expr) bool {
	if e.Kind() != celast.SelectKind {
		return false
	}
	s := e.AsSelect()
	op := s.Operand()
	return s.FieldName() == "headers" && !s.IsTestOnly() && op.Kind() == celast.IdentKind && op.AsIdent() == "request"
}

// constString is the value of a string literal.
func constString(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// add records a header name read with a constant key. A key that is not a
// header name can never be in the map: it reads nothing.
func (w *headerWalker) add(name string) {
	if httpguts.ValidHeaderFieldName(name) {
		w.names[textproto.CanonicalMIMEHeaderKey(name)] = true
	}
}

func (w *headerWalker) visit(e celast.Expr) {
	switch e.Kind() {
	case celast.SelectKind:
		if isHeaders(e) {
			w.any = true // the map itself, used as a whole
			return
		}
		s := e.AsSelect()
		if isHeaders(s.Operand()) {
			w.add(s.FieldName()) // request.headers.name, has(request.headers.name)
			return
		}
		w.visit(s.Operand())
	case celast.CallKind:
		c := e.AsCall()
		args := c.Args()
		switch fn := c.FunctionName(); {
		case (fn == operators.Index || fn == operators.OptIndex || fn == operators.OptSelect) && len(args) == 2 && isHeaders(args[0]):
			if name, ok := constString(args[1]); ok {
				w.add(name)
				return
			}
		case (fn == operators.In || fn == operators.OldIn) && len(args) == 2 && isHeaders(args[1]):
			if name, ok := constString(args[0]); ok {
				w.add(name)
				return
			}
		}
		if c.IsMemberFunction() {
			w.visit(c.Target())
		}
		for _, a := range args {
			w.visit(a)
		}
	case celast.ComprehensionKind:
		c := e.AsComprehension()
		for _, x := range []celast.Expr{c.IterRange(), c.AccuInit(), c.LoopCondition(), c.LoopStep(), c.Result()} {
			w.visit(x)
		}
	case celast.ListKind:
		for _, x := range e.AsList().Elements() {
			w.visit(x)
		}
	case celast.MapKind:
		for _, en := range e.AsMap().Entries() {
			me := en.AsMapEntry()
			w.visit(me.Key())
			w.visit(me.Value())
		}
	case celast.StructKind:
		for _, f := range e.AsStruct().Fields() {
			w.visit(f.AsStructField().Value())
		}
	}
}
