package authz

// The CEL environment of the "rule" kind. Two variables, request and
// identity, are declared as object types whose fields the checker knows,
// so a misspelt field is a config error. At run time their values are the
// gateway's own Go values: field getters read them directly, and the
// costly fields (headers, query, path parameters) are computed only when
// an expression reads them.

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	// Rules may name time zones (request.time.getHours("Europe/Paris")):
	// embed the zone database so they work on hosts without one.
	_ "time/tzdata"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"github.com/portcullis/portcullis/internal/pipeline"
)

const (
	requestTypeName  = "portcullis.Request"
	identityTypeName = "portcullis.Identity"
)

// requestVars is the value of the request variable for one evaluation.
// It is used by one goroutine only and never outlives Handle.
type requestVars struct {
	c       *pipeline.Context
	tmpl    *pathTemplate
	params  map[string]string
	headers map[string]string
	query   map[string]string
}

var stringMapType = types.NewMapType(types.StringType, types.StringType)

// requestFields are the fields of request, for the checker and the planner.
var requestFields = map[string]*types.FieldType{
	"method":      reqField(types.StringType, func(v *requestVars) (any, error) { return v.c.Request.Method, nil }),
	"path":        reqField(types.StringType, func(v *requestVars) (any, error) { return v.c.Path, nil }),
	"path_params": reqField(stringMapType, (*requestVars).pathParams),
	"headers":     reqField(stringMapType, (*requestVars).headerMap),
	"query":       reqField(stringMapType, (*requestVars).queryMap),
	"client_ip":   reqField(types.StringType, func(v *requestVars) (any, error) { return v.clientIP(), nil }),
	"time":        reqField(types.TimestampType, func(v *requestVars) (any, error) { return v.c.Start, nil }),
}

// identityFields are the fields of identity; the value is the request's
// *pipeline.Identity itself.
var identityFields = map[string]*types.FieldType{
	"consumer":      idField(types.StringType, func(id *pipeline.Identity) any { return id.Consumer }),
	"groups":        idField(types.NewListType(types.StringType), func(id *pipeline.Identity) any { return id.Groups }),
	"scopes":        idField(types.NewListType(types.StringType), func(id *pipeline.Identity) any { return id.Scopes }),
	"claims":        idField(types.NewMapType(types.StringType, types.DynType), func(id *pipeline.Identity) any { return id.Claims }),
	"method":        idField(types.StringType, func(id *pipeline.Identity) any { return id.Method }),
	"credential_id": idField(types.StringType, func(id *pipeline.Identity) any { return id.CredentialID }),
}

func alwaysSet(any) bool { return true }

func reqField(t *types.Type, get func(*requestVars) (any, error)) *types.FieldType {
	return &types.FieldType{Type: t, IsSet: alwaysSet, GetFrom: func(target any) (any, error) {
		v, ok := target.(*requestVars)
		if !ok {
			return nil, fmt.Errorf("request: unexpected value %T", target)
		}
		return get(v)
	}}
}

func idField(t *types.Type, get func(*pipeline.Identity) any) *types.FieldType {
	return &types.FieldType{Type: t, IsSet: alwaysSet, GetFrom: func(target any) (any, error) {
		id, ok := target.(*pipeline.Identity)
		if !ok || id == nil {
			return nil, fmt.Errorf("identity: unexpected value %T", target)
		}
		return get(id), nil
	}}
}

func (v *requestVars) pathParams() (any, error) {
	if v.params == nil {
		if v.tmpl != nil {
			v.params = v.tmpl.match(v.c.Path)
		}
		if v.params == nil {
			v.params = map[string]string{}
		}
	}
	return v.params, nil
}

// headerMap maps lower-case header names to their first value.
func (v *requestVars) headerMap() (any, error) {
	if v.headers == nil {
		h := v.c.Request.Header
		v.headers = make(map[string]string, len(h))
		for k, vs := range h {
			if len(vs) > 0 {
				v.headers[strings.ToLower(k)] = vs[0]
			}
		}
	}
	return v.headers, nil
}

// queryMap maps query parameter names to their first value. A query that
// does not parse is an evaluation error, so the rule fails closed rather
// than judging a request the upstream may read differently.
func (v *requestVars) queryMap() (any, error) {
	if v.query == nil {
		raw := ""
		if u := v.c.Request.URL; u != nil {
			raw = u.RawQuery
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return nil, fmt.Errorf("request.query: the query does not parse")
		}
		v.query = make(map[string]string, len(q))
		for k, vs := range q {
			if len(vs) > 0 {
				v.query[k] = vs[0]
			}
		}
	}
	return v.query, nil
}

func (v *requestVars) clientIP() string {
	if !v.c.ClientAddr.IsValid() {
		return ""
	}
	return v.c.ClientAddr.String()
}

// provider adds the two object types to CEL's own type registry (which
// it embeds, so extensions can still register their types in it).
type provider struct {
	*types.Registry
	objects map[string]*types.Type
	fields  map[string]map[string]*types.FieldType
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if t, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(t), true
	}
	return p.Registry.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	fs, ok := p.fields[name]
	if !ok {
		return p.Registry.FindStructFieldNames(name)
	}
	out := make([]string, 0, len(fs))
	for f := range fs {
		out = append(out, f)
	}
	return out, true
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	fs, ok := p.fields[name]
	if !ok {
		return p.Registry.FindStructFieldType(name, field)
	}
	ft, ok := fs[field]
	return ft, ok
}

// Limits on what a rule may be, checked at load.
const (
	maxExprBytes     = 16 << 10
	maxExprRecursion = 64
)

// ruleEnv is the CEL environment shared by every rule: building it is
// costly and it is safe for concurrent use.
var ruleEnv = sync.OnceValues(func() (*cel.Env, error) {
	reg, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	reqType, idType := types.NewObjectType(requestTypeName), types.NewObjectType(identityTypeName)
	p := &provider{
		Registry: reg,
		objects:  map[string]*types.Type{requestTypeName: reqType, identityTypeName: idType},
		fields:   map[string]map[string]*types.FieldType{requestTypeName: requestFields, identityTypeName: identityFields},
	}
	return cel.NewEnv(
		cel.CustomTypeAdapter(reg),
		cel.CustomTypeProvider(p),
		cel.Variable("request", reqType),
		cel.Variable("identity", idType),
		ext.Strings(),
		ext.Sets(),
		ext.Network(),
		cel.OptionalTypes(),
		cel.ParserExpressionSizeLimit(maxExprBytes),
		cel.ParserRecursionLimit(maxExprRecursion),
	)
})
