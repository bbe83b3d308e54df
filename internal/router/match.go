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
	f := folded{upper: -1}
	if r.fold {
		var buf [128]byte // the folded path, when it fits
		f.lower, f.upper = foldPath(path, buf[:0])
	}
	if e := r.scan(host, &m, &f); e != nil {
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
	r.scan(host, &m, &f)
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

// folded is the request path with its ASCII letters folded to lower case,
// for the routes that fold case. It is set only when some route does and
// the path has an upper-case letter, the first at index upper (-1: none;
// the path is then its own folded form). It is kept out of matcher, whose
// allow list escapes: escape analysis would take the buffer with it.
type folded struct {
	lower []byte
	upper int
}

// foldPath returns path with its ASCII letters folded to lower case,
// appended to buf (the caller's stack array, so a path of ordinary length
// folds without allocating), and the index of its first upper-case
// letter; nil and -1 when it has none.
func foldPath(path string, buf []byte) ([]byte, int) {
	for i := 0; i < len(path); i++ {
		if c := path[i]; 'A' <= c && c <= 'Z' {
			lower := append(buf, path...)
			for j := i; j < len(lower); j++ {
				if c := lower[j]; 'A' <= c && c <= 'Z' {
					lower[j] = c + ('a' - 'A')
				}
			}
			return lower, i
		}
	}
	return nil, -1
}

// scan visits the host tables in specificity order (exact host, wildcard
// suffixes longest first, any host) and returns the first full match.
func (r *Router) scan(host string, m *matcher, f *folded) *entry {
	if t := r.hosts[host]; t != nil {
		if e := t.match(m, f); e != nil {
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
				if e := t.match(m, f); e != nil {
					return e
				}
			}
		}
	}
	if r.anyHost != nil {
		return r.anyHost.match(m, f)
	}
	return nil
}

// match tries the table's paths in specificity order: exact, prefixes from
// the longest down, regexes. Where routes fold case and the path has an
// upper-case letter, each lookup is made twice, with the path as it is
// (every entry) and folded (folding entries only), and the entry tried
// first of the two wins: both matched at the same specificity.
func (t *table) match(m *matcher, f *folded) *entry {
	if !t.fold || f.upper < 0 {
		f = nil // nothing to look up a second time
	}
	e := m.pick(t.exact[m.path])
	if f != nil {
		e = earlier(e, m.pickFolded(t.exact[string(f.lower)]))
	}
	if e != nil {
		return e
	}
	if len(t.prefix) > 0 {
		if e := t.matchPrefix(m, f); e != nil {
			return e
		}
	}
	return m.pick(t.regex)
}

// earlier returns whichever of two matches is tried first (either may be
// nil).
func earlier(a, b *entry) *entry {
	if a == nil || (b != nil && b.before(a)) {
		return b
	}
	return a
}

// matchPrefix probes the prefix map with every cut of the path a
// segment-aware prefix can equal, longest first: the whole path, and at
// each '/' the path up to and including it ("/api/" form) and up to but
// excluding it ("/api" form).
func (t *table) matchPrefix(m *matcher, f *folded) *entry {
	p := m.path
	prev := len(p) + 1 // cuts only shrink; skip repeats from "//"
	if e := t.probe(m, len(p), &prev, f); e != nil {
		return e
	}
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] != '/' {
			continue
		}
		if e := t.probe(m, i+1, &prev, f); e != nil {
			return e
		}
		if i > 0 {
			if e := t.probe(m, i, &prev, f); e != nil {
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

func (t *table) probe(m *matcher, n int, prev *int, f *folded) *entry {
	if n >= *prev {
		return nil
	}
	*prev = n
	if !t.hasPrefixLen(n) {
		return nil
	}
	e := m.pick(t.prefix[m.path[:n]])
	if f != nil && n > f.upper { // a shorter cut has no upper-case letter: the same key
		e = earlier(e, m.pickFolded(t.prefix[string(f.lower[:n])]))
	}
	return e
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

// pickFolded is pick for a group looked up by the folded path: only the
// entries that fold case match there.
func (m *matcher) pickFolded(es []entry) *entry {
	for i := range es {
		if es[i].fold && m.fits(&es[i]) {
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
