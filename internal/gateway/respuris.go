package gateway

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/router"
	"github.com/portcullis/portcullis/internal/upstream"
)

// A service's own origin (its target address) and, behind a route with
// strip_prefix or rewrite (obfuscated URIs), its own paths are internal:
// they must never reach a client. Upstreams put URIs in several response
// headers (Location, Content-Location, Link, Refresh, Set-Cookie's Path and
// Domain), in any spelling (absolute, scheme-relative, relative, with
// escapes), and in the bodies of redirects. The gateway therefore:
//
//   - maps every URI of those headers that points at the service itself
//     (a relative reference, or an absolute one naming the target or, with
//     preserve_host, the client's host) back to its public form, using the
//     path mappings of every route to the same service on this host; a URI
//     that has no public form is removed (a redirect to it becomes a 502);
//   - leaves URIs that point elsewhere alone;
//   - removes any other response header whose value names the target's
//     address or the route's internal path;
//   - replaces the body of every 3xx response with nothing, since an
//     upstream's redirect page repeats its internal URL in HTML.

// respURIs maps the URIs of one response.
type respURIs struct {
	r      *http.Request
	target string // the target's host:port as the upstream saw it
	m      router.Match
	rt     *route
	upPath string // the upstream request's path, for relative references
	public string // "http" or "https", the client's scheme
}

// rewriteResponseURIs applies the rules above to rh. It returns false when
// a redirect's Location had no public form: the response cannot be sent.
func (h *proxyHandler) rewriteResponseURIs(rh http.Header, status int, r *http.Request, t *upstream.Target, m router.Match, rt *route, upPath string) bool {
	x := respURIs{r: r, target: t.Host(), m: m, rt: rt, upPath: upPath, public: "http"}
	if r.TLS != nil {
		x.public = "https"
	}
	// One walk finds the URI headers and removes any other header that
	// names the target or the internal path; the URI headers, usually
	// absent, are then looked up by name only when the walk saw one.
	uriHeaders := false
	for k, vs := range rh {
		if isURIHeader(k) {
			uriHeaders = true
			continue
		}
		for _, v := range vs {
			if x.leaks(v) {
				delete(rh, k)
				break
			}
		}
	}
	if !uriHeaders {
		return true
	}
	return x.mapURIHeaders(rh, status)
}

// isURIHeader reports the (canonical) names of the response headers that
// carry URIs, which mapURIHeaders maps.
func isURIHeader(k string) bool {
	switch k {
	case "Location", "Content-Location", "Refresh", "Link", "Set-Cookie":
		return true
	}
	return false
}

// mapURIHeaders maps the URI headers of rh (at least one is present). It
// returns false when a redirect's Location had no public form.
func (x *respURIs) mapURIHeaders(rh http.Header, status int) bool {
	ok := true
	for _, name := range [...]string{"Location", "Content-Location"} {
		vs, present := rh[name]
		if !present {
			continue
		}
		// One URI by definition (RFC 9110 10.2.2, 8.7): only the first
		// value is kept, and only when it maps.
		nv, keep := "", false
		if len(vs) > 0 && vs[0] != "" {
			nv, keep = x.mapURI(vs[0])
		}
		if !keep {
			delete(rh, name)
			if name == "Location" && status >= 300 && status < 400 {
				ok = false
			}
			continue
		}
		rh[name] = []string{nv}
	}
	if vs := rh["Refresh"]; len(vs) > 0 {
		if nv, keep := x.mapRefresh(vs[0]); keep {
			rh["Refresh"] = []string{nv}
		} else {
			delete(rh, "Refresh")
		}
	}
	if vs := rh["Link"]; len(vs) > 0 {
		out := vs[:0:0]
		for _, v := range vs {
			if nv := x.mapLinks(v); nv != "" {
				out = append(out, nv)
			}
		}
		if len(out) == 0 {
			delete(rh, "Link")
		} else {
			rh["Link"] = out
		}
	}
	if vs := rh["Set-Cookie"]; len(vs) > 0 {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = x.mapCookie(v)
		}
		rh["Set-Cookie"] = out
	}
	// What the mapping kept still must not name the internal path (a
	// query parameter or fragment could carry it).
	for _, k := range [...]string{"Location", "Content-Location", "Refresh", "Link", "Set-Cookie"} {
		for _, v := range rh[k] {
			if x.leaks(v) {
				delete(rh, k)
				if k == "Location" && status >= 300 && status < 400 {
					ok = false
				}
				break
			}
		}
	}
	return ok
}

