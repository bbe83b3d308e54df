package response

import (
	"fmt"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// An origin pattern is an exact origin ("https://app.example.com",
// "http://localhost:3000") or one whose host starts with "*." and matches
// any subdomain, at any depth, of the rest ("https://*.example.com"
// matches "https://a.example.com" and "https://a.b.example.com", not
// "https://example.com"). Scheme and port must match exactly.
type originPattern struct {
	prefix string // "https://"
	suffix string // ".example.com" (wildcard) or "app.example.com"
	port   string // ":8443" or ""
	wild   bool
}

// parseOriginPattern checks a configured origin and returns its lower-case
// form.
func parseOriginPattern(s string) (originPattern, error) {
	o := strings.ToLower(s)
	i := strings.Index(o, "://")
	if i <= 0 || !validScheme(o[:i]) {
		return originPattern{}, fmt.Errorf("origin %q: expected scheme://host[:port]", s)
	}
	p := originPattern{prefix: o[:i+3]}
	rest := o[i+3:]
	if strings.ContainsAny(rest, "/?#@\\ ") {
		return originPattern{}, fmt.Errorf("origin %q: an origin has no path, query, user or trailing slash", s)
	}
	host := rest
	if j := strings.LastIndexByte(rest, ':'); j >= 0 && !strings.HasSuffix(rest, "]") {
		host, p.port = rest[:j], rest[j:]
		if len(p.port) < 2 || strings.Trim(p.port[1:], "0123456789") != "" || len(p.port) > 6 {
			return originPattern{}, fmt.Errorf("origin %q: invalid port", s)
		}
	}
	if strings.HasPrefix(host, "*.") {
		p.wild = true
		host = host[1:]
		if !validLabels(host[1:]) {
			return originPattern{}, fmt.Errorf("origin %q: invalid host", s)
		}
		// A wildcard directly under a public suffix (co.uk, github.io,
		// herokuapp.com: names anyone can register a site under) trusts
		// every site there, not the operator's subdomains: any of them
		// could read this route's answers (with credentials: true, as the
		// signed-in user). A single label (*.com, *.internal) is one by the
		// list's default rule; a count of labels would miss co.uk.
		if suffix, _ := publicsuffix.PublicSuffix(host[1:]); suffix == host[1:] {
			return originPattern{}, fmt.Errorf("origin %q: %s is a public suffix (anyone can register a site under it), so the wildcard would trust every such site; list your own domain (https://*.yours.%s)", s, host[1:], host[1:])
		}
	} else if strings.Contains(host, "*") {
		return originPattern{}, fmt.Errorf("origin %q: '*' may only be the whole first label of the host (https://*.example.com)", s)
	} else if !(strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") && len(host) > 2) && !validLabels(host) {
		return originPattern{}, fmt.Errorf("origin %q: invalid host", s)
	}
	p.suffix = host
	return p, nil
}

func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// validLabels reports whether h is dot-separated non-empty labels of
// lower-case letters, digits and hyphens.
func validLabels(h string) bool {
	if h == "" || h[0] == '.' || h[len(h)-1] == '.' || strings.Contains(h, "..") {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// match reports whether origin, as a browser sends it (lower case, no
// path), matches the pattern. It does not allocate.
func (p *originPattern) match(origin string) bool {
	if !strings.HasPrefix(origin, p.prefix) {
		return false
	}
	rest := origin[len(p.prefix):]
	if p.port != "" {
		if !strings.HasSuffix(rest, p.port) {
			return false
		}
		rest = rest[:len(rest)-len(p.port)]
	}
	if !p.wild {
		return rest == p.suffix
	}
	if len(rest) <= len(p.suffix) || !strings.HasSuffix(rest, p.suffix) {
		return false
	}
	return validLabels(rest[:len(rest)-len(p.suffix)])
}
