package gateway

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/guard"
	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/telemetry"
)

// protocolErrorRewriter answers, in the gateway's format, the requests that
// net/http refuses before any handler runs (a malformed request line or
// header, an unknown transfer coding, a head over max_header_bytes): a
// problem body with a request id instead of net/http's plain text, an
// access log line, and a malformed-request event for intrusion detection.
// Those requests would otherwise be invisible, and request smuggling
// attempts are often exactly such requests. A request head that did not
// arrive in time (normalize.Conn's 408) is answered here too, and counted
// as a timeout event rather than a malformed request.
func (g *Gateway) protocolErrorRewriter(c net.Conn) normalize.ErrorRewriter {
	return func(status int, reason string) []byte {
		start := time.Now()
		rid := g.ids.next()
		detail := "The request is malformed."
		why, event := "malformed request: "+reason, guard.EventMalformed
		switch status {
		case http.StatusRequestHeaderFieldsTooLarge:
			detail = "The request head is too large."
		case http.StatusNotImplemented:
			detail = "The request's transfer coding is not supported."
		case http.StatusRequestTimeout:
			// A slow network is not an attack: its own event, so that the
			// malformed-request rule never bans a client on a bad link.
			detail = "The request was not received in time."
			why, event = "timeout: "+reason, guard.EventTimeout
		}
		body := pipeline.NewProblem(status, detail, "").Body(rid)
		b := make([]byte, 0, 256+len(body))
		b = append(b, "HTTP/1.1 "...)
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, ' ')
		b = append(b, http.StatusText(status)...)
		b = append(b, "\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\nContent-Type: application/problem+json\r\nX-Content-Type-Options: nosniff\r\nX-Request-Id: "...)
		b = append(b, rid...)
		b = append(b, "\r\n\r\n"...)
		b = append(b, body...)

		client := peerAddr(c.RemoteAddr().String())
		// Behind a trusted proxy the peer is the proxy, and with no header
		// parsed the real client is unknown: counting the event against the
		// proxy could ban every client behind it.
		if det := g.detector.Load(); det != nil && !g.snap.Load().trusted.contains(client) {
			det.Record(event, guard.Info{Client: client, RequestID: rid})
		}
		if al := g.accessLog; al.Enabled() {
			al.Log(&telemetry.AccessEntry{
				RequestID:  rid,
				ClientAddr: client.String(),
				Proto:      "HTTP/1.1",
				Status:     status,
				BytesOut:   int64(len(body)),
				Duration:   time.Since(start),
				Reason:     why,
			})
		}
		return b
	}
}

// trackResponses tells the connection's framing checker when a handler
// starts answering, so that it never mistakes a response body for
// net/http's own error answer (see normalize.Conn.Write).
func trackResponses(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 1 {
			if sc, ok := r.Context().Value(connKey{}).(*normalize.Conn); ok {
				sc.BeginResponse()
			}
		}
		h.ServeHTTP(w, r)
	})
}
