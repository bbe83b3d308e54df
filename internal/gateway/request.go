package gateway

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/ipfilter"
	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/router"
)

// The request stages up to the upstream request: what is checked about
// the client, the request target and the route before anything is sent.

// checkIPFilter applies the global IP guest list to the address from the
// trusted-proxy logic, before anything is routed or parsed further.
func (x *exchange) checkIPFilter() bool {
	f := x.snap.ipFilter
	if f == nil {
		return true
	}
	if d := f.Check(x.c.ClientAddr); d != ipfilter.Allowed {
		prob := f.Problem(d)
		return x.refuseProblem(prob, prob.Reason)
	}
	return true
}

// Client-facing texts of the target checks.
const (
	detailTarget = "The request target is not accepted."
	detailPath   = "The request path is not accepted."
)

// checkTarget accepts the request target in origin-form only, computes its
// one canonical path (internal/normalize) and checks Host. The HTTP/1.x
// engine refuses the other forms already; HTTP/2 requests are checked here.
func (x *exchange) checkTarget() bool {
	r := x.r
	target := r.RequestURI
	// RFC 9112 section 3.2: absolute-form is for forward proxies (its
	// authority could disagree with Host), authority-form is CONNECT (a
	// tunnel this gateway does not open), asterisk-form a server-wide
	// OPTIONS; a gateway serves origin-form (section 3.2.1).
	if r.Method == http.MethodConnect || target == "*" || !strings.HasPrefix(target, "/") {
		return x.refuse(http.StatusBadRequest, detailTarget, "request target not in origin-form")
	}
	// RFC 9112 section 3.2.1: origin-form = absolute-path [ "?" query ],
	// with no fragment (a fragment is the user agent's alone, RFC 9110
	// section 4.2.5).
	if strings.IndexByte(target, '#') >= 0 {
		return x.refuse(http.StatusBadRequest, detailTarget, "fragment in request target")
	}
	// HTTP/2 carries the target as a header value, which may hold a space:
	// the client's error, not one to fail upstream and count against a target.
	if strings.ContainsFunc(target, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
		return x.refuse(http.StatusBadRequest, detailTarget, "invalid character in request target")
	}
	rawPath := target
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	np, err := normalize.Canonicalize(rawPath)
	if err != nil {
		return x.refuse(http.StatusBadRequest, detailPath, "path: "+err.Error())
	}
	x.path = np
	x.c.Path = np.Canonical
	// Host (or :authority) must be an RFC 3986 authority before it is
	// routed, compared with SNI or forwarded: a value another server
	// parses differently ("a.com@b.com", "a.com:80x") could route here one
	// way and be read upstream another.
	host, err := normalize.CheckHost(r.Host)
	if err != nil {
		return x.refuse(http.StatusBadRequest, "The request's host is not accepted.", err.Error())
	}
	x.host = host
	return true
}

// dropClientHeaders deletes what a client may not send: the headers only
// the gateway sets (spoofable, identity and policy-owned names), names
// with '_' or '.' (or, where the listener keeps those, the ones that alias
// a guarded header), and the method override headers, which are read
// first (a route may honour the override).
func (x *exchange) dropClientHeaders() {
	h := x.r.Header
	// One walk over the client's fields, each looked up in the set of
	// names to drop, rather than one delete per name to drop: an API
	// client sends a few fields, and the set holds a dozen names or more.
	dropped, separators := x.snap.dropped, !x.h.keepSeparatorHeaders
	for k := range h {
		_, drop := dropped[k]
		switch {
		case drop:
		case separators && hasSeparator(k):
		case !x.peerTrusted && (k == "Traceparent" || k == "Tracestate"):
			// W3C Trace Context is believed only from a trusted proxy,
			// like X-Request-Id: a client's traceparent could force
			// sampling on the services behind or splice its requests into
			// their traces. With tracing on, the upstream gets the
			// gateway's own (internal/tracing); with tracing off, none.
		default:
			continue
		}
		delete(h, k)
	}
	if !separators {
		dropAliases(h, x.snap.aliasGuard)
	}
	x.override, x.overrideErr = methodOverride(h)
}

// detailMisdirected is the client-facing text of a 421.
const detailMisdirected = "The request was sent on a connection that cannot serve this host."

// checkConnection compares Host with the TLS connection it came on.
func (x *exchange) checkConnection() bool {
	r := x.r
	if r.TLS == nil {
		return true
	}
	// SNI names the site the TLS session was set up for; Host names the
	// site asked for. RFC 9110 section 15.5.20: a server answers 421 to a
	// request it is not willing to serve on this connection. Unless the
	// listener allows it, a client cannot open TLS for one name and ask for
	// another (domain fronting past per-host certificates and policies).
	if !x.h.allowSNIMismatch && !x.snap.hostMatchesTLS(x.h.listener, x.host, r.TLS.ServerName) {
		return x.refuse(http.StatusMisdirectedRequest, detailMisdirected, "host does not match the TLS server name")
	}
	// The TLS policy chosen by SNI and the route chosen by Host must
	// agree: a connection set up for a host without client certificates
	// cannot be used to reach a host that requires them.
	if hosts := x.snap.mtlsHosts[x.h.listener]; hosts != nil {
		// Compared as the router and clientCAs see names: without a
		// trailing dot, lower-case ("secure.example." must not slip by).
		if hosts[sniName(x.host)] && !hosts[sniName(r.TLS.ServerName)] {
			return x.refuse(http.StatusMisdirectedRequest, detailMisdirected, "host requires client certificates; SNI did not")
		}
	}
	return true
}

