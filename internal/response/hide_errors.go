package response

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func init() { pipeline.Register("hide_errors", hideErrorsConfig{}, compileHideErrors) }

// hideErrorsConfig is the YAML of the hide_errors kind.
type hideErrorsConfig struct {
	// Statuses are the upstream statuses whose bodies are replaced: codes
	// (503) or classes ("5xx", "4xx"), from 400 to 599. Default: 5xx.
	Statuses []string `yaml:"statuses,omitempty" empty:"the default, 5xx"`
}

// hideErrors replaces the bodies of upstream error responses with a
// generic problem, keeping the status, so stack traces and internal
// messages never reach clients.
type hideErrors struct {
	statuses [200]bool // index: status - 400
}

func compileHideErrors(d pipeline.Decoder, _ pipeline.CompileEnv) (any, error) {
	var cfg hideErrorsConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.Statuses) == 0 {
		cfg.Statuses = []string{"5xx"}
	}
	p := &hideErrors{}
	for _, s := range cfg.Statuses {
		lo, hi, err := parseStatuses(s)
		if err != nil {
			return nil, err
		}
		for st := lo; st <= hi; st++ {
			p.statuses[st-400] = true
		}
	}
	return p, nil
}

// parseStatuses reads "503" or "5xx" as an inclusive range.
func parseStatuses(s string) (lo, hi int, err error) {
	t := strings.ToLower(strings.TrimSpace(s))
	switch t {
	case "4xx":
		return 400, 499, nil
	case "5xx":
		return 500, 599, nil
	}
	n, perr := strconv.Atoi(t)
	if perr != nil || n < 400 || n > 599 {
		return 0, 0, fmt.Errorf("statuses: %q is neither a status from 400 to 599 nor \"4xx\" or \"5xx\"", s)
	}
	return n, n, nil
}

func (p *hideErrors) hides(status int) bool {
	return status >= 400 && status < 600 && p.statuses[status-400]
}

// Respond does nothing: the work is in FilterResponse.
func (p *hideErrors) Respond(*pipeline.Context, int, http.Header) {}

// entityHeaders describe the body being replaced; they would be wrong for
// the problem body.
var entityHeaders = [...]string{
	"Content-Encoding", "Content-Range", "Content-Md5", "Content-Digest", "Repr-Digest", "Digest",
	"Etag", "Last-Modified", "Content-Disposition", "Content-Language", "Content-Location", "Accept-Ranges",
}

func (p *hideErrors) FilterResponse(c *pipeline.Context, status int, h http.Header, body io.Reader) (io.Reader, error) {
	if !p.hides(status) {
		return body, nil
	}
	for _, k := range entityHeaders {
		delete(h, k)
	}
	h["Content-Type"] = []string{"application/problem+json"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	h["Cache-Control"] = []string{"no-store"}
	if c.Request.Method == http.MethodHead {
		delete(h, "Content-Length")
		return &problemReader{}, nil
	}
	return genericProblem(status, c.RequestID), nil
}

// problemReader is a body the gateway wrote itself; filter_fields passes
// it unchanged.
type problemReader struct{ bytes.Reader }

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id,omitempty"`
}

func genericProblem(status int, rid string) *problemReader {
	title := http.StatusText(status)
	if title == "" {
		title = "Error"
	}
	detail := "The service could not complete the request."
	if status < 500 {
		detail = "The service refused the request."
	}
	b, _ := json.Marshal(problemBody{Type: "about:blank", Title: title, Status: status, Detail: detail, RequestID: rid})
	pr := &problemReader{}
	pr.Reset(append(b, '\n'))
	return pr
}

// The interfaces the compiled policy implements, optional ones included,
// checked at compile time: a renamed method cannot silently take the
// policy out of what the gateway asks of it.
var (
	_ pipeline.ResponsePolicy     = (*hideErrors)(nil)
	_ pipeline.ResponseBodyFilter = (*hideErrors)(nil)
)
