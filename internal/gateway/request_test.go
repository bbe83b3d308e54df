package gateway

import (
	"net/http"
	"strings"
	"testing"
)

// The request stages of proxy.go, one rule per test (request.go).

func TestTargetMustBeOriginForm(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct {
		desc, method, target string
	}{
		{desc: "absolute-form", method: "GET", target: "http://example.com/a"},
		{desc: "authority-form", method: "GET", target: "example.com:443"},
		{desc: "CONNECT, even with a path", method: "CONNECT", target: "/a"},
		{desc: "asterisk-form", method: "OPTIONS", target: "*"},
		{desc: "empty", method: "GET", target: ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, tc.method, tc.target, "example.com")
			if x.checkTarget() {
				t.Fatal("accepted")
			}
			if w.Code != 400 || x.out.status != 400 || x.out.reason != "request target not in origin-form" {
				t.Errorf("got %d (outcome %d %q)", w.Code, x.out.status, x.out.reason)
			}
		})
	}
}

func TestTargetWithFragmentIsRefused(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "GET", "/a#b", "example.com")
	if x.checkTarget() || w.Code != 400 || x.out.reason != "fragment in request target" {
		t.Errorf("got %d %q", w.Code, x.out.reason)
	}
}

func TestTargetWithControlCharacterIsRefused(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct{ desc, target string }{
		{desc: "space (HTTP/2 carries the target as a header value)", target: "/a b"},
		{desc: "tab", target: "/a\tb"},
		{desc: "DEL", target: "/a\x7fb"},
		{desc: "NUL in the query", target: "/a?x=\x00"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, "GET", tc.target, "example.com")
			if x.checkTarget() || w.Code != 400 || x.out.reason != "invalid character in request target" {
				t.Errorf("got %d %q", w.Code, x.out.reason)
			}
		})
	}
}

func TestTargetPathIsCanonicalized(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct {
		desc, target, want string
	}{
		{desc: "dot segments resolved", target: "/a/./b/../c", want: "/a/c"},
		{desc: "repeated slashes collapsed", target: "//a///b", want: "/a/b"},
		{desc: "encoded unreserved characters decoded", target: "/%61bc", want: "/abc"},
		{desc: "the query is not part of the path", target: "/a?x=/../..", want: "/a"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, "GET", tc.target, "example.com")
			if !x.checkTarget() {
				t.Fatalf("refused: %d %q", w.Code, x.out.reason)
			}
			if x.path.Canonical != tc.want || x.c.Path != tc.want {
				t.Errorf("path %q, context path %q, want %q", x.path.Canonical, x.c.Path, tc.want)
			}
		})
	}
}

func TestAmbiguousPathIsRefused(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct{ desc, target string }{
		{desc: "encoded dot segment", target: "/a/%2e%2e/b"},
		{desc: "backslash", target: `/a\b`},
		{desc: "encoded NUL", target: "/a%00"},
		{desc: "above the root", target: "/../a"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, "GET", tc.target, "example.com")
			if x.checkTarget() || w.Code != 400 || !strings.HasPrefix(x.out.reason, "path: ") {
				t.Errorf("got %d %q", w.Code, x.out.reason)
			}
		})
	}
}

func TestHostMustBeAnAuthority(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct {
		desc, host string
		ok         bool
	}{
		{desc: "name", host: "example.com", ok: true},
		{desc: "name and port", host: "example.com:8080", ok: true},
		{desc: "IPv6 literal", host: "[2001:db8::1]:443", ok: true},
		{desc: "userinfo", host: "a.com@b.com"},
		{desc: "port with letters", host: "a.com:80x"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, "GET", "/", tc.host)
			if got := x.checkTarget(); got != tc.ok {
				t.Fatalf("accepted %v, want %v (%d %q)", got, tc.ok, w.Code, x.out.reason)
			}
			if !tc.ok && w.Code != 400 {
				t.Errorf("status %d", w.Code)
			}
		})
	}
}

func TestClientCannotSendGatewayHeaders(t *testing.T) {
	snap := stagesSnapshot(t)
	x, _ := newExchange(snap, "GET", "/", "example.com")
	x.r.Header = header(
		"X-Real-Ip", "6.6.6.6",
		"X-Original-Url", "/admin",
		"X-Consumer-Name", "admin",
		"X_Consumer_Name", "admin",
		"Transfer.Encoding", "chunked",
		"X-Http-Method-Override", "DELETE",
		"Accept", "*/*",
	)
	x.dropClientHeaders()
	for k := range x.r.Header {
		if k != "Accept" {
			t.Errorf("%s reached the policies", k)
		}
	}
	if x.override != "DELETE" || x.overrideErr != nil {
		t.Errorf("override %q, %v", x.override, x.overrideErr)
	}
}

func TestAliasesOfGuardedHeadersAreDroppedWhereSeparatorsAreKept(t *testing.T) {
	snap := stagesSnapshot(t)
	x, _ := newExchange(snap, "GET", "/", "example.com")
	x.h.keepSeparatorHeaders = true
	x.r.Header = header(
		"X_Consumer_Name", "admin", // an identity header's alias
		"Content_Length", "0", // a framing header's alias
		"X_Tenant", "a", "X-Tenant", "b", // an alias of a header also sent plainly
		"X_Custom", "kept",
	)
	x.dropClientHeaders()
	if got := len(x.r.Header); got != 2 || x.r.Header.Get("X_Custom") != "kept" || x.r.Header.Get("X-Tenant") != "b" {
		t.Errorf("header after: %v", x.r.Header)
	}
}