// detailMethod is the client-facing text of a 405.
const detailMethod = "The method is not allowed for this resource."

// matchRoute routes the request by host, canonical path, method and
// headers (404, 405), honouring a method override on routes that accept
// one, and names the route in the outcome.
func (x *exchange) matchRoute() bool {
	r, snap := x.r, x.snap
	// allow is only filled for a 405; nil keeps the common case free of
	// an escaping buffer.
	m, res, allow := snap.router.Match(x.host, x.path.Canonical, r.Method, r.Header, nil)
	switch res {
	case router.NotFound:
		return x.refuse(http.StatusNotFound, "No route matches the request.", "no route")
	case router.MethodNotAllowed:
		x.w.Header().Set("Allow", strings.Join(allow, ", "))
		return x.refuse(http.StatusMethodNotAllowed, detailMethod, "method not allowed")
	}
	x.setRoute(m, snap.routes[m.ID])
	if !x.rt.methodOverride || r.Method != http.MethodPost || (x.override == "" && x.overrideErr == nil) {
		return true
	}
	// The route honours method overrides: route, authorize and forward
	// the request as the method the client asked for, so that what the
	// upstream framework executes is what was authorized.
	if x.overrideErr != nil {
		return x.refuse(http.StatusBadRequest, "The method override is not accepted.", x.overrideErr.Error())
	}
	m2, res2, allow2 := snap.router.Match(x.host, x.path.Canonical, x.override, r.Header, nil)
	switch {
	case res2 == router.MethodNotAllowed:
		x.w.Header().Set("Allow", strings.Join(allow2, ", "))
		return x.refuse(http.StatusMethodNotAllowed, detailMethod, "method not allowed (override "+x.override+")")
	case res2 != router.Matched || !snap.routes[m2.ID].methodOverride:
		return x.refuse(http.StatusMethodNotAllowed, detailMethod, "method override to a route that does not accept overrides")
	}
	x.setRoute(m2, snap.routes[m2.ID])
	r.Method = x.override
	return true
}

// setRoute makes rt the request's route, for the policies and the outcome.
func (x *exchange) setRoute(m router.Match, rt *route) {
	x.match, x.rt = m, rt
	x.c.Route, x.c.Service = rt.name, rt.service.Name()
	x.out.route, x.out.service, x.out.rt = rt.name, x.c.Service, rt
}

// detailRepeated is the client-facing text of a repeated decision header.
const detailRepeated = "A request header this resource decides on appears more than once."

// checkRoute applies the route's own limits on the request: decision
// headers sent once, encoded slashes, Windows names and the body size.
func (x *exchange) checkRoute() bool {
	r, rt := x.r, x.rt
	// One value decided on, one value forwarded (decisionheaders.go).
	if name, rep := rt.decides.repeated(r.Header); rep {
		if name == "" {
			return x.refuse(http.StatusBadRequest, detailRepeated, "repeated header (a rule of the route reads every header)")
		}
		return x.refuse(http.StatusBadRequest, detailRepeated, "repeated header: "+name)
	}
	if x.path.HasEncodedSlash && !rt.encodedOK {
		return x.refuse(http.StatusBadRequest, detailPath, "path: encoded slash")
	}
	if rt.windows {
		// The service's upstream reads the path as a Windows file name,
		// which would be another name than the one routed on.
		if why := normalize.WindowsAmbiguity(x.path.Canonical); why != "" {
			return x.refuse(http.StatusBadRequest, detailPath, "path: "+why)
		}
	}
	if r.ContentLength > rt.maxBody {
		return x.fail(failBodyTooLarge)
	}
	if r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(x.w, r.Body, rt.maxBody)
	}
	return true
}

// runPhases runs the route's request policies, phase by phase; the first
// refusal answers the request.
func (x *exchange) runPhases() bool {
	rt, c := x.rt, x.c
	for ph := range rt.phases {
		for i, p := range rt.phases[ph] {
			prob := p.Handle(c)
			if prob == nil {
				continue
			}
			if x.body.timedOut() {
				// A policy that read the body (validate, waf, signature)
				// saw it fail to arrive: that is the client's timeout, not
				// the policy's refusal.
				return x.fail(failBodyTimeout)
			}
			if pipeline.Phase(ph) > pipeline.PhaseAccess {
				// A refusal after the access phase (401, 403, 429, ...)
				// gets the route's response headers too: without CORS
				// headers a browser page could not read its own 401. The
				// access phase keeps its own (a CORS preflight, an IP ban).
				for _, rp := range rt.response {
					rp.Respond(c, prob.Status, x.w.Header())
				}
			}
			x.out.by, x.out.rule = policyRef{ok: true, phase: ph, index: i}, prob.Rule
			return x.refuseProblem(prob, pipeline.Phase(ph).String()+": "+prob.Reason)
		}
		if len(rt.phases[ph]) > 0 {
			x.phaseEvent(ph)
		}
	}
	return true
}

// sniName is a host name as the client-auth hosts are keyed: lower-case,
// without a trailing dot.
func sniName(h string) string {
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

// hostOnly strips the port from a Host header value.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		return h[:i]
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return h[1 : len(h)-1]
	}
	return h
}
