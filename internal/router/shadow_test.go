package router

import (
	"net/http"
	"slices"
	"testing"
)

// TestShadowed: a route path is reported when, on every host table it is
// in, a route tried before it for the same path matches every request it
// would; and only then (each row that must not be reported is a route
// that some request reaches, shown by the request in reach).
func TestShadowed(t *testing.T) {
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	cases := []struct {
		desc   string
		routes []Route
		want   []Shadow
		reach  *req // a request that reaches the later route, when none is reported
	}{
		{desc: "the same route twice",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/api/")}}, {ID: 1, Paths: []PathSpec{prefix("/api/")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "the later route's methods are a subset",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}, Methods: []string{"GET", "POST"}}, {ID: 1, Paths: []PathSpec{exact("/x")}, Methods: []string{"post"}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "the earlier route allows fewer methods",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}, Methods: []string{"GET"}}, {ID: 1, Paths: []PathSpec{exact("/x")}}},
			reach:  &req{host: "a.test", path: "/x", method: "DELETE", wantID: 1, wantRes: Matched}},
		{desc: "the earlier route requires a header",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "X-Env", Value: "prod"}}}, {ID: 1, Paths: []PathSpec{exact("/x")}}},
			reach:  &req{host: "a.test", path: "/x", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "the later route requires more headers",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "x-env", Value: "prod"}}},
				{ID: 1, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "X-Env", Value: "prod"}, {Name: "X-Canary"}}}},
			want: []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "the same header, another value",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "X-Env", Value: "prod"}}},
				{ID: 1, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "X-Env", Value: "test"}}}},
			reach: &req{host: "a.test", path: "/x", method: "GET", header: hdr("X-Env", "test"), wantID: 1, wantRes: Matched}},
		{desc: "the same header, a regex against a value",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "X-Env", Regex: "prod"}}},
				{ID: 1, Paths: []PathSpec{exact("/x")}, Headers: []HeaderSpec{{Name: "X-Env", Value: "prod"}}}},
			// The same requests in fact; not the same condition as written,
			// so not reported (the rule compares conditions, not languages).
			want: nil},
		{desc: "a higher priority later in the file wins: the earlier route is the one never reached",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/")}}, {ID: 1, Paths: []PathSpec{prefix("/")}, Priority: 5}},
			want:   []Shadow{{Index: 0, Path: 0, By: 1}}},
		{desc: "the later route also serves another host",
			routes: []Route{{ID: 0, Hosts: []string{"a.test"}, Paths: []PathSpec{exact("/x")}}, {ID: 1, Hosts: []string{"a.test", "b.test"}, Paths: []PathSpec{exact("/x")}}},
			reach:  &req{host: "b.test", path: "/x", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "the earlier route serves every host the later one does",
			routes: []Route{{ID: 0, Hosts: []string{"a.test", "b.test"}, Paths: []PathSpec{exact("/x")}}, {ID: 1, Hosts: []string{"b.test"}, Paths: []PathSpec{exact("/x")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "an exact host beats any host",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/x")}}, {ID: 1, Hosts: []string{"a.test"}, Paths: []PathSpec{exact("/x")}}},
			reach:  &req{host: "a.test", path: "/x", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "the same wildcard host",
			routes: []Route{{ID: 0, Hosts: []string{"*.a.test"}, Paths: []PathSpec{prefix("/")}}, {ID: 1, Hosts: []string{"*.a.test"}, Paths: []PathSpec{prefix("/")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "an exact path and a prefix of the same text",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/x")}}, {ID: 1, Paths: []PathSpec{exact("/x")}}},
			reach:  &req{host: "a.test", path: "/x", method: "GET", wantID: 1, wantRes: Matched, wantKind: PathExact}},
		{desc: "the same regex",
			routes: []Route{{ID: 0, Paths: []PathSpec{regex("/v[0-9]+/x")}}, {ID: 1, Paths: []PathSpec{regex("/v[0-9]+/x")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "another regex",
			routes: []Route{{ID: 0, Paths: []PathSpec{regex("/v[0-9]+/x")}}, {ID: 1, Paths: []PathSpec{regex("/v[0-9]/x|/y")}}},
			reach:  &req{host: "a.test", path: "/y", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "one path of two shadowed",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/a")}}, {ID: 1, Paths: []PathSpec{exact("/b"), exact("/a")}}},
			want:   []Shadow{{Index: 1, Path: 1, By: 0}}},
		{desc: "routes without paths (every path)",
			routes: []Route{{ID: 0}, {ID: 1, Methods: []string{"GET"}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "a route that folds case before the same path in other case",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/admin")}, FoldCase: true}, {ID: 1, Paths: []PathSpec{prefix("/Admin")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "a route that folds case before the same exact path",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/Login")}, FoldCase: true}, {ID: 1, Paths: []PathSpec{exact("/login")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "two routes that fold case, one path in two spellings",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/login")}, FoldCase: true}, {ID: 1, Paths: []PathSpec{exact("/LOGIN")}, FoldCase: true}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "two routes that keep case, one path in two spellings",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/admin")}}, {ID: 1, Paths: []PathSpec{prefix("/Admin")}}},
			reach:  &req{host: "a.test", path: "/Admin/x", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "a route that keeps case does not shadow one that folds it",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/admin")}}, {ID: 1, Paths: []PathSpec{prefix("/admin")}, FoldCase: true}},
			reach:  &req{host: "a.test", path: "/ADMIN/x", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "a route that folds case, tried after one that keeps it",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/Admin")}}, {ID: 1, Paths: []PathSpec{prefix("/admin")}, FoldCase: true}},
			reach:  &req{host: "a.test", path: "/admin/x", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "a route that ignores a trailing slash before the exact path with one",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/admin")}, IgnoreTrailingSlash: true}, {ID: 1, Paths: []PathSpec{exact("/admin/")}}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "the exact path with a slash before a route that ignores it: both reached",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/admin/")}}, {ID: 1, Paths: []PathSpec{exact("/admin")}, IgnoreTrailingSlash: true}},
			reach:  &req{host: "a.test", path: "/admin", method: "GET", wantID: 1, wantRes: Matched}},
		{desc: "a prefix with a slash that ignores it, after the prefix without",
			routes: []Route{{ID: 0, Paths: []PathSpec{prefix("/api")}}, {ID: 1, Paths: []PathSpec{prefix("/api/")}, IgnoreTrailingSlash: true}},
			want:   []Shadow{{Index: 1, Path: 0, By: 0}}},
		{desc: "one route lists a path twice: not a shadow of another route",
			routes: []Route{{ID: 0, Paths: []PathSpec{exact("/a"), exact("/a")}}},
			want:   nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r, err := New(tc.routes)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Shadowed(); !slices.Equal(got, tc.want) {
				t.Errorf("Shadowed() = %+v, want %+v", got, tc.want)
			}
			if q := tc.reach; q != nil {
				m, res, _ := r.Match(q.host, q.path, q.method, q.header, nil)
				if res != q.wantRes || m.ID != q.wantID || (q.wantKind != 0 && m.Kind != q.wantKind) {
					t.Errorf("%s %s: %v %+v, want route %d (so it is reachable)", q.method, q.path, res, m, q.wantID)
				}
			}
		})
	}
}