func TestUnmatchedRequestIsNotFound(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "GET", "/nothing-here", "example.com")
	x.checkTarget()
	if x.matchRoute() || w.Code != 404 || x.out.route != "" {
		t.Errorf("got %d, route %q", w.Code, x.out.route)
	}
}

func TestMethodNotAllowedListsAllowedMethods(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "PATCH", "/items/1", "example.com")
	x.checkTarget()
	x.dropClientHeaders()
	if x.matchRoute() || w.Code != 405 {
		t.Fatalf("got %d", w.Code)
	}
	// HEAD: the routes that list GET answer it too (routeMethods).
	if got := w.Header().Get("Allow"); got != "DELETE, GET, HEAD, POST, PUT" {
		t.Errorf("Allow: %q", got)
	}
}

func TestMethodOverride(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct {
		desc, method, target string
		override             []string // X-HTTP-Method-Override lines
		wantStatus           int      // 0: routed
		wantMethod           string
		wantRoute            string
	}{
		{desc: "a POST with an override is routed as the method it names",
			method: "POST", target: "/items/1", override: []string{"delete"}, wantMethod: "DELETE", wantRoute: "overrides"},
		{desc: "an override on another method than POST is dropped, not honoured",
			method: "PUT", target: "/items/1", override: []string{"DELETE"}, wantMethod: "PUT", wantRoute: "overrides"},
		{desc: "an override on a route without method_override is dropped, not honoured",
			method: "POST", target: "/other/1", override: []string{"DELETE"}, wantMethod: "POST", wantRoute: "no-overrides"},
		{desc: "an override to a method the route does not allow is 405",
			method: "POST", target: "/items/1", override: []string{"PATCH"}, wantStatus: 405, wantRoute: "overrides"},
		{desc: "an override to a method that cannot be overridden to is 400",
			method: "POST", target: "/items/1", override: []string{"CONNECT"}, wantStatus: 400, wantRoute: "overrides"},
		{desc: "two different overrides are 400",
			method: "POST", target: "/items/1", override: []string{"DELETE", "PUT"}, wantStatus: 400, wantRoute: "overrides"},
		{desc: "an override leading to a route that does not accept overrides is 405",
			method: "POST", target: "/items/1", override: []string{"GET"}, wantStatus: 405, wantRoute: "overrides"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, tc.method, tc.target, "example.com")
			for _, v := range tc.override {
				x.r.Header.Add("X-Http-Method-Override", v)
			}
			if !x.checkTarget() {
				t.Fatal("target refused")
			}
			x.dropClientHeaders()
			ok := x.matchRoute()
			if x.out.route != tc.wantRoute {
				t.Errorf("route %q, want %q", x.out.route, tc.wantRoute)
			}
			if tc.wantStatus != 0 {
				if ok || w.Code != tc.wantStatus {
					t.Errorf("got %v %d, want %d", ok, w.Code, tc.wantStatus)
				}
				return
			}
			if !ok || x.r.Method != tc.wantMethod || x.c.Route != tc.wantRoute {
				t.Errorf("routed %v as %s on %q (%d %q)", ok, x.r.Method, x.c.Route, w.Code, x.out.reason)
			}
		})
	}
}

func TestRefusalAfterRoutingNamesTheRoute(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "GET", "/api/a%2Fb", "example.com")
	if !x.checkTarget() || !x.matchRoute() {
		t.Fatalf("refused before the route check: %d %q", w.Code, x.out.reason)
	}
	if x.checkRoute() || w.Code != 400 {
		t.Fatalf("encoded slash accepted: %d", w.Code)
	}
	if x.out.route != "stripped" || x.out.service != "svc" || x.out.rt == nil || x.out.reason != "path: encoded slash" {
		t.Errorf("outcome %+v", x.out)
	}
}

func TestDeclaredBodyOverLimitIsRefusedAndClosesConnection(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "POST", "/api/upload", "example.com")
	x.r.ContentLength = defaultMaxBody + 1
	x.r.Body = http.NoBody
	if !x.checkTarget() || !x.matchRoute() {
		t.Fatal("refused before the route check")
	}
	if x.checkRoute() || w.Code != http.StatusRequestEntityTooLarge || w.Header().Get("Connection") != "close" {
		t.Errorf("got %d, Connection %q", w.Code, w.Header().Get("Connection"))
	}
}

func TestRefusalIsAProblemWithTheRequestID(t *testing.T) {
	x, w := newExchange(stagesSnapshot(t), "GET", "/a#b", "example.com")
	x.checkTarget()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.Contains(w.Body.String(), `"test-id"`) || x.out.bytesOut != int64(w.Body.Len()) {
		t.Errorf("body %q, bytesOut %d", w.Body.String(), x.out.bytesOut)
	}
}

func TestHostOnly(t *testing.T) {
	for _, tc := range []struct{ desc, in, want string }{
		{desc: "name", in: "example.com", want: "example.com"},
		{desc: "name and port", in: "example.com:8080", want: "example.com"},
		{desc: "bracketed IPv6 and port", in: "[2001:db8::1]:443", want: "[2001:db8::1]"},
		{desc: "bracketed IPv6", in: "[2001:db8::1]", want: "2001:db8::1"},
	} {
		if got := hostOnly(tc.in); got != tc.want {
			t.Errorf("%s: hostOnly(%q) = %q, want %q", tc.desc, tc.in, got, tc.want)
		}
	}
}
