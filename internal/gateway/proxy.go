package gateway

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/router"
	"github.com/portcullis/portcullis/internal/telemetry"
	"github.com/portcullis/portcullis/internal/tracing"
)

// The request path, stage by stage, in the order of docs/architecture.md
// ("The request's way through"):
//
//	ServeHTTP        begin: request id, HSTS, body tracker, client address;
//	                 bans; serve; record: access log and metrics
//	serve            the stages below, each of which either lets the request
//	                 go on or answers it
//	  checkIPFilter       the global ip_filter            request.go
//	  checkTarget         origin-form, canonical path, Host
//	  dropClientHeaders   headers only the gateway may send, method overrides
//	  checkConnection     Host against SNI (421)
//	  matchRoute          router, method override         (404, 405)
//	  checkRoute          encoded slashes, body size      (400, 413)
//	  runPhases           access, authn, authz, limit, validate, rewrite
//	  rewritePath         strip_prefix / rewrite          rewrite.go
//	  setOutgoingHeaders  identity, hop-by-hop, forwarding, assertion
//	  forward             the upstream request; errors mapped to answers  forward.go
//	  respond             the response: headers, response policies, body  response.go
//
// A stage that refuses the request answers through exchange.refuse (or
// refuseProblem), which is the one place a refusal's outcome is set.

// proxyHandler serves one public listener: every request goes through
// normalization, routing, the route's phases and the upstream pool.
type proxyHandler struct {
	gw       *Gateway
	listener string
	hsts     string // Strict-Transport-Security value, "" when off
	tls      bool   // a TLS listener (see tlsListener)
	// keepSeparatorHeaders: allow_underscore_and_dot_headers.
	keepSeparatorHeaders bool
	// allowSNIMismatch: tls.allow_sni_host_mismatch.
	allowSNIMismatch bool
}

// outcome is what the access log and the metrics need to know about a
// finished request.
type outcome struct {
	status    int
	reason    string
	route     string
	service   string
	upstream  string
	upLatency time.Duration
	bytesOut  int64
	abort     bool // the response was cut short: abort the client stream
	// rt is the matched route (nil: none); by names the policy that
	// refused the request, rule its rule (observe.go).
	rt   *route
	by   policyRef
	rule string
}

// exchange is one request on its way through the gateway: what the stages
// have decided so far. It lives for one ServeHTTP call.
type exchange struct {
	h    *proxyHandler
	w    http.ResponseWriter
	r    *http.Request
	snap *Snapshot
	c    *pipeline.Context
	out  outcome
	// peer is the connection's peer; peerTrusted, whether it is a trusted
	// proxy (its forwarding headers are believed).
	peer        netip.Addr
	peerTrusted bool
	// body counts the request body's bytes and tells a body that failed to
	// arrive from an upstream failure (nil: no body).
	body *bodyTracker

	// Set by checkTarget: the canonical path and the checked Host.
	path normalize.Path
	host string
	// Set by dropClientHeaders: the method override asked for, or why it
	// is refused.
	override    string
	overrideErr error
	// Set by matchRoute.
	match router.Match
	rt    *route
	// Set by rewritePath: the path sent upstream.
	upPath string
	// Set by setOutgoingHeaders: the protocol the client asks to upgrade
	// to ("" when none).
	upgrade string

	// Storage for the request's small objects, allocated with the
	// exchange (one allocation instead of one each): the policies'
	// context, the upstream request and its URL, the request id's, the
	// forwarding headers' and the identity headers' value slices, and
	// their strings.
	pc     pipeline.Context
	outreq http.Request
	outURL url.URL
	ridv   [1]string
	fwd    [4]string
	idv    [4]string
	strs   strArena
	// The request's server span and its context (tracing.go); span is nil
	// while tracing is off.
	tracer  *tracing.Tracer
	span    trace.Span
	spanCtx context.Context
}

func (h *proxyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := new(exchange)
	x.begin(h, w, r)
	// Policies that hold something for the request (a concurrency slot)
	// give it back when the request is over, whatever happened.
	defer x.c.Finish()
	det := h.gw.detector.Load()
	if det != nil && det.Banned(x.c.ClientAddr) {
		// A banned client costs one map lookup; nothing reaches the upstream,
		// and the connection ends (its framing verdicts are not consumed).
		w.Header().Set("Connection", "close")
		x.refuse(http.StatusForbidden, "The client is blocked.", "banned")
	} else {
		x.serve()
		if det != nil {
			recordEvent(det, x.c, x.out)
		}
	}
	x.record()
	if x.out.abort {
		panic(http.ErrAbortHandler)
	}
}