// leaks reports whether v names the target's address or the route's
// internal path, in any case.
func (x *respURIs) leaks(v string) bool {
	if containsFold(v, x.target) {
		return true
	}
	if x.rt.rewrite != "" && x.rt.rewrite != "/" {
		if containsFold(v, x.rt.rewrite) {
			return true
		}
		if dec, err := url.PathUnescape(v); err == nil && dec != v && containsFold(dec, x.rt.rewrite) {
			return true
		}
	}
	return false
}

// containsFold reports whether sub is in s, ignoring case as
// strings.ToLower does. Every response header value goes through it, so
// ASCII strings (nearly all) are compared in place, without lowering a
// copy of each.
func containsFold(s, sub string) bool {
	if sub == "" || len(sub) > len(s) {
		return false
	}
	if isASCII(s) && isASCII(sub) {
		return indexFoldASCII(s, sub) >= 0
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// indexFoldASCII is the index of the first ASCII-case-insensitive match of
// sub (not empty) in s, or -1.
func indexFoldASCII(s, sub string) int {
	first := lowerASCII(sub[0])
	for i := 0; i+len(sub) <= len(s); i++ {
		if lowerASCII(s[i]) != first {
			continue
		}
		j := 1
		for j < len(sub) && lowerASCII(s[i+j]) == lowerASCII(sub[j]) {
			j++
		}
		if j == len(sub) {
			return i
		}
	}
	return -1
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// mapURI returns the public form of a URI reference found in a response
// header, or keep=false when it points at the service and has none.
func (x *respURIs) mapURI(v string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return "", false // an unparseable value cannot be checked for leaks
	}
	if u.Scheme != "" && !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https") {
		return v, true // mailto:, urn: ... name no path of the service
	}
	if u.Host != "" || u.Scheme != "" {
		sameOrigin := strings.EqualFold(u.Host, x.target) || x.rt.preserve && strings.EqualFold(u.Host, x.r.Host)
		if !sameOrigin {
			return v, true // another site: not ours to change
		}
		u.Host = x.r.Host
		u.Scheme = x.public
		u.User = nil
	}
	if u.Opaque != "" {
		return "", false
	}
	if !x.rewrites() {
		// The upstream's paths are the public paths.
		return u.String(), true
	}
	p := u.EscapedPath()
	if p == "" {
		if u.Host != "" {
			p = "/"
		} else {
			// A reference with only a query or a fragment names the
			// request's own path, which the client already has.
			return u.String(), true
		}
	}
	if !strings.HasPrefix(p, "/") {
		// A relative path resolves against the upstream request's path.
		base := x.upPath
		if i := strings.LastIndexByte(base, '/'); i >= 0 {
			base = base[:i+1]
		}
		p = base + p
	}
	np, err := normalize.Canonicalize(p)
	if err != nil {
		return "", false // an ambiguous spelling is never passed on
	}
	pub, ok := x.publicPath(np.Canonical)
	if !ok {
		return "", false
	}
	u.RawPath = ""
	dec, err := url.PathUnescape(pub)
	if err != nil {
		return "", false
	}
	u.Path, u.RawPath = dec, pub
	if !strings.HasPrefix(pub, "/") || strings.HasPrefix(pub, "//") {
		return "", false
	}
	return u.String(), true
}

// rewrites reports whether the route's upstream paths differ from its
// public ones.
func (x *respURIs) rewrites() bool { return x.rt.stripPrefix || x.rt.rewrite != "" }

// publicPath maps a canonical upstream path back to a public one: first
// through the matched route, then through the other routes to the same
// service that serve this host.
func (x *respURIs) publicPath(up string) (string, bool) {
	if p, ok := publicPath(up, x.m, x.rt); ok {
		return p, true
	}
	for _, alt := range x.rt.siblings {
		if alt.rt == x.rt || !alt.servesHost(hostOnly(x.r.Host)) {
			continue
		}
		if p, ok := publicPath(up, alt.match, alt.rt); ok {
			return p, true
		}
	}
	return "", false
}

// mapRefresh maps the URL of a Refresh header ("5; url=/next").
func (x *respURIs) mapRefresh(v string) (string, bool) {
	i := strings.IndexByte(v, ';')
	if i < 0 {
		i = strings.IndexByte(v, ',')
	}
	if i < 0 {
		return v, true // a delay alone
	}
	rest := strings.TrimSpace(v[i+1:])
	if len(rest) < 4 || !strings.EqualFold(rest[:3], "url") {
		return "", false
	}
	rest = strings.TrimSpace(rest[3:])
	if !strings.HasPrefix(rest, "=") {
		return "", false
	}
	target := strings.Trim(strings.TrimSpace(rest[1:]), `"'`)
	nv, ok := x.mapURI(target)
	if !ok {
		return "", false
	}
	return strings.TrimSpace(v[:i]) + "; url=" + nv, true
}

// mapLinks maps the URI of each link-value of a Link header (RFC 8288);
// a link-value whose URI has no public form is dropped.
func (x *respURIs) mapLinks(v string) string {
	var out []string
	for rest := strings.TrimSpace(v); rest != ""; {
		if rest[0] != '<' {
			return strings.Join(out, ", ") // malformed from here on
		}
		end := strings.IndexByte(rest, '>')
		if end < 0 {
			return strings.Join(out, ", ")
		}
		uri := rest[1:end]
		params := rest[end+1:]
		// Parameters run to the next ',' outside a quoted string.
		j, quoted := 0, false
		for ; j < len(params); j++ {
			c := params[j]
			if c == '"' {
				quoted = !quoted
			} else if c == '\\' && quoted {
				j++
			} else if c == ',' && !quoted {
				break
			}
		}
		if nv, ok := x.mapURI(uri); ok {
			out = append(out, "<"+nv+">"+strings.TrimRight(params[:min(j, len(params))], " "))
		}
		if j >= len(params) {
			break
		}
		rest = strings.TrimSpace(params[j+1:])
	}
	return strings.Join(out, ", ")
}

// mapCookie maps a Set-Cookie's Path attribute to its public form (or
// removes it, so that the browser defaults it to the public request path),
// and removes a Domain attribute naming the target.
func (x *respURIs) mapCookie(v string) string {
	parts := strings.Split(v, ";")
	out := parts[:1]
	for _, a := range parts[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(a), "=")
		switch {
		case strings.EqualFold(name, "path") && x.rewrites():
			if val == "" || !strings.HasPrefix(val, "/") {
				continue
			}
			np, err := normalize.Canonicalize(val)
			if err != nil {
				continue
			}
			pub, ok := x.publicPath(np.Canonical)
			if !ok {
				continue
			}
			a = " Path=" + pub
		case strings.EqualFold(name, "domain") && strings.EqualFold(strings.TrimPrefix(val, "."), hostOnly(x.target)):
			continue
		}
		out = append(out, a)
	}
	return strings.Join(out, ";")
}

// sibling is another route to the same service, for mapping an upstream
// path back to a public one.
type sibling struct {
	rt    *route
	match router.Match // its first path, as a match would report it
	hosts []string     // lower-case; empty: every host
}

func (s sibling) servesHost(h string) bool {
	if len(s.hosts) == 0 {
		return true
	}
	h = sniName(h)
	for _, want := range s.hosts {
		if want == h {
			return true
		}
		if rest, ok := strings.CutPrefix(want, "*."); ok {
			if i := strings.IndexByte(h, '.'); i > 0 && h[i+1:] == rest {
				return true
			}
		}
	}
	return false
}
