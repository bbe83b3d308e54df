package response

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/tlspolicy"
	"golang.org/x/net/http/httpguts"
)

func init() { pipeline.Register("cors", corsConfig{}, compileCORS) }

// corsConfig is the YAML of the cors kind.
type corsConfig struct {
	// Origins are exact origins, patterns (https://*.example.com), or "*"
	// alone (any origin; refused with credentials).
	Origins []string `yaml:"origins"`
	// Methods a preflight may ask for (default GET, HEAD, POST).
	Methods []string `yaml:"methods,omitempty" empty:"the default, GET, HEAD and POST"`
	// Headers a preflight may ask for (Access-Control-Request-Headers).
	Headers []string `yaml:"headers,omitempty"`
	// ExposeHeaders are response headers a page may read.
	ExposeHeaders []string `yaml:"expose_headers,omitempty"`
	// Credentials lets browsers send cookies and authorization.
	Credentials bool `yaml:"credentials,omitempty"`
	// MaxAge is how long a browser may cache a preflight answer.
	MaxAge config.Duration `yaml:"max_age,omitempty" zero:"value"`
}

// cors answers preflight requests in the access phase, before
// authentication (browsers send no credentials with them) and without
// reaching the upstream, and adds the CORS headers to actual responses
// for allowed origins only.
type cors struct {
	anyOrigin   bool
	exact       map[string]bool
	patterns    []originPattern
	methods     map[string]bool
	headers     map[string]bool // lower case
	credentials bool
	// Header values built at load time.
	allowMethods, allowHeaders, expose, maxAge string
}

var defaultCORSMethods = []string{"GET", "HEAD", "POST"}

func compileCORS(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg corsConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	p := &cors{exact: map[string]bool{}, methods: map[string]bool{}, headers: map[string]bool{}, credentials: cfg.Credentials}
	if len(cfg.Origins) == 0 {
		return nil, fmt.Errorf("origins: at least one origin is required")
	}
	for _, o := range cfg.Origins {
		switch {
		case o == "*":
			if cfg.Credentials {
				return nil, fmt.Errorf("origins: \"*\" cannot be used with credentials: true; list the origins")
			}
			if len(cfg.Origins) > 1 {
				return nil, fmt.Errorf("origins: \"*\" must be the only origin")
			}
			p.anyOrigin = true
		case strings.EqualFold(o, "null"):
			return nil, fmt.Errorf("origins: \"null\" is sent by sandboxed and file pages and cannot be trusted")
		default:
			op, err := parseOriginPattern(o)
			if err != nil {
				return nil, fmt.Errorf("origins: %w", err)
			}
			// A page served over plain http is whatever the network
			// makes of it: an attacker on the path injects a script into
			// it, and with credentials the browser lets that script send
			// the user's cookies and tokens here and read the answers.
			// Loopback (a developer's own machine) is the exception.
			if cfg.Credentials && op.prefix == "http://" && !tlspolicy.Loopback(op.suffix) {
				return nil, fmt.Errorf("origins: %q is plain http, and with credentials: true a script an attacker on the network injects into its pages could send the user's credentials here and read the answers; list its https:// origin (plain http is accepted for localhost and loopback addresses)", o)
			}
			if op.wild {
				p.patterns = append(p.patterns, op)
			} else {
				p.exact[op.prefix+op.suffix+op.port] = true
			}
		}
	}
	methods := cfg.Methods
	if len(methods) == 0 {
		methods = defaultCORSMethods
	}
	for _, m := range methods {
		if m == "*" || !httpguts.ValidHeaderFieldName(m) {
			return nil, fmt.Errorf("methods: %q is not a method", m)
		}
		p.methods[m] = true
	}
	p.allowMethods = strings.Join(methods, ", ")
	for _, h := range cfg.Headers {
		if h == "*" || !httpguts.ValidHeaderFieldName(h) {
			return nil, fmt.Errorf("headers: %q is not a header name (\"*\" is not accepted: list the headers)", h)
		}
		p.headers[strings.ToLower(h)] = true
	}
	p.allowHeaders = strings.Join(cfg.Headers, ", ")
	for _, h := range cfg.ExposeHeaders {
		if h == "*" || !httpguts.ValidHeaderFieldName(h) {
			return nil, fmt.Errorf("expose_headers: %q is not a header name (\"*\" is not accepted: list the headers)", h)
		}
	}
	p.expose = strings.Join(cfg.ExposeHeaders, ", ")
	if cfg.MaxAge < 0 {
		return nil, fmt.Errorf("max_age must not be negative")
	}
	if s := int64(cfg.MaxAge.D().Seconds()); s > 0 {
		p.maxAge = strconv.FormatInt(s, 10)
	}
	if err := checkRouteMethods(env); err != nil {
		return nil, err
	}
	return p, nil
}

