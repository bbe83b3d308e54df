package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// TestHeadFollowsTheGetRoute: a route that lists GET answers HEAD too, with
// its policies (RFC 9110 section 9.3.2: HEAD is GET without the content;
// the upstream runs its GET handler). Before, HEAD fell to the next route
// that matched, here a catch-all without authentication: HEAD
// /admin/report got the upstream's 200, its length and its headers where
// GET got 401.
func TestHeadFollowsTheGetRoute(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
routes:
  - name: reports
    paths: [{prefix: /admin}]
    methods: [GET]
    service: svc
    policies:
      - {kind: auth, methods: [{api_key: {}}]}
  - name: site
    paths: [{prefix: /}]
    service: svc
    auth: none
consumers:
  - {name: app, credentials: {api_keys: [{id: k1, hash: "%s"}]}}
ops: {address: "{{ops}}"}
`, up.URL, hash)))
	c := clientFrom(t, "127.0.0.1")
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method+" without a key is refused", func(t *testing.T) {
			resp, _ := doRequest(t, c, method, gw.URL("/admin/report"), "")
			if resp.StatusCode != 401 || up.Count() != 0 {
				t.Fatalf("status %d, upstream saw %d request(s): %+v", resp.StatusCode, up.Count(), up.Requests())
			}
		})
		t.Run(method+" with a key reaches the upstream", func(t *testing.T) {
			resp, _ := doRequest(t, c, method, gw.URL("/admin/report"), "", "X-Api-Key", key)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if s := up.Last(t); s.Method != method || s.Header.Get("X-Consumer-Name") != "app" {
				t.Errorf("upstream saw %s as %q", s.Method, s.Header.Get("X-Consumer-Name"))
			}
			up.Reset()
		})
	}
	// The route lists only GET (and so HEAD): other methods go on to the
	// catch-all the operator wrote.
	resp, body := doRequest(t, c, http.MethodPost, gw.URL("/admin/report"), "x")
	if s := passedToUpstream(t, up, resp, body); s.Header.Get("X-Consumer-Name") != "" {
		t.Errorf("the open route sent a consumer: %q", s.Header.Get("X-Consumer-Name"))
	}
}
