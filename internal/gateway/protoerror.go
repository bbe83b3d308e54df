package gateway

import (
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/telemetry"
)

// refuseMalformed answers, in the gateway's format, a request the HTTP/1.1
// engine refuses before any route sees it (bad framing, a malformed request
// line or header, an unknown transfer coding, a head over max_header_bytes,
// a head that timed out): a problem body with a request id, an access log
// line naming the cause, and a malformed-request event for intrusion
// detection (a timeout event for a head that did not arrive in time: a slow
// network is not an attack, so the malformed-request rule never bans a
// client on a bad link). Request smuggling attempts are often exactly such
// requests; none of them reaches a route or an upstream.
func (g *Gateway) refuseMalformed(w http.ResponseWriter, r *http.Request, e *http1.Error) {
	start := time.Now()
	rid := g.ids.next()
	w.Header()["X-Request-Id"] = []string{rid}
	p := pipeline.NewProblem(e.Status, malformedDetail(e.Status), "")
	n := p.Write(w, rid)
	why, event := "malformed request: "+e.Reason, intrusion.EventMalformed
	if e.Status == http.StatusRequestTimeout {
		why, event = "timeout: "+e.Reason, intrusion.EventTimeout
	}

	client := peerOf(r)
	// Behind a trusted proxy the peer is the proxy, and with no header
	// parsed the real client is unknown: counting the event against the
	// proxy could ban every client behind it.
	if det := g.detector.Load(); det != nil && !g.snap.Load().trusted.contains(client) {
		det.Record(event, intrusion.Info{Client: client, RequestID: rid})
	}
	if al := g.accessLog.Load(); al.Enabled() {
		al.Log(&telemetry.AccessEntry{
			Time:       start,
			RequestID:  rid,
			ClientAddr: client.String(),
			Method:     r.Method,
			Host:       withoutUserinfo(r.Host),
			Path:       logPath("", r),
			Proto:      "HTTP/1.1",
			Status:     e.Status,
			BytesOut:   n,
			Duration:   time.Since(start),
			Reason:     why,
		})
	}
	// Metrics and the security event stream (observe.go).
	g.observe(g.snap.Load(), r.Method, &pipeline.Context{RequestID: rid, ClientAddr: client},
		&outcome{status: e.Status, reason: why, bytesOut: n}, time.Since(start), 0)
}

// malformedDetail is the client-facing text of a refusal by the HTTP/1.1
// engine, before the handler or while the body was streamed: fixed, generic,
// never echoing what the client sent.
func malformedDetail(status int) string {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return "The request head is too large."
	case http.StatusNotImplemented:
		return "The request's transfer coding is not supported."
	case http.StatusRequestTimeout:
		return "The request was not received in time."
	case http.StatusHTTPVersionNotSupported:
		return "The HTTP version is not supported."
	case http.StatusExpectationFailed:
		return "The expectation is not supported."
	case http.StatusRequestEntityTooLarge:
		return "The request body is too large."
	}
	return "The request is malformed."
}
