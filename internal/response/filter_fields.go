package response

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() { pipeline.Register("filter_fields", filterFieldsConfig{}, compileFilterFields) }

// filterFieldsConfig is the YAML of the filter_fields kind.
type filterFieldsConfig struct {
	// Allow keeps only these field paths; Deny removes them. Exactly one.
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
	// MaxBytes caps the upstream body the filter reads (default 1MiB);
	// a larger body is refused with 502, never passed on unfiltered.
	MaxBytes config.Size `yaml:"max_bytes,omitempty"`
	// Strict refuses responses that are not JSON instead of passing them.
	Strict bool `yaml:"strict,omitempty"`
}

const defaultMaxBytes = 1 << 20

var (
	errNotJSON = errors.New("response is not JSON and the filter is strict")
	errEncoded = errors.New("response has a content coding the filter cannot read")
)

// filterFields removes fields from JSON response bodies. It is also a
// rewrite-phase request policy: it drops the client's Accept-Encoding, so
// the upstream answers with a body the filter can read.
type filterFields struct {
	root     *node
	deny     bool
	maxBytes int64
	strict   bool
}

func compileFilterFields(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	var cfg filterFieldsConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if (len(cfg.Allow) == 0) == (len(cfg.Deny) == 0) {
		return nil, fmt.Errorf("exactly one of allow or deny is required")
	}
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("max_bytes must not be negative")
	}
	paths := cfg.Allow
	if len(cfg.Deny) > 0 {
		paths = cfg.Deny
	}
	root, err := buildTree(paths)
	if err != nil {
		return nil, err
	}
	return &filterFields{root: root, deny: len(cfg.Deny) > 0, maxBytes: cfg.MaxBytes.Or(defaultMaxBytes), strict: cfg.Strict}, nil
}

func (p *filterFields) Phase() pipeline.Phase { return pipeline.PhaseRewrite }

func (p *filterFields) Handle(c *pipeline.Context) *pipeline.Problem {
	delete(c.Request.Header, "Accept-Encoding")
	return nil
}

// Respond drops a HEAD response's Content-Length, which counts the
// unfiltered body.
func (p *filterFields) Respond(c *pipeline.Context, _ int, h http.Header) {
	if c.Request.Method == http.MethodHead {
		delete(h, "Content-Length")
	}
}

func (p *filterFields) FilterResponse(c *pipeline.Context, status int, h http.Header, body io.Reader) (io.Reader, error) {
	if body == nil || !hasBody(c.Request.Method, status) {
		return body, nil
	}
	if _, ok := body.(*problemReader); ok {
		return body, nil // hide_errors already replaced it with the gateway's own
	}
	if !anyJSON(h["Content-Type"]) {
		if p.strict {
			return nil, errNotJSON
		}
		return body, nil
	}
	if encoded(h) {
		return nil, errEncoded
	}
	return p.filter(body, contentLength(h))
}

// filter reads body (at most maxBytes) and returns the filtered document.
func (p *filterFields) filter(body io.Reader, declared int64) (io.Reader, error) {
	in, err := readCapped(body, declared, p.maxBytes)
	if err != nil {
		return nil, err
	}
	defer putBuf(in)
	outp := getBuf()
	out, err := filterJSON(*in, (*outp)[:0], p.root, p.deny)
	*outp = out
	if err != nil {
		putBuf(outp)
		return nil, err
	}
	return &pooledReader{bp: outp, b: out}, nil
}

// anyJSON reports whether any of a response's Content-Type values names
// JSON: an upstream that sends two must not pass a JSON body unfiltered
// because the first names something else.
func anyJSON(cts []string) bool {
	for _, ct := range cts {
		if isJSON(ct) {
			return true
		}
	}
	return false
}

// contentLength is the declared body length, -1 when unknown.
func contentLength(h http.Header) int64 {
	v := h.Get("Content-Length")
	if v == "" {
		return -1
	}
	var n int64
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' || n > (1<<62)/10 {
			return -1
		}
		n = n*10 + int64(v[i]-'0')
	}
	return n
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy      = (*filterFields)(nil)
	_ pipeline.ResponsePolicy     = (*filterFields)(nil)
	_ pipeline.ResponseBodyFilter = (*filterFields)(nil)
)
