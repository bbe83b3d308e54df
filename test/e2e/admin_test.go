package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAdminKeyLifecycle: a consumer and an API key made through the admin
// API work on the proxy at once; the key is in the creation answer only;
// a revoked key is refused at once and never reaches the upstream.
func TestAdminKeyLifecycle(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme", "groups": []string{"partners"}, "metadata": map[string]string{"team": "x"}})
	r := n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "acme-k1"})
	key := r.Str(t, "api_key")
	if !strings.HasPrefix(key, "pcl_") {
		t.Fatalf("no key in the creation answer: %s", r.Body)
	}
	if got := keyGet(t, n.Gateway, "/key/x", key); got != 200 {
		t.Fatalf("new key: %d", got)
	}
	seen := up.Last(t)
	if seen.Header.Get("X-Consumer-Name") != "acme" || seen.Header.Get("X-Credential-Id") != "acme-k1" || seen.Header.Get("X-Consumer-Groups") != "partners" {
		t.Fatalf("upstream saw %v", seen.Header)
	}
	if seen.Header.Get("X-Api-Key") != "" {
		t.Fatal("the key reached the upstream")
	}
	// Never again: not in a read, not in a list.
	for _, p := range []string{"/admin/consumers/acme/credentials/acme-k1", "/admin/consumers/acme/credentials"} {
		if b := n.mustAPI(t, 200, "GET", p, nil).Body; strings.Contains(string(b), key) || strings.Contains(string(b), "api_key\":") {
			t.Fatalf("%s repeats the key: %s", p, b)
		}
	}
	n.mustAPI(t, 204, "DELETE", "/admin/consumers/acme/credentials/acme-k1", nil)
	before := up.Count()
	if got := keyGet(t, n.Gateway, "/key/x", key); got != 401 {
		t.Fatalf("revoked key: %d, want 401 at once", got)
	}
	if up.Count() != before {
		t.Fatal("a request with a revoked key reached the upstream")
	}
	// The consumer and its remaining state can be deleted.
	n.mustAPI(t, 204, "DELETE", "/admin/consumers/acme", nil)
	n.mustAPI(t, 404, "GET", "/admin/consumers/acme", nil)
}

// TestAdminRotationGrace: after a rotation both keys work; the old one
// stops at its grace deadline and not before.
func TestAdminRotationGrace(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	old := n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k-old", "prefix": "pk_live"}).Str(t, "api_key")
	rot := n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials/k-old/rotate", map[string]any{"grace": "3s", "id": "k-new"}).JSON(t)
	newKey, _ := rot["new"].(map[string]any)["api_key"].(string)
	oldView := rot["old"].(map[string]any)
	if !strings.HasPrefix(newKey, "pk_live_") || oldView["replaced_by"] != "k-new" || oldView["not_after"] == "" {
		t.Fatalf("rotation answer: %v", rot)
	}
	deadline, err := time.Parse(time.RFC3339, oldView["not_after"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if got := keyGet(t, n.Gateway, "/key/x", old); got != 200 {
		t.Fatalf("old key within its grace: %d", got)
	}
	if got := keyGet(t, n.Gateway, "/key/x", newKey); got != 200 {
		t.Fatalf("new key: %d", got)
	}
	time.Sleep(time.Until(deadline) + 200*time.Millisecond)
	before := up.Count()
	if got := keyGet(t, n.Gateway, "/key/x", old); got != 401 {
		t.Fatalf("old key after its deadline: %d", got)
	}
	if up.Count() != before {
		t.Fatal("the rotated-out key reached the upstream")
	}
	if got := keyGet(t, n.Gateway, "/key/x", newKey); got != 200 {
		t.Fatalf("new key after the deadline: %d", got)
	}
	// A second rotation of a non-api_key credential is refused by name.
	n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "basic", "id": "b1", "username": "acme", "password": "correct horse battery"})
	if r := n.api(t, "POST", "/admin/consumers/acme/credentials/b1/rotate", map[string]any{}); r.Status != 400 {
		t.Fatalf("rotate basic: %d %s", r.Status, r.Body)
	}
}

