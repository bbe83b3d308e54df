// Package transform holds policies that change what passes through the
// gateway without judging it: header edits toward the upstream and toward
// the client. Each kind lives in its own file and registers itself.
package transform

import (
	"fmt"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("request_headers", headerEdits{}, compileRequestHeaders)
	pipeline.Register("response_headers", headerEdits{}, compileResponseHeaders)
}

// headerEdits is the config of both kinds: headers to set (replacing any
// value), to add, and to remove.
type headerEdits struct {
	Set    map[string]string `yaml:"set,omitempty"`
	Add    map[string]string `yaml:"add,omitempty"`
	Remove []string          `yaml:"remove,omitempty"`
}

// compiledEdits holds canonical names, so the request path does no work
// beyond map writes.
type compiledEdits struct {
	set    [][2]string
	add    [][2]string
	remove []string
}

// protectedHeaders are the gateway's own: a header policy cannot forge or
// drop what the gateway guarantees to upstreams.
var protectedHeaders = map[string]bool{
	"X-Request-Id": true, "X-Forwarded-For": true, "X-Forwarded-Proto": true,
	"X-Forwarded-Host": true, "Forwarded": true, "Host": true,
	"Connection": true, "Transfer-Encoding": true, "Content-Length": true, "Upgrade": true,
}

func compileEdits(d pipeline.Decoder) (*compiledEdits, error) {
	var cfg headerEdits
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Set)+len(cfg.Add)+len(cfg.Remove) == 0 {
		return nil, fmt.Errorf("at least one of set, add or remove is required")
	}
	ce := &compiledEdits{}
	check := func(name string) (string, error) {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			return "", fmt.Errorf("invalid header name %q", name)
		}
		c := textproto.CanonicalMIMEHeaderKey(name)
		if protectedHeaders[c] {
			return "", fmt.Errorf("header %q is set by the gateway and cannot be changed by a policy", name)
		}
		return c, nil
	}
	for _, kv := range []struct {
		in  map[string]string
		out *[][2]string
	}{{cfg.Set, &ce.set}, {cfg.Add, &ce.add}} {
		for k, v := range kv.in {
			c, err := check(k)
			if err != nil {
				return nil, err
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fmt.Errorf("header %q: value contains a control character", k)
			}
			*kv.out = append(*kv.out, [2]string{c, v})
		}
	}
	for _, k := range cfg.Remove {
		c, err := check(k)
		if err != nil {
			return nil, err
		}
		ce.remove = append(ce.remove, c)
	}
	return ce, nil
}

func (ce *compiledEdits) apply(h http.Header) {
	for _, k := range ce.remove {
		delete(h, k)
	}
	for _, kv := range ce.set {
		h[kv[0]] = []string{kv[1]}
	}
	for _, kv := range ce.add {
		h[kv[0]] = append(h[kv[0]], kv[1])
	}
}

// requestHeaders edits the headers sent upstream, in the rewrite phase.
type requestHeaders struct{ edits *compiledEdits }

func compileRequestHeaders(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	ce, err := compileEdits(d)
	if err != nil {
		return nil, err
	}
	return &requestHeaders{ce}, nil
}

func (p *requestHeaders) Phase() pipeline.Phase { return pipeline.PhaseRewrite }

func (p *requestHeaders) Handle(c *pipeline.Context) *pipeline.Problem {
	p.edits.apply(c.Request.Header)
	return nil
}

// responseHeaders edits the headers sent to the client.
type responseHeaders struct{ edits *compiledEdits }

func compileResponseHeaders(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	ce, err := compileEdits(d)
	if err != nil {
		return nil, err
	}
	return &responseHeaders{ce}, nil
}

func (p *responseHeaders) Respond(_ *pipeline.Context, _ int, h http.Header) { p.edits.apply(h) }

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy  = (*requestHeaders)(nil)
	_ pipeline.ResponsePolicy = (*responseHeaders)(nil)
)
