package dashboard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRelay: only GET of the listed endpoints reaches the admin handler,
// with the query and Authorization and nothing else of the request.
func TestRelay(t *testing.T) {
	var got *http.Request
	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_, _ = io.WriteString(w, "admin:"+r.URL.Path)
	})
	h := Handler(admin)
	cases := []struct {
		desc, method, path string
		status             int
		reached            string // the admin path reached, "" when none
	}{
		{"routes relayed", "GET", "/dashboard/admin/routes", 200, "/admin/routes"},
		{"key usage relayed with its query", "GET", "/dashboard/admin/usage/keys?limit=5", 200, "/admin/usage/keys"},
		{"tokens not relayed", "GET", "/dashboard/admin/tokens", 404, ""},
		{"audit not relayed", "GET", "/dashboard/admin/audit", 404, ""},
		{"a credential path not relayed", "GET", "/dashboard/admin/consumers/acme/credentials", 404, ""},
		{"dot segments not relayed", "GET", "/dashboard/admin/routes/../tokens", 404, ""},
		{"POST refused", "POST", "/dashboard/admin/bans", 405, ""},
		{"DELETE refused", "DELETE", "/dashboard/admin/bans", 405, ""},
	}
	for _, tc := range cases {
		got = nil
		req := httptest.NewRequest(tc.method, tc.path, nil)
		req.Header.Set("Authorization", "Bearer pcladm_x")
		req.Header.Set("Cookie", "session=abc")
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.desc, w.Code, tc.status)
		}
		switch {
		case tc.reached == "" && got != nil:
			t.Errorf("%s: reached the admin API at %s", tc.desc, got.URL.Path)
		case tc.reached != "" && (got == nil || got.URL.Path != tc.reached):
			t.Errorf("%s: admin request %v, want %s", tc.desc, got, tc.reached)
		case got != nil:
			if got.Method != "GET" || got.Header.Get("Authorization") != "Bearer pcladm_x" || got.Header.Get("Cookie") != "" || got.Header.Get("X-Forwarded-For") != "" {
				t.Errorf("%s: relayed %s with headers %v", tc.desc, got.Method, got.Header)
			}
			if strings.Contains(tc.path, "?") && got.URL.RawQuery != "limit=5" {
				t.Errorf("%s: query %q", tc.desc, got.URL.RawQuery)
			}
		}
	}
}

// TestPageServedFromEmbed: the page, its script and style come from the
// binary, under a policy that allows nothing from elsewhere.
func TestPageServedFromEmbed(t *testing.T) {
	h := Handler(nil)
	for _, tc := range []struct{ desc, path, want string }{
		{"the page", "/dashboard/", `<script src="app.js"`},
		{"the script", "/dashboard/app.js", `fetch("/metrics"`},
		{"the style", "/dashboard/style.css", "font:"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != 200 || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d %q", tc.desc, w.Code, w.Body.String())
		}
		csp := w.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", tc.desc, csp)
		}
		if strings.Contains(w.Body.String(), "http://") || strings.Contains(w.Body.String(), "https://") {
			t.Errorf("%s: refers to another origin", tc.desc)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/dashboard/admin/routes", nil))
	if w.Code != 404 {
		t.Errorf("relay without an admin API: %d", w.Code)
	}
}