// checkRouteMethods refuses a route whose methods leave out OPTIONS: the
// router would answer preflights with 405 before this policy runs.
func checkRouteMethods(env pipeline.CompileEnv) error {
	r := env.RouteConfig
	if r != nil && len(r.Methods) > 0 && !slices.ContainsFunc(r.Methods, func(m string) bool { return strings.EqualFold(m, http.MethodOptions) }) {
		return fmt.Errorf("route %q lists methods without OPTIONS, so preflight requests could never reach the cors policy: add OPTIONS", r.Name)
	}
	return nil
}

func (p *cors) Phase() pipeline.Phase { return pipeline.PhaseAccess }

// single returns the one value of a header; a repeated header is no value.
func single(h http.Header, name string) (string, bool) {
	v := h[name]
	if len(v) != 1 || v[0] == "" {
		return "", false
	}
	return v[0], true
}

func (p *cors) allowed(origin string) bool {
	if p.anyOrigin {
		return true
	}
	if p.exact[origin] {
		return true
	}
	for i := range p.patterns {
		if p.patterns[i].match(origin) {
			return true
		}
	}
	return false
}

const corsRefusal = "The cross-origin request is not allowed."

// Handle answers a preflight (OPTIONS with Origin and
// Access-Control-Request-Method); any other request goes on.
func (p *cors) Handle(c *pipeline.Context) *pipeline.Problem {
	r := c.Request
	if r.Method != http.MethodOptions {
		return nil
	}
	_, hasOrigin := r.Header["Origin"]
	_, hasMethod := r.Header["Access-Control-Request-Method"]
	if !hasOrigin || !hasMethod {
		return nil // an ordinary OPTIONS request for the upstream
	}
	origin, ok := single(r.Header, "Origin")
	if !ok || !p.allowed(origin) {
		return pipeline.NewProblem(http.StatusForbidden, corsRefusal, "cors: origin not allowed")
	}
	method, ok := single(r.Header, "Access-Control-Request-Method")
	if !ok || !p.methods[method] {
		return pipeline.NewProblem(http.StatusForbidden, corsRefusal, "cors: method not allowed")
	}
	for _, line := range r.Header["Access-Control-Request-Headers"] {
		for _, name := range strings.Split(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !p.headers[name] {
				return pipeline.NewProblem(http.StatusForbidden, corsRefusal, "cors: header not allowed")
			}
		}
	}
	h := http.Header{
		"Vary":                         {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
		"Access-Control-Allow-Origin":  {p.allowOrigin(origin)},
		"Access-Control-Allow-Methods": {p.allowMethods},
	}
	if p.allowHeaders != "" {
		h["Access-Control-Allow-Headers"] = []string{p.allowHeaders}
	}
	if p.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	if p.maxAge != "" {
		h["Access-Control-Max-Age"] = []string{p.maxAge}
	}
	return &pipeline.Problem{Status: http.StatusNoContent, Header: h, Bare: true, Reason: "cors: preflight answered"}
}

func (p *cors) allowOrigin(origin string) string {
	if p.anyOrigin && !p.credentials {
		return "*"
	}
	return origin
}

// Respond replaces whatever CORS headers the upstream sent with the
// gateway's: Access-Control-Allow-Origin only for an allowed origin.
func (p *cors) Respond(c *pipeline.Context, _ int, h http.Header) {
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			delete(h, k)
		}
	}
	if !p.anyOrigin {
		h["Vary"] = append(h["Vary"], "Origin")
	}
	origin, ok := single(c.Request.Header, "Origin")
	if !ok || !p.allowed(origin) {
		return
	}
	h["Access-Control-Allow-Origin"] = []string{p.allowOrigin(origin)}
	if p.credentials {
		h["Access-Control-Allow-Credentials"] = []string{"true"}
	}
	if p.expose != "" {
		h["Access-Control-Expose-Headers"] = []string{p.expose}
	}
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy  = (*cors)(nil)
	_ pipeline.ResponsePolicy = (*cors)(nil)
	_ pipeline.OnePerRoute    = (*cors)(nil)
)

// WhyOnePerRoute: the first policy answers or refuses a preflight, so the
// second is never asked about the origins only it lists, and each
// replaces the other's headers on responses.
func (p *cors) WhyOnePerRoute() string {
	return "the first answers every preflight (the origins only the second lists are refused) and each replaces the other's headers; list every origin, method and header in one policy"
}
