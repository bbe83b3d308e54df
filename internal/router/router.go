package router

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
)

// PathKind says how a PathSpec compares with the request path.
type PathKind uint8

// Path kinds. The zero value is invalid so that a forgotten Kind is an
// error in New rather than a silent exact match.
const (
	PathExact  PathKind = iota + 1 // the whole path equals Value
	PathPrefix                     // segment-aware prefix, see the package doc
	PathRegex                      // Value is a Go regexp that must match the whole path
)

func (k PathKind) String() string {
	switch k {
	case PathExact:
		return "exact"
	case PathPrefix:
		return "prefix"
	case PathRegex:
		return "regex"
	}
	return fmt.Sprintf("PathKind(%d)", uint8(k))
}

// PathSpec is one path of a route.
type PathSpec struct {
	Kind  PathKind
	Value string // regex: Go syntax, full match (anchored by the router)
}

// HeaderSpec requires a request header. Value == "" && Regex == "" means
// the header only has to be present; setting both is an error.
type HeaderSpec struct {
	Name, Value string
	Regex       string // Go syntax, must match a whole header value
}

// Route is one route as the router sees it.
type Route struct {
	ID       int      // caller's handle, returned on match
	Hosts    []string // "" or empty slice = any host; "api.example.com"; "*.example.com"
	Paths    []PathSpec
	Methods  []string // empty = any
	Headers  []HeaderSpec
	Priority int // higher wins ties
	// FoldCase makes the route's paths compare with ASCII letters folded
	// (its upstream treats "/Admin" and "/admin" as one path); see the
	// package doc.
	FoldCase bool
	// IgnoreTrailingSlash makes the route's exact paths and prefixes match
	// with or without a trailing slash (its upstream treats "/admin/" and
	// "/admin" as one path); see the package doc.
	IgnoreTrailingSlash bool
}

// Result is the outcome of Match.
type Result uint8

// Match outcomes. The zero value is none of them.
const (
	Matched          Result = iota + 1 // a route matched in full
	NotFound                           // no route matched host, path and headers: 404
	MethodNotAllowed                   // only the method kept routes from matching: 405
)

func (r Result) String() string {
	switch r {
	case Matched:
		return "matched"
	case NotFound:
		return "not_found"
	case MethodNotAllowed:
		return "method_not_allowed"
	}
	return fmt.Sprintf("Result(%d)", uint8(r))
}

// Match describes the winning route.
type Match struct {
	ID      int
	Kind    PathKind
	Matched string // prefix: the configured prefix; exact: the path; regex: ""
}

// Router is the compiled, immutable matcher; safe for concurrent use.
type Router struct {
	hosts     map[string]*table // exact host -> table
	wildcards map[string]*table // wildcard suffix ("example.com" for "*.example.com") -> table
	anyHost   *table            // routes without hosts; nil when there are none
	// fold is set when some exact or prefix path folds case: only then
	// does Match look for an upper-case letter in the request path.
	fold bool
}

// route holds what all of one route's host/path combinations share.
type route struct {
	methods []string // upper-case, deduplicated; nil = any
	headers []headerMatcher
}

type headerMatcher struct {
	name  string // canonical form
	value string
	re    *regexp.Regexp // nil unless a regex was given
}

// entry is one (route, path) combination inside one host table.
type entry struct {
	rt       *route
	kind     PathKind
	value    string         // exact path or prefix as configured; "" for regex
	re       *regexp.Regexp // regex paths only
	priority int
	id       int
	index    int // position in New's input
	path     int // position in the route's Paths (0 for a route without paths)
	// fold: the path compares with ASCII case folded. Its table key is
	// then the value in lower case (a regex is compiled with (?i)).
	fold bool
	// key is the entry's key in its table's exact or prefix map: the value,
	// in lower case when it folds case, and for a route that ignores a
	// trailing slash, a prefix without its own ("/api/" keyed "/api"
	// matches the same paths and "/api" too); an exact path's twin with
	// the slash toggled is a second entry.
	key string
}

// pathKey is the key of an exact or prefix value (see entry.key).
func pathKey(kind PathKind, value string, fold, slash bool) string {
	k := value
	if fold {
		k = lowerASCII(k)
	}
	if slash && kind == PathPrefix && len(k) > 1 && k[len(k)-1] == '/' {
		k = k[:len(k)-1]
	}
	return k
}

// toggleSlash is an exact path with its trailing slash removed or added;
// "" for the root, which has no twin.
func toggleSlash(p string) string {
	switch {
	case p == "/":
		return ""
	case p[len(p)-1] == '/':
		return p[:len(p)-1]
	}
	return p + "/"
}

// New compiles routes, given in config order, into a Router. It fails on
// a bad regex, an unknown path kind, an empty path or header name, or a
// malformed host; the error names the route by its position and ID.
func New(routes []Route) (*Router, error) {
	r := &Router{hosts: map[string]*table{}, wildcards: map[string]*table{}}
	for i := range routes {
		if err := r.add(i, &routes[i]); err != nil {
			return nil, fmt.Errorf("router: route %d (id %d): %w", i, routes[i].ID, err)
		}
	}
	r.forEachTable(func(t *table) { t.finish() })
	return r, nil
}

