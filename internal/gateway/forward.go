package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/upstream"
)

// forward sends the request to the route's service and returns its
// response, or nil once a failure has been answered (errors mapped by
// forwardFailure). t, when not nil, is the target tried last; the caller
// releases it once the response is done.
func (x *exchange) forward() (resp *http.Response, t *upstream.Target) {
	r, rt := x.r, x.rt
	hashKey := ""
	if rt.hashHeader != "" {
		hashKey = r.Header.Get(rt.hashHeader)
	} else if rt.hashClient {
		hashKey = x.c.ClientAddr.String()
	}

	x.outreq = *r // r.WithContext(r.Context()), in the exchange's storage
	outreq := &x.outreq
	// Forward sets the scheme, the host and (unless preserve) Host for
	// each target it tries.
	x.outURL = url.URL{Opaque: x.upPath, RawQuery: r.URL.RawQuery}
	outreq.URL = &x.outURL
	outreq.RequestURI = ""
	outreq.Proto, outreq.ProtoMajor, outreq.ProtoMinor = "HTTP/1.1", 1, 1
	outreq.Close = false
	outreq.TransferEncoding = nil
	if outreq.ContentLength == 0 {
		outreq.Body = nil
	}

	span := x.startUpstreamSpan()
	// Both readings are on the monotonic clock, as offsets from the
	// request's start: one clock read each (time.Now makes two).
	upStart := time.Since(x.c.Start)
	resp, t, err := rt.service.Forward(outreq, hashKey, rt.preserve)
	x.out.upLatency = time.Since(x.c.Start) - upStart
	if t != nil {
		x.out.upstream = t.Host()
	}
	if span != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		x.endUpstreamSpan(span, status, err)
	}
	if err == nil {
		return resp, t
	}
	x.fail(forwardFailure(err, t != nil, x.body, r.Context().Err() != nil))
	return nil, t
}

// fail answers the request as f says. It returns false, like refuse.
func (x *exchange) fail(f failure) bool {
	if f.abort {
		// The client is gone or its body broke off: there is no one to
		// answer. Abort rather than return, or net/http would write a 200
		// with an empty body on a connection that may still be read.
		x.out.status, x.out.reason, x.out.abort = f.status, f.reason, true
		return false
	}
	if f.close {
		x.w.Header().Set("Connection", "close")
	}
	return x.refuse(f.status, f.detail, f.reason)
}

// statusClientGone is the access log's status of a request whose client
// went away before it could be answered (nginx's 499).
const statusClientGone = 499

// failure is how a failed upstream request is answered.
type failure struct {
	status         int
	detail, reason string
	close          bool // the client connection ends (its framing cannot be trusted)
	abort          bool // no answer: the client is gone
}

var (
	// failBodyTimeout: the request body did not arrive within the
	// listener's read_timeout. RFC 9110 section 15.5.9: 408 means the
	// server did not receive a complete request in the time it was prepared
	// to wait, and the server closes the connection (the rest of the body
	// may still be on its way, so nothing after it can be framed).
	failBodyTimeout = failure{status: http.StatusRequestTimeout, detail: "The request was not received in time.",
		reason: "timeout: request body not received within read_timeout", close: true}
	// failBodyTooLarge: the body is over the route's max_body_size,
	// declared or found while it was read (RFC 9110 section 15.5.14: the
	// server may close the connection, and does, since the rest of the body
	// would otherwise have to be read).
	failBodyTooLarge = failure{status: http.StatusRequestEntityTooLarge, detail: "The request body is too large.",
		reason: "body larger than max_body_size", close: true}
)

// forwardFailure maps the error of an upstream request to its answer: the
// client's faults (its body timed out, broke a framing rule, was too large,
// or the client left) are told apart from the upstream's (no healthy
// target, a timeout, a failure), so that only the upstream's count against
// it. picked is whether a target was picked; clientGone, whether the
// request's context is done.
func forwardFailure(err error, picked bool, body *bodyTracker, clientGone bool) failure {
	var mbe *http.MaxBytesError
	var he *http1.Error
	switch {
	case body.timedOut():
		// The client's body stopped arriving: its fault, not the
		// upstream's, and never answered as a success.
		return failBodyTimeout
	case errors.As(err, &he):
		// The client's body broke a framing rule while it was being sent
		// upstream (internal/http1): the client's fault, not the
		// upstream's, and the engine closes the connection.
		return failure{status: he.Status, detail: malformedDetail(he.Status), reason: "request body: " + he.Reason, close: true}
	case !picked && errors.Is(err, upstream.ErrNoHealthyTarget):
		// Every target is unhealthy, ejected or behind an open breaker.
		return failure{status: http.StatusServiceUnavailable, detail: "The service is unavailable.", reason: "pick: " + err.Error()}
	case errors.As(err, &mbe):
		return failBodyTooLarge
	case clientGone || body.failed():
		return failure{status: statusClientGone, reason: "client went away", abort: true}
	case upstream.IsTimeout(err):
		return failure{status: http.StatusGatewayTimeout, detail: "The service did not answer in time.", reason: "upstream: " + err.Error()}
	}
	return failure{status: http.StatusBadGateway, detail: "The service could not be reached.", reason: "upstream: " + err.Error()}
}
