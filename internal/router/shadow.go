package router

import "sort"

// Shadow is a path of a route that can never win: on every host of the
// route, another route is tried first for the same path and matches every
// request this one would (Router.Shadowed).
type Shadow struct {
	Index int // the shadowed route's position in New's input
	Path  int // its path's position in Route.Paths (0 for a route without paths)
	By    int // the position of the route that wins instead (the first found)
}

// Shadowed lists the paths of routes that no request can ever reach,
// in New's input order. A route is tried only after the routes before it
// in its group (same host key, same path, ordered by priority, ID and
// config order: sortEntries); if one of those allows every method it
// allows and requires no header it does not require (the same name and
// value or regex), it matches every request the later one would, and the
// later one never wins. Such a path is nearly always a mistake with a
// security cost: the operator put different policies on it (an auth
// policy, a stricter rate limit) and believes they apply.
//
// Only single-route shadowing is found: two earlier routes that together
// cover a later one (one for GET, one for POST) are not reported. What is
// reported is certain: a path is listed only when it is shadowed on every
// host table the route is in.
func (r *Router) Shadowed() []Shadow {
	type key struct{ index, path int }
	seen := map[key]int{}     // tables the path is in
	shadowed := map[key]int{} // tables it is shadowed in
	by := map[key]int{}       // the first route found to win instead
	// visit checks one group; byKey is the map it came from, where an
	// entry that keeps case also looks for folding entries under its
	// value in lower case (they match every path it matches).
	visit := func(es []entry, byKey map[string][]entry) {
		for i := range es {
			e := &es[i]
			k := key{e.index, e.path}
			seen[k]++
			d := coveredBy(es[:i], e, false)
			if d == nil && byKey != nil && !e.fold {
				if lk := lowerASCII(e.key); lk != e.key {
					d = coveredBy(byKey[lk], e, true)
				}
			}
			if d != nil {
				shadowed[k]++
				if _, ok := by[k]; !ok {
					by[k] = d.index
				}
			}
		}
	}
	r.forEachTable(func(t *table) {
		for _, es := range t.exact {
			visit(es, t.exact)
		}
		for _, es := range t.prefix {
			visit(es, t.prefix)
		}
		// Regexes are one ordered list; entries shadow each other only
		// when their expressions are the same.
		byExpr := map[string][]entry{}
		for _, e := range t.regex {
			byExpr[e.re.String()] = append(byExpr[e.re.String()], e)
		}
		for _, es := range byExpr {
			visit(es, nil)
		}
	})
	var out []Shadow
	for k, n := range shadowed {
		if n == seen[k] {
			out = append(out, Shadow{Index: k.index, Path: k.path, By: by[k]})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Index != out[j].Index {
			return out[i].Index < out[j].Index
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// coveredBy returns the first entry of ds that is tried before e and
// matches every request e matches on e's paths: another route, folding
// case if e does (or if folded: ds holds e's path in other letter case),
// covering e's methods and headers.
func coveredBy(ds []entry, e *entry, folded bool) *entry {
	for i := range ds {
		d := &ds[i]
		if d.index != e.index && (d.fold || (!e.fold && !folded)) && d.before(e) && d.rt.covers(e.rt) {
			return d
		}
	}
	return nil
}

// covers reports whether rt matches every request that o matches on the
// same host and path: every method o allows (any, when rt lists none) and
// no header that o does not require as well.
func (rt *route) covers(o *route) bool {
	if rt.methods != nil {
		if o.methods == nil {
			return false
		}
		for _, m := range o.methods {
			if !contains(rt.methods, m) {
				return false
			}
		}
	}
	for _, h := range rt.headers {
		found := false
		for _, oh := range o.headers {
			if h.same(oh) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// same reports whether two header requirements are the same condition.
func (h headerMatcher) same(o headerMatcher) bool {
	if h.name != o.name || h.value != o.value || (h.re == nil) != (o.re == nil) {
		return false
	}
	return h.re == nil || h.re.String() == o.re.String()
}
