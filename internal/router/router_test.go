package router

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func exact(v string) PathSpec  { return PathSpec{Kind: PathExact, Value: v} }
func prefix(v string) PathSpec { return PathSpec{Kind: PathPrefix, Value: v} }
func regex(v string) PathSpec  { return PathSpec{Kind: PathRegex, Value: v} }

// req is one request of a table case and what Match must answer.
type req struct {
	host, path, method string
	header             http.Header
	wantID             int
	wantRes            Result
	wantKind           PathKind // checked when non-zero
	wantMatched        *string  // checked when non-nil
	wantAllow          []string // checked on MethodNotAllowed
}

func str(s string) *string { return &s }

func TestMatchRules(t *testing.T) {
	cases := []struct {
		name   string
		routes []Route
		reqs   []req
	}{
		{
			name: "exact path beats prefix beats regex",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{regex("/api/.*")}},
				{ID: 2, Paths: []PathSpec{prefix("/api")}},
				{ID: 3, Paths: []PathSpec{exact("/api/users")}},
			},
			reqs: []req{
				{path: "/api/users", wantID: 3, wantRes: Matched, wantKind: PathExact, wantMatched: str("/api/users")},
				{path: "/api/orders", wantID: 2, wantRes: Matched, wantKind: PathPrefix, wantMatched: str("/api")},
				{path: "/api", wantID: 2, wantRes: Matched},
				{path: "/apix", wantRes: NotFound},
			},
		},
		{
			name: "longer prefix beats shorter, whatever the priority",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/")}, Priority: 100},
				{ID: 2, Paths: []PathSpec{prefix("/api")}, Priority: 50},
				{ID: 3, Paths: []PathSpec{prefix("/api/v1")}},
			},
			reqs: []req{
				{path: "/api/v1/x", wantID: 3, wantRes: Matched, wantMatched: str("/api/v1")},
				{path: "/api/v1", wantID: 3, wantRes: Matched},
				{path: "/api/v10", wantID: 2, wantRes: Matched, wantMatched: str("/api")},
				{path: "/other", wantID: 1, wantRes: Matched, wantMatched: str("/")},
				{path: "/", wantID: 1, wantRes: Matched},
			},
		},
		{
			name: "regex match reports empty Matched",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{regex(`/u/[0-9]+`)}},
			},
			reqs: []req{
				{path: "/u/42", wantID: 1, wantRes: Matched, wantKind: PathRegex, wantMatched: str("")},
			},
		},
		{
			name: "host: exact beats wildcard beats any host, before path",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{exact("/x")}},
				{ID: 2, Hosts: []string{"*.example.com"}, Paths: []PathSpec{prefix("/")}},
				{ID: 3, Hosts: []string{"api.example.com"}, Paths: []PathSpec{regex(".*")}},
			},
			reqs: []req{
				{host: "api.example.com", path: "/x", wantID: 3, wantRes: Matched},
				{host: "www.example.com", path: "/x", wantID: 2, wantRes: Matched},
				{host: "other.org", path: "/x", wantID: 1, wantRes: Matched},
				{host: "", path: "/x", wantID: 1, wantRes: Matched},
				{host: "other.org", path: "/y", wantRes: NotFound},
			},
		},
		{
			name: "longer wildcard suffix first; wildcard never matches the apex",
			routes: []Route{
				{ID: 1, Hosts: []string{"*.example.com"}},
				{ID: 2, Hosts: []string{"*.api.example.com"}},
			},
			reqs: []req{
				{host: "a.api.example.com", path: "/", wantID: 2, wantRes: Matched},
				{host: "a.b.api.example.com", path: "/", wantID: 2, wantRes: Matched},
				{host: "api.example.com", path: "/", wantID: 1, wantRes: Matched},
				{host: "a.b.example.com", path: "/", wantID: 1, wantRes: Matched},
				{host: "example.com", path: "/", wantRes: NotFound},
				{host: "badexample.com", path: "/", wantRes: NotFound},
				{host: ".example.com", path: "/", wantRes: NotFound},
			},
		},
		{
			name: "host case and trailing dot are ignored on both sides",
			routes: []Route{
				{ID: 1, Hosts: []string{"API.Example.com."}, Paths: []PathSpec{prefix("/")}},
				{ID: 2, Hosts: []string{"*.Wild.ORG"}, Paths: []PathSpec{prefix("/")}},
			},
			reqs: []req{
				{host: "api.example.com", path: "/a", wantID: 1, wantRes: Matched},
				{host: "API.EXAMPLE.COM.", path: "/a", wantID: 1, wantRes: Matched},
				{host: "Api.Example.Com", path: "/a", wantID: 1, wantRes: Matched},
				{host: "X.wild.org.", path: "/a", wantID: 2, wantRes: Matched},
				{host: "api.example.com..", path: "/a", wantRes: NotFound},
			},
		},
		{
			name: "priority breaks ties, then lower ID, then config order",
			routes: []Route{
				{ID: 9, Paths: []PathSpec{prefix("/p")}},
				{ID: 8, Paths: []PathSpec{prefix("/p")}, Priority: 1},
				{ID: 7, Paths: []PathSpec{prefix("/id")}},
				{ID: 3, Paths: []PathSpec{prefix("/id")}},
				{ID: 5, Paths: []PathSpec{exact("/same")}, Methods: []string{"GET"}},
				{ID: 5, Paths: []PathSpec{exact("/same")}, Methods: []string{"POST"}},
				{ID: 4, Paths: []PathSpec{regex("/r.*")}},
				{ID: 2, Paths: []PathSpec{regex("/re.*")}, Priority: 1},
			},
			reqs: []req{
				{path: "/p/x", wantID: 8, wantRes: Matched},
				{path: "/id", wantID: 3, wantRes: Matched},
				{path: "/same", method: "POST", wantID: 5, wantRes: Matched},
				{path: "/rest", wantID: 2, wantRes: Matched},
				{path: "/rx", wantID: 4, wantRes: Matched},
			},
		},
		{
			name: "segment-aware prefix",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/api")}},
			},
			reqs: []req{
				{path: "/api", wantID: 1, wantRes: Matched},
				{path: "/api/", wantID: 1, wantRes: Matched},
				{path: "/api/x/y", wantID: 1, wantRes: Matched},
				{path: "/apix", wantRes: NotFound},
				{path: "/ap", wantRes: NotFound},
				{path: "/", wantRes: NotFound},
				{path: "/API", wantRes: NotFound},
			},
		},
		{
			name: "trailing-slash prefix",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/api/")}},
			},
			reqs: []req{
				{path: "/api/", wantID: 1, wantRes: Matched, wantMatched: str("/api/")},
				{path: "/api/x", wantID: 1, wantRes: Matched},
				{path: "/api//x", wantID: 1, wantRes: Matched},
				{path: "/api", wantRes: NotFound},
				{path: "/apix/", wantRes: NotFound},
			},
		},
		{
			name: "prefix / matches every path; no paths means prefix /",
			routes: []Route{
				{ID: 1, Hosts: []string{"a.test"}, Paths: []PathSpec{prefix("/")}},
				{ID: 2, Hosts: []string{"b.test"}},
			},
			reqs: []req{
				{host: "a.test", path: "/", wantID: 1, wantRes: Matched},
				{host: "a.test", path: "/deep/er/path/", wantID: 1, wantRes: Matched},
				{host: "a.test", path: "*", wantID: 1, wantRes: Matched},
				{host: "a.test", path: "", wantID: 1, wantRes: Matched},
				{host: "b.test", path: "/z", wantID: 2, wantRes: Matched, wantKind: PathPrefix, wantMatched: str("/")},
			},
		},
		{
			name: "regex must match the whole path",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{regex(`/a[0-9]+`)}},
				{ID: 2, Paths: []PathSpec{regex(`/x|/y`)}},
				{ID: 3, Paths: []PathSpec{regex(`(?m)/m$`)}},
			},
			reqs: []req{
				{path: "/a12", wantID: 1, wantRes: Matched},
				{path: "/a12/b", wantRes: NotFound},
				{path: "/xa12", wantRes: NotFound},
				{path: "/x", wantID: 2, wantRes: Matched},
				{path: "/y", wantID: 2, wantRes: Matched},
				{path: "/xy", wantRes: NotFound},
				{path: "/m", wantID: 3, wantRes: Matched},
				{path: "/m\n/z", wantRes: NotFound},
			},
		},
		{
			name: "headers: present, value, regex",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/present")}, Headers: []HeaderSpec{{Name: "x-env"}}},
				{ID: 2, Paths: []PathSpec{prefix("/value")}, Headers: []HeaderSpec{{Name: "X-Env", Value: "prod"}}},
				{ID: 3, Paths: []PathSpec{prefix("/regex")}, Headers: []HeaderSpec{{Name: "X-Version", Regex: `v[0-9]`}}},
				{ID: 4, Paths: []PathSpec{prefix("/both")}, Headers: []HeaderSpec{{Name: "X-A", Value: "1"}, {Name: "X-B"}}},
				{ID: 5, Paths: []PathSpec{prefix("/")}},
			},
			reqs: []req{
				{path: "/present", header: http.Header{"X-Env": {""}}, wantID: 1, wantRes: Matched},
				{path: "/present", header: http.Header{}, wantID: 5, wantRes: Matched},
				{path: "/present", header: nil, wantID: 5, wantRes: Matched},
				{path: "/value", header: http.Header{"X-Env": {"prod"}}, wantID: 2, wantRes: Matched},
				{path: "/value", header: http.Header{"X-Env": {"dev", "prod"}}, wantID: 2, wantRes: Matched},
				{path: "/value", header: http.Header{"X-Env": {"Prod"}}, wantID: 5, wantRes: Matched},
				{path: "/value", header: http.Header{"X-Env": {"production"}}, wantID: 5, wantRes: Matched},
				{path: "/regex", header: http.Header{"X-Version": {"v2"}}, wantID: 3, wantRes: Matched},
				{path: "/regex", header: http.Header{"X-Version": {"v12"}}, wantID: 5, wantRes: Matched},
				{path: "/regex", header: http.Header{"X-Version": {"xv2"}}, wantID: 5, wantRes: Matched},
				{path: "/both", header: http.Header{"X-A": {"1"}, "X-B": {"z"}}, wantID: 4, wantRes: Matched},
				{path: "/both", header: http.Header{"X-A": {"1"}}, wantID: 5, wantRes: Matched},
			},
		},
		{
			name: "method 405 with Allow union",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{exact("/a")}, Methods: []string{"GET"}},
				{ID: 2, Paths: []PathSpec{prefix("/a")}, Methods: []string{"put", "POST", "GET"}},
				{ID: 3, Hosts: []string{"h.test"}, Paths: []PathSpec{regex("/a")}, Methods: []string{"PATCH"}},
				{ID: 4, Paths: []PathSpec{exact("/a")}, Methods: []string{"TRACE"}, Headers: []HeaderSpec{{Name: "X-No"}}},
				{ID: 5, Paths: []PathSpec{exact("/b")}, Methods: []string{"DELETE"}},
			},
			reqs: []req{
				{path: "/a", method: "GET", wantID: 1, wantRes: Matched},
				{path: "/a", method: "PUT", wantID: 2, wantRes: Matched},
				{path: "/a", method: "DELETE", wantRes: MethodNotAllowed, wantAllow: []string{"GET", "POST", "PUT"}},
				{host: "h.test", path: "/a", method: "DELETE", wantRes: MethodNotAllowed, wantAllow: []string{"GET", "PATCH", "POST", "PUT"}},
				{path: "/a", method: "get", wantRes: MethodNotAllowed, wantAllow: []string{"GET", "POST", "PUT"}},
				{path: "/c", method: "GET", wantRes: NotFound},
				{path: "/b", method: "GET", wantRes: MethodNotAllowed, wantAllow: []string{"DELETE"}},
			},
		},
		{
			name: "a full match anywhere beats 405",
			routes: []Route{
				{ID: 1, Hosts: []string{"h.test"}, Paths: []PathSpec{exact("/a")}, Methods: []string{"GET"}},
				{ID: 2, Paths: []PathSpec{prefix("/")}},
			},
			reqs: []req{
				{host: "h.test", path: "/a", method: "POST", wantID: 2, wantRes: Matched},
				{host: "h.test", path: "/a", method: "GET", wantID: 1, wantRes: Matched},
			},
		},
		{
			name: "several hosts and paths compete per combination",
			routes: []Route{
				{ID: 1, Hosts: []string{"*.example.com", "api.example.com"}, Paths: []PathSpec{prefix("/"), exact("/health")}},
				{ID: 2, Hosts: []string{"*.example.com"}, Paths: []PathSpec{exact("/x")}},
				{ID: 3, Hosts: []string{"www.example.com", ""}, Paths: []PathSpec{prefix("/x")}},
			},
			reqs: []req{
				{host: "api.example.com", path: "/x", wantID: 1, wantRes: Matched, wantMatched: str("/")},
				{host: "api.example.com", path: "/health", wantID: 1, wantRes: Matched, wantKind: PathExact},
				{host: "cdn.example.com", path: "/x", wantID: 2, wantRes: Matched},
				{host: "www.example.com", path: "/x", wantID: 3, wantRes: Matched},
				{host: "cdn.example.com", path: "/y", wantID: 1, wantRes: Matched},
				{host: "other.net", path: "/x/1", wantID: 3, wantRes: Matched},
			},
		},
		{
			name: "a route that folds case matches the path in any letter case",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/")}},
				{ID: 2, Paths: []PathSpec{prefix("/Admin"), exact("/login")}, FoldCase: true},
				{ID: 3, Paths: []PathSpec{prefix("/public")}},
			},
			reqs: []req{
				{path: "/ADMIN/report.txt", wantID: 2, wantRes: Matched, wantKind: PathPrefix, wantMatched: str("/Admin")},
				{path: "/admin", wantID: 2, wantRes: Matched},
				{path: "/aDmIn/", wantID: 2, wantRes: Matched},
				{path: "/LOGIN", wantID: 2, wantRes: Matched, wantKind: PathExact, wantMatched: str("/LOGIN")},
				{path: "/adminx", wantID: 1, wantRes: Matched},  // still segment-aware
				{path: "/%41dmin", wantID: 1, wantRes: Matched}, // the gateway decodes it first; the router sees bytes
				// A route that keeps case still does.
				{path: "/PUBLIC/x", wantID: 1, wantRes: Matched},
				{path: "/public/x", wantID: 3, wantRes: Matched},
			},
		},
		{
			name: "a regex of a route that folds case ignores case",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{regex("/r/[a-z]+")}, FoldCase: true},
				{ID: 2, Paths: []PathSpec{regex("/s/[a-z]+")}},
			},
			reqs: []req{
				{path: "/R/XYZ", wantID: 1, wantRes: Matched, wantKind: PathRegex},
				{path: "/r/xyz", wantID: 1, wantRes: Matched},
				{path: "/s/xyz", wantID: 2, wantRes: Matched},
				{path: "/S/xyz", wantRes: NotFound},
			},
		},
		{
			name: "a longer prefix that keeps case beats a shorter one that folds it",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/api")}, FoldCase: true},
				{ID: 2, Paths: []PathSpec{prefix("/API/v1")}},
				{ID: 3, Paths: []PathSpec{prefix("/api/v1")}, Priority: 1, FoldCase: true},
			},
			reqs: []req{
				// Both 2 and 3 match at the same length: the priority decides.
				{path: "/API/v1/x", wantID: 3, wantRes: Matched},
				{path: "/API/V1/x", wantID: 3, wantRes: Matched},
				{path: "/Api/x", wantID: 1, wantRes: Matched},
			},
		},
		{
			name: "a route that ignores a trailing slash matches its exact paths and prefixes with or without one",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/")}},
				{ID: 2, Paths: []PathSpec{exact("/admin"), exact("/login/"), prefix("/reports/")}, IgnoreTrailingSlash: true},
				{ID: 3, Paths: []PathSpec{exact("/other")}},
			},
			reqs: []req{
				{path: "/admin", wantID: 2, wantRes: Matched, wantKind: PathExact, wantMatched: str("/admin")},
				{path: "/admin/", wantID: 2, wantRes: Matched, wantKind: PathExact, wantMatched: str("/admin/")},
				{path: "/login", wantID: 2, wantRes: Matched},
				{path: "/login/", wantID: 2, wantRes: Matched},
				{path: "/reports", wantID: 2, wantRes: Matched, wantKind: PathPrefix, wantMatched: str("/reports/")},
				{path: "/reports/q3", wantID: 2, wantRes: Matched},
				{path: "/admin/x", wantID: 1, wantRes: Matched}, // an exact path is still exact
				{path: "/reportsx", wantID: 1, wantRes: Matched},
				{path: "/other/", wantID: 1, wantRes: Matched}, // a route that keeps the slash still does
			},
		},
		{
			name: "case and trailing slash together",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/")}},
				{ID: 2, Paths: []PathSpec{exact("/Admin")}, FoldCase: true, IgnoreTrailingSlash: true},
			},
			reqs: []req{
				{path: "/ADMIN/", wantID: 2, wantRes: Matched},
				{path: "/admin", wantID: 2, wantRes: Matched},
			},
		},
		{
			name: "405 lists the methods of the routes that fold case",
			routes: []Route{
				{ID: 1, Paths: []PathSpec{prefix("/admin")}, Methods: []string{"GET"}, FoldCase: true},
			},
			reqs: []req{
				{path: "/ADMIN", method: "POST", wantRes: MethodNotAllowed, wantAllow: []string{"GET"}},
			},
		},
		{
			name:   "no routes",
			routes: nil,
			reqs: []req{
				{host: "a.test", path: "/", wantRes: NotFound},
				{path: "", wantRes: NotFound},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.routes)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, q := range tc.reqs {
				method := q.method
				if method == "" {
					method = "GET"
				}
				got, res, allow := r.Match(q.host, q.path, method, q.header, nil)
				where := q.host + " " + method + " " + q.path
				if res != q.wantRes {
					t.Errorf("%s: result %v, want %v (match %+v)", where, res, q.wantRes, got)
					continue
				}
				switch res {
				case Matched:
					if got.ID != q.wantID {
						t.Errorf("%s: ID %d, want %d", where, got.ID, q.wantID)
					}
					if q.wantKind != 0 && got.Kind != q.wantKind {
						t.Errorf("%s: kind %v, want %v", where, got.Kind, q.wantKind)
					}
					if q.wantMatched != nil && got.Matched != *q.wantMatched {
						t.Errorf("%s: matched %q, want %q", where, got.Matched, *q.wantMatched)
					}
					if len(allow) != 0 {
						t.Errorf("%s: allow %v on a match", where, allow)
					}
				case MethodNotAllowed:
					if !slices.Equal(allow, q.wantAllow) {
						t.Errorf("%s: allow %v, want %v", where, allow, q.wantAllow)
					}
				}
				if res != Matched && got != (Match{}) {
					t.Errorf("%s: non-zero match %+v with result %v", where, got, res)
				}
			}
		})
	}
}

