package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// leakyUpstream answers like a service that says too much: internal headers,
// secret fields, stack traces.
func leakyUpstream(t *testing.T) *Upstream {
	return NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Server", "Apache/2.4.1 (Unix)")
		h.Set("X-Powered-By", "PHP/5.6.40")
		h.Set("X-Internal-Host", "db-node7.internal")
		h.Set("Access-Control-Allow-Origin", "*") // the gateway's CORS decides, not this
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/user"):
			h.Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":7,"name":"Ada","password":"hunter2","PassWord":"x","pass\u0077ord":"y","items":[{"sku":"a","secret":"s1"},{"sku":"b","secret":"s2"}],"internal":{"node":"db-node7"}}`)
		case strings.HasSuffix(p, "/big"), strings.HasSuffix(p, "/big-chunked"):
			h.Set("Content-Type", "application/json")
			if strings.HasSuffix(p, "/big") {
				h.Set("Content-Length", fmt.Sprint(len(leakyBig)))
			}
			_, _ = io.WriteString(w, leakyBig[:len(leakyBig)/2])
			w.(http.Flusher).Flush() // chunked: the size is known only at the end
			_, _ = io.WriteString(w, leakyBig[len(leakyBig)/2:])
		case strings.HasSuffix(p, "/boom"):
			h.Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, leakyTrace)
		case strings.HasSuffix(p, "/notfound"):
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":"no such order"}`)
		case strings.HasSuffix(p, "/text"):
			h.Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "password=hunter2")
		default:
			h.Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok")
		}
	})
}

const leakyTrace = "java.lang.NullPointerException: secret_key=abc\n\tat com.acme.orders.Service.load(Service.java:42)\n"

// leakyBig is a JSON document larger than the routes' max_bytes (64KiB),
// with a secret in it.
var leakyBig = `{"password":"hunter2","pad":"` + strings.Repeat("x", 100<<10) + `"}`

