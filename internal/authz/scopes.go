package authz

// The "scopes" kind: the route requires OAuth scopes, taken from the
// identity (the JWT scope or scp claim, or the introspection answer).
//
//	- kind: scopes
//	  require: [orders]                 # needed for every method
//	  per_method:                       # needed in addition, by method
//	    GET: [orders:read]
//	    POST: [orders:write]
//	    "*": [orders:admin]             # any method not listed
//	  hide: false
//
// With per_method, a method that is neither listed nor covered by "*" is
// refused (least privilege: a forgotten DELETE is not left open). HEAD
// uses GET's scopes when it is not listed itself.

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/pipeline"
	"golang.org/x/net/http/httpguts"
)

func init() { pipeline.Register("scopes", scopesConfig{}, compileScopes) }

type scopesConfig struct {
	Require   []string            `yaml:"require,omitempty"`
	PerMethod map[string][]string `yaml:"per_method,omitempty"`
	Hide      bool                `yaml:"hide,omitempty"`
}

type scopesPolicy struct {
	// byMethod holds, per method, every scope required (require included);
	// nil when per_method is not configured.
	byMethod map[string][]string
	// other is the list for methods not in byMethod: require alone without
	// per_method, require plus "*" with it; nil with per_method and no "*"
	// (refused).
	other []string
	ref   *refuser
}

// insufficientScope is the RFC 6750 challenge for bearer-token callers.
const insufficientScope = `Bearer realm="portcullis", error="insufficient_scope"`

func compileScopes(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg scopesConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Require) == 0 && len(cfg.PerMethod) == 0 {
		return nil, errors.New("at least one of require or per_method is needed")
	}
	if err := checkScopes("require", cfg.Require); err != nil {
		return nil, err
	}
	p := &scopesPolicy{}
	if len(cfg.PerMethod) == 0 {
		p.other = cfg.Require
	} else {
		p.byMethod = make(map[string][]string, len(cfg.PerMethod))
		for m, list := range cfg.PerMethod {
			field := "per_method." + m
			key := m
			if m != "*" {
				if !httpguts.ValidHeaderFieldName(m) {
					return nil, fmt.Errorf("%s: %q is not an HTTP method", field, m)
				}
				key = strings.ToUpper(m)
			}
			if _, dup := p.byMethod[key]; dup || (key == "*" && p.other != nil) {
				return nil, fmt.Errorf("%s: method %s is listed twice", field, key)
			}
			if err := checkScopes(field, list); err != nil {
				return nil, err
			}
			all := append(append(make([]string, 0, len(cfg.Require)+len(list)), cfg.Require...), list...)
			if key == "*" {
				p.other = all
				continue
			}
			p.byMethod[key] = all
		}
		if _, ok := p.byMethod[http.MethodHead]; !ok {
			if get, ok := p.byMethod[http.MethodGet]; ok {
				p.byMethod[http.MethodHead] = get
			}
		}
	}
	ref, err := newRefuser(env, "scopes", cfg.Hide)
	if err != nil {
		return nil, err
	}
	p.ref = ref
	return p, nil
}

// checkScopes refuses empty scopes and ones with spaces (a scope claim is
// split on spaces, so such a scope could never be held).
func checkScopes(field string, list []string) error {
	for i, s := range list {
		if s == "" || strings.ContainsAny(s, " \t\r\n") {
			return fmt.Errorf("%s[%d]: %q is not a valid scope", field, i, s)
		}
	}
	return nil
}

func (p *scopesPolicy) Phase() pipeline.Phase { return pipeline.PhaseAuthz }
func (p *scopesPolicy) NeedsIdentity() bool   { return true }

// Handle refuses the request unless the identity holds every scope the
// method needs.
func (p *scopesPolicy) Handle(c *pipeline.Context) *pipeline.Problem {
	id := c.Identity
	if id == nil {
		return p.ref.refuse(reasonNoIdentity)
	}
	need := p.other
	if p.byMethod != nil {
		if l, ok := p.byMethod[c.Request.Method]; ok {
			need = l
		} else if need == nil {
			return p.refuseScope(id, reasonMethodNoScopes)
		}
	}
	for _, s := range need {
		if !holds(id.Scopes, s) {
			return p.refuseScope(id, reasonMissingScope)
		}
	}
	return nil
}

func holds(have []string, s string) bool {
	for _, h := range have {
		if h == s {
			return true
		}
	}
	return false
}

// refuseScope adds the RFC 6750 insufficient_scope challenge for callers
// that came with a bearer token.
func (p *scopesPolicy) refuseScope(id *pipeline.Identity, reason string) *pipeline.Problem {
	prob := p.ref.refuse(reason)
	if prob.Status == http.StatusForbidden && (id.Method == "jwt" || id.Method == "introspection") {
		prob.Header = http.Header{"Www-Authenticate": {insufficientScope}}
	}
	return prob
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*scopesPolicy)(nil)
	_ pipeline.IdentityUser  = (*scopesPolicy)(nil)
)
