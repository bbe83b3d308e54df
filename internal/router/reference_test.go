package router

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// refMatch is a naive O(n) implementation of the documented rules, written
// directly from the package doc and sharing no matching code with the
// Router, to check it against.
func refMatch(routes []Route, host, path, method string, header http.Header) (Match, Result, []string) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	type rank struct{ host, path, prio, id, idx int }
	better := func(a, b rank) bool {
		switch {
		case a.host != b.host:
			return a.host > b.host
		case a.path != b.path:
			return a.path > b.path
		case a.prio != b.prio:
			return a.prio > b.prio
		case a.id != b.id:
			return a.id < b.id
		}
		return a.idx < b.idx
	}
	var best *rank
	var bestMatch Match
	allowSet := map[string]bool{}
	for idx, rt := range routes {
		hosts := rt.Hosts
		if len(hosts) == 0 {
			hosts = []string{""}
		}
		paths := rt.Paths
		if len(paths) == 0 {
			paths = []PathSpec{{Kind: PathPrefix, Value: "/"}}
		}
		if !refHeaders(rt.Headers, header) {
			continue
		}
		methodOK := len(rt.Methods) == 0
		for _, m := range rt.Methods {
			if strings.ToUpper(m) == method {
				methodOK = true
			}
		}
		for _, h := range hosts {
			hr, ok := refHost(h, host)
			if !ok {
				continue
			}
			for _, p := range paths {
				pr, ok := refPath(p, path, rt.FoldCase, rt.IgnoreTrailingSlash)
				if !ok {
					continue
				}
				if !methodOK {
					for _, m := range rt.Methods {
						allowSet[strings.ToUpper(m)] = true
					}
					continue
				}
				cand := rank{hr, pr, rt.Priority, rt.ID, idx}
				if best == nil || better(cand, *best) {
					best = &cand
					bestMatch = Match{ID: rt.ID, Kind: p.Kind}
					switch p.Kind {
					case PathExact:
						bestMatch.Matched = path // the request's own spelling
					case PathPrefix:
						bestMatch.Matched = p.Value
					}
				}
			}
		}
	}
	if best != nil {
		return bestMatch, Matched, nil
	}
	if len(allowSet) > 0 {
		var allow []string
		for m := range allowSet {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		return Match{}, MethodNotAllowed, allow
	}
	return Match{}, NotFound, nil
}

func refHost(pattern, host string) (int, bool) {
	if pattern == "" || pattern == "*" {
		return 0, true
	}
	pattern = strings.ToLower(strings.TrimSuffix(pattern, "."))
	if suffix, ok := strings.CutPrefix(pattern, "*."); ok {
		if strings.HasSuffix(host, "."+suffix) && len(host) > len(suffix)+1 {
			return 1 + len(suffix), true
		}
		return 0, false
	}
	return math.MaxInt, host == pattern
}

func refPath(p PathSpec, path string, fold, slash bool) (int, bool) {
	if fold && p.Kind != PathRegex {
		p.Value, path = refLower(p.Value), refLower(path)
	}
	switch p.Kind {
	case PathExact:
		if slash && p.Value != "/" && (path+"/" == p.Value || path == p.Value+"/") {
			return math.MaxInt, true
		}
		return math.MaxInt, path == p.Value
	case PathPrefix:
		v := p.Value
		if slash && v != "/" {
			// "/a/" ignoring the trailing slash is "/a" (segment-aware).
			v = strings.TrimSuffix(v, "/")
		}
		ok := v == "/" || path == v ||
			(strings.HasSuffix(v, "/") && strings.HasPrefix(path, v)) ||
			strings.HasPrefix(path, v+"/")
		return 1 + len(v), ok
	case PathRegex:
		flags := ""
		if fold {
			flags = "(?i)"
		}
		return 0, regexp.MustCompile(flags + "^(?:" + p.Value + ")$").MatchString(path)
	}
	return 0, false
}

// refLower folds ASCII letters, byte by byte.
func refLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

