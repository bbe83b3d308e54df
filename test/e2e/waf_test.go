package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// wafConfig: routes under /block, /detect, /exclude and /small, each with
// its own waf policy, all to up.
func wafConfig(up *Upstream) GatewayConfig {
	route := func(name, policy string) string {
		return fmt.Sprintf(`  - name: %s
    paths: [{prefix: /%s}]
    service: svc
    policies:
      - kind: waf
%s
`, name, name, policy)
	}
	return GatewayConfig(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets:
      - url: ` + up.URL + `
routes:
` + route("block", "        mode: blocking\n        paranoia_level: 1\n        anomaly_threshold: 5\n        inspect_body: true\n        body_limit: 128KiB") +
		route("detect", "        mode: detection") +
		route("exclude", "        mode: blocking\n        exclusions: [942100]") +
		route("small", "        mode: blocking\n        body_limit: 1KiB") +
		route("smalldetect", "        mode: detection\n        body_limit: 1KiB") + `ops:
  address: "{{ops}}"
`)
}

// wafReq is one request of a test table.
type wafReq struct {
	name, method, path string
	header             map[string]string
	body               string
}

var wq = url.QueryEscape

// wafAttacks are what the CRS at paranoia 1 must block.
var wafAttacks = []wafReq{
	{"sqli tautology", "GET", "/v1/items?id=" + wq("1' OR '1'='1"), nil, ""},
	{"sqli union select", "GET", "/v1/items?q=" + wq("1 UNION SELECT username, password FROM users"), nil, ""},
	{"xss query", "GET", "/v1/search?q=" + wq("<script>alert(1)</script>"), nil, ""},
	{"xss json body", "POST", "/v1/comments", map[string]string{"Content-Type": "application/json"}, `{"text":"<script>alert(1)</script>"}`},
	{"sqli json body", "POST", "/v1/login", map[string]string{"Content-Type": "application/json"}, `{"user":"admin' OR 1=1--","password":"x"}`},
	// Caught only by rules the WAF's pruning may remove (not libinjection's).
	{"command injection json body", "POST", "/v1/ping", map[string]string{"Content-Type": "application/json"}, `{"host":"127.0.0.1;cat /etc/passwd"}`},
	{"command injection", "GET", "/v1/ping?host=" + wq("127.0.0.1;cat /etc/passwd"), nil, ""},
	{"path traversal", "GET", "/v1/files?file=" + wq("../../etc/passwd"), nil, ""},
	{"log4shell user-agent", "GET", "/v1/items", map[string]string{"User-Agent": "${jndi:ldap://x/a}"}, ""},
	{"log4shell other header", "GET", "/v1/items", map[string]string{"X-Api-Version": "${jndi:ldap://x/a}"}, ""},
	// A restricted header name (the CRS's 920450, which the WAF prunes
	// from requests without one): the middleware-bypass header.
	{"restricted header", "GET", "/v1/items", map[string]string{"X-Middleware-Subrequest": "middleware:middleware:middleware"}, ""},
	// Script in the path: the XSS rules read the path unless it holds
	// only plain bytes (CRS 941010, which the WAF's pruning works out).
	{"xss in the path", "GET", "/v1/items/%3Cscript%3Ealert(1)%3C/script%3E", nil, ""},
	// Traversal in a header (930110, whose screen needs "..").
	{"path traversal header", "GET", "/v1/items", map[string]string{"X-File": "../../../app/config.yaml"}, ""},
	// A GET with a body (920170, a chain the WAF prunes from a GET
	// without Content-Length).
	{"get with a body", "GET", "/v1/items", nil, "a=1"},
}

// wafCorpus is ordinary API traffic that must pass at paranoia 1.
var wafCorpus = func() []wafReq {
	js := map[string]string{"Content-Type": "application/json"}
	get := func(p string) wafReq { return wafReq{"GET " + p, "GET", p, nil, ""} }
	post := func(method, p, body string) wafReq { return wafReq{method + " " + p, method, p, js, body} }
	return []wafReq{
		get("/v1/users"),
		get("/v1/users?page=2&per_page=50"),
		get("/v1/users?name=" + wq("O'Brien")),
		get("/v1/users?name=" + wq("D'Angelo") + "&city=" + wq("L'Aquila")),
		get("/v1/users?email=" + wq("jane.doe+news@example.com")),
		get("/v1/search?q=" + wq("café crème brûlée") + "&lang=fr"),
		get("/v1/search?q=" + wq("東京 ラーメン")),
		get("/v1/search?q=" + wq("how to select a good laptop")),
		get("/v1/search?q=" + wq("rock & roll")),
		get("/v1/orders?status=shipped&sort=-created_at&fields=id,total,currency"),
		get("/v1/orders?created_after=2024-01-01T00:00:00Z&created_before=2024-12-31T23:59:59Z"),
		get("/v1/links?url=" + wq("https://example.com/a/b?c=d&e=f")),
		get("/v1/products?price_min=10.50&price_max=99.99&in_stock=true"),
		get("/v1/products/8f14e45f-ceea-467f-a0e6-2a1b3c4d5e6f"),
		get("/v1/geo?lat=48.8566&lon=2.3522&radius=5km"),
		get("/v1/reports?from=2024-05-01&to=2024-05-31&group_by=week"),
		get("/v1/tags?names=go,rust,typescript"),
		get("/v1/files?path=" + wq("reports/2024/q1.pdf")),
		get("/v1/items?filter[color]=red&filter[size]=M"),
		get("/v1/messages?cursor=eyJpZCI6MTIzfQ%3D%3D&limit=20"),
		post("POST", "/v1/users", `{"name":"Seán O'Brien","email":"sean.obrien@example.ie","password":"correct horse battery staple"}`),
		post("POST", "/v1/users", `{"first_name":"Zoë","last_name":"Ångström","phone":"+46 8 123 456 78"}`),
		post("POST", "/v1/users", `{"name":"Mary-Jane O'Connor","bio":"I'm a developer; I like Go & Rust."}`),
		post("POST", "/v1/comments", `{"text":"Great article! Can't wait for part 2 :)","rating":5}`),
		post("POST", "/v1/comments", `{"text":"Ich würde gern mehr darüber lesen — danke!"}`),
		post("POST", "/v1/comments", `{"text":"这篇文章很有帮助，谢谢！","lang":"zh"}`),
		post("POST", "/v1/orders", `{"items":[{"sku":"A-100","qty":2},{"sku":"B-7","qty":1}],"currency":"EUR","note":"Leave at the door, please."}`),
		post("POST", "/v1/webhooks", `{"url":"https://hooks.example.com/notify?token=abc123","events":["order.created","order.paid"]}`),
		post("POST", "/v1/addresses", `{"street":"12 Rue de l'Église","city":"Saint-Étienne","zip":"42000","country":"FR"}`),
		post("POST", "/v1/events", `{"type":"page_view","ts":"2024-06-01T12:34:56.789Z","meta":{"referrer":"https://www.example.org/","ua":"Mozilla/5.0"}}`),
		post("PUT", "/v1/users/42", `{"display_name":"Renée","timezone":"Europe/Paris","locale":"fr-FR"}`),
		post("PATCH", "/v1/profile", `{"website":"https://blog.example.org/posts?id=7","twitter":"@jane_doe"}`),
		post("POST", "/v1/search", `{"query":"select the best option","filters":{"from":"2024-01-01","to":"2024-02-01"}}`),
		post("POST", "/v1/feedback", `{"subject":"Question about order #1234","body":"Hello,\nmy order hasn't arrived yet. Could you check?\nThanks, Bob"}`),
		{"DELETE /v1/sessions/abc123", "DELETE", "/v1/sessions/abc123", nil, ""},
		{"upload with Expect", "POST", "/v1/uploads", map[string]string{"Content-Type": "application/json", "Expect": "100-continue"}, `{"data":"` + strings.Repeat("abc", 500) + `"}`},
		{"form login", "POST", "/v1/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "username=obrien&password=" + wq("p@ss w0rd!")},
	}
}()

func wafSend(t *testing.T, gw *Gateway, prefix string, r wafReq) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequest(r.method, gw.URL(prefix+r.path), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "api.example.com"
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "example-app/2.3 (+https://example.com)")
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// wafAssertProblem checks a refusal's status and problem body.
func wafAssertProblem(t *testing.T, name string, resp *http.Response, body []byte, status int, detail string) {
	t.Helper()
	var p struct {
		Status    int    `json:"status"`
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%s: status %d type %q body %s", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Status != status || p.Detail != detail || p.RequestID == "" {
		t.Fatalf("%s: problem %s (%v)", name, body, err)
	}
}

func TestWAFBlocksAttacks(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, wafConfig(up))
	for _, a := range wafAttacks {
		resp, body := wafSend(t, gw, "/block", a)
		wafAssertProblem(t, a.name, resp, body, http.StatusForbidden, "The request was refused.")
		if n := up.Count(); n != 0 {
			t.Fatalf("%s: upstream received %d requests", a.name, n)
		}
		// The problem never echoes the payload.
		if bytes.Contains(body, []byte("script")) || bytes.Contains(body, []byte("jndi")) || bytes.Contains(body, []byte("passwd")) {
			t.Fatalf("%s: problem echoes the input: %s", a.name, body)
		}
	}
	if !waitFor(5*time.Second, func() bool {
		return strings.Count(gw.Stdout.String(), `"reason":"validate: waf: rule 949110"`) == len(wafAttacks)
	}) {
		t.Fatalf("access log lacks the waf reasons:\n%s", gw.Stdout.String())
	}
	if !gw.WaitLog(`"msg":"waf blocked a request"`, 5*time.Second) || !gw.WaitLog(`942100`, 5*time.Second) {
		t.Fatalf("blocks not logged with rule ids:\n%s", gw.Stderr.String())
	}
}

// TestWAFRefusesWithoutHost: an HTTP/1.0 request may come without a Host
// header. The CRS refuses it (920280), and then jumps over its other Host
// checks (920280's skipAfter): the WAF keeps the rule set's markers for
// such a request (its pruning leaves them out only when no jump can
// fire), so the scoring runs and the request is refused, with or without
// an attack in it; the upstream never sees one.
func TestWAFRefusesWithoutHost(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, wafConfig(up))
	for _, path := range []string{
		"/block/v1/search?q=hello",
		"/block/v1/search?q=" + wq("<script>alert(1)</script>"),
		"/block/v1/ping?host=" + wq("127.0.0.1;cat /etc/passwd"),
	} {
		resp := rawRequest(t, gw.Addr, "GET "+path+" HTTP/1.0\r\nUser-Agent: example-app/2.3\r\nAccept: */*\r\n\r\n")
		if resp.Status != http.StatusForbidden || !strings.Contains(resp.Body, "The request was refused.") {
			t.Fatalf("%s without a Host: status %d %s", path, resp.Status, resp.Body)
		}
		if n := up.Count(); n != 0 {
			t.Fatalf("%s without a Host: upstream received %d requests", path, n)
		}
	}
	if !gw.WaitLog(`920280`, 5*time.Second) {
		t.Fatalf("refusals not logged with 920280:\n%s", gw.Stderr.String())
	}
}

func TestWAFCleanCorpusPasses(t *testing.T) {
	if len(wafCorpus) < 30 {
		t.Fatalf("corpus has %d requests", len(wafCorpus))
	}
	up := NewUpstream(t, nil)
	gw := StartGateway(t, wafConfig(up))
	for _, r := range wafCorpus {
		up.Reset()
		resp, body := wafSend(t, gw, "/block", r)
		if resp.StatusCode != http.StatusOK || string(body) != "ok" {
			t.Errorf("%s: false positive: status %d %s", r.name, resp.StatusCode, body)
			continue
		}
		seen := up.Last(t)
		if seen.RequestURI != "/block"+r.path || string(seen.Body) != r.body {
			t.Errorf("%s: upstream got %s %q", r.name, seen.RequestURI, seen.Body)
		}
		if r.body != "" && seen.Header.Get("Content-Length") != fmt.Sprint(len(r.body)) {
			t.Errorf("%s: upstream Content-Length %q, want %d", r.name, seen.Header.Get("Content-Length"), len(r.body))
		}
	}
	if strings.Contains(gw.Stderr.String(), "waf blocked") {
		t.Fatalf("clean traffic logged as blocked:\n%s", gw.Stderr.String())
	}
}

func TestWAFDetectionModeLetsThroughAndLogs(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, wafConfig(up))
	for _, a := range wafAttacks {
		up.Reset()
		resp, body := wafSend(t, gw, "/detect", a)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: detection mode answered %d %s", a.name, resp.StatusCode, body)
		}
		seen := up.Last(t)
		if seen.RequestURI != "/detect"+a.path || string(seen.Body) != a.body {
			t.Fatalf("%s: upstream got %s %q", a.name, seen.RequestURI, seen.Body)
		}
	}
	if !waitFor(5*time.Second, func() bool { return strings.Count(gw.Stderr.String(), "waf detected a request") == len(wafAttacks) }) {
		t.Fatalf("detections not logged once per attack:\n%s", gw.Stderr.String())
	}
	for _, id := range []string{"942100", "941100", "932", "930", "944150", "949110"} {
		if !strings.Contains(gw.Stderr.String(), id) {
			t.Errorf("rule %s not in the detection log", id)
		}
	}
}

func TestWAFExclusionDisablesRule(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, wafConfig(up))
	sqli := wafAttacks[0] // matched by 942100 alone
	resp, body := wafSend(t, gw, "/exclude", sqli)
	if resp.StatusCode != http.StatusOK || up.Count() != 1 {
		t.Fatalf("excluded rule still blocks: %d %s", resp.StatusCode, body)
	}
	// The same request is blocked where the rule is not excluded, and
	// other rules still work where it is.
	up.Reset()
	resp, body = wafSend(t, gw, "/block", sqli)
	wafAssertProblem(t, "sqli on /block", resp, body, http.StatusForbidden, "The request was refused.")
	resp, body = wafSend(t, gw, "/exclude", wafAttacks[2])
	wafAssertProblem(t, "xss on /exclude", resp, body, http.StatusForbidden, "The request was refused.")
	if up.Count() != 0 {
		t.Fatalf("upstream received %d requests", up.Count())
	}
}

func TestWAFBodyLimit(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, wafConfig(up))
	js := map[string]string{"Content-Type": "application/json"}
	big := `{"a":"` + strings.Repeat("x", 2048) + `"}`

	// Blocking: a body longer than body_limit is refused, declared or chunked.
	resp, body := wafSend(t, gw, "/small", wafReq{"big", "POST", "/v1/upload", js, big})
	wafAssertProblem(t, "declared", resp, body, http.StatusRequestEntityTooLarge, "The request body is too large.")
	req, _ := http.NewRequest("POST", gw.URL("/small/v1/upload"), io.MultiReader(strings.NewReader(big))) // unknown length: chunked
	req.Header.Set("Content-Type", "application/json")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	wafAssertProblem(t, "chunked", resp2, b2, http.StatusRequestEntityTooLarge, "The request body is too large.")
	if up.Count() != 0 {
		t.Fatalf("upstream received %d requests", up.Count())
	}

	// A chunked body within the limit reaches the upstream whole, with a length.
	small := `{"name":"O'Brien"}`
	req, _ = http.NewRequest("POST", gw.URL("/small/v1/users"), io.MultiReader(strings.NewReader(small)))
	req.Header.Set("Content-Type", "application/json")
	resp3, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	seen := up.Last(t)
	if resp3.StatusCode != 200 || string(seen.Body) != small || seen.Header.Get("Content-Length") != fmt.Sprint(len(small)) {
		t.Fatalf("chunked small body: %d, upstream %q CL %q", resp3.StatusCode, seen.Body, seen.Header.Get("Content-Length"))
	}

	// Detection: the whole body passes; the inspected prefix is still checked.
	up.Reset()
	attack := `{"text":"<script>alert(1)</script>","pad":"` + strings.Repeat("y", 2048) + `"}`
	resp, body = wafSend(t, gw, "/smalldetect", wafReq{"big attack", "POST", "/v1/upload", js, attack})
	if resp.StatusCode != 200 || string(up.Last(t).Body) != attack {
		t.Fatalf("detection with a long body: %d %s", resp.StatusCode, body)
	}
	if !gw.WaitLog("941100", 5*time.Second) {
		t.Fatalf("XSS in the inspected prefix not logged:\n%s", gw.Stderr.String())
	}
}
