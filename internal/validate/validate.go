package validate

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("validate", validateConfig{}, compileValidate)
}

// validateConfig is the validate policy's YAML. Every check is off unless
// set; at least one must be.
type validateConfig struct {
	// MaxBody refuses bodies larger than this with 413.
	MaxBody config.Size `yaml:"max_body,omitempty"`
	// ContentTypes lists the media types a request with a body may have
	// ("application/json", or "type/*"); others get 415.
	ContentTypes []string `yaml:"content_types,omitempty" empty:"any media type"`
	// JSON requires the body to be well-formed JSON.
	JSON bool `yaml:"json,omitempty"`
	// JSONSchema is an inline JSON Schema (2020-12 unless it says
	// otherwise) or {file: path}; the body must be valid against it.
	JSONSchema *yaml.Node `yaml:"json_schema,omitempty"`
	MaxHeaders int        `yaml:"max_headers,omitempty"`
	// MaxQueryParams is a pointer because 0 is a value: no query
	// parameter at all (an operator who writes 0 means that, not "no
	// limit", which is leaving it out).
	MaxQueryParams *int `yaml:"max_query_params,omitempty"`
	MaxURLLength   int  `yaml:"max_url_length,omitempty"`
}

// defaultInspectLimit bounds the bytes buffered for JSON checks when
// max_body is not set.
const defaultInspectLimit = 1 << 20

// maxInspectLimit bounds max_body when the body is buffered in memory.
const maxInspectLimit = 64 << 20

// validatePolicy is the compiled validate kind, in the validate phase.
type validatePolicy struct {
	maxBody        int64 // 0: no limit of its own
	inspectLimit   int64 // bytes buffered for JSON checks
	contentTypes   []string
	typeWildcards  []string // "image/" for "image/*"
	json           bool
	schema         *jsonSchema
	maxHeaders     int
	maxQueryParams int // -1: no limit of its own
	maxURLLength   int
}

func compileValidate(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg validateConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	p := &validatePolicy{
		maxBody:        int64(cfg.MaxBody),
		json:           cfg.JSON,
		maxHeaders:     cfg.MaxHeaders,
		maxQueryParams: -1,
		maxURLLength:   cfg.MaxURLLength,
	}
	if n := cfg.MaxQueryParams; n != nil {
		if *n < 0 {
			return nil, fmt.Errorf("max_query_params: must not be negative (0: no query parameter)")
		}
		p.maxQueryParams = *n
	}
	for name, n := range map[string]int{"max_headers": cfg.MaxHeaders, "max_url_length": cfg.MaxURLLength} {
		if n < 0 {
			return nil, fmt.Errorf("%s: must not be negative", name)
		}
	}
	for i, ct := range cfg.ContentTypes {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || len(params) > 0 || strings.Count(mt, "/") != 1 || strings.HasPrefix(mt, "*") {
			return nil, fmt.Errorf("content_types[%d]: %q is not a media type such as application/json or image/*", i, ct)
		}
		if strings.HasSuffix(mt, "/*") {
			p.typeWildcards = append(p.typeWildcards, strings.TrimSuffix(mt, "*"))
		} else {
			p.contentTypes = append(p.contentTypes, mt)
		}
	}
	if cfg.JSONSchema != nil {
		s, err := compileJSONSchema(cfg.JSONSchema)
		if err != nil {
			if env.Config != nil {
				return nil, env.Config.ErrorAt(cfg.JSONSchema, env.Path+".json_schema", err)
			}
			return nil, fmt.Errorf("json_schema: %w", err)
		}
		p.schema = s
	}
	if p.inspects() {
		p.inspectLimit = p.maxBody
		if p.inspectLimit == 0 {
			p.inspectLimit = defaultInspectLimit
		}
		if p.inspectLimit > maxInspectLimit {
			return nil, fmt.Errorf("max_body: at most 64MiB when the body is checked as JSON (it is held in memory)")
		}
	}
	if p.maxBody == 0 && len(cfg.ContentTypes) == 0 && !p.inspects() && p.maxHeaders == 0 && p.maxQueryParams < 0 && p.maxURLLength == 0 {
		return nil, fmt.Errorf("at least one check is required (max_body, content_types, json, json_schema, max_headers, max_query_params, max_url_length)")
	}
	return p, nil
}

func (p *validatePolicy) inspects() bool { return p.json || p.schema != nil }

func (p *validatePolicy) Phase() pipeline.Phase { return pipeline.PhaseValidate }

func (p *validatePolicy) Handle(c *pipeline.Context) *pipeline.Problem {
	r := c.Request
	if p.maxURLLength > 0 && len(r.RequestURI) > p.maxURLLength {
		return pipeline.NewProblem(http.StatusRequestURITooLong, "The request URL is too long.", "validate: url longer than max_url_length")
	}
	if p.maxQueryParams >= 0 && countQueryParams(r.URL.RawQuery) > p.maxQueryParams {
		return pipeline.NewProblem(http.StatusBadRequest, "The request has too many query parameters.", "validate: more than max_query_params")
	}
	if p.maxHeaders > 0 && countHeaders(r.Header) > p.maxHeaders {
		return pipeline.NewProblem(http.StatusRequestHeaderFieldsTooLarge, "The request has too many header fields.", "validate: more than max_headers")
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	if p.maxBody > 0 && r.ContentLength > p.maxBody {
		return tooLarge()
	}
	if hasBody && (len(p.contentTypes) > 0 || len(p.typeWildcards) > 0) && !p.typeAllowed(r.Header.Get("Content-Type")) {
		return pipeline.NewProblem(http.StatusUnsupportedMediaType, "The request body's media type is not accepted.", "validate: content type not allowed")
	}
	if p.inspects() && (hasBody || bodyMethod(r.Method)) {
		return p.checkBody(r)
	}
	if hasBody && p.maxBody > 0 && r.ContentLength < 0 {
		// No inspection: stream, but stop at the limit. The proxy answers
		// a *http.MaxBytesError from the upstream copy with 413.
		r.Body = http.MaxBytesReader(nil, r.Body, p.maxBody)
	}
	return nil
}

func tooLarge() *pipeline.Problem {
	return pipeline.NewProblem(http.StatusRequestEntityTooLarge, "The request body is too large.", "validate: body larger than max_body")
}

// bodyMethod reports methods whose requests are expected to carry a body:
// for them an empty body is checked too (and is not valid JSON).
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

func (p *validatePolicy) typeAllowed(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	for _, a := range p.contentTypes {
		if mt == a {
			return true
		}
	}
	for _, w := range p.typeWildcards {
		if strings.HasPrefix(mt, w) {
			return true
		}
	}
	return false
}

// countQueryParams counts the non-empty '&'-separated parts of a raw query
// without decoding it.
func countQueryParams(q string) int {
	n := 0
	for q != "" {
		i := strings.IndexByte(q, '&')
		if i < 0 {
			return n + 1
		}
		if i > 0 {
			n++
		}
		q = q[i+1:]
	}
	return n
}

// countHeaders counts header field lines.
func countHeaders(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// pointerDetail is the problem detail for a schema violation: the generic
// text and the (sanitized) JSON pointer of the failing location only.
func pointerDetail(ptr string) string {
	if ptr == "" {
		return errBodyInvalid
	}
	return errBodyInvalid + " Failing location: " + strconv.Quote(ptr) + "."
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*validatePolicy)(nil)
)
