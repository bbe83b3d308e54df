// Package auth authenticates callers at the edge. It provides the "auth"
// policy kind (authn phase): a route lists one or more methods (jwt,
// api_key, basic, mtls, introspection), the first that succeeds wins, and
// the result is one pipeline.Identity for the later phases. Each method is
// one file that registers itself with RegisterMethod.
//
// Failure behaviour: a request that no method accepts gets 401 with an
// RFC 9457 body saying "invalid or missing credentials" and nothing about
// which check failed; the precise reason goes to the log and to the
// per-route, per-method, per-reason counters.
package auth

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// ErrNoCredentials is returned by a method when the request carries no
// credential of its kind: the next method is tried.
var ErrNoCredentials = errors.New("no credentials")

// Failure is a credential that was present but not accepted. Reason is for
// logs and counters only ("expired", "bad signature", "unknown kid").
type Failure struct {
	Reason string
	// Challenge, when set, is the WWW-Authenticate value for this method
	// (RFC 6750 for bearer tokens: `Bearer error="invalid_token"`).
	Challenge string
	// Status overrides 401 (for example 503 is never used: fail closed is
	// still 401; 421 or 403 where a method needs it).
	Status int
}

func (f *Failure) Error() string { return f.Reason }

// Fail returns a *Failure with a reason.
func Fail(format string, args ...any) *Failure {
	return &Failure{Reason: fmt.Sprintf(format, args...)}
}

// Method is one way of authenticating, compiled once per route.
type Method interface {
	// Name is the method's kind: "jwt", "api_key", ...
	Name() string
	// Authenticate returns the identity, ErrNoCredentials, or a *Failure
	// (any other error is treated as a failure with its text as reason).
	Authenticate(c *pipeline.Context) (*pipeline.Identity, error)
	// Challenge is the WWW-Authenticate value sent when no method
	// accepted the request ("" for none), e.g. `Bearer realm="api"`.
	Challenge() string
}

// Env is what a method compiler gets.
type Env struct {
	pipeline.CompileEnv
	// Consumers is the snapshot's consumer index.
	Consumers *Consumers
	// Decoder makes a strict decoder for a node below the method's
	// config (positions and paths stay right).
	Decoder func(node *yaml.Node, path string) pipeline.Decoder
	// MethodPath is the field path of this method's config.
	MethodPath string
}

// MethodCompiler builds a method from its config.
type MethodCompiler func(d pipeline.Decoder, env Env) (Method, error)

var (
	methodsMu sync.RWMutex
	methods   = map[string]MethodCompiler{}
)

// RegisterMethod makes an authentication method available; called from
// the init function of the method's file.
func RegisterMethod(name string, mc MethodCompiler) {
	methodsMu.Lock()
	defer methodsMu.Unlock()
	if _, dup := methods[name]; dup {
		panic("auth: method registered twice: " + name)
	}
	methods[name] = mc
}

