package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestProxyForwardsAndSetsHeaders(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, ""))

	req, _ := http.NewRequest("GET", gw.URL("/hello/world?x=1"), nil)
	req.Header.Set("X-Forwarded-For", "6.6.6.6")
	req.Header.Set("X-Request-Id", "client-chosen")
	req.Header.Set("Connection", "X-Forwarded-Proto, X-Custom")
	req.Header.Set("X-Custom", "drop-me")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	rid := resp.Header.Get("X-Request-Id")
	if rid == "" || rid == "client-chosen" {
		t.Fatalf("request id from an untrusted client must be replaced, got %q", rid)
	}
	seen := up.Last(t)
	if seen.RequestURI != "/hello/world?x=1" {
		t.Errorf("upstream got %q", seen.RequestURI)
	}
	if got := seen.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want the peer only", got)
	}
	if got := seen.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q (a client's Connection header must not remove it)", got)
	}
	if got := seen.Header.Get("X-Request-Id"); got != rid {
		t.Errorf("upstream X-Request-Id = %q, client saw %q", got, rid)
	}
	if seen.Header.Get("X-Custom") != "" {
		t.Error("header named in Connection was forwarded")
	}
	if !strings.HasPrefix(seen.Header.Get("Forwarded"), "for=127.0.0.1;proto=http") {
		t.Errorf("Forwarded = %q", seen.Header.Get("Forwarded"))
	}
}

func TestNotFoundIsProblemJSON(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "`+up.URL+`"}]}]
routes:
  - name: only
    paths: [{exact: /only}]
    methods: [GET]
    service: svc
ops: {address: "{{ops}}"}
`))
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/nope", 404}, {"POST", "/only", 405}} {
		req, _ := http.NewRequest(tc.method, gw.URL(tc.path), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		err = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%s %s: status %d type %q err %v", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		if p["request_id"] != resp.Header.Get("X-Request-Id") || p["status"].(float64) != float64(tc.status) {
			t.Errorf("problem body %v", p)
		}
		// A route that lists GET answers HEAD too (TestHeadFollowsTheGetRoute).
		if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("Allow = %q", resp.Header.Get("Allow"))
		}
	}
	if up.Count() != 0 {
		t.Fatalf("upstream saw %d requests", up.Count())
	}
}

// TestOpsAuthStats checks that authentication outcomes and API key usage are
// visible on the ops listener, and that no key material is.
func TestOpsAuthStats(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "`+up.URL+`"}]}]
routes:
  - name: keyed
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {}}]
consumers:
  - name: stats-app
    credentials:
      api_keys: [{id: stats-key, hash: "`+hash+`"}]
ops: {address: "{{ops}}"}
`))
	for _, k := range []string{key, key, "pcl_wrong"} {
		req, _ := http.NewRequest("GET", gw.URL("/x"), nil)
		req.Header.Set("X-API-Key", k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + gw.OpsAddr + "/stats/auth")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var stats struct {
		Authentication []struct {
			Route, Method, Outcome, Reason string
			Value                          uint64
		}
		APIKeys []struct {
			ID       string `json:"key_id"`
			Requests uint64
		} `json:"api_keys"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var ok, bad uint64
	for _, c := range stats.Authentication {
		if c.Route == "keyed" && c.Method == "api_key" && c.Outcome == "success" {
			ok = c.Value
		}
		if c.Route == "keyed" && c.Outcome == "failure" {
			bad += c.Value
		}
	}
	if ok != 2 || bad != 1 {
		t.Errorf("auth counters: success %d failure %d, want 2 and 1: %s", ok, bad, body)
	}
	if len(stats.APIKeys) != 1 || stats.APIKeys[0].ID != "stats-key" || stats.APIKeys[0].Requests != 2 {
		t.Errorf("api key usage: %+v", stats.APIKeys)
	}
	if strings.Contains(string(body), key) || strings.Contains(string(body), hash) {
		t.Error("stats leak key material")
	}
}
