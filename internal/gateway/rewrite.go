package gateway

import (
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/router"
)

// The stages between the phases and the upstream request: the path and
// the headers the upstream receives.

// rewritePath sets the path sent upstream: the canonical path, or its
// strip_prefix / rewrite form, which must still be canonical.
func (x *exchange) rewritePath() bool {
	x.upPath = x.path.Canonical
	if !x.rt.stripPrefix && x.rt.rewrite == "" {
		return true
	}
	x.upPath = upstreamPath(x.path.Canonical, x.match, x.rt)
	if !normalize.IsCanonical(x.upPath) {
		return x.refuse(http.StatusBadRequest, detailPath, "path not canonical after rewrite")
	}
	return true
}

// setOutgoingHeaders makes the request's header what the upstream
// receives: the identity headers, then hop-by-hop headers removed, then the
// gateway's own headers set (forwarding, request id, identity assertion),
// so nothing the client names in Connection can remove them.
func (x *exchange) setOutgoingHeaders() bool {
	r, hdr := x.r, x.r.Header
	if id := x.c.Identity; id != nil {
		setIdentityHeaders(hdr, x.snap.identity, id, &x.idv)
	}
	x.upgrade = upgradeType(hdr)
	trailers := wantsTrailers(hdr)
	// The identity and claims headers were set by the gateway (the client's
	// were stripped by dropClientHeaders): a client's Connection list
	// cannot remove them.
	removeHopHeadersKeep(hdr, x.snap.owned)
	writeForwardingHeaders(hdr, r, x.peerTrusted, x.peer, r.TLS != nil, &x.fwd, &x.strs)
	hdr["X-Request-Id"] = x.w.Header()["X-Request-Id"]
	if prob := applyAssertion(x.rt, hdr, x.c, r.Method, x.upPath, r.URL.RawQuery); prob != nil {
		return x.refuseProblem(prob, prob.Reason)
	}
	if x.upgrade != "" {
		hdr["Connection"] = []string{"Upgrade"}
		hdr["Upgrade"] = []string{x.upgrade}
	}
	if trailers {
		hdr["Te"] = []string{"trailers"}
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr["User-Agent"] = emptyUserAgent // do not let a client library add its own
	}
	return true
}

// emptyUserAgent is shared by every request without a User-Agent: header
// values are never modified in place once the policies have run.
var emptyUserAgent = []string{""}

// setIdentityHeaders tells the upstream who the caller is. The same names
// were stripped from the client's request before any policy ran.
func setIdentityHeaders(h http.Header, names identityHeaders, id *pipeline.Identity, vals *[4]string) {
	// Each value slice is one element of vals (the exchange's), capped so
	// that an append elsewhere copies instead of writing into the next.
	set := func(i int, name, v string) {
		vals[i] = v
		h[name] = vals[i : i+1 : i+1]
	}
	if id.Consumer != "" {
		set(0, names.consumer, id.Consumer)
	}
	if len(id.Groups) > 0 {
		set(1, names.groups, strings.Join(id.Groups, ","))
	}
	if id.CredentialID != "" {
		set(2, names.credential, id.CredentialID)
	}
	if id.Method != "" {
		set(3, names.method, id.Method)
	}
}

// upstreamPath maps the public path to the upstream path after
// strip_prefix or rewrite (obfuscated URIs). Both inputs are canonical; the
// result is checked again by the caller.
func upstreamPath(p string, m router.Match, rt *route) string {
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

// publicPath is the inverse of upstreamPath for Location headers: an
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