func responseConfig(up *Upstream, consumers string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets:
      - url: %s
consumers:
%s
routes:
  - name: deny
    paths: [{prefix: /deny}]
    service: svc
    policies:
      - kind: filter_fields
        deny: [password, "items[].secret", internal]
        max_bytes: 64KiB
      - kind: security_headers
        strip: [X-Internal-Host]
      - kind: hide_errors
  - name: allow
    paths: [{prefix: /allow}]
    service: svc
    policies:
      - kind: hide_errors
      - kind: filter_fields
        allow: [id, name, "items[].sku"]
        strict: true
  - name: plain
    paths: [{prefix: /plain}]
    service: svc
  - name: private
    paths: [{prefix: /private}]
    service: svc
    policies:
      - kind: auth
        methods:
          - api_key: {}
      - kind: security_headers
  - name: cors
    paths: [{prefix: /cors}]
    methods: [GET, PUT, OPTIONS]
    service: svc
    policies:
      - kind: cors
        origins: ["https://app.example.com", "https://*.example.org"]
        methods: [GET, PUT]
        headers: [Content-Type, Authorization]
        expose_headers: [X-Total-Count]
        credentials: true
        max_age: 10m
      - kind: auth
        methods:
          - api_key: {}
  - name: v2
    paths: [{prefix: /orders}]
    service: svc
  - name: v1
    paths: [{prefix: /orders}]
    headers: [{name: X-Api-Version, value: "1"}]
    priority: 10
    service: svc
    policies:
      - kind: deprecation
        deprecated: 2026-01-01T00:00:00Z
        sunset: 2027-01-01T00:00:00Z
        link: https://developer.example.com/v1-sunset
  - name: v1-media
    paths: [{prefix: /orders}]
    headers: [{name: Accept, regex: '.*\bapplication/vnd\.example\.v1\+json\b.*'}]
    priority: 10
    service: svc
    policies:
      - kind: deprecation
        deprecated: true
ops:
  address: "{{ops}}"
`, up.URL, consumers))
}

func responseGet(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	return responseDo(t, "GET", url, header)
}

func responseDo(t *testing.T, method, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(b)
}

func expectNoLeak(t *testing.T, what, text string) {
	t.Helper()
	// None of these can occur in a request id (hex and a counter), which the
	// gateway's own problem bodies carry: "db-7" once matched one by chance.
	for _, s := range []string{"hunter2", "secret_key", "NullPointer", "Service.java", "s1", "db-node7", "Apache", "PHP"} {
		if strings.Contains(text, s) {
			t.Errorf("%s leaks %q: %s", what, s, text)
		}
	}
}

func TestResponseFiltering(t *testing.T) {
	key, hash := akGenerate(t)
	up := leakyUpstream(t)
	gw := StartGateway(t, responseConfig(up, fmt.Sprintf("  - name: alice\n    credentials:\n      api_keys:\n        - {id: a1, hash: %q}\n", hash)))

	t.Run("deny list and headers", func(t *testing.T) {
		resp, body := responseGet(t, gw.URL("/deny/user"), map[string]string{"Accept-Encoding": "gzip"})
		if resp.StatusCode != 200 || body != `{"id":7,"name":"Ada","items":[{"sku":"a"},{"sku":"b"}]}` {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("Content-Length %d for %d bytes", resp.ContentLength, len(body))
		}
		for _, k := range []string{"Server", "X-Powered-By", "X-Internal-Host"} {
			if v := resp.Header.Get(k); v != "" {
				t.Errorf("%s: %q reached the client", k, v)
			}
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("security headers: %v", resp.Header)
		}
		if resp.Header.Get("Cache-Control") != "" {
			t.Errorf("anonymous response got Cache-Control %q", resp.Header.Get("Cache-Control"))
		}
		// The filter asked the upstream for a body it can read.
		if ae := up.Last(t).Header.Get("Accept-Encoding"); ae != "" {
			t.Errorf("upstream got Accept-Encoding %q", ae)
		}
	})

	t.Run("allow list", func(t *testing.T) {
		resp, body := responseGet(t, gw.URL("/allow/user"), nil)
		if resp.StatusCode != 200 || body != `{"id":7,"name":"Ada","items":[{"sku":"a"},{"sku":"b"}]}` {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		expectNoLeak(t, "allow body", body)
		// strict: a body that is not JSON is refused, not passed.
		resp, body = responseGet(t, gw.URL("/allow/text"), nil)
		expectProblem(t, resp, body, http.StatusBadGateway)
		expectNoLeak(t, "strict refusal", body)
		// hide_errors and filter_fields together: the generic problem.
		resp, body = responseGet(t, gw.URL("/allow/boom"), nil)
		expectProblem(t, resp, body, http.StatusInternalServerError)
		expectNoLeak(t, "hidden 500", body)
	})

	t.Run("oversized body refused, not leaked", func(t *testing.T) {
		for _, p := range []string{"/deny/big", "/deny/big-chunked"} {
			up.Reset()
			resp, body := responseGet(t, gw.URL(p), nil)
			expectProblem(t, resp, body, http.StatusBadGateway)
			expectNoLeak(t, p, body)
			if up.Count() != 1 {
				t.Errorf("%s: upstream saw %d requests", p, up.Count())
			}
			for _, k := range []string{"Server", "X-Internal-Host"} {
				if resp.Header.Get(k) != "" {
					t.Errorf("%s: %s leaked on the refusal", p, k)
				}
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(gw.Stdout.String(), "response filter: response body larger than max_bytes") {
			if time.Now().After(deadline) {
				t.Fatalf("access log has no reason:\n%s", gw.Stdout.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("stack trace replaced", func(t *testing.T) {
		resp, body := responseGet(t, gw.URL("/deny/boom"), nil)
		expectProblem(t, resp, body, http.StatusInternalServerError)
		expectNoLeak(t, "500 body", body)
		if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" {
			t.Errorf("500 headers: %v", resp.Header)
		}
		// 4xx bodies are the client's business and pass (filtered).
		resp, body = responseGet(t, gw.URL("/deny/notfound"), nil)
		if resp.StatusCode != 404 || body != `{"error":"no such order"}` {
			t.Errorf("404: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("gateway default strips Server and X-Powered-By", func(t *testing.T) {
		resp, body := responseGet(t, gw.URL("/plain/text"), nil)
		if resp.StatusCode != 200 || body != "password=hunter2" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("Server") != "" || resp.Header.Get("X-Powered-By") != "" {
			t.Errorf("headers: %v", resp.Header)
		}
		if resp.Header.Get("X-Internal-Host") == "" {
			t.Error("X-Internal-Host is only stripped where configured")
		}
	})

	t.Run("authenticated responses are not stored", func(t *testing.T) {
		resp, _ := responseGet(t, gw.URL("/private/x"), map[string]string{"X-Api-Key": key})
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%d Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	})

	t.Run("deprecation and version by header", func(t *testing.T) {
		resp, _ := responseGet(t, gw.URL("/orders/1"), map[string]string{"X-Api-Version": "1"})
		if resp.StatusCode != 200 || resp.Header.Get("Deprecation") != "@1767225600" ||
			resp.Header.Get("Sunset") != "Fri, 01 Jan 2027 00:00:00 GMT" ||
			resp.Header.Get("Link") != `<https://developer.example.com/v1-sunset>; rel="sunset"` {
			t.Errorf("v1: %d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = responseGet(t, gw.URL("/orders/1"), map[string]string{"Accept": "application/vnd.example.v1+json; q=1, */*"})
		if resp.StatusCode != 200 || resp.Header.Get("Deprecation") != "true" || resp.Header.Get("Sunset") != "" {
			t.Errorf("v1 by media type: %d %v", resp.StatusCode, resp.Header)
		}
		for _, h := range []map[string]string{nil, {"X-Api-Version": "2"}, {"Accept": "application/vnd.example.v2+json"}} {
			resp, _ = responseGet(t, gw.URL("/orders/1"), h)
			if resp.StatusCode != 200 || resp.Header.Get("Deprecation") != "" || resp.Header.Get("Sunset") != "" {
				t.Errorf("v2 %v: %d %v", h, resp.StatusCode, resp.Header)
			}
		}
	})

	t.Run("cors", func(t *testing.T) {
		up.Reset()
		preflight := map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "authorization,content-type"}
		resp, body := responseDo(t, "OPTIONS", gw.URL("/cors/orders"), preflight)
		if resp.StatusCode != 204 || body != "" || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			resp.Header.Get("Access-Control-Allow-Methods") != "GET, PUT" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			resp.Header.Get("Access-Control-Max-Age") != "600" || !strings.Contains(resp.Header.Get("Vary"), "Origin") {
			t.Errorf("preflight: %d %q %v", resp.StatusCode, body, resp.Header)
		}
		// Refused preflights: 403 problem, no CORS headers.
		for name, h := range map[string]map[string]string{
			"origin":     {"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
			"lookalike":  {"Origin": "https://app.example.com.evil.net", "Access-Control-Request-Method": "GET"},
			"method":     {"Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE"},
			"header":     {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-admin"},
			"null":       {"Origin": "null", "Access-Control-Request-Method": "GET"},
			"subdomain?": {"Origin": "https://example.org", "Access-Control-Request-Method": "GET"},
		} {
			resp, body := responseDo(t, "OPTIONS", gw.URL("/cors/orders"), h)
			expectProblem(t, resp, body, http.StatusForbidden)
			expectNoCORS(t, name, resp)
		}
		if n := up.Count(); n != 0 {
			t.Fatalf("preflights reached the upstream %d times", n)
		}

		// Actual requests: the exact origin, credentials, Vary; the
		// upstream's own "*" is gone.
		resp, _ = responseGet(t, gw.URL("/cors/orders"), map[string]string{"Origin": "https://a.example.org", "X-Api-Key": key})
		if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://a.example.org" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" || resp.Header.Get("Access-Control-Expose-Headers") != "X-Total-Count" ||
			!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("allowed origin: %d %v", resp.StatusCode, resp.Header)
		}
		resp, _ = responseGet(t, gw.URL("/cors/orders"), map[string]string{"Origin": "https://evil.example.com", "X-Api-Key": key})
		if resp.StatusCode != 200 {
			t.Errorf("disallowed origin status %d", resp.StatusCode)
		}
		expectNoCORS(t, "disallowed origin", resp)
		if up.Count() != 2 {
			t.Errorf("upstream saw %d actual requests, want 2", up.Count())
		}
		// A preflight carries no credentials; the actual request still needs
		// them. The 401 carries the CORS headers for an allowed origin, so
		// the page can read it, and none for another origin; the upstream
		// sees neither.
		up.Reset()
		resp, body = responseGet(t, gw.URL("/cors/orders"), map[string]string{"Origin": "https://app.example.com"})
		expectProblem(t, resp, body, http.StatusUnauthorized)
		if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("401 for an allowed origin lacks CORS headers: %v", resp.Header)
		}
		resp, body = responseGet(t, gw.URL("/cors/orders"), map[string]string{"Origin": "https://evil.example.com", "X-Api-Key": "pcl_forged"})
		expectProblem(t, resp, body, http.StatusUnauthorized)
		expectNoCORS(t, "401 for a disallowed origin", resp)
		if n := up.Count(); n != 0 {
			t.Errorf("refused requests reached the upstream %d times", n)
		}
	})
}

func expectNoCORS(t *testing.T, what string, resp *http.Response) {
	t.Helper()
	for k := range resp.Header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("%s: got %s: %q", what, k, resp.Header.Get(k))
		}
	}
}

func expectProblem(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	var p struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" ||
		json.Unmarshal([]byte(body), &p) != nil || p.Status != status || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") {
		t.Errorf("want a %d problem, got %d %q %s", status, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// TestFilterFieldsDeniesAtEveryDepthForEveryJSONMediaType: a deny list
// removes the named members wherever they appear (the root, nested
// objects, objects inside arrays, arrays inside arrays, a two-step path
// under another object), for a real upstream answering the same nested
// document as application/json, text/json, application/*+json, with
// parameters, in upper case, and with a malformed parameter; the client
// gets valid JSON with every other member, and a text/plain answer passes
// unchanged.
func TestFilterFieldsDeniesAtEveryDepthForEveryJSONMediaType(t *testing.T) {
	const doc = `{"id":1,"password":"p0","user":{"name":"ada","Password":"p1","profile":{"password":"p2","city":"x"},
"card":{"number":"n1","last4":"4242"}},"users":[{"id":2,"password":"p3","sessions":[{"token":"t1","password":"p4","ok":true}]},
[{"password":"p5","k":3}]],"org":{"owner":{"card":{"number":"n2","last4":"1111"}}}}`
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("ct"))
		_, _ = io.WriteString(w, doc)
	})
	gw := StartGateway(t, simpleConfig(up, `    policies:
      - kind: filter_fields
        deny: [password, "card.number", "sessions[].token"]`))
	want := `{"id":1,"user":{"name":"ada","profile":{"city":"x"},"card":{"last4":"4242"}},"users":[{"id":2,"sessions":[{"ok":true}]},[{"k":3}]],"org":{"owner":{"card":{"last4":"1111"}}}}`
	for _, ct := range []string{
		"application/json",
		"application/json; charset=utf-8",
		"text/json",
		"text/json;charset=UTF-8",
		"application/vnd.api+json",
		"application/problem+json; charset=utf-8",
		"APPLICATION/JSON",
		"application/json; charset",
	} {
		resp, err := http.Get(gw.URL("/doc?ct=" + url.QueryEscape(ct)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%q: status %d: %s", ct, resp.StatusCode, body)
			continue
		}
		var got, exp any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%q: not JSON: %v: %s", ct, err, body)
			continue
		}
		_ = json.Unmarshal([]byte(want), &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%q: client got\n%s\nwant\n%s", ct, body, want)
		}
		for _, secret := range []string{"p0", "p1", "p2", "p3", "p4", "p5", "n1", "n2", "t1"} {
			if strings.Contains(string(body), `"`+secret+`"`) {
				t.Errorf("%q: %s reached the client", ct, secret)
			}
		}
	}
	// Not JSON: passed unchanged (the policy is not strict).
	resp, err := http.Get(gw.URL("/doc?ct=" + url.QueryEscape("text/plain")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != doc {
		t.Errorf("text/plain was changed: %s", body)
	}
}
