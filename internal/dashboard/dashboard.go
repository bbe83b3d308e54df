// Package dashboard is the gateway's own web page on the operations
// listener (/dashboard/): live traffic per route, routes with their
// policies in phase order, upstream health and breakers, recent security
// refusals, bans, consumers and key usage.
//
// Everything is embedded in the binary (embed); the page loads nothing
// from elsewhere (its Content-Security-Policy allows only its own origin).
// It reads exactly two sources:
//
//   - /metrics on the same listener, polled every two seconds: traffic,
//     latency percentiles, refusals (as counter increases), upstream
//     health, breakers and the number of active bans. Without an admin
//     token the page shows this much.
//   - the admin API's read-only endpoints, through a relay on the same
//     listener (/dashboard/admin/...), with the admin token the operator
//     types into the page. The page keeps the token in sessionStorage (the
//     tab's lifetime, never a cookie, so no other site can make the
//     browser send it) and sends it as Authorization: Bearer. The relay
//     passes only GET requests to a fixed list of endpoints, with the
//     Authorization header only; the admin API authenticates and authorizes
//     the token exactly as on its own listener (a viewer token suffices).
//     A relay is needed because the admin API has its own listener, and a
//     page on one origin cannot read another without CORS, which the admin
//     API does not (and should not) grant.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is where the dashboard is served on the operations listener.
const Prefix = "/dashboard/"

// adminReads are the admin API endpoints the page may read, as relayed
// from /dashboard/admin/<name> to /admin/<name>.
var adminReads = map[string]string{
	"status":          "/admin/status",
	"routes":          "/admin/routes",
	"services":        "/admin/services",
	"bans":            "/admin/bans",
	"consumers":       "/admin/consumers",
	"usage/keys":      "/admin/usage/keys",
	"usage/consumers": "/admin/usage/consumers",
}

// Handler serves the page and the relay. admin is the admin API's handler
// (nil when the gateway has no admin block: the relay answers 404 and the
// page shows metrics only).
func Handler(admin http.Handler) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix, http.FileServer(http.FS(sub)))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The page's own origin only: no inline script, no external
		// resource, not framed by another site.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		rest := strings.TrimPrefix(r.URL.Path, Prefix)
		if name, ok := strings.CutPrefix(rest, "admin/"); ok {
			relay(w, r, admin, name)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// relay passes one read to the admin API: the endpoint from the fixed
// list, the query (pagination), and the Authorization header; nothing else
// of the browser's request (no cookies, no other headers).
func relay(w http.ResponseWriter, r *http.Request, admin http.Handler, name string) {
	if admin == nil {
		http.Error(w, "this gateway has no admin API", http.StatusNotFound)
		return
	}
	path, ok := adminReads[name]
	if !ok {
		http.Error(w, "not an endpoint the dashboard reads", http.StatusNotFound)
		return
	}
	// #nosec G704 -- a fixed path from adminReads, served in process by the admin handler; nothing is dialled
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, path, nil)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	req.URL.RawQuery = r.URL.RawQuery
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	if a := r.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	admin.ServeHTTP(w, req)
}
