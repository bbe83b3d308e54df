package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// caseFoldingUpstream answers as Express (by default), ASP.NET and IIS
// do: the path's letter case does not matter. It serves the protected
// report at /admin/report.txt in any spelling.
func caseFoldingUpstream(t *testing.T) *Upstream {
	return NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.ToLower(r.URL.Path) == "/admin/report.txt" {
			_, _ = io.WriteString(w, "the quarterly report")
			return
		}
		_, _ = io.WriteString(w, "public page")
	})
}

// pathCaseConfig is an admin route (auth; path: its path, such as
// "{prefix: /admin}") and an open catch-all to one service, whose
// declarations serviceExtra adds.
func pathCaseConfig(upURL, hash, serviceExtra string) GatewayConfig {
	return adminAndSiteConfig(upURL, hash, serviceExtra, "{prefix: /admin}")
}

func adminAndSiteConfig(upURL, hash, serviceExtra, path string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: app, targets: [{url: "%s"}]%s}]
routes:
  - name: admin
    paths: [%s]
    service: app
    policies:
      - {kind: auth, methods: [{api_key: {}}]}
  - name: site
    paths: [{prefix: /}]
    service: app
    auth: none
consumers:
  - {name: ops-team, credentials: {api_keys: [{id: k1, hash: "%s"}]}}
ops: {address: "{{ops}}"}
`, upURL, serviceExtra, path, hash))
}

// TestCaseInsensitiveServiceRoutesEverySpellingToItsRoute: behind a
// service declared case_insensitive_paths, the route /admin (auth) gets
// /ADMIN/report.txt, /Admin/..., /%41DMIN/... and every other spelling the
// upstream reads as /admin/report.txt; without a key each is refused and
// the upstream never sees it. The upstream gets the client's spelling.
func TestCaseInsensitiveServiceRoutesEverySpellingToItsRoute(t *testing.T) {
	up := caseFoldingUpstream(t)
	key, hash := akGenerate(t)
	gw := StartGateway(t, pathCaseConfig(up.URL, hash, ", case_insensitive_paths: true"))
	c := clientFrom(t, "127.0.0.1")
	spellings := []string{"/admin/report.txt", "/ADMIN/report.txt", "/Admin/Report.TXT", "/aDmIn/report.txt", "/%41DMIN/report.txt", "/ADMIN"}
	for _, p := range spellings {
		t.Run(p+" without a key is refused", func(t *testing.T) {
			up.Reset()
			resp, body := doRequest(t, c, http.MethodGet, gw.URL(p), "")
			if resp.StatusCode != 401 || up.Count() != 0 {
				t.Fatalf("status %d %q, upstream saw %d request(s): %+v", resp.StatusCode, body, up.Count(), up.Requests())
			}
		})
	}
	t.Run("with a key the upstream gets the client's spelling", func(t *testing.T) {
		up.Reset()
		resp, body := doRequest(t, c, http.MethodGet, gw.URL("/ADMIN/Report.txt"), "", "X-Api-Key", key)
		if resp.StatusCode != 200 || body != "the quarterly report" {
			t.Fatalf("status %d %q", resp.StatusCode, body)
		}
		if s := up.Last(t); s.RequestURI != "/ADMIN/Report.txt" || s.Header.Get("X-Consumer-Name") != "ops-team" {
			t.Errorf("upstream saw %s as %q", s.RequestURI, s.Header.Get("X-Consumer-Name"))
		}
	})
	t.Run("other paths still reach the open route", func(t *testing.T) {
		up.Reset()
		resp, body := doRequest(t, c, http.MethodGet, gw.URL("/Administrators"), "")
		if resp.StatusCode != 200 || body != "public page" || up.Count() != 1 {
			t.Fatalf("status %d %q, upstream saw %d", resp.StatusCode, body, up.Count())
		}
		if s := up.Last(t); s.Header.Get("X-Consumer-Name") != "" {
			t.Errorf("the open route sent a consumer: %q", s.Header.Get("X-Consumer-Name"))
		}
	})
}

// TestPathsAreCaseSensitiveUnlessTheServiceSaysOtherwise: without the
// declaration a path compares case-sensitively (RFC 3986), so /ADMIN/...
// is not the route /admin: it goes to the catch-all, and an upstream that
// folds case serves the report there. This is the threat the service
// field exists for, kept visible.
func TestPathsAreCaseSensitiveUnlessTheServiceSaysOtherwise(t *testing.T) {
	up := caseFoldingUpstream(t)
	_, hash := akGenerate(t)
	gw := StartGateway(t, pathCaseConfig(up.URL, hash, ""))
	c := clientFrom(t, "127.0.0.1")
	resp, _ := doRequest(t, c, http.MethodGet, gw.URL("/admin/report.txt"), "")
	if resp.StatusCode != 401 || up.Count() != 0 {
		t.Fatalf("/admin/report.txt: status %d, upstream saw %d", resp.StatusCode, up.Count())
	}
	resp, body := doRequest(t, c, http.MethodGet, gw.URL("/ADMIN/report.txt"), "")
	if resp.StatusCode != 200 || body != "the quarterly report" || up.Count() != 1 {
		t.Errorf("/ADMIN/report.txt: status %d %q, upstream saw %d", resp.StatusCode, body, up.Count())
	}
}

// TestCLIValidateRefusesARouteFoldedAway: on a service with
// case_insensitive_paths, a route /Admin after the route /admin matches
// nothing the first does not: refused, naming how the upstream reads
// paths; the same for /admin/ after the exact /admin of a service with
// trailing_slash_insensitive_paths.
func TestCLIValidateRefusesARouteFoldedAway(t *testing.T) {
	cfg := `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: app, targets: [{url: "http://127.0.0.1:9"}], case_insensitive_paths: %s}]