func refHeaders(specs []HeaderSpec, h http.Header) bool {
	for _, s := range specs {
		vals := h.Values(s.Name)
		if len(vals) == 0 {
			return false
		}
		ok := false
		for _, v := range vals {
			switch {
			case s.Regex != "":
				ok = ok || regexp.MustCompile("^(?:"+s.Regex+")$").MatchString(v)
			case s.Value != "":
				ok = ok || v == s.Value
			default:
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Pools the random routes and requests draw from, small enough that
// routes overlap and every rule gets exercised.
var (
	poolRouteHosts = []string{"", "a.com", "b.a.com", "*.a.com", "*.b.a.com", "*.com", "c.org", "*.c.org", "A.Com.", "*"}
	poolReqHosts   = []string{"a.com", "b.a.com", "x.b.a.com", "y.a.com", "com", "c.org", "x.c.org", "B.A.COM.", "other.net", "", ".a.com"}
	poolSegments   = []string{"a", "b", "ab", "A", "aB"}
	poolReqSegs    = []string{"a", "b", "ab", "abc", "", "A", "AB", "Ab"}
	poolRegexes    = []string{"/a/.*", "/(a|b)", "/a|/b", "/[ab]+/b", ".*", "/ab?", "/a/b/", "/A[b]"}
	poolMethods    = []string{"GET", "POST", "PUT"}
	poolReqMethods = []string{"GET", "POST", "PUT", "DELETE"}
	poolHeaders    = []HeaderSpec{{Name: "X-A"}, {Name: "x-a", Value: "1"}, {Name: "X-B", Regex: "[0-9]+"}, {Name: "X-B", Value: "2"}}
)

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

func randPath(rng *rand.Rand, segs []string, maxDepth int) string {
	var b strings.Builder
	for range rng.IntN(maxDepth + 1) {
		b.WriteString("/")
		b.WriteString(pick(rng, segs))
	}
	if b.Len() == 0 || rng.IntN(3) == 0 {
		b.WriteString("/")
	}
	return b.String()
}

func randRoute(rng *rand.Rand, id int) Route {
	rt := Route{ID: id, Priority: rng.IntN(3)}
	for range rng.IntN(3) {
		rt.Hosts = append(rt.Hosts, pick(rng, poolRouteHosts))
	}
	for range rng.IntN(3) {
		var p PathSpec
		switch rng.IntN(5) {
		case 0:
			p = exact(randPath(rng, poolSegments, 3))
		case 1:
			p = regex(pick(rng, poolRegexes))
		default:
			p = prefix(randPath(rng, poolSegments, 2))
		}
		rt.Paths = append(rt.Paths, p)
	}
	if rng.IntN(2) == 0 {
		for range 1 + rng.IntN(2) {
			rt.Methods = append(rt.Methods, pick(rng, poolMethods))
		}
	}
	if rng.IntN(3) == 0 {
		for range 1 + rng.IntN(2) {
			rt.Headers = append(rt.Headers, pick(rng, poolHeaders))
		}
	}
	rt.FoldCase = rng.IntN(3) == 0
	rt.IgnoreTrailingSlash = rng.IntN(3) == 0
	return rt
}

func randHeader(rng *rand.Rand) http.Header {
	h := http.Header{}
	switch rng.IntN(5) {
	case 1:
		h["X-A"] = []string{""}
	case 2:
		h["X-A"] = []string{"1"}
	case 3:
		h["X-A"] = []string{"2", "1"}
	}
	switch rng.IntN(4) {
	case 1:
		h["X-B"] = []string{"12"}
	case 2:
		h["X-B"] = []string{"x", "2"}
	}
	return h
}

func TestMatchAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const sets, reqsPerSet = 300, 20
	seen := map[Result]int{}
	for set := range sets {
		n := rng.IntN(25)
		routes := make([]Route, n)
		for i := range routes {
			// IDs drawn with repeats, so both the ID and the config-order
			// tie-breaks are exercised.
			routes[i] = randRoute(rng, rng.IntN(n+1))
		}
		r, err := New(routes)
		if err != nil {
			t.Fatalf("set %d: New: %v", set, err)
		}
		for range reqsPerSet {
			host := pick(rng, poolReqHosts)
			path := randPath(rng, poolReqSegs, 3)
			switch rng.IntN(20) {
			case 0:
				path = "*"
			case 1:
				path = strings.TrimSuffix(path, "/")
			}
			method := pick(rng, poolReqMethods)
			header := randHeader(rng)
			got, res, allow := r.Match(host, path, method, header, nil)
			seen[res]++
			wantM, wantRes, wantAllow := refMatch(routes, host, path, method, header)
			if res != wantRes || got != wantM || !slices.Equal(allow, wantAllow) {
				t.Fatalf("set %d: %s %s %s %v:\n got  %+v %v %v\n want %+v %v %v\nroutes:\n%s",
					set, method, host, path, header, got, res, allow, wantM, wantRes, wantAllow, dumpRoutes(routes))
			}
		}
	}
	// Guard against a generator that stops exercising some outcome.
	for _, res := range []Result{Matched, NotFound, MethodNotAllowed} {
		if seen[res] < sets*reqsPerSet/20 {
			t.Errorf("only %d of %d cases ended %v; the generator needs tuning", seen[res], sets*reqsPerSet, res)
		}
	}
	t.Logf("outcomes: %v", seen)
}

func dumpRoutes(routes []Route) string {
	var b strings.Builder
	for i, rt := range routes {
		fmt.Fprintf(&b, "  %d: %+v\n", i, rt)
	}
	return b.String()
}

// FuzzMatch checks arbitrary hosts and paths against the reference over a
// fixed route set that uses every kind of host and path.
// The seed corpus is in testdata/fuzz/FuzzMatch.
func FuzzMatch(f *testing.F) {
	routes := []Route{
		{ID: 0, Paths: []PathSpec{prefix("/")}, Methods: []string{"GET"}},
		{ID: 1, Hosts: []string{"a.com"}, Paths: []PathSpec{prefix("/a"), exact("/b/c")}},
		{ID: 2, Hosts: []string{"*.a.com"}, Paths: []PathSpec{prefix("/a/"), regex("/r/[^/]+")}},
		{ID: 3, Hosts: []string{"*.b.a.com", ""}, Paths: []PathSpec{prefix("/a/b"), exact("/")}, Priority: 1},
		{ID: 4, Paths: []PathSpec{regex(".*x"), prefix("//")}, Methods: []string{"POST"}},
		{ID: 5, Paths: []PathSpec{prefix("/Adm"), exact("/a/B"), regex("/r/Y")}, FoldCase: true},
		{ID: 6, Hosts: []string{"a.com"}, Paths: []PathSpec{prefix("/adm/X")}},
		{ID: 7, Paths: []PathSpec{exact("/s"), exact("/t/"), prefix("/u/")}, IgnoreTrailingSlash: true, Methods: []string{"PUT"}},
	}
	r, err := New(routes)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host, path, method string) {
		got, res, allow := r.Match(host, path, method, nil, nil)
		wantM, wantRes, wantAllow := refMatch(routes, host, path, method, nil)
		if res != wantRes || got != wantM || !slices.Equal(allow, wantAllow) {
			t.Fatalf("%q %q %q: got %+v %v %v, want %+v %v %v", method, host, path, got, res, allow, wantM, wantRes, wantAllow)
		}
	})
}

// TestShadowedRoutesAreNeverMatched: a path Shadowed reports is one no
// request reaches (the gateway refuses the config for it, so a wrong
// report would refuse a config that works). For random route sets with
// every kind of path, case folding and trailing-slash twins, each reported
// route with a single path is tried with requests built from its own path
// (as written, in other case, with the slash toggled, one segment deeper),
// on each of its hosts, with each method and header set of the pools: the
// router never picks it.
func TestShadowedRoutesAreNeverMatched(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 8))
	reported := 0
	for set := range 3000 {
		n := 2 + rng.IntN(12)
		routes := make([]Route, n)
		for i := range routes {
			routes[i] = randRoute(rng, i) // unique IDs: a match names its route
		}
		r, err := New(routes)
		if err != nil {
			t.Fatalf("set %d: New: %v", set, err)
		}
		for _, sh := range r.Shadowed() {
			rt := routes[sh.Index]
			if len(rt.Paths) > 1 {
				continue // a match does not say which of its paths won
			}
			reported++
			p := PathSpec{Kind: PathPrefix, Value: "/"}
			if len(rt.Paths) == 1 {
				p = rt.Paths[0]
			}
			paths := []string{"/", "/a", "/A/b", "/ab/"}
			if p.Kind != PathRegex {
				v := p.Value
				paths = append(paths, v, strings.ToUpper(v), refLower(v), v+"/", strings.TrimSuffix(v, "/"), v+"/x", strings.ToUpper(v)+"/X")
			}
			hosts := rt.Hosts
			if len(hosts) == 0 {
				hosts = poolReqHosts
			}
			for _, h := range hosts {
				h = strings.TrimPrefix(h, "*.")
				for _, host := range []string{h, "x." + h} {
					for _, path := range paths {
						for _, method := range poolReqMethods {
							for range 3 {
								header := randHeader(rng)
								if m, res, _ := r.Match(host, path, method, header, nil); res == Matched && m.ID == sh.Index {
									t.Fatalf("set %d: route %d reported shadowed by %d, yet %s %s %s %v matches it\nroutes:\n%s",
										set, sh.Index, sh.By, method, host, path, header, dumpRoutes(routes))
								}
							}
						}
					}
				}
			}
		}
	}
	if reported < 50 {
		t.Errorf("only %d shadowed routes reported; the generator needs tuning", reported)
	}
	t.Logf("%d shadowed routes tried", reported)
}
