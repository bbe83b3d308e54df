// Package pipeline holds what every policy shares: the fixed phases a
// request passes through, the per-request Context, the Identity that
// authentication produces, the registry of policy kinds, and RFC 9457
// problem responses. Policy packages import it; it imports none of them.
package pipeline

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// Phase is a step of the request's way through the gateway. Phases run in
// the order declared here, whatever order a route lists its policies in.
type Phase int

// The phases, in the order they run.
const (
	PhaseAccess   Phase = iota // ip allow/deny, bans, pre-auth limits
	PhaseAuthn                 // authentication: produces Identity
	PhaseAuthz                 // acl, scopes, rules
	PhaseLimit                 // rate limits, quotas, concurrency
	PhaseValidate              // size, content type, signatures, schema, WAF
	PhaseRewrite               // identity headers, header changes for the upstream
	NumPhases                  // the number of request phases
)

var phaseNames = [...]string{"access", "authn", "authz", "limit", "validate", "rewrite"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// Identity is who authentication says the caller is.
type Identity struct {
	Consumer     string
	CredentialID string
	Method       string
	Groups       []string
	Scopes       []string
	Claims       map[string]any
}

// Context is the per-request state every policy sees. It is created once
// per request by the gateway and never shared between requests.
type Context struct {
	// Request is the client's request; rewrite-phase policies may change
	// its headers, which are what the upstream receives.
	Request *http.Request
	// RequestID is the X-Request-Id of this request.
	RequestID string
	// ClientAddr is the client's address after trusted-proxy resolution:
	// the only address any policy may use.
	ClientAddr netip.Addr
	// Path is the canonical (normalized) request path used for routing.
	Path string
	// Route and Service are the names of the matched route and its service.
	Route   string
	Service string
	// Identity is set by the authn phase; nil for anonymous requests.
	Identity *Identity
	// Start is when the gateway received the request.
	Start time.Time
	// TLS reports whether the client connection is TLS.
	TLS bool

	// finishers run once the response is done (see OnFinish).
	finishers []Finisher
	// values carries per-request data between a policy's methods (see
	// SetValue); it starts in valuesBuf, so the first value (a route's
	// rate limit's) costs no allocation of its own: the Context lives in
	// the request's one allocation, the gateway's exchange, whose size
	// class one more entry would raise.
	values    []ctxValue
	valuesBuf [1]ctxValue
}

// RequestPolicy runs in one request phase. Handle returns nil to let the
// request go on, or a Problem to answer it without reaching the upstream.
type RequestPolicy interface {
	Phase() Phase
	Handle(c *Context) *Problem
}

// ResponsePolicy changes the upstream's response headers before they are
// sent to the client.
type ResponsePolicy interface {
	Respond(c *Context, status int, header http.Header)
}

// ResponseBodyFilter is implemented by response policies that must see or
// replace the upstream's response body (field filtering, error hiding). The
// gateway calls FilterResponse, only on routes that have such a policy,
// after the ResponsePolicy header changes and before the status line is
// written. It returns the body to send: body itself when unchanged, or a
// new reader (the gateway then drops Content-Length, or sets it when the
// reader has a Len() int method). h may be changed. An error refuses the
// response with a 502 problem: the unfiltered body is never sent.
type ResponseBodyFilter interface {
	FilterResponse(c *Context, status int, h http.Header, body io.Reader) (io.Reader, error)
}

// Decoder decodes a policy's YAML mapping strictly into v (unknown fields
// are errors that name their line).
type Decoder interface {
	Decode(v any) error
}

// CompileEnv is what a policy compiler may need at load time.
type CompileEnv struct {
	// Route is the name of the route the policy belongs to.
	Route string
	// RouteConfig is that route's configuration: a policy that depends on
	// its route (its methods, a sibling policy) reads it here instead of
	// looking the route up by name in Config. Nil when a policy is
	// compiled outside a route.
	RouteConfig *config.Route
	// Path is the policy's field path in the config (routes[2].policies[0]).
	Path string
	// Config is the whole configuration being compiled.
	Config *config.Config
	// Snapshot holds values built once per compile and shared by every
	// policy of that snapshot (an index of consumers, say).
	Snapshot *SharedValues
	// State holds values that outlive snapshots: caches and counters keyed
	// by stable names, which a reload must not reset.
	State *SharedValues
}

// IdentityUser is implemented by policies that need an authenticated
// identity; a route with one must have an authentication policy.
type IdentityUser interface {
	NeedsIdentity() bool
}

// OnePerRoute is implemented by policy kinds a route may hold once: a
// second policy of the kind would contradict the first rather than add to
// it (a second auth policy finds the credential the first removed, a
// second cors policy is never asked about the origins the first refuses).
// Kinds whose policies add up (every rate limit, ip_filter or rule must
// pass) do not implement it. WhyOnePerRoute says why, and what to write
// instead, for the config error the second one gets.
type OnePerRoute interface {
	WhyOnePerRoute() string
}

// HeaderOwner is implemented by policies that set headers toward the
// upstream which the upstream trusts (identity, claims): the gateway strips
// these names from every client request on every route, so a client can
// never send them itself.
type HeaderOwner interface {
	OwnedHeaders() []string
}

// HeaderReader is implemented by policies that decide something from
// request headers (credentials, required headers, rules, rate-limit keys). The names it
// returns, with the headers a route matches on, are the route's decision
// headers, and one rule holds for them: the gateway drops their aliases
// ("X_Tenant" for "X-Tenant") that an upstream could read as the same
// header, on every route, and refuses (400) a request to the route that
// repeats one of them, since a policy that judged one value would forward
// another beside it. AnyHeader among the names stands for every header (a
// rule that reads headers by a computed name): then no header may repeat
// on that route.
type HeaderReader interface {
	ReadHeaders() []string
}

// AnyHeader in ReadHeaders means every header.
const AnyHeader = "*"

// Authenticator is implemented by authentication policies.
type Authenticator interface {
	Authenticates() bool
}

// SharedValues holds the values policies share, each built once under its
// key (an index of consumers, a token cache, a key set) and handed to
// every policy that asks for the same key. Safe for concurrent use.
// CompileEnv carries two: Snapshot, fresh per compile, and State, kept
// across reloads.
type SharedValues struct {
	mu sync.Mutex
	m  map[string]any
}

// NewSharedValues returns an empty SharedValues.
func NewSharedValues() *SharedValues { return &SharedValues{m: map[string]any{}} }

// Get returns the value under key, building it with create the first time.
// A failed create stores nothing.
func (m *SharedValues) Get(key string, create func() (any, error)) (any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if v, ok := m.m[key]; ok {
		return v, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	m.m[key] = v
	return v, nil
}

// Range calls f for every stored value (for shutdown and pruning).
func (m *SharedValues) Range(f func(key string, v any)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, v := range m.m {
		f(k, v)
	}
}

// Compiler compiles one policy entry into a RequestPolicy, a
// ResponsePolicy, or a value that is both.
type Compiler func(d Decoder, env CompileEnv) (any, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]kindEntry{}
)

// kindEntry is a registered policy kind: its config type and compiler.
type kindEntry struct {
	config  reflect.Type
	compile Compiler
}

// Register makes a policy kind available to configs. It is called from an
// init function in the file that implements the kind, with a zero value of
// the struct the kind's YAML decodes into (its fields are the kind's
// contract: the docs and schema drift tests in internal/config check every
// kind's fields through it) and its compiler. The compiler must decode
// into exactly that type: Lookup's compiler refuses any other.
// Registering a kind twice, or with a config that is not a struct, panics,
// because that is a programming error.
func Register(kind string, cfg any, c Compiler) {
	t := reflect.TypeOf(cfg)
	if t == nil || t.Kind() != reflect.Struct {
		panic("pipeline: policy kind " + kind + " registered without its config struct")
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("pipeline: policy kind registered twice: " + kind)
	}
	registry[kind] = kindEntry{config: t, compile: c}
}

// Lookup returns the compiler of a policy kind. Its decoder accepts only
// the kind's registered config type.
func Lookup(kind string) (Compiler, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	e, ok := registry[kind]
	if !ok {
		return nil, false
	}
	return func(d Decoder, env CompileEnv) (any, error) {
		return e.compile(typedDecoder{Decoder: d, kind: kind, want: e.config}, env)
	}, true
}

// ConfigType is the config struct a policy kind declared (nil for an
// unknown kind).
func ConfigType(kind string) reflect.Type {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registry[kind].config
}

// typedDecoder holds a compiler to the config type its kind declared, so
// the declared contract and the decoded fields cannot drift apart.
type typedDecoder struct {
	Decoder
	kind string
	want reflect.Type
}

func (d typedDecoder) Decode(v any) error {
	if t := reflect.TypeOf(v); t == nil || t.Kind() != reflect.Pointer || t.Elem() != d.want {
		return fmt.Errorf("pipeline: policy kind %s decodes into %v, but registered %v", d.kind, t, d.want)
	}
	return d.Decoder.Decode(v)
}

// Kinds lists the registered policy kinds, sorted.
func Kinds() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
