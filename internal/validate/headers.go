package validate

import (
	"fmt"
	"net/http"
	"net/textproto"
	"regexp"

	"github.com/portcullis/portcullis/internal/pipeline"
	"golang.org/x/net/http/httpguts"
)

func init() {
	pipeline.Register("require_headers", requireHeadersConfig{}, compileRequireHeaders)
}

// requireHeadersConfig is the require_headers policy's YAML.
type requireHeadersConfig struct {
	Headers []headerRule `yaml:"headers"`
}

type headerRule struct {
	Name string `yaml:"name"`
	// Pattern is a Go regular expression that every value of the header
	// must match in full.
	Pattern string `yaml:"pattern,omitempty"`
	// Required (default true): a request without the header is refused.
	// When false, the pattern applies only to a header that is present.
	Required *bool `yaml:"required,omitempty"`
}

type compiledHeaderRule struct {
	name     string // canonical
	re       *regexp.Regexp
	required bool
}

// requireHeaders refuses requests whose headers are missing or do not
// match, in the validate phase.
type requireHeaders struct{ rules []compiledHeaderRule }

// gatewayHeaders are set or removed by the gateway before policies run:
// requiring them would refuse every request, or test a value the client
// does not control.
var gatewayHeaders = map[string]bool{
	"Host": true, "X-Forwarded-For": true, "X-Forwarded-Proto": true, "X-Forwarded-Host": true,
	"Forwarded": true, "X-Real-Ip": true, "True-Client-Ip": true, "X-Client-Ip": true,
	"Connection": true, "Transfer-Encoding": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Keep-Alive": true, "Proxy-Connection": true,
}

func compileRequireHeaders(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	var cfg requireHeadersConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Headers) == 0 {
		return nil, fmt.Errorf("headers: at least one header is required")
	}
	p := &requireHeaders{}
	seen := map[string]bool{}
	for i, h := range cfg.Headers {
		if h.Name == "" || !httpguts.ValidHeaderFieldName(h.Name) {
			return nil, fmt.Errorf("headers[%d].name: %q is not a valid header name", i, h.Name)
		}
		name := textproto.CanonicalMIMEHeaderKey(h.Name)
		if gatewayHeaders[name] {
			return nil, fmt.Errorf("headers[%d].name: %q is set or removed by the gateway and cannot be required", i, h.Name)
		}
		if seen[name] {
			return nil, fmt.Errorf("headers[%d].name: %q is listed twice", i, h.Name)
		}
		seen[name] = true
		r := compiledHeaderRule{name: name, required: h.Required == nil || *h.Required}
		if h.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + h.Pattern + `)$`)
			if err != nil {
				return nil, fmt.Errorf("headers[%d].pattern: %w", i, err)
			}
			r.re = re
		}
		if !r.required && r.re == nil {
			return nil, fmt.Errorf("headers[%d]: an optional header needs a pattern, or the rule checks nothing", i)
		}
		p.rules = append(p.rules, r)
	}
	return p, nil
}

func (p *requireHeaders) Phase() pipeline.Phase { return pipeline.PhaseValidate }

const errBadHeaders = "A required header is missing or invalid."

func (p *requireHeaders) Handle(c *pipeline.Context) *pipeline.Problem {
	h := c.Request.Header
	for i := range p.rules {
		r := &p.rules[i]
		vs := h[r.name]
		if len(vs) == 0 {
			if r.required {
				return pipeline.NewProblem(http.StatusBadRequest, errBadHeaders, "require_headers: missing "+r.name)
			}
			continue
		}
		if r.re == nil {
			continue
		}
		// Every value must match: a second header line cannot smuggle a
		// value past a check that looked only at the first.
		for _, v := range vs {
			if !r.re.MatchString(v) {
				return pipeline.NewProblem(http.StatusBadRequest, errBadHeaders, "require_headers: "+r.name+" does not match")
			}
		}
	}
	return nil
}

// ReadHeaders names the headers this policy decides on: their '_'/'.'
// aliases are dropped on listeners that keep such names.
func (p *requireHeaders) ReadHeaders() []string {
	names := make([]string, len(p.rules))
	for i, r := range p.rules {
		names[i] = r.name
	}
	return names
}

var (
	_ pipeline.RequestPolicy = (*requireHeaders)(nil)
	_ pipeline.HeaderReader  = (*requireHeaders)(nil)
)