func methodNames() []string {
	methodsMu.RLock()
	defer methodsMu.RUnlock()
	out := make([]string, 0, len(methods))
	for k := range methods {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func init() {
	pipeline.Register("auth", policyConfig{}, compilePolicy)
}

// policyConfig is the "auth" policy entry:
//
//   - kind: auth
//     methods:
//   - jwt: {...}
//   - api_key: {...}
//     anonymous: guest
type policyConfig struct {
	Methods []methodSpec `yaml:"methods"`
	// Anonymous names a consumer that requests without any credential
	// become. A credential that is present but invalid is still refused.
	Anonymous string `yaml:"anonymous,omitempty"`
}

// methodSpec is one entry of methods: a mapping with a single key, the
// method's name, whose value is the method's config.
type methodSpec struct {
	name string
	node *yaml.Node
	at   *yaml.Node
}

func (m *methodSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value != "" {
		m.name, m.node, m.at = n.Value, nil, n // "- basic" with no options
		return nil
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return errors.New("each method is a mapping with one key, the method name (jwt, api_key, basic, mtls, introspection)")
	}
	m.name, m.node, m.at = n.Content[0].Value, n.Content[1], n
	return nil
}

// policy is the compiled "auth" policy.
type policy struct {
	route     string
	methods   []Method
	anonymous *pipeline.Identity
	challenge []string
	owned     []string
	// plans[i] strips the credentials once methods[i] accepted the
	// request; the last one once none did (anonymous). See credentials.go.
	plans   []stripPlan
	reads   []string
	metrics *policyMetrics
}

var (
	_ pipeline.RequestPolicy = (*policy)(nil)
	_ pipeline.HeaderOwner   = (*policy)(nil)
	_ pipeline.HeaderReader  = (*policy)(nil)
	_ pipeline.Authenticator = (*policy)(nil)
	_ pipeline.OnePerRoute   = (*policy)(nil)
)

// WhyOnePerRoute: a request has one identity. A second policy would look
// for a credential the first one removed once it accepted it (the same
// method twice refuses every request), or replace the first's identity
// with its own (anonymous, say).
func (p *policy) WhyOnePerRoute() string {
	return "a request has one identity, and the second would find the credential the first removed or replace its identity; list every method in the first policy's methods (tried in order)"
}

func compilePolicy(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg policyConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Methods) == 0 {
		return nil, errors.New("methods: at least one authentication method is required")
	}
	consumers, err := ConsumersOf(env)
	if err != nil {
		return nil, err
	}
	metrics, err := MetricsOf(env)
	if err != nil {
		return nil, err
	}
	p := &policy{route: env.Route}
	seen := map[string]bool{}
	var errs config.Errors // every method's problems, not only the first
	for i, ms := range cfg.Methods {
		path := fmt.Sprintf("%s.methods[%d].%s", env.Path, i, ms.name)
		methodsMu.RLock()
		mc, ok := methods[ms.name]
		methodsMu.RUnlock()
		if !ok {
			errs = append(errs, env.Config.ErrorAt(ms.at, fmt.Sprintf("%s.methods[%d]", env.Path, i),
				fmt.Errorf("unknown authentication method %q (known: %s)", ms.name, strings.Join(methodNames(), ", "))))
			continue
		}
		if seen[ms.name] {
			errs = append(errs, env.Config.ErrorAt(ms.at, fmt.Sprintf("%s.methods[%d]", env.Path, i), fmt.Errorf("method %q is listed twice", ms.name)))
			continue
		}
		seen[ms.name] = true
		node := ms.node
		if node == nil {
			node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: ms.at.Line, Column: ms.at.Column}
		}
		menv := Env{
			CompileEnv: env,
			Consumers:  consumers,
			MethodPath: path,
			Decoder: func(n *yaml.Node, p string) pipeline.Decoder {
				return config.NodeDecoder{File: env.Config.File, Node: n, Path: p}
			},
		}
		m, err := mc(config.NodeDecoder{File: env.Config.File, Node: node, Path: path}, menv)
		if err != nil {
			errs = append(errs, env.Config.ErrorsAt(node, path, err)...)
			continue
		}
		p.methods = append(p.methods, m)
		if ch := m.Challenge(); ch != "" {
			p.challenge = append(p.challenge, ch)
		}
		if o, ok := m.(pipeline.HeaderOwner); ok {
			p.owned = append(p.owned, o.OwnedHeaders()...)
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if cfg.Anonymous != "" {
		c := consumers.ByName(cfg.Anonymous)
		if c == nil {
			return nil, fmt.Errorf("anonymous: consumer %q is not defined", cfg.Anonymous)
		}
		p.anonymous = &pipeline.Identity{Consumer: c.Name, Groups: c.Groups, Scopes: c.Scopes, Method: "anonymous"}
	}
	p.plans = credentialPlans(p.methods)
	p.reads = credentialHeaders(p.methods)
	names := make([]string, len(p.methods))
	for i, m := range p.methods {
		names[i] = m.Name()
	}
	p.metrics = metrics.forPolicy(env.Route, names)
	return p, nil
}

func (p *policy) Phase() pipeline.Phase  { return pipeline.PhaseAuthn }
func (p *policy) Authenticates() bool    { return true }
func (p *policy) OwnedHeaders() []string { return p.owned }

// ReadHeaders are the headers the methods read credentials from: the
// gateway guards their aliases ("X_Api_Key").
func (p *policy) ReadHeaders() []string { return p.reads }

// Handle tries each method in order. A method that finds no credential
// passes to the next; one that finds a bad credential refuses at once, so
// a forged token cannot fall through to a weaker method or to anonymous.
// Once a method (or anonymous) accepted the request, every credential any
// method reads is removed unless it is forwarded (credentials.go).
func (p *policy) Handle(c *pipeline.Context) *pipeline.Problem {
	for i, m := range p.methods {
		id, err := m.Authenticate(c)
		if err == nil && id != nil {
			c.Identity = id
			p.plans[i].strip(c.Request)
			p.metrics.success(m.Name())
			return nil
		}
		if err == nil || errors.Is(err, ErrNoCredentials) {
			continue
		}
		var f *Failure
		if !errors.As(err, &f) {
			f = &Failure{Reason: err.Error()}
		}
		p.metrics.failure(m.Name(), f.Reason)
		return p.refuse(m.Name()+": "+f.Reason, f)
	}
	if p.anonymous != nil {
		c.Identity = p.anonymous
		p.plans[len(p.methods)].strip(c.Request)
		p.metrics.success("anonymous")
		return nil
	}
	p.metrics.failure("none", "missing credentials")
	return p.refuse("missing credentials", nil)
}

func (p *policy) refuse(reason string, f *Failure) *pipeline.Problem {
	status := 401
	if f != nil && f.Status != 0 {
		status = f.Status
	}
	prob := pipeline.NewProblem(status, "Invalid or missing credentials.", reason)
	switch {
	case f != nil && f.Challenge != "":
		// A method's own challenge is sent whatever the status: RFC 6750
		// answers insufficient_scope with 403 and a Bearer challenge.
		prob.Header = map[string][]string{"Www-Authenticate": {f.Challenge}}
	case status == 401:
		prob.Header = map[string][]string{}
		if len(p.challenge) > 0 {
			prob.Header["Www-Authenticate"] = p.challenge
		}
	}
	return prob
}
