package router

import (
	"fmt"
	"net/http"
	"testing"
)

const benchHosts = 20

// benchRoutes builds a realistic route set of n routes: per-service prefix
// routes spread over 20 hosts, an exact health route for every fifth
// service, a few wildcard-host and regex routes, and a catch-all.
func benchRoutes(n int) []Route {
	routes := make([]Route, 0, n)
	for i := 0; len(routes) < n; i++ {
		id := len(routes)
		host := fmt.Sprintf("host%d.example.com", i%benchHosts)
		switch {
		case i == 0:
			routes = append(routes, Route{ID: id, Paths: []PathSpec{prefix("/")}})
		case i%100 == 50 && i < 600:
			routes = append(routes, Route{ID: id, Paths: []PathSpec{regex(fmt.Sprintf(`/legacy%d/item/[0-9]+`, i))}})
		case i%100 == 70:
			routes = append(routes, Route{ID: id, Hosts: []string{"*.cdn.example.com"}, Paths: []PathSpec{prefix(fmt.Sprintf("/static%d", i))}})
		case i%5 == 0:
			routes = append(routes, Route{ID: id, Hosts: []string{host}, Paths: []PathSpec{exact(fmt.Sprintf("/svc%d/v1/health", i))}, Methods: []string{"GET"}})
		default:
			routes = append(routes, Route{
				ID:      id,
				Hosts:   []string{host},
				Paths:   []PathSpec{prefix(fmt.Sprintf("/svc%d/v1/resource", i))},
				Methods: []string{"GET", "POST", "PUT", "DELETE"},
			})
		}
	}
	return routes
}

type benchReq struct{ host, path, method string }

// benchRequests returns requests that hit the prefix routes and the exact
// routes of a benchRoutes(n) set, 64 of each kind spread over the set.
func benchRequests(n int) (prefixReqs, exactReqs []benchReq) {
	// Bounded: with a tiny set the same few routes simply repeat.
	for k := 0; k < 64*n && (len(prefixReqs) < 64 || len(exactReqs) < 64); k++ {
		i := 1 + (k*7919)%(n-1) // spread over the set
		host := fmt.Sprintf("host%d.example.com", i%benchHosts)
		switch {
		case i%100 == 50 || i%100 == 70:
		case i%5 == 0:
			if len(exactReqs) < 64 {
				exactReqs = append(exactReqs, benchReq{host, fmt.Sprintf("/svc%d/v1/health", i), "GET"})
			}
		default:
			if len(prefixReqs) < 64 {
				prefixReqs = append(prefixReqs, benchReq{host, fmt.Sprintf("/svc%d/v1/resource/%d/items", i, k), "GET"})
			}
		}
	}
	return prefixReqs, exactReqs
}

func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		r, err := New(benchRoutes(n))
		if err != nil {
			b.Fatal(err)
		}
		prefixReqs, exactReqs := benchRequests(n)
		if len(prefixReqs) == 0 || len(exactReqs) == 0 {
			b.Fatalf("routes=%d: no requests for some route kind", n)
		}
		header := http.Header{"User-Agent": {"bench"}}
		run := func(name string, reqs []benchReq, want Result) {
			b.Run(fmt.Sprintf("routes=%d/%s", n, name), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					q := reqs[i%len(reqs)]
					i++
					if _, res, _ := r.Match(q.host, q.path, q.method, header, nil); res != want {
						b.Fatalf("%v: %v", q, res)
					}
				}
			})
		}
		run("prefix", prefixReqs, Matched)
		run("exact", exactReqs, Matched)
		if n >= 100 { // smaller sets have no regex or wildcard routes
			run("regex", []benchReq{{"other.net", "/legacy50/item/123", "GET"}}, Matched)
			run("wildcard", []benchReq{{"eu.cdn.example.com", "/static70/app.js", "GET"}}, Matched)
		}
		run("fallback", []benchReq{{"Host3.Example.COM", "/nothing/here", "GET"}}, Matched)
	}
}

func BenchmarkNew(b *testing.B) {
	routes := benchRoutes(5000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(routes); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatchCommonCaseAllocs asserts the hot path (lower-case host, plain
// path, exact or prefix route) allocates nothing.
func TestMatchCommonCaseAllocs(t *testing.T) {
	routes := benchRoutes(1000)
	routes = append(routes, Route{
		ID: len(routes), Hosts: []string{"host1.example.com"}, Paths: []PathSpec{prefix("/hdr")},
		Headers: []HeaderSpec{{Name: "X-Tenant", Value: "t1"}, {Name: "X-Version", Regex: "v[0-9]+"}},
	})
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	prefixReqs, exactReqs := benchRequests(1000)
	header := http.Header{"X-Tenant": {"t1"}, "X-Version": {"v2"}}
	cases := []benchReq{prefixReqs[0], prefixReqs[1], exactReqs[0], {"host1.example.com.", "/hdr/x", "GET"}, {"eu.cdn.example.com", "/static70/x", "GET"}}
	for _, q := range cases {
		var res Result
		allocs := testing.AllocsPerRun(100, func() {
			_, res, _ = r.Match(q.host, q.path, q.method, header, nil)
		})
		if res != Matched {
			t.Errorf("%v: result %v, want a match", q, res)
		}
		if allocs != 0 {
			t.Errorf("%v: %.1f allocs per Match, want 0", q, allocs)
		}
	}
}

// TestMatchFoldedPathAllocs: where routes fold case, a request path with an
// upper-case letter is folded into a stack buffer, not the heap, unless it
// is longer than the buffer.
func TestMatchFoldedPathAllocs(t *testing.T) {
	routes := benchRoutes(1000)
	routes = append(routes, Route{ID: len(routes), Paths: []PathSpec{prefix("/admin"), exact("/Login")}, FoldCase: true})
	r, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []benchReq{{"any.example.com", "/ADMIN/Reports/2026", "GET"}, {"any.example.com", "/login", "GET"}, {"any.example.com", "/LOGIN", "GET"}} {
		var res Result
		allocs := testing.AllocsPerRun(100, func() {
			_, res, _ = r.Match(q.host, q.path, q.method, nil, nil)
		})
		if res != Matched {
			t.Errorf("%v: result %v, want a match", q, res)
		}
		if allocs != 0 {
			t.Errorf("%v: %.1f allocs per Match, want 0", q, allocs)
		}
	}
}
