package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium. The dashboard test needs a real
// browser: without one it fails (install it with `apt-get install -y
// chromium`; .ci/run does).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: the dashboard test drives a real browser (apt-get install -y chromium)")
	return ""
}

// TestDashboardInHeadlessChromium opens /dashboard/ on the ops listener in
// headless Chromium, sends allowed traffic, a refused request (no API key)
// and a request to no route through the gateway, and waits until the page
// shows them: the route's totals and its 4xx in the traffic table, the
// refusal in the feed naming the policy and phase. Then it types a viewer
// admin token into the page and waits for the admin API's data: routes
// with their policies in phase order, the manual ban, the consumer and its
// key's usage. It saves a screenshot (test/e2e/artifacts/dashboard.png, and
// the path is logged) and checks that a wrong token is refused by the
// admin API through the relay, and that the relay reads nothing but its
// fixed endpoints.
func TestDashboardInHeadlessChromium(t *testing.T) {
	browser := chromiumPath(t)
	up := NewUpstream(t, nil)
	// The keyed route lists its policies out of phase order: the page
	// shows them in the order they run.
	n := startAdminNode(t, up, adminOpts{routes: `
  - name: keyed
    paths: [{prefix: /key}]
    service: app
    policies:
      - {kind: response_headers, set: {X-Served-By: gw}}
      - {kind: request_headers, set: {X-Route: keyed}}
      - {kind: rate_limit, key: route, limits: [{rate: 1000, per: 1s, burst: 1000}]}
      - kind: auth
        methods: [{api_key: {}}]
  - name: open
    paths: [{prefix: /open}]
    service: app
    auth: none`})
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme", "groups": []string{"partners"}})
	key := n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "acme-k1"}).Str(t, "api_key")
	viewer := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "dash", "role": "viewer"}).Str(t, "token")
	n.mustAPI(t, 201, "POST", "/admin/bans", map[string]any{"address": "192.0.2.7", "duration": "1h", "reason": "dashboard test"})
	deadline := time.Now().Add(20 * time.Second)
	for keyGet(t, n.Gateway, "/key/x", key) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the API key made through the admin API never worked")
		}
		time.Sleep(100 * time.Millisecond)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1400, 1300))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()

	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	// waitText polls the page until the element's text has every want.
	waitText := func(desc, sel string, want ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := text(sel)
			missing := ""
			for _, w := range want {
				if !strings.Contains(got, w) {
					missing = w
					break
				}
			}
			if missing == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s never showed %q; it shows:\n%s", desc, sel, missing, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	rowText := func(sel, key string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel+` tr[data-key="`+key+`"]`)))
		if err != nil {
			t.Fatalf("%s row %s: %v", sel, key, err)
		}
		return s
	}
	page := "http://" + n.OpsAddr + "/dashboard/"
	if err := chromedp.Do(ctx, chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#traffic"))); err != nil {
		t.Fatal(err)
	}
	waitText("the page reading /metrics", "#status", "live")
	// The page is live: now the traffic.
	for range 5 {
		if s := keyGet(t, n.Gateway, "/open/hello", ""); s != 200 {
			t.Fatalf("open: %d", s)
		}
	}
	if s := keyGet(t, n.Gateway, "/key/x", key); s != 200 {
		t.Fatalf("keyed with the key: %d", s)
	}
	before := up.Count()
	if s := keyGet(t, n.Gateway, "/key/x", ""); s != 401 {
		t.Fatalf("keyed without a key: %d", s)
	}
	if up.Count() != before {
		t.Fatal("the refused request reached the upstream")
	}
	if s := keyGet(t, n.Gateway, "/nowhere", ""); s != 404 {
		t.Fatalf("no route: %d", s)
	}

	waitText("the allowed traffic", "#traffic tbody", "open", "keyed")
	waitText("the refusal", "#refusals", "route keyed: refused by auth (authn phase)", "no route matched")
	waitText("the upstream", "#upstreams tbody", "app", up.Addr, "up")
	waitText("the security events", "#events tbody", "auth_failure", "not_found")
	if cells := strings.Fields(rowText("#traffic", "open")); len(cells) < 10 || cells[len(cells)-5] != "5" || cells[len(cells)-4] != "5" {
		t.Errorf("traffic row of open: %q (want 5 requests, 5 2xx)", cells)
	}
	if cells := strings.Fields(rowText("#traffic", "keyed")); len(cells) < 10 || cells[len(cells)-2] != "1" {
		t.Errorf("traffic row of keyed: %q (want one 4xx)", cells)
	}
	if got := text("#admin-state"); got != "metrics only" {
		t.Errorf("without a token the admin state reads %q", got)
	}

	// A wrong token: the admin API refuses it through the relay.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), "pcladm_wrong"), chromedp.Click(chromedp.CSS("#token-save"))); err != nil {
		t.Fatal(err)
	}
	waitText("the wrong token refused", "#admin-state", "admin API:")
	if got := text("#admin-state"); strings.Contains(got, "connected") {
		t.Fatalf("a wrong token connected: %q", got)
	}
	// The viewer token: the admin API's data appears.
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#token"), viewer), chromedp.Click(chromedp.CSS("#token-save"))); err != nil {
		t.Fatal(err)
	}
	waitText("the admin connection", "#admin-state", "admin API: connected")
	waitText("the routes in phase order", "#routes tbody", "keyed", "authn", "auth")
	row := rowText("#routes", "keyed")
	last := -1
	for _, phase := range []string{"authn", "limit", "rewrite", "response"} {
		i := strings.Index(row, phase)
		if i <= last {
			t.Fatalf("routes row %q: %s not after the phase before it", row, phase)
		}
		last = i
	}
	waitText("the ban", "#bans tbody", "192.0.2.7", "dashboard test")
	waitText("the consumer", "#consumers tbody", "acme", "partners")
	waitText("the key usage", "#keys tbody", "acme-k1", "acme")
	if stored, err := chromedp.Run(ctx, chromedp.Evaluate[string](`sessionStorage.getItem("portcullis-admin-token")`)); err != nil || stored != viewer {
		t.Errorf("the token is not in sessionStorage: %q %v", stored, err)
	}
	if cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || cookies != "" {
		t.Errorf("the page set cookies: %q %v", cookies, err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "dashboard.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil { // #nosec G306 -- a test artifact
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(shot)
	t.Logf("dashboard screenshot: %s (%d bytes)", abs, len(png))

	// The relay: only GET, only its endpoints, and the admin API decides.
	relay := func(method, path, token string) int {
		req, _ := http.NewRequest(method, "http://"+n.OpsAddr+"/dashboard/admin/"+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		desc, method, path, token string
		want                      int
	}{
		{"viewer reads routes", "GET", "routes", viewer, 200},
		{"no token", "GET", "routes", "", 401},
		{"wrong token", "GET", "bans", "pcladm_wrong", 401},
		{"tokens are not relayed", "GET", "tokens", n.Token, 404},
		{"audit is not relayed", "GET", "audit", n.Token, 404},
		{"a write is not relayed", "POST", "bans", n.Token, 405},
		{"a delete is not relayed", "DELETE", "bans/192.0.2.7", n.Token, 405},
		{"no path tricks", "GET", "../tokens", n.Token, 404},
	} {
		if got := relay(tc.method, tc.path, tc.token); got != tc.want {
			t.Errorf("%s: %s %s = %d, want %d", tc.desc, tc.method, tc.path, got, tc.want)
		}
	}
	if bans := n.mustAPI(t, 200, "GET", "/admin/bans", nil).JSON(t)["items"].([]any); len(bans) != 1 {
		t.Errorf("bans after the relay checks: %v", bans)
	}
}