routes:
  - name: admin
    paths: [{prefix: /admin}]
    service: app
    auth: none
  - name: admin-writes
    paths: [{prefix: /Admin}]
    service: app
    policies: [{kind: auth, methods: [{api_key: {}}]}]
`
	p := writeFile(t, "folded.yaml", fmt.Sprintf(cfg, "true"))
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorAt(t, r.stderr, p, 10, 13, "routes[1].paths[0]", `is never reached: routes[0] ("admin") comes first for the same hosts and path as its service's upstream reads paths (case_insensitive_paths, windows_paths or trailing_slash_insensitive_paths)`)
	p = writeFile(t, "kept.yaml", fmt.Sprintf(cfg, "false"))
	if r := runCLI(t, nil, "validate", "--config", p); r.code != 0 {
		t.Errorf("case-sensitive: exit %d; stderr:\n%s", r.code, r.stderr)
	}

	// The same with a trailing slash: /admin/ after the exact /admin of a
	// service that ignores it.
	slash := strings.NewReplacer("case_insensitive_paths: %s", "trailing_slash_insensitive_paths: true",
		"{prefix: /admin}", "{exact: /admin}", "{prefix: /Admin}", "{exact: /admin/}").Replace(cfg)
	p = writeFile(t, "slash.yaml", slash)
	r = runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("slash: exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorAt(t, r.stderr, p, 10, 13, "routes[1].paths[0]", `is never reached: routes[0] ("admin") comes first for the same hosts and path as its service's upstream reads paths`)
}

