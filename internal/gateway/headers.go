package gateway

import (
	"errors"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/http1"
)

// removeHopHeaders deletes hop-by-hop headers and every header named in
// Connection. It runs before the gateway sets its own headers, so a
// client's Connection header can never remove one of them.
func removeHopHeaders(h http.Header) {
	removeHopHeadersKeep(h, nil)
}

// removeHopHeadersKeep is removeHopHeaders that never removes the headers
// in keep (canonical names) because the client named them in Connection.
// It allocates nothing unless a name in Connection is not in canonical
// form and names a header that is present: it runs on every request and
// every response ("Connection: keep-alive" is what most servers send).
func removeHopHeadersKeep(h http.Header, keep []string) {
	for _, v := range h["Connection"] {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if name = textproto.TrimString(name); name != "" {
				removeNamed(h, name, keep)
			}
		}
	}
	// The fixed list: one pass over the header (a handful of fields)
	// rather than one lookup per hop-by-hop name.
	for k := range h {
		if isHopHeader(k) {
			delete(h, k)
		}
	}
}

// removeNamed deletes the header that a Connection token names (in any
// case), unless it is in keep: Header.Del's rule, canonicalized on the
// stack.
func removeNamed(h http.Header, name string, keep []string) {
	var buf [64]byte
	key, ok := canonicalKeyInto(buf[:0], name)
	if !ok { // not a token, or long: the general rule, which may allocate
		if c := textproto.CanonicalMIMEHeaderKey(name); !slices.Contains(keep, c) {
			h.Del(name)
		}
		return
	}
	for _, k := range keep {
		if k == string(key) {
			return
		}
	}
	// The lookup converts key without allocating; delete's conversion may
	// allocate (past 32 bytes), so it runs only for a header that is there.
	//lint:ignore S1033 the guard keeps the common absent case allocation-free
	if _, present := h[string(key)]; present {
		delete(h, string(key))
	}
}

// canonicalKeyInto appends the canonical form of name (what
// textproto.CanonicalMIMEHeaderKey returns for a token: upper case at the
// start and after each hyphen, lower case elsewhere) to dst. ok is false
// when name is not a token or does not fit in dst's capacity.
func canonicalKeyInto(dst []byte, name string) (key []byte, ok bool) {
	if len(name) > cap(dst)-len(dst) {
		return dst, false
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !http1.IsTchar(c) {
			return dst, false
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
		upper = c == '-'
	}
	return dst, true
}

// isHopHeader reports the headers that are connection-specific and never
// forwarded (RFC 9110 section 7.6.1), Proxy-Connection and HTTP2-Settings
// (connection-specific, RFC 7540 section 3.2.1) among them.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Http2-Settings":
		return true
	}
	return false
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

// hasSeparator reports a header name with '_' or '.'; every client header
// so named is deleted (dropClientHeaders). CGI (RFC 3875 section 4.1.18: HTTP_X_CONSUMER_NAME), PHP,
// WSGI, Rails and nginx with underscores_in_headers map '-', '_' (and some
// '.') onto one another, so "X_Consumer_Name" or "Transfer.Encoding" can
// reach an application as a header the gateway checked, set or stripped
// under its plain name. No standard header has either character; nginx
// drops underscored names by default for the same reason.
func hasSeparator(name string) bool {
	return strings.ContainsAny(name, "_.")
}

// dropAliases is the rule for listeners that keep such names
// (allow_underscore_and_dot_headers): a name that, with '_' and '.' read as
// '-', is a guarded header (the gateway's own, framing, routing, identity,
// method override, or one a route or policy reads), or a header the
// request also carries under its plain name, is still deleted.
func dropAliases(h http.Header, guard map[string]bool) {
	for k := range h {
		if !hasSeparator(k) {
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
