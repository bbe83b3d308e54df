package openapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ijson"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() {
	pipeline.Register("openapi", policyConfig{}, compile)
	// Every JSON request body the validator decodes is first checked by
	// ijson (RFC 7493): encoding/json keeps the last of duplicate names and
	// ignores what follows the first value, so the schema could judge
	// {"qty":-5,"qty":1} by 1 while the upstream reads -5. kin-openapi
	// keeps one registry of body decoders per process; a "+json" type
	// without its own falls back to "application/json", multipart parts
	// with a JSON type use the same registry.
	for _, ct := range jsonMediaTypes {
		openapi3filter.RegisterBodyDecoder(ct, strictJSONDecoder)
	}
}

// jsonMediaTypes are the types kin-openapi decodes with its JSON decoder.
var jsonMediaTypes = []string{"application/json", "application/json-patch+json", "application/merge-patch+json",
	"application/ld+json", "application/hal+json", "application/vnd.api+json", "application/problem+json"}

// strictJSONDecoder refuses a body that is not one I-JSON text, then
// decodes it as kin-openapi's JSON decoder does.
func strictJSONDecoder(body io.Reader, h http.Header, schema *openapi3.SchemaRef, enc openapi3filter.EncodingFn) (any, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, &openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat, Cause: err}
	}
	if err := ijson.Check(b); err != nil {
		return nil, &openapi3filter.ParseError{Kind: openapi3filter.KindInvalidFormat, Cause: err}
	}
	return openapi3filter.JSONBodyDecoder(bytes.NewReader(b), h, schema, enc)
}

// Reasons for logs and metrics: a fixed set, never input data. The
// library's error strings can quote the request, so they are dropped.
const (
	ReasonPath      = "openapi: path"
	ReasonParameter = "openapi: parameter"
	ReasonBody      = "openapi: body"
	ReasonRequest   = "openapi: request"
	ReasonTooLarge  = "openapi: body too large"
	ReasonUnread    = "openapi: body unreadable"
)

// detailMismatch is the one client-facing text for every 400: it does not
// say whether the path, a parameter or the body was wrong.
const detailMismatch = "The request does not match the API description."

// defaultMaxBody bounds the body buffered for validation.
const defaultMaxBody = 1 << 20

// policyConfig is the YAML of the "openapi" kind.
type policyConfig struct {
	// Spec is the OpenAPI 3 document (YAML or JSON).
	Spec string `yaml:"spec"`
	// ValidateBody checks request bodies against the operation's schema
	// (default true).
	ValidateBody *bool `yaml:"validate_body,omitempty"`
	// MaxBody bounds the buffered body; larger bodies get 413 (default 1MiB).
	MaxBody config.Size `yaml:"max_body,omitempty"`
	// StripPrefix is removed from the canonical path before matching the
	// document's paths ("/v1" when the route is mounted under /v1).
	StripPrefix string `yaml:"strip_prefix,omitempty"`
}

// policy validates requests in PhaseValidate.
type policy struct {
	spec         *loaded
	validateBody bool
	maxBody      int64
	stripPrefix  string
	opts         *openapi3filter.Options
}

func compile(d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	var cfg policyConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Spec == "" {
		return nil, fmt.Errorf("spec is required")
	}
	if cfg.MaxBody < 0 {
		return nil, fmt.Errorf("max_body must not be negative")
	}
	sp := strings.TrimSuffix(cfg.StripPrefix, "/")
	if cfg.StripPrefix != "" && (!strings.HasPrefix(sp, "/") || strings.ContainsAny(sp, "?#%")) {
		return nil, fmt.Errorf("strip_prefix must be a path starting with /")
	}
	l, err := loadCached(env, cfg.Spec)
	if err != nil {
		return nil, err
	}
	p := &policy{
		spec:         l,
		validateBody: cfg.ValidateBody == nil || *cfg.ValidateBody,
		maxBody:      cfg.MaxBody.Or(defaultMaxBody),
		stripPrefix:  sp,
	}
	p.opts = &openapi3filter.Options{
		ExcludeRequestBody:                !p.validateBody,
		RejectWhenRequestBodyNotSpecified: p.validateBody,
		// Authentication is the auth policy's job: the document's security
		// schemes are accepted as met here.
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
		// The validator must never change the request the upstream gets.
		SkipSettingDefaults: true,
	}
	return p, nil
}

