package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/guard"
	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/protect"
	"github.com/portcullis/portcullis/internal/router"
	"github.com/portcullis/portcullis/internal/telemetry"
	"github.com/portcullis/portcullis/internal/upstream"
)

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

// outcome is what the access log needs to know about a finished request.
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

func (h *proxyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	snap := h.gw.snap.Load()
	peer := peerAddr(r.RemoteAddr)
	peerTrusted := snap.trusted.contains(peer)

	rid := ""
	if peerTrusted {
		if v := r.Header.Get("X-Request-Id"); validRequestID(v) {
			rid = v
		}
	}
	if rid == "" {
		rid = h.gw.ids.next()
	}
	ridVal := []string{rid} // shared by the response and the upstream request
	wh := w.Header()
	wh["X-Request-Id"] = ridVal
	if h.hsts != "" {
		wh["Strict-Transport-Security"] = []string{h.hsts}
	}

	// A request body is read through a tracker, so that a body that fails
	// to arrive is told apart from an upstream failure and the access log
	// counts the bytes that really arrived.
	var body *bodyTracker
	if r.Body != nil && r.Body != http.NoBody {
		body = &bodyTracker{rc: r.Body}
		r.Body = body
	}
	c := &pipeline.Context{
		Request:    r,
		RequestID:  rid,
		ClientAddr: ClientAddrFrom(r, snap.trusted, snap.clientHeader),
		Start:      start,
		TLS:        r.TLS != nil,
	}
	// Policies that hold something for the request (a concurrency slot)
	// give it back when the request is over, whatever happened.
	defer c.Finish()
	var out outcome
	det := h.gw.detector.Load()
	if det != nil && det.Banned(c.ClientAddr) {
		// A banned client costs one map lookup; nothing reaches the upstream,
		// and the connection ends (its framing verdicts are not consumed).
		w.Header().Set("Connection", "close")
		out = refuse(w, rid, http.StatusForbidden, "The client is blocked.", "banned")
	} else {
		out = h.serve(w, r, snap, c, peer, peerTrusted, body)
		if det != nil {
			recordEvent(det, c, out)
		}
	}

	var bytesIn int64 // the body bytes that arrived, not the declared length
	if body != nil {
		bytesIn = body.n
	}
	dur := time.Since(start)
	if al := h.gw.accessLog; al.Enabled() {
		al.Log(&telemetry.AccessEntry{
			Time:            start,
			RequestID:       rid,
			ClientAddr:      c.ClientAddr.String(),
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
	h.gw.observe(snap, r.Method, c, &out, dur, bytesIn)
	if out.abort {
		panic(http.ErrAbortHandler)
	}
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

// withRouteOf names the route and service in a refusal's outcome.
func withRouteOf(rt *route, o outcome) outcome {
	o.route, o.service, o.rt = rt.name, rt.service.Name(), rt
	return o
}

func refuse(w http.ResponseWriter, rid string, status int, detail, reason string) outcome {
	n := pipeline.NewProblem(status, detail, reason).Write(w, rid)
	return outcome{status: status, reason: reason, bytesOut: n}
}

// refuseProblem writes a policy's problem answer.
func refuseProblem(w http.ResponseWriter, rid string, prob *pipeline.Problem, reason string) outcome {
	n := prob.Write(w, rid)
	return outcome{status: prob.Status, reason: reason, bytesOut: n}
}

// bodyTimeout answers a request whose body did not arrive within the
// listener's read_timeout. RFC 9110 section 15.5.9: 408 means the server
// did not receive a complete request in the time it was prepared to wait,
// and the server closes the connection (the rest of the body may still be
// on its way, so nothing after it on the connection can be framed).
func bodyTimeout(w http.ResponseWriter, rid string) outcome {
	w.Header().Set("Connection", "close")
	return refuse(w, rid, http.StatusRequestTimeout, "The request was not received in time.", "timeout: request body not received within read_timeout")
}

func (h *proxyHandler) serve(w http.ResponseWriter, r *http.Request, snap *Snapshot, c *pipeline.Context, peer netip.Addr, peerTrusted bool, body *bodyTracker) outcome {
	rid := c.RequestID

	// The global IP guest list, on the address from the trusted-proxy
	// logic, before anything is routed or parsed further.
	if f := snap.ipFilter; f != nil {
		if d := f.Check(c.ClientAddr); d != protect.Allowed {
			prob := f.Problem(d)
			return refuseProblem(w, rid, prob, prob.Reason)
		}
	}

	// The request target: origin-form only, no fragment.
	target := r.RequestURI
	if r.Method == http.MethodConnect || target == "*" || !strings.HasPrefix(target, "/") {
		return refuse(w, rid, http.StatusBadRequest, "The request target is not accepted.", "request target not in origin-form")
	}
	if strings.IndexByte(target, '#') >= 0 {
		return refuse(w, rid, http.StatusBadRequest, "The request target is not accepted.", "fragment in request target")
	}
	// HTTP/2 carries the target as a header value, which may hold a space:
	// the client's error, not one to fail upstream and count against a target.
	if strings.ContainsFunc(target, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return refuse(w, rid, http.StatusBadRequest, "The request target is not accepted.", "invalid character in request target")
	}
	rawPath := target
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	np, err := normalize.Canonicalize(rawPath)
	if err != nil {
		return refuse(w, rid, http.StatusBadRequest, "The request path is not accepted.", "path: "+err.Error())
	}
	c.Path = np.Canonical
	// Host (or :authority) must be an RFC 3986 authority before it is
	// routed, compared with SNI or forwarded: a value another server
	// parses differently ("a.com@b.com", "a.com:80x") could route here one
	// way and be read upstream another.
	host, err := normalize.CheckHost(r.Host)
	if err != nil {
		return refuse(w, rid, http.StatusBadRequest, "The request's host is not accepted.", err.Error())
	}

	for _, name := range spoofableHeaders {
		delete(r.Header, name)
	}
	for _, name := range snap.owned {
		delete(r.Header, name)
	}
	if h.keepSeparatorHeaders {
		dropAliases(r.Header, snap.aliasGuard)
	} else {
		dropSeparatorHeaders(r.Header)
	}
	// A method override header is never forwarded: read it (a route may
	// honour it below), then drop it.
	override, overrideErr := methodOverride(r.Header)

	// SNI names the site the TLS session was set up for; Host names the
	// site asked for. RFC 9110 section 15.5.20: a server answers 421 to a
	// request it is not willing to serve on this connection. Unless the
	// listener allows it, a client cannot open TLS for one name and ask for
	// another (domain fronting past per-host certificates and policies).
	if r.TLS != nil && !h.allowSNIMismatch && !snap.hostMatchesTLS(h.listener, host, r.TLS.ServerName) {
		return refuse(w, rid, http.StatusMisdirectedRequest, "The request was sent on a connection that cannot serve this host.", "host does not match the TLS server name")
	}
	// The TLS policy chosen by SNI and the route chosen by Host must
	// agree: a connection set up for a host without client certificates
	// cannot be used to reach a host that requires them.
	if hosts := snap.mtlsHosts[h.listener]; hosts != nil && r.TLS != nil {
		// Compared as the router and setClientAuth see names: without a
		// trailing dot, lower-case ("secure.example." must not slip by).
		if hosts[sniName(host)] && !hosts[sniName(r.TLS.ServerName)] {
			return refuse(w, rid, http.StatusMisdirectedRequest, "The request was sent on a connection that cannot serve this host.", "host requires client certificates; SNI did not")
		}
	}

	// allow is only filled for a 405; nil keeps the common case free of
	// an escaping buffer.
	m, res, allow := snap.router.Match(host, np.Canonical, r.Method, r.Header, nil)
	switch res {
	case router.NotFound:
		return refuse(w, rid, http.StatusNotFound, "No route matches the request.", "no route")
	case router.MethodNotAllowed:
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return refuse(w, rid, http.StatusMethodNotAllowed, "The method is not allowed for this resource.", "method not allowed")
	}
	rt := snap.routes[m.ID]
	if rt.methodOverride && r.Method == http.MethodPost && (override != "" || overrideErr != nil) {
		// The route honours method overrides: route, authorize and
		// forward the request as the method the client asked for, so that
		// what the upstream framework executes is what was authorized.
		if overrideErr != nil {
			return withRouteOf(rt, refuse(w, rid, http.StatusBadRequest, "The method override is not accepted.", overrideErr.Error()))
		}
		m2, res2, allow2 := snap.router.Match(host, np.Canonical, override, r.Header, nil)
		switch {
		case res2 == router.MethodNotAllowed:
			w.Header().Set("Allow", strings.Join(allow2, ", "))
			return withRouteOf(rt, refuse(w, rid, http.StatusMethodNotAllowed, "The method is not allowed for this resource.", "method not allowed (override "+override+")"))
		case res2 != router.Matched || !snap.routes[m2.ID].methodOverride:
			return withRouteOf(rt, refuse(w, rid, http.StatusMethodNotAllowed, "The method is not allowed for this resource.", "method override to a route that does not accept overrides"))
		}
		m, rt = m2, snap.routes[m2.ID]
		r.Method = override
	}
	c.Route = rt.name
	c.Service = rt.service.Name()
	out := outcome{route: rt.name, service: c.Service, rt: rt}
	withRoute := func(o outcome) outcome { o.route, o.service, o.rt = out.route, out.service, rt; return o }

	if np.HasEncodedSlash && !rt.encodedOK {
		return withRoute(refuse(w, rid, http.StatusBadRequest, "The request path is not accepted.", "path: encoded slash"))
	}
	if r.ContentLength > rt.maxBody {
		w.Header().Set("Connection", "close")
		return withRoute(refuse(w, rid, http.StatusRequestEntityTooLarge, "The request body is too large.", "body larger than max_body_size"))
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBody)
	}

	for ph := range rt.phases {
		for i, p := range rt.phases[ph] {
			if prob := p.Handle(c); prob != nil {
				if body.timedOut() {
					// A policy that read the body (validate, waf,
					// signature) saw it fail to arrive: that is the
					// client's timeout, not the policy's refusal.
					return withRoute(bodyTimeout(w, rid))
				}
				if pipeline.Phase(ph) > pipeline.PhaseAccess {
					// A refusal after the access phase (401, 403, 429, ...)
					// gets the route's response headers too: without CORS
					// headers a browser page could not read its own 401. The
					// access phase keeps its own (a CORS preflight, an IP ban).
					for _, rp := range rt.response {
						rp.Respond(c, prob.Status, w.Header())
					}
				}
				o := refuseProblem(w, rid, prob, pipeline.Phase(ph).String()+": "+prob.Reason)
				o.by, o.rule = policyRef{ok: true, phase: ph, index: i}, prob.Rule
				return withRoute(o)
			}
		}
	}

	if id := c.Identity; id != nil {
		setIdentityHeaders(r.Header, snap.identity, id)
	}

	upPath := np.Canonical
	if rt.stripPrefix || rt.rewrite != "" {
		upPath = rewritePath(np.Canonical, m, rt)
		if !normalize.IsCanonical(upPath) {
			return withRoute(refuse(w, rid, http.StatusBadRequest, "The request path is not accepted.", "path not canonical after rewrite"))
		}
	}

	hashKey := ""
	if rt.hashHeader != "" {
		hashKey = r.Header.Get(rt.hashHeader)
	} else if rt.hashClient {
		hashKey = c.ClientAddr.String()
	}
	// The outgoing header: hop-by-hop headers go first, then the
	// gateway's own headers are set, so nothing the client names in
	// Connection can remove them.
	hdr := r.Header
	upgrade := upgradeType(hdr)
	trailers := wantsTrailers(hdr)
	// The identity and claims headers were set by the gateway (the client's
	// were stripped above): a client's Connection list cannot remove them.
	removeHopHeadersKeep(hdr, snap.owned)
	setForwardingHeaders(hdr, r, peerTrusted, peer, r.TLS != nil)
	hdr["X-Request-Id"] = w.Header()["X-Request-Id"]
	if prob := applyAssertion(rt, hdr, c, r.Method, upPath, r.URL.RawQuery); prob != nil {
		prob.Write(w, rid)
		return withRoute(outcome{status: prob.Status, reason: prob.Reason})
	}
	if upgrade != "" {
		hdr["Connection"] = []string{"Upgrade"}
		hdr["Upgrade"] = []string{upgrade}
	}
	if trailers {
		hdr["Te"] = []string{"trailers"}
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = emptyUserAgent // do not let a client library add its own
	}

	outreq := r.WithContext(r.Context())
	// Forward sets the scheme, the host and (unless preserve) Host for
	// each target it tries.
	outreq.URL = &url.URL{Opaque: upPath, RawQuery: r.URL.RawQuery}
	outreq.RequestURI = ""
	outreq.Proto, outreq.ProtoMajor, outreq.ProtoMinor = "HTTP/1.1", 1, 1
	outreq.Close = false
	outreq.TransferEncoding = nil
	if outreq.ContentLength == 0 {
		outreq.Body = nil
	}

	upStart := time.Now()
	resp, t, err := rt.service.Forward(outreq, hashKey, rt.preserve)
	out.upLatency = time.Since(upStart)
	if t != nil {
		defer t.Release()
		out.upstream = t.Host()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		var o outcome
		var he *http1.Error
		switch {
		case body.timedOut():
			// The client's body stopped arriving: its fault, not the
			// upstream's, and never answered as a success.
			o = bodyTimeout(w, rid)
		case errors.As(err, &he):
			// The client's body broke a framing rule while it was being
			// sent upstream (internal/http1): the client's fault, not the
			// upstream's, and the engine closes the connection.
			w.Header().Set("Connection", "close")
			o = refuse(w, rid, he.Status, malformedDetail(he.Status), "request body: "+he.Reason)
		case t == nil && errors.Is(err, upstream.ErrNoHealthyTarget):
			// Every target is unhealthy, ejected or behind an open breaker.
			o = refuse(w, rid, http.StatusServiceUnavailable, "The service is unavailable.", "pick: "+err.Error())
		case errors.As(err, &mbe):
			w.Header().Set("Connection", "close")
			o = refuse(w, rid, http.StatusRequestEntityTooLarge, "The request body is too large.", "body larger than max_body_size")
		case r.Context().Err() != nil || body.failed():
			// The client is gone or its body broke off: there is no one to
			// answer. Abort rather than return, or net/http would write a
			// 200 with an empty body on a connection that may still be read.
			o = outcome{status: 499, reason: "client went away", abort: true}
		case upstream.IsTimeout(err):
			o = refuse(w, rid, http.StatusGatewayTimeout, "The service did not answer in time.", "upstream: "+err.Error())
		default:
			o = refuse(w, rid, http.StatusBadGateway, "The service could not be reached.", "upstream: "+err.Error())
		}
		out.status, out.reason, out.bytesOut, out.abort = o.status, o.reason, o.bytesOut, o.abort
		return out
	}

	if resp.StatusCode == http.StatusSwitchingProtocols {
		return h.tunnel(w, resp, upgrade, out, rid)
	}
	defer resp.Body.Close()

	rh := resp.Header
	removeHopHeaders(rh)
	if upgrade != "" {
		// The framing checker stops at an upgrade request; a refused
		// upgrade ends the connection rather than trusting what follows.
		rh["Connection"] = []string{"close"}
	}
	if !h.rewriteResponseURIs(rh, resp.StatusCode, r, t, m, rt, upPath) {
		o := refuse(w, rid, http.StatusBadGateway, "The service's response could not be delivered.", "response: redirect to an internal URI with no public form")
		out.status, out.reason, out.bytesOut = o.status, o.reason, o.bytesOut
		return out
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.StatusCode != http.StatusNotModified {
		// A redirect's body is the upstream's page about its own URL:
		// replaced with nothing (the Location header is what clients use).
		_, _ = io.CopyN(io.Discard, resp.Body, maxDrainedRedirect) // lets the connection be reused
		resp.Body = http.NoBody
		rh["Content-Length"] = []string{"0"}
		delete(rh, "Content-Type")
		delete(rh, "Content-Encoding")
	}
	for _, p := range rt.response {
		p.Respond(c, resp.StatusCode, rh)
	}
	// Body filters (filter_fields, hide_errors) run before the status line
	// is written: one that fails refuses the response rather than let the
	// unfiltered body through.
	var respBody io.Reader = resp.Body
	for _, p := range rt.response {
		bf, ok := p.(pipeline.ResponseBodyFilter)
		if !ok {
			continue
		}
		nb, ferr := bf.FilterResponse(c, resp.StatusCode, rh, respBody)
		if ferr != nil {
			o := refuse(w, rid, http.StatusBadGateway, "The service's response could not be delivered.", "response filter: "+ferr.Error())
			out.status, out.reason, out.bytesOut = o.status, o.reason, o.bytesOut
			return out
		}
		if nb != respBody {
			respBody = nb
			if l, ok := nb.(interface{ Len() int }); ok && r.Method != http.MethodHead {
				rh["Content-Length"] = []string{strconv.Itoa(l.Len())}
			} else {
				delete(rh, "Content-Length")
			}
		}
	}
	dst := w.Header()
	for k, vs := range rh {
		// The gateway's HSTS policy replaces the upstream's; over plain
		// HTTP the header must never be sent (RFC 6797 section 7.2).
		// Server and X-Powered-By name the upstream's software: never sent.
		if k == "X-Request-Id" || k == "Strict-Transport-Security" && (h.hsts != "" || r.TLS == nil) || k == "Server" || k == "X-Powered-By" {
			continue
		}
		dst[k] = vs
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	out.status = resp.StatusCode

	flush := resp.ContentLength < 0 || strings.HasPrefix(rh.Get("Content-Type"), "text/event-stream")
	n, err := copyBody(w, respBody, flush)
	out.bytesOut = n
	if err != nil {
		// Headers are gone: the only honest signal left is to abort the
		// stream, so the client sees a truncated response, not a complete one.
		out.reason = "response body copy: " + err.Error()
		out.abort = !errors.Is(err, context.Canceled) && r.Context().Err() == nil
		if out.abort {
			// A response with a known length is buffered: aborting now
			// would close the connection before its head left, and the
			// client would get no answer at all. Send what was written, so
			// it sees the head and a body cut short.
			_ = http.NewResponseController(w).Flush()
		}
		return out
	}
	if len(resp.Trailer) > 0 {
		for k, vs := range resp.Trailer {
			dst[http.TrailerPrefix+k] = vs
		}
	}
	return out
}

// rewritePath maps the public path to the upstream path after strip_prefix
// or rewrite (obfuscated URIs). Both inputs are canonical; the result is
// checked again by the caller.
func rewritePath(p string, m router.Match, rt *route) string {
	rest := "/"
	if m.Kind == router.PathPrefix {
		rest = p[len(strings.TrimSuffix(m.Matched, "/")):]
		if rest == "" {
			rest = "/"
		}
	}
	if rt.rewrite == "" {
		return rest
	}
	if rest == "/" && m.Kind == router.PathExact {
		return rt.rewrite
	}
	if m.Kind == router.PathPrefix && rest == "/" && !strings.HasSuffix(p, "/") {
		return rt.rewrite
	}
	return strings.TrimSuffix(rt.rewrite, "/") + rest
}

// publicPath is the inverse of rewritePath for Location headers: an
// upstream path under the internal prefix is mapped back to the public
// one. ok is false when the path is not under the route's internal prefix.
func publicPath(up string, m router.Match, rt *route) (string, bool) {
	switch m.Kind {
	case router.PathExact:
		if rt.rewrite != "" && up == rt.rewrite {
			return m.Matched, true
		}
		return "", false
	case router.PathPrefix:
		public := strings.TrimSuffix(m.Matched, "/")
		internal := strings.TrimSuffix(rt.rewrite, "/") // "" for strip_prefix
		if up == internal && internal != "" {
			return public, true
		}
		if strings.HasPrefix(up, internal+"/") {
			return public + up[len(internal):], true
		}
	}
	return "", false
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyBody streams the upstream body to the client, flushing after each
// read when the response is a stream (SSE, chunked).
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var fl http.Flusher
	if flush {
		fl, _ = w.(http.Flusher)
	}
	var total int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			wn, werr := w.Write(buf[:n])
			total += int64(wn)
			if werr != nil {
				return total, werr
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// tunnel finishes a protocol upgrade (WebSocket): it hands the client
// connection and the upstream connection to each other.
func (h *proxyHandler) tunnel(w http.ResponseWriter, resp *http.Response, requested string, out outcome, rid string) outcome {
	up, ok := resp.Body.(io.ReadWriteCloser)
	got := upgradeType(resp.Header)
	if !ok || requested == "" || !strings.EqualFold(got, requested) {
		resp.Body.Close()
		o := refuse(w, rid, http.StatusBadGateway, "The service could not be reached.", "upstream switched to an unrequested protocol")
		out.status, out.reason, out.bytesOut = o.status, o.reason, o.bytesOut
		return out
	}
	defer up.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		o := refuse(w, rid, http.StatusBadGateway, "The service could not be reached.", "hijack: "+err.Error())
		out.status, out.reason, out.bytesOut = o.status, o.reason, o.bytesOut
		return out
	}
	defer conn.Close()
	rh := resp.Header
	removeHopHeaders(rh)
	for k, vs := range w.Header() {
		if _, ok := rh[k]; !ok {
			rh[k] = vs
		}
	}
	rh["Connection"] = []string{"Upgrade"}
	rh["Upgrade"] = []string{got}
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = rh.Write(brw)
	_, _ = brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		out.status, out.reason = http.StatusSwitchingProtocols, "write 101: "+err.Error()
		return out
	}
	out.status = http.StatusSwitchingProtocols
	// Each direction half-closes its destination when its source ends; once
	// one direction is done the other gets a short grace period, then both
	// connections close (deferred above), so a half-dead peer cannot pin
	// the tunnel forever.
	done := make(chan int64, 2)
	go func() { n, _ := io.Copy(up, brw.Reader); closeWrite(up); done <- 0; _ = n }()
	go func() { n, _ := io.Copy(conn, up); closeWrite(conn); done <- n }()
	out.bytesOut += <-done
	select {
	case n := <-done:
		out.bytesOut += n
	case <-time.After(tunnelGrace):
	}
	return out
}

func closeWrite(c any) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// hostOnly strips the port from a Host header value.
// sniName is a host name as the client-auth hosts are keyed: lower-case,
// without a trailing dot.
func sniName(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return h[1 : len(h)-1]
	}
	return h
}

// emptyUserAgent is shared by every request without a User-Agent: header
// values are never modified in place once the policies have run.
var emptyUserAgent = []string{""}

// maxDrainedRedirect is how much of a redirect's body is read and thrown
// away so that its connection can be reused; a longer body closes it.
const maxDrainedRedirect = 64 << 10

// tunnelGrace is how long an upgraded connection's second direction may
// go on after the first has ended.
const tunnelGrace = 5 * time.Second

// setIdentityHeaders tells the upstream who the caller is. The same names
// were stripped from the client's request before any policy ran.
func setIdentityHeaders(h http.Header, names identityHeaders, id *pipeline.Identity) {
	if id.Consumer != "" {
		h[names.consumer] = []string{id.Consumer}
	}
	if len(id.Groups) > 0 {
		h[names.groups] = []string{strings.Join(id.Groups, ",")}
	}
	if id.CredentialID != "" {
		h[names.credential] = []string{id.CredentialID}
	}
	if id.Method != "" {
		h[names.method] = []string{id.Method}
	}
}

// recordEvent counts a finished request as a security event when it is one.
func recordEvent(det *guard.Detector, c *pipeline.Context, out outcome) {
	ev := guard.Classify(out.status, out.reason, out.upstream == "")
	if ev == guard.EventNone {
		return
	}
	in := guard.Info{Client: c.ClientAddr, Route: out.route, RequestID: c.RequestID}
	if c.Identity != nil {
		in.Consumer = c.Identity.Consumer
	}
	det.Record(ev, in)
}
