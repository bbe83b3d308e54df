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
	r.forEachTable(func(t *table) {
		groups := make([][]entry, 0, len(t.exact)+len(t.prefix)+1)
		for _, es := range t.exact {
			groups = append(groups, es)
		}
		for _, es := range t.prefix {
			groups = append(groups, es)
		}
		// Regexes are one ordered list; entries shadow each other only
		// when their expressions are the same.
		byExpr := map[string][]entry{}
		for _, e := range t.regex {
			byExpr[e.re.String()] = append(byExpr[e.re.String()], e)
		}
		for _, es := range byExpr {
			groups = append(groups, es)
		}
		for _, es := range groups {
			for i, e := range es {
				k := key{e.index, e.path}
				seen[k]++
				for _, d := range es[:i] {
					if d.index != e.index && d.rt.covers(e.rt) {
						shadowed[k]++
						if _, ok := by[k]; !ok {
							by[k] = d.index
						}
						break
					}
				}
			}
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