// Phase implements pipeline.RequestPolicy.
func (p *policy) Phase() pipeline.Phase { return pipeline.PhaseValidate }

func refuse(reason string) *pipeline.Problem {
	return pipeline.NewProblem(http.StatusBadRequest, detailMismatch, reason)
}

// Handle implements pipeline.RequestPolicy.
func (p *policy) Handle(c *pipeline.Context) *pipeline.Problem {
	path, ok := p.specPath(c.Path)
	if !ok {
		return refuse(ReasonPath)
	}
	r := c.Request
	// The validator sees a shallow copy carrying the spec-relative path and
	// its own body reader, so nothing it does reaches the upstream request.
	u := *r.URL
	u.Path, u.RawPath = path, ""
	vr := new(http.Request)
	*vr = *r
	vr.URL = &u
	vr.Body, vr.GetBody, vr.ContentLength = http.NoBody, nil, 0

	route, params, err := p.spec.router.FindRoute(vr)
	// The router ignores trailing slashes; the upstream may not, so
	// /orders/1/ does not match a documented /orders/{id}.
	if err != nil || (path != "/" && strings.HasSuffix(path, "/") != strings.HasSuffix(route.Path, "/")) {
		return refuse(ReasonPath)
	}
	if p.validateBody {
		body, prob := bufferBody(r, p.maxBody)
		if prob != nil {
			return prob
		}
		if len(body) > 0 {
			vr.ContentLength = int64(len(body))
			vr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			vr.Body, _ = vr.GetBody()
		}
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    vr,
		PathParams: params,
		Route:      route,
		Options:    p.opts,
	}
	if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
		if ijson.Ambiguous(err) {
			return pipeline.NewProblem(http.StatusBadRequest, detailMismatch+" "+ijson.Detail(err), ReasonBody+": "+ijson.LogReason(err))
		}
		return refuse(classify(err))
	}
	return nil
}

// specPath removes strip_prefix from the canonical path, on a segment
// boundary; ok is false when the path is not under the prefix.
func (p *policy) specPath(path string) (string, bool) {
	if p.stripPrefix == "" {
		return path, true
	}
	rest, ok := strings.CutPrefix(path, p.stripPrefix)
	if !ok {
		return "", false
	}
	if rest == "" {
		return "/", true
	}
	if rest[0] != '/' {
		return "", false
	}
	return rest, true
}

// classify maps a validation error to a fixed reason.
func classify(err error) string {
	var re *openapi3filter.RequestError
	if errors.As(err, &re) {
		switch {
		case re.Parameter != nil:
			return ReasonParameter
		case re.RequestBody != nil:
			return ReasonBody
		}
		if strings.Contains(re.Error(), "request body") {
			return ReasonBody
		}
	}
	return ReasonRequest
}

// bufferBody reads the client's body (at most max bytes) and puts the bytes
// back on r with an exact Content-Length, so the upstream receives exactly
// what was validated.
func bufferBody(r *http.Request, max int64) ([]byte, *pipeline.Problem) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, tooLarge()
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	_ = r.Body.Close()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge()
		}
		return nil, pipeline.NewProblem(http.StatusBadRequest, "The request body could not be read.", ReasonUnread)
	}
	if int64(len(b)) > max {
		return nil, tooLarge()
	}
	r.TransferEncoding = nil
	r.ContentLength = int64(len(b))
	if len(b) == 0 {
		r.Body = http.NoBody
		return nil, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return b, nil
}

func tooLarge() *pipeline.Problem {
	return pipeline.NewProblem(http.StatusRequestEntityTooLarge, "The request body is too large.", ReasonTooLarge)
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.RequestPolicy = (*policy)(nil)
)