func TestMatchAllowAppends(t *testing.T) {
	r, err := New([]Route{
		{ID: 1, Paths: []PathSpec{exact("/a")}, Methods: []string{"POST", "GET"}},
		{ID: 2, Paths: []PathSpec{prefix("/a")}, Methods: []string{"GET", "HEAD"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]string, 1, 8)
	buf[0] = "KEEP"
	_, res, allow := r.Match("x", "/a", "DELETE", nil, buf)
	if res != MethodNotAllowed {
		t.Fatalf("result %v, want 405", res)
	}
	if want := []string{"KEEP", "GET", "HEAD", "POST"}; !slices.Equal(allow, want) {
		t.Fatalf("allow %v, want %v", allow, want)
	}
	// On a match or a 404 the slice comes back as given.
	_, res, allow = r.Match("x", "/a", "GET", nil, buf[:1])
	if res != Matched || len(allow) != 1 {
		t.Fatalf("match: result %v allow %v", res, allow)
	}
}

func TestNilRouter(t *testing.T) {
	var r *Router
	if _, res, _ := r.Match("a", "/", "GET", nil, nil); res != NotFound {
		t.Fatalf("nil router: %v", res)
	}
}

func TestNewErrors(t *testing.T) {
	cases := []struct {
		name  string
		route Route
		want  string
	}{
		{"bad path regex", Route{Paths: []PathSpec{regex("/a(")}}, "bad regex"},
		{"bad header regex", Route{Paths: []PathSpec{prefix("/")}, Headers: []HeaderSpec{{Name: "X", Regex: "["}}}, "bad regex"},
		// Anchored as \A(?:...)\z this would compile, and its (.*)\z branch
		// would route every path.
		{"path regex unbalanced on its own", Route{Paths: []PathSpec{regex("/admin)|(.*")}}, "bad regex"},
		{"header value and regex", Route{Headers: []HeaderSpec{{Name: "X", Value: "a", Regex: "a"}}}, "exclusive"},
		{"empty header name", Route{Headers: []HeaderSpec{{Name: " "}}}, "invalid header name"},
		{"zero path kind", Route{Paths: []PathSpec{{Value: "/a"}}}, "unknown path kind"},
		{"empty exact", Route{Paths: []PathSpec{exact("")}}, "empty exact path"},
		{"empty regex", Route{Paths: []PathSpec{regex("")}}, "empty path regex"},
		{"relative prefix", Route{Paths: []PathSpec{prefix("api")}}, "must start with /"},
		{"empty prefix", Route{Paths: []PathSpec{prefix("")}}, "must start with /"},
		{"wildcard inside", Route{Hosts: []string{"a.*.com"}}, "invalid host"},
		{"wildcard no dot", Route{Hosts: []string{"*example.com"}}, "invalid host"},
		{"wildcard empty suffix", Route{Hosts: []string{"*."}}, "invalid host"},
		{"wildcard dot suffix", Route{Hosts: []string{"*..com"}}, "invalid wildcard host"},
		{"only a dot", Route{Hosts: []string{"."}}, "invalid host"},
		{"host with slash", Route{Hosts: []string{"a.com/x"}}, "invalid host"},
		{"empty method", Route{Methods: []string{""}}, "invalid method"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.route.ID = 42
			_, err := New([]Route{{ID: 1}, tc.route})
			if err == nil {
				t.Fatal("New succeeded, want error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "route 1 (id 42)") {
				t.Fatalf("error %q, want it to mention %q and the route", err, tc.want)
			}
		})
	}
}

func TestCanonicalHost(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "",
		"a.com":            "a.com",
		"a.com.":           "a.com",
		"A.Com.":           "a.com",
		"ÄB.com":           "äb.com",
		"[::1]":            "[::1]",
		"xn--bcher-kva.ch": "xn--bcher-kva.ch",
	} {
		if got := canonicalHost(in); got != want {
			t.Errorf("canonicalHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStrings(t *testing.T) {
	if PathPrefix.String() != "prefix" || PathKind(0).String() != "PathKind(0)" {
		t.Errorf("PathKind strings: %v %v", PathPrefix, PathKind(0))
	}
	if MethodNotAllowed.String() != "method_not_allowed" || Result(9).String() != "Result(9)" {
		t.Errorf("Result strings: %v %v", MethodNotAllowed, Result(9))
	}
}

// TestMatchConcurrent shares one Router between goroutines, as the gateway
// does; run with -race it proves Match only reads.
func TestMatchConcurrent(t *testing.T) {
	r, err := New([]Route{
		{ID: 1, Hosts: []string{"*.a.com"}, Paths: []PathSpec{prefix("/x")}, Methods: []string{"GET"}},
		{ID: 2, Paths: []PathSpec{regex("/r/[0-9]+")}, Headers: []HeaderSpec{{Name: "X-V", Regex: "v[0-9]"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			for range 200 {
				if _, res, _ := r.Match("B.a.com", "/x/1", "GET", nil, nil); res != Matched {
					errs <- "wildcard: " + res.String()
					return
				}
				if m, res, _ := r.Match("z", "/r/1", "GET", http.Header{"X-V": {"v1"}}, nil); res != Matched || m.ID != 2 {
					errs <- "regex: " + res.String()
					return
				}
				if _, res, allow := r.Match("b.a.com", "/x", "PUT", nil, nil); res != MethodNotAllowed || len(allow) != 1 {
					errs <- "405: " + res.String()
					return
				}
			}
			errs <- ""
		}()
	}
	for range 4 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}