// TestAdminRoles: no token is 401; a viewer reads but cannot write; an
// operator writes consumers but cannot create admin tokens; an admin can.
func TestAdminRoles(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	for _, tc := range []struct{ desc, token string }{
		{"no token", ""},
		{"garbage", "nope"},
		{"well-formed unknown token", "pcladm_" + strings.Repeat("A", 43) + "000000"},
		{"an API key is not an admin token", "pcl_" + strings.Repeat("A", 43) + "000000"},
	} {
		r := api(t, n.AdminAddr, tc.token, "GET", "/admin/consumers", nil)
		if r.Status != 401 || r.Header.Get("Content-Type") != "application/problem+json" || r.Header.Get("Www-Authenticate") == "" {
			t.Errorf("%s: %d %v %s", tc.desc, r.Status, r.Header, r.Body)
		}
	}
	if r := api(t, n.AdminAddr, "", "GET", "/admin/no-such-thing", nil); r.Status != 401 {
		t.Errorf("an unknown path without a token: %d (must not reveal what exists)", r.Status)
	}
	viewer := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "ro", "role": "viewer"}).Str(t, "token")
	operator := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "ops", "role": "operator"}).Str(t, "token")
	if r := api(t, n.AdminAddr, viewer, "GET", "/admin/consumers", nil); r.Status != 200 {
		t.Fatalf("viewer read: %d", r.Status)
	}
	for _, tc := range []struct{ desc, token, method, path string }{
		{"viewer creates a consumer", viewer, "POST", "/admin/consumers"},
		{"viewer lists tokens", viewer, "GET", "/admin/tokens"},
		{"viewer reloads", viewer, "POST", "/admin/reload"},
		{"operator creates a token", operator, "POST", "/admin/tokens"},
		{"operator rekeys", operator, "POST", "/admin/rekey"},
	} {
		if r := api(t, n.AdminAddr, tc.token, tc.method, tc.path, map[string]any{"name": "x", "role": "admin"}); r.Status != 403 {
			t.Errorf("%s: %d %s", tc.desc, r.Status, r.Body)
		}
	}
	if r := api(t, n.AdminAddr, operator, "POST", "/admin/consumers", map[string]any{"name": "by-operator"}); r.Status != 201 {
		t.Fatalf("operator creates a consumer: %d %s", r.Status, r.Body)
	}
	// A deleted token stops working at once.
	id := ""
	for _, it := range n.mustAPI(t, 200, "GET", "/admin/tokens", nil).JSON(t)["items"].([]any) {
		if it.(map[string]any)["name"] == "ro" {
			id = it.(map[string]any)["id"].(string)
		}
	}
	n.mustAPI(t, 204, "DELETE", "/admin/tokens/"+id, nil)
	if r := api(t, n.AdminAddr, viewer, "GET", "/admin/consumers", nil); r.Status != 401 {
		t.Fatalf("deleted token: %d", r.Status)
	}
}

// TestAdminConcurrentUpdates: two updates of one consumer from the same
// version: one wins, the other gets 412, and nothing is lost silently.
func TestAdminConcurrentUpdates(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	r := n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	tag := r.Header.Get("ETag")
	if tag != `"1"` {
		t.Fatalf("ETag %q", tag)
	}
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = n.api(t, "PUT", "/admin/consumers/acme", map[string]any{"groups": []string{[]string{"a", "b"}[i]}}, "If-Match", tag).Status
		}()
	}
	wg.Wait()
	if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
		t.Fatalf("statuses %v, want one 200 and one 412", codes)
	}
	got := n.mustAPI(t, 200, "GET", "/admin/consumers/acme", nil)
	if got.Header.Get("ETag") != `"2"` {
		t.Fatalf("ETag after one update: %q", got.Header.Get("ETag"))
	}
	r412 := n.api(t, "DELETE", "/admin/consumers/acme", nil, "If-Match", tag)
	if r412.Status != 412 || r412.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("stale delete: %d %s", r412.Status, r412.Body)
	}
}

// TestAdminNotOnProxyListener: the admin API answers only on its own
// listener; on the proxy, /admin/... is just a path (here routed nowhere),
// and an admin token there is worth nothing.
func TestAdminNotOnProxyListener(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	req, _ := http.NewRequest("GET", n.URL("/admin/consumers"), nil)
	req.Header.Set("Authorization", "Bearer "+n.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 404 || up.Count() != 0 {
		t.Fatalf("proxy /admin/consumers: %d (upstream saw %d)", resp.StatusCode, up.Count())
	}
	// A config that puts the admin API on a proxy listener's address, or
	// on a public address without TLS, does not start.
	addr := freeAddr(t)
	for _, tc := range []struct{ desc, admin, want string }{
		{"admin on the proxy listener", `{address: "` + addr + `"}`, "never answers on a proxy listener"},
		{"public address without tls", `{address: "0.0.0.0:19999"}`, "requires tls"},
	} {
		path := writeFile(t, "gw.yaml", `version: 1
listeners: [{name: public, address: "`+addr+`"}]
services: [{name: app, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: r, paths: [{prefix: /}], service: app, auth: none}]
admin: `+tc.admin+"\n")
		res := runCLI(t, nil, "validate", "--config", path)
		if res.code != 1 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%s: %d %s", tc.desc, res.code, res.stderr)
		}
	}
}

// TestAdminBootstrapOnlyOnce: bootstrap refuses a store that already has
// a token, so it cannot be used to mint a second admin.
func TestAdminBootstrapOnlyOnce(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	if n.Token == "" {
		t.Fatal("no bootstrap token")
	}
	res := runCLI(t, nil, "admin", "bootstrap", "--config", n.ConfigPath)
	if res.code != 1 || !strings.Contains(res.stderr, "already has admin tokens") || tokenRE.MatchString(res.stdout) {
		t.Fatalf("second bootstrap: %d %q %q", res.code, res.stdout, res.stderr)
	}
}