// begin sets up the exchange: the snapshot, the request id (kept only from
// a trusted proxy), HSTS, the body tracker and the client address.
func (x *exchange) begin(h *proxyHandler, w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	snap := h.gw.snap.Load()
	x.h, x.w, x.r, x.snap = h, w, r, snap
	x.peer = peerOf(r)
	x.peerTrusted = snap.trusted.contains(x.peer)

	rid := ""
	if x.peerTrusted {
		if v := r.Header.Get("X-Request-Id"); validRequestID(v) {
			rid = v
		}
	}
	if rid == "" {
		var b [64]byte
		rid = x.strs.str(h.gw.ids.appendNext(b[:0]))
	}
	wh := w.Header()
	x.ridv[0] = rid
	wh["X-Request-Id"] = x.ridv[:1:1] // shared with the upstream request
	if h.hsts != "" {
		wh["Strict-Transport-Security"] = []string{h.hsts}
	}

	// A request body is read through a tracker, so that a body that fails
	// to arrive is told apart from an upstream failure and the access log
	// counts the bytes that really arrived.
	if r.Body != nil && r.Body != http.NoBody {
		x.body = &bodyTracker{rc: r.Body}
		r.Body = x.body
	}
	x.c = &x.pc
	*x.c = pipeline.Context{
		Request:    r,
		RequestID:  rid,
		ClientAddr: clientAddrOf(x.peer, r, snap.trusted, snap.clientHeader),
		Start:      start,
		TLS:        r.TLS != nil,
	}
	x.startSpan()
}

// serve takes the request through the stages (see the top of this file).
// Each returns true to let the request go on, false once it has been
// answered.
func (x *exchange) serve() {
	if !x.checkIPFilter() || !x.checkTarget() {
		return
	}
	x.dropClientHeaders()
	if !x.checkConnection() || !x.matchRoute() || !x.checkRoute() || !x.runPhases() ||
		!x.rewritePath() || !x.setOutgoingHeaders() {
		return
	}
	resp, t := x.forward()
	if t != nil {
		defer t.Release()
	}
	if resp != nil {
		x.respond(resp, t)
	}
}

// refuse answers the request with a problem and makes that the outcome.
// It returns false, so that a stage can end with `return x.refuse(...)`.
func (x *exchange) refuse(status int, detail, reason string) bool {
	return x.refuseProblem(pipeline.NewProblem(status, detail, reason), reason)
}

// refuseProblem answers with prob (a policy's or a check's own problem)
// and makes it the outcome, with reason for the access log. It is the one
// place a refusal's outcome is set: the route and service, once matched,
// are already in x.out.
func (x *exchange) refuseProblem(prob *pipeline.Problem, reason string) bool {
	x.out.bytesOut = prob.Write(x.w, x.c.RequestID)
	x.out.status, x.out.reason = prob.Status, reason
	x.refusalEvent(prob.Status, reason)
	return false
}

// clientAddrString is the client address as text, carved from the
// exchange's string arena (what netip.Addr.String returns, without its
// allocation).
func (x *exchange) clientAddrString() string {
	a := x.c.ClientAddr
	if !a.IsValid() {
		return a.String()
	}
	var b [64]byte // an IPv6 address with a zone fits
	return x.strs.str(a.AppendTo(b[:0]))
}

// record writes the request's access log line and observes its metrics:
// the one place where each finished request's outcome is recorded.
func (x *exchange) record() {
	var bytesIn int64 // the body bytes that arrived, not the declared length
	if x.body != nil {
		bytesIn = x.body.n
	}
	r, c, out := x.r, x.c, &x.out
	dur := time.Since(c.Start)
	if al := x.h.gw.accessLog.Load(); al.Enabled() {
		al.Log(&telemetry.AccessEntry{
			Time:            c.Start,
			RequestID:       c.RequestID,
			ClientAddr:      x.clientAddrString(),
			Method:          r.Method,
			Host:            withoutUserinfo(r.Host),
			Path:            logPath(c.Path, r),
			Proto:           r.Proto,
			Route:           out.route,
			Service:         out.service,
			Upstream:        out.upstream,
			Status:          out.status,
			BytesIn:         bytesIn,
			BytesOut:        out.bytesOut,
			Duration:        dur,
			UpstreamLatency: out.upLatency,
			Reason:          out.reason,
		})
	}
	x.h.gw.observe(x.snap, r.Method, c, out, dur, bytesIn)
	x.endSpan()
}

// logPath is the canonical path when there is one. A refused raw target is
// logged cut at the query (which may hold tokens) and bounded in length.
func logPath(canonical string, r *http.Request) string {
	if canonical != "" {
		return canonical
	}
	p := r.RequestURI
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if len(p) > 256 {
		p = p[:256]
	}
	if p != "" && p[0] != '/' {
		// An absolute-form target may carry userinfo (a password):
		// refused, and logged without it.
		if i := strings.Index(p, "://"); i >= 0 {
			rest := p[i+3:]
			auth, tail := rest, ""
			if j := strings.IndexByte(rest, '/'); j >= 0 {
				auth, tail = rest[:j], rest[j:]
			}
			p = p[:i+3] + withoutUserinfo(auth) + tail
		}
	}
	return p
}

// withoutUserinfo drops the userinfo of an authority ("user:pass@host"),
// which a refused Host header or target may carry.
func withoutUserinfo(authority string) string {
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		return authority[i+1:]
	}
	return authority
}

// recordEvent counts a finished request as a security event when it is one.
func recordEvent(det *intrusion.Detector, c *pipeline.Context, out outcome) {
	ev := intrusion.Classify(out.status, out.reason, out.upstream == "")
	if ev == intrusion.EventNone {
		return
	}
	in := intrusion.Info{Client: c.ClientAddr, Route: out.route, RequestID: c.RequestID}
	if c.Identity != nil {
		in.Consumer = c.Identity.Consumer
	}
	det.Record(ev, in)
}