// TestWindowsServiceRefusesPathsWindowsReadsAsAnotherName: behind a service
// declared windows_paths, every spelling Windows opens as
// /admin/report.txt is either the /admin route (letter case, folded) or
// refused with 400 (a trailing dot or space, a stream, a short name, a
// wildcard), and the upstream never sees it; ordinary paths pass.
func TestWindowsServiceRefusesPathsWindowsReadsAsAnotherName(t *testing.T) {
	up := caseFoldingUpstream(t)
	_, hash := akGenerate(t)
	gw := StartGateway(t, pathCaseConfig(up.URL, hash, ", windows_paths: true"))
	c := clientFrom(t, "127.0.0.1")
	for _, tc := range []struct {
		desc, path string
		status     int
	}{
		{"letter case: the /admin route", "/ADMIN/report.txt", 401},
		{"a trailing dot", "/admin./report.txt", 400},
		{"an escaped trailing dot", "/admin%2E/report.txt", 400},
		{"a trailing space", "/admin%20/report.txt", 400},
		{"a dot and a space", "/admin.%20/report.txt", 400},
		{"a file's data stream", "/admin/report.txt::$DATA", 400},
		{"an escaped stream", "/admin/report.txt%3A%3A$DATA", 400},
		{"a short name", "/ADMINI~1/report.txt", 400},
		{"a DOS wildcard", "/admin%3C/report.txt", 400},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up.Reset()
			resp, body := doRequest(t, c, http.MethodGet, gw.URL(tc.path), "")
			if resp.StatusCode != tc.status || up.Count() != 0 {
				t.Fatalf("%s: status %d %q, want %d; upstream saw %d: %+v", tc.path, resp.StatusCode, body, tc.status, up.Count(), up.Requests())
			}
		})
	}
	for _, p := range []string{"/files/v1.2/notes.txt", "/~alice/page", "/files/my%20notes.txt"} {
		up.Reset()
		resp, body := doRequest(t, c, http.MethodGet, gw.URL(p), "")
		if resp.StatusCode != 200 || body != "public page" || up.Count() != 1 {
			t.Errorf("%s: status %d %q, upstream saw %d", p, resp.StatusCode, body, up.Count())
		}
	}
}

// TestTrailingSlashInsensitiveServiceRoutesBothSpellingsToTheExactRoute:
// an upstream that ignores a trailing slash (Express, ASP.NET Core, Rails by
// default) answers /admin/ with its /admin handler. Behind a service that
// declares it, /admin/ meets the exact route /admin and its auth policy;
// without the declaration it falls to the open catch-all and is served.
func TestTrailingSlashInsensitiveServiceRoutesBothSpellingsToTheExactRoute(t *testing.T) {
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.TrimSuffix(r.URL.Path, "/") == "/admin" {
			_, _ = io.WriteString(w, "the admin console")
			return
		}
		_, _ = io.WriteString(w, "public page")
	})
	key, hash := akGenerate(t)
	config := func(extra string) GatewayConfig {
		return adminAndSiteConfig(up.URL, hash, extra, "{exact: /admin}")
	}
	c := clientFrom(t, "127.0.0.1")
	t.Run("without the declaration the slash reaches the catch-all", func(t *testing.T) {
		gw := StartGateway(t, config(""))
		up.Reset()
		resp, body := doRequest(t, c, http.MethodGet, gw.URL("/admin/"), "")
		if resp.StatusCode != 200 || body != "the admin console" || up.Count() != 1 {
			t.Fatalf("status %d %q, upstream saw %d", resp.StatusCode, body, up.Count())
		}
	})
	gw := StartGateway(t, config(", trailing_slash_insensitive_paths: true"))
	for _, p := range []string{"/admin", "/admin/", "/ADMIN/"} {
		want := 401
		if p == "/ADMIN/" {
			want = 200 // the letter case is another declaration: this upstream keeps it
		}
		t.Run(p, func(t *testing.T) {
			up.Reset()
			resp, body := doRequest(t, c, http.MethodGet, gw.URL(p), "")
			if resp.StatusCode != want || (want == 401 && up.Count() != 0) {
				t.Fatalf("status %d %q, want %d; upstream saw %d", resp.StatusCode, body, want, up.Count())
			}
		})
	}
	t.Run("with a key the upstream gets the client's spelling", func(t *testing.T) {
		up.Reset()
		resp, body := doRequest(t, c, http.MethodGet, gw.URL("/admin/"), "", "X-Api-Key", key)
		if resp.StatusCode != 200 || body != "the admin console" {
			t.Fatalf("status %d %q", resp.StatusCode, body)
		}
		if s := up.Last(t); s.RequestURI != "/admin/" || s.Header.Get("X-Consumer-Name") != "ops-team" {
			t.Errorf("upstream saw %s as %q", s.RequestURI, s.Header.Get("X-Consumer-Name"))
		}
	})
	t.Run("a deeper path is not the exact route", func(t *testing.T) {
		up.Reset()
		resp, body := doRequest(t, c, http.MethodGet, gw.URL("/admin/x"), "")
		if resp.StatusCode != 200 || body != "public page" {
			t.Fatalf("status %d %q", resp.StatusCode, body)
		}
	})
}
