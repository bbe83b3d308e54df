package gateway

import (
	"net/http"
	"net/textproto"
	"slices"
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

// dropUnderscoreAliases deletes client headers whose name, with '_' read as
// '-', is a header the gateway owns (X_Consumer_Name for X-Consumer-Name):
// nginx with underscores_in_headers, CGI, WSGI and PHP read them as the same.
func dropUnderscoreAliases(h http.Header, owned []string) {
	for k := range h {
		if strings.IndexByte(k, '_') < 0 {
			continue
		}
		alias := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k, "_", "-"))
		if slices.Contains(owned, alias) || slices.Contains(spoofableHeaders, alias) || slices.Contains(forwardingHeaders, alias) {
			delete(h, k)
		}
	}
}

// forwardingHeaders are the headers setForwardingHeaders and the request id
// logic write toward the upstream.
var forwardingHeaders = []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Request-Id"}