func (r *Router) add(index int, in *Route) error {
	rt, err := compileRoute(in)
	if err != nil {
		return err
	}
	paths := in.Paths
	if len(paths) == 0 {
		paths = []PathSpec{{Kind: PathPrefix, Value: "/"}}
	}
	entries := make([]entry, 0, len(paths))
	for j, p := range paths {
		e, err := compilePath(p, in.FoldCase)
		if err != nil {
			return err
		}
		e.rt, e.priority, e.id, e.index, e.path = rt, in.Priority, in.ID, index, j
		r.fold = r.fold || (e.fold && e.kind != PathRegex)
		if e.kind != PathRegex {
			e.key = pathKey(e.kind, e.value, e.fold, in.IgnoreTrailingSlash)
		}
		entries = append(entries, e)
		if in.IgnoreTrailingSlash && e.kind == PathExact {
			if twin := toggleSlash(e.key); twin != "" {
				e.key = twin
				entries = append(entries, e)
			}
		}
	}
	tables, err := r.tablesFor(in.Hosts)
	if err != nil {
		return err
	}
	for _, t := range tables {
		for _, e := range entries {
			t.add(e)
		}
	}
	return nil
}

// tablesFor returns the tables a route with these hosts belongs to,
// creating them as needed. Duplicates are harmless but skipped.
func (r *Router) tablesFor(hosts []string) ([]*table, error) {
	var out []*table
	addTable := func(t *table) {
		for _, o := range out { // a route lists few hosts
			if o == t {
				return
			}
		}
		out = append(out, t)
	}
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	for _, h := range hosts {
		kind, name, err := parseHost(h)
		if err != nil {
			return nil, err
		}
		switch kind {
		case hostAny:
			if r.anyHost == nil {
				r.anyHost = newTable()
			}
			addTable(r.anyHost)
		case hostExact:
			addTable(getTable(r.hosts, name))
		case hostWildcard:
			addTable(getTable(r.wildcards, name))
		}
	}
	return out, nil
}

func getTable(m map[string]*table, key string) *table {
	t := m[key]
	if t == nil {
		t = newTable()
		m[key] = t
	}
	return t
}

func (r *Router) forEachTable(f func(*table)) {
	for _, t := range r.hosts {
		f(t)
	}
	for _, t := range r.wildcards {
		f(t)
	}
	if r.anyHost != nil {
		f(r.anyHost)
	}
}

func compileRoute(in *Route) (*route, error) {
	rt := &route{}
	for _, m := range in.Methods {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "" || strings.ContainsAny(m, " \t/") {
			return nil, fmt.Errorf("invalid method %q", m)
		}
		if !contains(rt.methods, m) {
			rt.methods = append(rt.methods, m)
		}
	}
	for _, h := range in.Headers {
		hm, err := compileHeader(h)
		if err != nil {
			return nil, err
		}
		rt.headers = append(rt.headers, hm)
	}
	return rt, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func compileHeader(h HeaderSpec) (headerMatcher, error) {
	name := strings.TrimSpace(h.Name)
	if name == "" || strings.ContainsAny(name, " \t:") {
		return headerMatcher{}, fmt.Errorf("invalid header name %q", h.Name)
	}
	hm := headerMatcher{name: http.CanonicalHeaderKey(name), value: h.Value}
	if h.Regex != "" {
		if h.Value != "" {
			return headerMatcher{}, fmt.Errorf("header %s: value and regex are exclusive", hm.name)
		}
		re, err := compileFull(h.Regex)
		if err != nil {
			return headerMatcher{}, fmt.Errorf("header %s: %w", hm.name, err)
		}
		hm.re = re
	}
	return hm, nil
}

func compilePath(p PathSpec, fold bool) (entry, error) {
	switch p.Kind {
	case PathExact:
		if p.Value == "" {
			return entry{}, fmt.Errorf("empty exact path")
		}
		return entry{kind: PathExact, value: p.Value, fold: fold}, nil
	case PathPrefix:
		if !strings.HasPrefix(p.Value, "/") {
			return entry{}, fmt.Errorf("prefix %q must start with /", p.Value)
		}
		return entry{kind: PathPrefix, value: p.Value, fold: fold}, nil
	case PathRegex:
		if p.Value == "" {
			return entry{}, fmt.Errorf("empty path regex")
		}
		re, err := compileFull(p.Value)
		if err != nil {
			return entry{}, fmt.Errorf("path: %w", err)
		}
		if fold {
			// The expression is valid on its own (just checked), so
			// wrapping it in a group changes nothing but the case.
			if re, err = compileFull("(?i:" + p.Value + ")"); err != nil {
				return entry{}, fmt.Errorf("path: %w", err)
			}
		}
		return entry{kind: PathRegex, re: re, fold: fold}, nil
	}
	return entry{}, fmt.Errorf("unknown path kind %d", uint8(p.Kind))
}

// compileFull compiles expr so that it must match the whole input, by
// config's one rule (config.CompileWholeMatch).
func compileFull(expr string) (*regexp.Regexp, error) {
	re, err := config.CompileWholeMatch(expr)
	if err != nil {
		return nil, fmt.Errorf("bad regex: %w", err)
	}
	return re, nil
}

// sortEntries orders one group: higher priority, then lower ID, then
// config order.
func sortEntries(es []entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].before(&es[j]) })
}

// before reports whether e is tried before o when both match the same
// path at the same specificity: higher priority, then lower ID, then
// config order.
func (e *entry) before(o *entry) bool {
	if e.priority != o.priority {
		return e.priority > o.priority
	}
	if e.id != o.id {
		return e.id < o.id
	}
	return e.index < o.index
}

// lowerASCII folds the ASCII letters of s to lower case (foldPath's rule);
// other bytes are kept, so the result has s's length (a canonical path is
// ASCII: every other byte is percent-encoded).
func lowerASCII(s string) string {
	if b, i := foldPath(s, nil); i >= 0 {
		return string(b)
	}
	return s
}
