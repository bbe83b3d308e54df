package pipeline

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Problem is an RFC 9457 problem answer. It carries the request id and a
// fixed, generic text: never a secret, an upstream address or an internal
// path. The precise reason for logs and counters goes in Reason, which is
// never sent to the client.
type Problem struct {
	Status int
	// Title is a short, human-readable summary ("Unauthorized").
	Title string
	// Detail is a generic explanation safe to show to anyone.
	Detail string
	// Header holds extra response headers (WWW-Authenticate, Retry-After).
	Header http.Header
	// Reason is the precise cause, for logs and metrics only.
	Reason string
	// Rule identifies the rule that refused, when the policy has rules
	// (a WAF rule id, an authorization rule's name): for the security
	// event stream and metrics, never sent to the client.
	Rule string
	// Bare answers with the status and headers only, no body (a CORS
	// preflight's 204).
	Bare bool
}

// NewProblem returns a Problem with the standard title for status.
func NewProblem(status int, detail, reason string) *Problem {
	return &Problem{Status: status, Title: http.StatusText(status), Detail: detail, Reason: reason}
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Body is the problem as an application/problem+json document, with a
// final newline.
func (p *Problem) Body(requestID string) []byte {
	title := p.Title
	if title == "" {
		title = http.StatusText(p.Status)
	}
	body, _ := json.Marshal(problemBody{
		Type:      "about:blank",
		Title:     title,
		Status:    p.Status,
		Detail:    p.Detail,
		RequestID: requestID,
	})
	return append(body, '\n')
}

// Write sends the problem as application/problem+json and returns the
// number of body bytes written (for the access log's bytes_out).
func (p *Problem) Write(w http.ResponseWriter, requestID string) int64 {
	if p.Bare {
		h := w.Header()
		for k, vs := range p.Header {
			h[k] = vs
		}
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(p.Status)
		return 0
	}
	body := p.Body(requestID)
	h := w.Header()
	for k, vs := range p.Header {
		h[k] = vs
	}
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	n, _ := w.Write(body)
	return int64(n)
}
