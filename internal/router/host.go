package router

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type hostKind uint8

const (
	hostAny hostKind = iota
	hostExact
	hostWildcard
)

// parseHost classifies a configured host and returns its canonical form:
// the name for an exact host, the suffix without "*." for a wildcard.
func parseHost(h string) (hostKind, string, error) {
	if h == "" || h == "*" {
		return hostAny, "", nil
	}
	name := canonicalHost(h)
	if name == "" || strings.ContainsAny(name, " \t\r\n/") {
		return 0, "", fmt.Errorf("invalid host %q", h)
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if rest == "" || rest[0] == '.' || strings.Contains(rest, "*") {
			return 0, "", fmt.Errorf("invalid wildcard host %q: want *.example.com", h)
		}
		return hostWildcard, rest, nil
	}
	if strings.Contains(name, "*") {
		return 0, "", fmt.Errorf("invalid host %q: a wildcard must be the whole first label (*.example.com)", h)
	}
	return hostExact, name, nil
}

// canonicalHost lower-cases h and drops one trailing dot. It allocates only
// when h holds an upper-case ASCII letter or a non-ASCII byte (which
// strings.ToLower may change), so the common lower-case host costs nothing.
func canonicalHost(h string) string {
	if n := len(h); n > 0 && h[n-1] == '.' {
		h = h[:n-1]
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			return strings.ToLower(h)
		}
	}
	return h
}
