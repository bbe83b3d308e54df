package gateway

import (
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// hopHeaders are connection-specific and never forwarded (RFC 9110 7.6.1).
var hopHeaders = []string{
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
	"Http2-Settings", // connection-specific (RFC 7540 section 3.2.1)
}

// removeHopHeaders deletes hop-by-hop headers and every header named in
// Connection. It runs before the gateway sets its own headers, so a
// client's Connection header can never remove one of them.
func removeHopHeaders(h http.Header) {
	removeHopHeadersKeep(h, nil)
}

// removeHopHeadersKeep is removeHopHeaders that never removes the headers
// in keep (canonical names) because the client named them in Connection.
func removeHopHeadersKeep(h http.Header, keep []string) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" && !slices.Contains(keep, textproto.CanonicalMIMEHeaderKey(name)) {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		delete(h, name)
	}
}

// upgradeType returns the protocol a request or response asks to switch
// to, or "" when it is not an upgrade. An h2c upgrade is never one: an
// upstream that accepted it would carry the client's later requests past
// every policy (h2c smuggling; RFC 9113 deprecated it).
func upgradeType(h http.Header) string {
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), "upgrade") {
				up := h.Get("Upgrade")
				for _, p := range strings.Split(up, ",") {
					if strings.EqualFold(textproto.TrimString(p), "h2c") {
						return ""
					}
				}
				return up
			}
		}
	}
	return ""
}

// wantsTrailers reports whether the client said "TE: trailers", which is
// passed upstream so that gRPC-style trailers survive.
func wantsTrailers(h http.Header) bool {
	for _, v := range h["Te"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(tok), "trailers") {
				return true
			}
		}
	}
	return false
}

// spoofableHeaders are set only by the gateway; what a client sends under
// these names is dropped before anything else looks at the request.
var spoofableHeaders = []string{
	"X-Real-Ip",
	"X-Client-Ip",
	"True-Client-Ip",
	"X-Original-Url",
	"X-Rewrite-Url",
	"X-Original-Uri",
}

// dropSeparatorHeaders deletes every client header whose name contains
// '_' or '.'. CGI (RFC 3875 section 4.1.18: HTTP_X_CONSUMER_NAME), PHP,
// WSGI, Rails and nginx with underscores_in_headers map '-', '_' (and some
// '.') onto one another, so "X_Consumer_Name" or "Transfer.Encoding" can
// reach an application as a header the gateway checked, set or stripped
// under its plain name. No standard header has either character; nginx
// drops underscored names by default for the same reason.
func dropSeparatorHeaders(h http.Header) {
	for k := range h {
		if strings.ContainsAny(k, "_.") {
			delete(h, k)
		}
	}
}

// dropAliases is the rule for listeners that keep such names
// (allow_underscore_and_dot_headers): a name that, with '_' and '.' read as
// '-', is a guarded header (the gateway's own, framing, routing, identity,
// method override, or one a route or policy reads), or a header the
// request also carries under its plain name, is still deleted.
func dropAliases(h http.Header, guard map[string]bool) {
	for k := range h {
		if !strings.ContainsAny(k, "_.") {
			continue
		}
		alias := aliasName(k)
		if _, plain := h[alias]; plain || guard[alias] {
			delete(h, k)
		}
	}
}

// aliasName is the canonical header name a server folding '_' and '.' into
// '-' reads name as.
func aliasName(name string) string {
	return textproto.CanonicalMIMEHeaderKey(strings.Map(func(r rune) rune {
		if r == '_' || r == '.' {
			return '-'
		}
		return r
	}, name))
}

// framingHeaders decide how a message is delimited, routed or upgraded;
// their aliases are guarded on every listener.
var framingHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Upgrade", "Te", "Trailer", "Expect", "Keep-Alive", "Proxy-Connection", "Content-Type", "Content-Encoding", "Authorization", "Cookie"}

// methodOverrideHeaders are the headers web frameworks read to replace a
// POST's method (Rails, Laravel, Symfony, Express's method-override,
// ASP.NET, Spring's HiddenHttpMethodFilter variants).
var methodOverrideHeaders = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// overridableMethods are the methods an override may name: never CONNECT
// (a tunnel), TRACE (reflection) or POST itself.
var overridableMethods = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// methodOverride reads and deletes the method override headers. It
// returns the overriding method ("" when none was sent), upper-cased as the
// frameworks do, or an error when the request names more than one method
// or one that cannot be overridden to.
func methodOverride(h http.Header) (string, error) {
	method := ""
	var err error
	for _, name := range methodOverrideHeaders {
		vs, ok := h[name]
		if !ok {
			continue
		}
		delete(h, name)
		for _, v := range vs {
			v = strings.ToUpper(textproto.TrimString(v))
			switch {
			case err != nil:
			case !slices.Contains(overridableMethods, v):
				err = errors.New("method override: " + strconv.Quote(truncate(v, 16)) + " cannot be overridden to")
			case method != "" && method != v:
				err = errors.New("method override: more than one method")
			default:
				method = v
			}
		}
	}
	if err != nil {
		return "", err
	}
	return method, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// forwardingHeaders are the headers setForwardingHeaders and the request id
// logic write toward the upstream.
var forwardingHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Request-Id"}
