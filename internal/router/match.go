package router

import (
	"net/http"
	"slices"
)

// Match selects the route for a request. host is the request host without
// port, in any case (a trailing dot is ignored); path is the canonical path.
// On MethodNotAllowed the sorted union of the methods that would have
// matched is appended to allow, which is returned; otherwise allow is
// returned unchanged. See the package doc for the selection rules.
func (r *Router) Match(host, path, method string, header http.Header, allow []string) (Match, Result, []string) {
	if r == nil {
		return Match{}, NotFound, allow
	}
	host = canonicalHost(host)
	m := matcher{path: path, method: method, header: header}
	if e := r.scan(host, &m); e != nil {
		res := Match{ID: e.id, Kind: e.kind, Matched: e.value}
		if e.kind == PathExact {
			res.Matched = path
		}
		return res, Matched, allow
	}
	if !m.sawMethod {
		return Match{}, NotFound, allow
	}
	// Rare path: scan again, this time collecting the methods of every
	// route that failed on the method alone. Doing it in a second pass
	// keeps the first one free of allocations.
	m.collect, m.allow, m.start = true, allow, len(allow)
	r.scan(host, &m)
	slices.Sort(m.allow[m.start:])
	return Match{}, MethodNotAllowed, m.allow
}

// matcher is the per-call state of one Match.
type matcher struct {
	path, method string
	header       http.Header
	// sawMethod is set when an entry matched everything but the method.
	sawMethod bool
	// collect makes fits gather the methods of such entries into
	// allow[start:] instead of stopping at the first one.
	collect bool
	allow   []string
	start   int
}

// scan visits the host tables in specificity order (exact host, wildcard
// suffixes longest first, any host) and returns the first full match.
func (r *Router) scan(host string, m *matcher) *entry {
	if t := r.hosts[host]; t != nil {
		if e := t.match(m); e != nil {
			return e
		}
	}
	if len(r.wildcards) > 0 {
		// i starts at 1: a wildcard needs at least one non-empty label
		// before its suffix, so the apex never matches.
		for i := 1; i < len(host); i++ {
			if host[i] != '.' {
				continue
			}
			if t := r.wildcards[host[i+1:]]; t != nil {
				if e := t.match(m); e != nil {
					return e
				}
			}
		}
	}
	if r.anyHost != nil {
		return r.anyHost.match(m)
	}
	return nil
}

// match tries the table's paths in specificity order: exact, prefixes from
// the longest down, regexes.
func (t *table) match(m *matcher) *entry {
	if es, ok := t.exact[m.path]; ok {
		if e := m.pick(es); e != nil {
			return e
		}
	}
	if len(t.prefix) > 0 {
		if e := t.matchPrefix(m); e != nil {
			return e
		}
	}
	return m.pick(t.regex)
}

// matchPrefix probes the prefix map with every cut of the path a
// segment-aware prefix can equal, longest first: the whole path, and at
// each '/' the path up to and including it ("/api/" form) and up to but
// excluding it ("/api" form).
func (t *table) matchPrefix(m *matcher) *entry {
	p := m.path
	prev := len(p) + 1 // cuts only shrink; skip repeats from "//"
	if e := t.probe(m, len(p), &prev); e != nil {
		return e
	}
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != '/' {
			continue
		}
		if e := t.probe(m, i+1, &prev); e != nil {
			return e
		}
		if i > 0 {
			if e := t.probe(m, i, &prev); e != nil {
				return e
			}
		}
	}
	if p == "" || p[0] != '/' {
		// The prefix "/" matches every path, even one that is not
		// absolute (such as "*").
		return m.pick(t.prefix["/"])
	}
	return nil
}

func (t *table) probe(m *matcher, n int, prev *int) *entry {
	if n >= *prev {
		return nil
	}
	*prev = n
	if !t.hasPrefixLen(n) {
		return nil
	}
	return m.pick(t.prefix[m.path[:n]])
}

// pick returns the first entry of a group (already in priority order) that
// matches in full.
func (m *matcher) pick(es []entry) *entry {
	for i := range es {
		if m.fits(&es[i]) {
			return &es[i]
		}
	}
	return nil
}

// fits reports whether e matches the request in full; its path (apart from
// a regex) has already been matched by the lookup that found e. It records
// entries that fail on the method alone for the 405 answer.
func (m *matcher) fits(e *entry) bool {
	if e.rt.allows(m.method) {
		return e.rt.headersMatch(m.header) && (e.re == nil || e.re.MatchString(m.path))
	}
	if m.sawMethod && !m.collect {
		return false // already known; nothing more to learn here
	}
	if !e.rt.headersMatch(m.header) || (e.re != nil && !e.re.MatchString(m.path)) {
		return false
	}
	m.sawMethod = true
	if m.collect {
		for _, meth := range e.rt.methods {
			if !contains(m.allow[m.start:], meth) {
				m.allow = append(m.allow, meth)
			}
		}
	}
	return false
}

func (rt *route) allows(method string) bool {
	return len(rt.methods) == 0 || contains(rt.methods, method)
}

func (rt *route) headersMatch(h http.Header) bool {
	for i := range rt.headers {
		if !rt.headers[i].match(h[rt.headers[i].name]) {
			return false
		}
	}
	return true
}

func (hm *headerMatcher) match(values []string) bool {
	if len(values) == 0 {
		return false
	}
	switch {
	case hm.re != nil:
		for _, v := range values {
			if hm.re.MatchString(v) {
				return true
			}
		}
		return false
	case hm.value != "":
		return contains(values, hm.value)
	}
	return true // presence only
}
