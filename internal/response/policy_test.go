package response

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// compile compiles one policy from its YAML mapping (with its kind).
func compile(t testing.TB, src string, env pipeline.CompileEnv) (any, error) {
	t.Helper()
	return pipelinetest.Mapping(t, "test.yaml", src, env)
}

func mustCompile(t testing.TB, src string) any {
	t.Helper()
	p, err := compile(t, src, pipeline.CompileEnv{Route: "r"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ctx(method string, h http.Header) *pipeline.Context {
	r := httptest.NewRequest(method, "/x", nil)
	if h != nil {
		r.Header = h
	}
	return &pipeline.Context{Request: r, RequestID: "rid-1"}
}

func TestConfigErrors(t *testing.T) {
	bad := map[string]string{
		"no lists":             "kind: filter_fields\nmax_bytes: 1KiB",
		"both lists":           "kind: filter_fields\nallow: [a]\ndeny: [b]",
		"bad path":             "kind: filter_fields\ndeny: [\"a..b\"]",
		"unknown field":        "kind: filter_fields\ndeny: [a]\nmaxbytes: 1",
		"bad size":             "kind: filter_fields\ndeny: [a]\nmax_bytes: lots",
		"bad status":           "kind: hide_errors\nstatuses: [200]",
		"bad class":            "kind: hide_errors\nstatuses: [3xx]",
		"strip framing":        "kind: security_headers\nstrip: [Content-Length]",
		"bad frame option":     "kind: security_headers\nframe_options: ALLOW-FROM x",
		"bad referrer":         "kind: security_headers\nreferrer_policy: sometimes",
		"star credentials":     "kind: cors\norigins: [\"*\"]\ncredentials: true",
		"null origin":          "kind: cors\norigins: [\"null\"]",
		"origin path":          "kind: cors\norigins: [\"https://a.example.com/\"]",
		"origin mid wildcard":  "kind: cors\norigins: [\"https://a.*.example.com\"]",
		"origin tld wildcard":  "kind: cors\norigins: [\"https://*.com\"]",
		"no origins":           "kind: cors\nmethods: [GET]",
		"star headers":         "kind: cors\norigins: [\"https://a.com\"]\nheaders: [\"*\"]",
		"deprecated missing":   "kind: deprecation\nsunset: 2027-01-01T00:00:00Z",
		"deprecated bad date":  "kind: deprecation\ndeprecated: yesterday",
		"sunset before":        "kind: deprecation\ndeprecated: 2027-01-01T00:00:00Z\nsunset: 2026-01-01T00:00:00Z",
		"relative link":        "kind: deprecation\ndeprecated: true\nlink: /docs",
		"negative cors maxage": "kind: cors\norigins: [\"https://a.com\"]\nmax_age: -1s",
	}
	for name, src := range bad {
		if _, err := compile(t, src, pipeline.CompileEnv{Route: "r"}); err == nil {
			t.Errorf("%s: compiled", name)
		}
	}
	// A route that cannot receive OPTIONS cannot answer preflights.
	cfg := &config.Config{Routes: []config.Route{{Name: "r", Methods: []string{"GET"}}}}
	_, err := compile(t, "kind: cors\norigins: [\"https://a.com\"]", pipeline.CompileEnv{Route: "r", RouteConfig: &cfg.Routes[0], Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "OPTIONS") {
		t.Errorf("route without OPTIONS: %v", err)
	}
	cfg.Routes[0].Methods = append(cfg.Routes[0].Methods, "OPTIONS")
	if _, err := compile(t, "kind: cors\norigins: [\"https://a.com\"]", pipeline.CompileEnv{Route: "r", RouteConfig: &cfg.Routes[0], Config: cfg}); err != nil {
		t.Errorf("route with OPTIONS: %v", err)
	}
}

func TestSecurityHeaders(t *testing.T) {
	p := mustCompile(t, "kind: security_headers\nstrip: [x-internal-host, X-Debug]\ncontent_security_policy: \"default-src 'none'\"").(pipeline.ResponsePolicy)
	h := http.Header{"Server": {"nginx/1.2"}, "X-Powered-By": {"PHP/5"}, "X-Internal-Host": {"db1"}, "X-Debug": {"1"}, "Cache-Control": {"max-age=60"}, "X-Keep": {"k"}}
	p.Respond(ctx("GET", nil), 200, h)
	for _, k := range []string{"Server", "X-Powered-By", "X-Internal-Host", "X-Debug"} {
		if _, ok := h[k]; ok {
			t.Errorf("%s not stripped", k)
		}
	}
	want := map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
		"Content-Security-Policy": "default-src 'none'", "Cache-Control": "max-age=60", "X-Keep": "k"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	// Authenticated: no-store, unless the route says otherwise.
	c := ctx("GET", nil)
	c.Identity = &pipeline.Identity{Consumer: "alice"}
	h = http.Header{"Cache-Control": {"public, max-age=600"}}
	p.Respond(c, 200, h)
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("authenticated Cache-Control %q", h.Get("Cache-Control"))
	}
	off := mustCompile(t, "kind: security_headers\nno_store: false\nframe_options: \"off\"\nreferrer_policy: same-origin").(pipeline.ResponsePolicy)
	h = http.Header{"Cache-Control": {"private, max-age=60"}}
	off.Respond(c, 200, h)
	if h.Get("Cache-Control") != "private, max-age=60" || h.Get("X-Frame-Options") != "" || h.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("no_store false: %v", h)
	}
}

func filterOnce(t testing.TB, p any, c *pipeline.Context, status int, h http.Header, body string) (string, error) {
	t.Helper()
	bf := p.(pipeline.ResponseBodyFilter)
	in := io.Reader(strings.NewReader(body))
	out, err := bf.FilterResponse(c, status, h, in)
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(out)
	return string(b), nil
}

func TestFilterFieldsPolicy(t *testing.T) {
	p := mustCompile(t, "kind: filter_fields\ndeny: [password, \"items[].secret\"]\nmax_bytes: 64")
	jsonH := func() http.Header { return http.Header{"Content-Type": {"application/json; charset=utf-8"}} }
	got, err := filterOnce(t, p, ctx("GET", nil), 200, jsonH(), `{"id":1,"password":"p","items":[{"secret":1,"n":2}]}`)
	if err != nil || got != `{"id":1,"items":[{"n":2}]}` {
		t.Errorf("filtered: %q %v", got, err)
	}
	// Too large, declared or not: refused, nothing returned.
	big := `{"a":"` + strings.Repeat("x", 100) + `"}`
	if _, err := filterOnce(t, p, ctx("GET", nil), 200, jsonH(), big); !errors.Is(err, errTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	h := jsonH()
	h.Set("Content-Length", "100000")
	if _, err := filterOnce(t, p, ctx("GET", nil), 200, h, `{}`); !errors.Is(err, errTooLarge) {
		t.Errorf("declared oversized: %v", err)
	}
	// Compressed JSON cannot be read: refused.
	h = jsonH()
	h.Set("Content-Encoding", "gzip")
	if _, err := filterOnce(t, p, ctx("GET", nil), 200, h, "\x1f\x8b"); !errors.Is(err, errEncoded) {
		t.Errorf("gzip: %v", err)
	}
	// Invalid JSON: refused.
	if _, err := filterOnce(t, p, ctx("GET", nil), 200, jsonH(), `{"password":`); err == nil {
		t.Error("invalid JSON passed")
	}
	// Not JSON: passed, unless strict.
	if got, err := filterOnce(t, p, ctx("GET", nil), 200, http.Header{"Content-Type": {"text/plain"}}, "password=x"); err != nil || got != "password=x" {
		t.Errorf("text: %q %v", got, err)
	}
	strict := mustCompile(t, "kind: filter_fields\nallow: [id]\nstrict: true")
	if _, err := filterOnce(t, strict, ctx("GET", nil), 200, http.Header{}, `{"id":1,"password":"x"}`); !errors.Is(err, errNotJSON) {
		t.Errorf("strict without a type: %v", err)
	}
	if got, err := filterOnce(t, strict, ctx("GET", nil), 200, http.Header{"Content-Type": {"application/vnd.api+json"}}, `{"id":1,"password":"x"}`); err != nil || got != `{"id":1}` {
		t.Errorf("+json: %q %v", got, err)
	}
	// No body to filter.
	if got, err := filterOnce(t, strict, ctx("GET", nil), 204, http.Header{}, ``); err != nil || got != "" {
		t.Errorf("204: %q %v", got, err)
	}
	// It asks the upstream for an uncompressed body.
	c := ctx("GET", http.Header{"Accept-Encoding": {"gzip, br"}})
	if prob := p.(pipeline.RequestPolicy).Handle(c); prob != nil || c.Request.Header.Get("Accept-Encoding") != "" {
		t.Errorf("Accept-Encoding kept: %v", c.Request.Header)
	}
}

func TestHideErrors(t *testing.T) {
	p := mustCompile(t, "kind: hide_errors")
	h := http.Header{"Content-Type": {"text/html"}, "Etag": {`"x"`}, "Content-Length": {"40"}, "Set-Cookie": {"a=b"}}
	trace := "panic: runtime error\ngoroutine 1 [running]:\nmain.go:42"
	got, err := filterOnce(t, p, ctx("GET", nil), 500, h, trace)
	if err != nil || strings.Contains(got, "goroutine") || strings.Contains(got, "main.go") {
		t.Fatalf("body %q %v", got, err)
	}
	var pb problemBody
	if err := json.Unmarshal([]byte(got), &pb); err != nil || pb.Status != 500 || pb.RequestID != "rid-1" || pb.Title != "Internal Server Error" {
		t.Errorf("problem %q %v", got, err)
	}
	if h.Get("Content-Type") != "application/problem+json" || h.Get("Etag") != "" || h.Get("Set-Cookie") != "a=b" {
		t.Errorf("headers %v", h)
	}
	// Not hidden: 4xx by default, and 2xx always.
	for _, st := range []int{200, 404} {
		if got, err := filterOnce(t, p, ctx("GET", nil), st, http.Header{}, "detail"); err != nil || got != "detail" {
			t.Errorf("%d: %q %v", st, got, err)
		}
	}
	some := mustCompile(t, "kind: hide_errors\nstatuses: [\"4xx\", 503]")
	for st, hidden := range map[int]bool{400: true, 499: true, 500: false, 503: true} {
		got, _ := filterOnce(t, some, ctx("GET", nil), st, http.Header{}, "detail")
		if (got != "detail") != hidden {
			t.Errorf("status %d hidden=%v: %q", st, hidden, got)
		}
	}
	// filter_fields leaves the gateway's own problem alone, in either order.
	ff := mustCompile(t, "kind: filter_fields\nallow: [id]")
	h = http.Header{"Content-Type": {"application/json"}}
	body, _ := p.(pipeline.ResponseBodyFilter).FilterResponse(ctx("GET", nil), 502, h, strings.NewReader(`{"stack":"x"}`))
	out, err := ff.(pipeline.ResponseBodyFilter).FilterResponse(ctx("GET", nil), 502, h, body)
	if err != nil || out != body {
		t.Errorf("filter_fields after hide_errors: %v", err)
	}
}

func TestCORS(t *testing.T) {
	p := mustCompile(t, `kind: cors
origins: ["https://app.example.com", "https://*.example.org", "http://localhost:3000"]
methods: [GET, PUT]
headers: [Content-Type, X-Api-Version]
expose_headers: [X-Total-Count]
credentials: true
max_age: 10m`)
	rp := p.(pipeline.RequestPolicy)
	pre := func(h http.Header) *pipeline.Problem { return rp.Handle(ctx("OPTIONS", h)) }
	prob := pre(http.Header{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"content-type,x-api-version"}})
	if prob == nil || prob.Status != 204 || !prob.Bare {
		t.Fatalf("preflight: %+v", prob)
	}
	want := map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "GET, PUT",
		"Access-Control-Allow-Headers": "Content-Type, X-Api-Version", "Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "600"}
	for k, v := range want {
		if prob.Header.Get(k) != v {
			t.Errorf("preflight %s = %q, want %q", k, prob.Header.Get(k), v)
		}
	}
	refused := []http.Header{
		{"Origin": {"https://evil.example.com"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"https://app.example.com.evil.net"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"https://example.org"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"http://app.example.com"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"http://localhost:3001"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"null"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"https://app.example.com", "https://evil.com"}, "Access-Control-Request-Method": {"GET"}},
		{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"DELETE"}},
		{"Origin": {"https://app.example.com"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"content-type, authorization"}},
	}
	for _, h := range refused {
		prob := pre(h)
		if prob == nil || prob.Status != 403 || prob.Bare || len(prob.Header) != 0 {
			t.Errorf("%v: %+v", h, prob)
		}
	}
	if prob := pre(http.Header{"Origin": {"https://a.b.example.org"}, "Access-Control-Request-Method": {"GET"}}); prob == nil || prob.Status != 204 {
		t.Errorf("wildcard subdomain: %+v", prob)
	}
	// An OPTIONS request that is not a preflight, and other methods, go on.
	if prob := pre(http.Header{"Origin": {"https://app.example.com"}}); prob != nil {
		t.Errorf("plain OPTIONS answered: %+v", prob)
	}
	if prob := rp.Handle(ctx("GET", http.Header{"Origin": {"https://evil.com"}})); prob != nil {
		t.Errorf("GET answered: %+v", prob)
	}

	resp := p.(pipeline.ResponsePolicy)
	h := http.Header{"Access-Control-Allow-Origin": {"*"}, "Vary": {"Accept"}}
	resp.Respond(ctx("GET", http.Header{"Origin": {"https://app.example.com"}}), 200, h)
	if h.Get("Access-Control-Allow-Origin") != "https://app.example.com" || h.Get("Access-Control-Allow-Credentials") != "true" ||
		h.Get("Access-Control-Expose-Headers") != "X-Total-Count" || strings.Join(h["Vary"], ",") != "Accept,Origin" {
		t.Errorf("actual response: %v", h)
	}
	h = http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"}}
	resp.Respond(ctx("GET", http.Header{"Origin": {"https://evil.com"}}), 200, h)
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Errorf("disallowed origin got %s", k)
		}
	}
	any := mustCompile(t, "kind: cors\norigins: [\"*\"]").(pipeline.ResponsePolicy)
	h = http.Header{}
	any.Respond(ctx("GET", http.Header{"Origin": {"https://whoever.net"}}), 200, h)
	if h.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("any origin: %v", h)
	}
}

func TestDeprecation(t *testing.T) {
	p := mustCompile(t, "kind: deprecation\ndeprecated: 2026-01-01T00:00:00Z\nsunset: 2027-06-30T12:00:00+02:00\nlink: https://dev.example.com/sunset").(pipeline.ResponsePolicy)
	h := http.Header{"Link": {`<https://x/next>; rel="next"`}}
	p.Respond(ctx("GET", nil), 200, h)
	if h.Get("Deprecation") != "@1767225600" || h.Get("Sunset") != "Wed, 30 Jun 2027 10:00:00 GMT" ||
		len(h["Link"]) != 2 || h["Link"][1] != `<https://dev.example.com/sunset>; rel="sunset"` {
		t.Errorf("headers %v", h)
	}
	p = mustCompile(t, "kind: deprecation\ndeprecated: true").(pipeline.ResponsePolicy)
	h = http.Header{}
	p.Respond(ctx("GET", nil), 200, h)
	if h.Get("Deprecation") != "true" || h.Get("Sunset") != "" {
		t.Errorf("headers %v", h)
	}
}

func TestProblemBare(t *testing.T) {
	w := httptest.NewRecorder()
	(&pipeline.Problem{Status: 204, Bare: true, Header: http.Header{"X-A": {"1"}}}).Write(w, "rid")
	if w.Code != 204 || w.Body.Len() != 0 || w.Header().Get("X-A") != "1" || w.Header().Get("Content-Type") != "" {
		t.Errorf("bare problem: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
}

func TestPooledReader(t *testing.T) {
	bp := getBuf()
	*bp = append((*bp)[:0], "hello"...)
	r := &pooledReader{bp: bp, b: *bp}
	if r.Len() != 5 {
		t.Fatal(r.Len())
	}
	b, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(b, []byte("hello")) || r.Len() != 0 {
		t.Fatalf("%q %v", b, err)
	}
	if n, err := r.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("read after EOF: %d %v", n, err)
	}
}

// TestCORSCredentialsRequireHTTPSOrigins: with credentials: true, a plain
// http origin off the machine is refused at load (a script injected into
// its pages on the network could send the user's credentials and read the
// answers); loopback origins stay for development, and without credentials
// an http origin is accepted.
func TestCORSCredentialsRequireHTTPSOrigins(t *testing.T) {
	for _, tc := range []struct {
		desc, origin string
		credentials  bool
		refused      bool
	}{
		{desc: "http origin with credentials", origin: "http://app.example.com", credentials: true, refused: true},
		{desc: "http wildcard origin with credentials", origin: "http://*.example.com", credentials: true, refused: true},
		{desc: "http origin with a port, with credentials", origin: "http://app.example.com:8080", credentials: true, refused: true},
		{desc: "http origin on a private address, with credentials", origin: "http://10.0.0.5:3000", credentials: true, refused: true},
		{desc: "http wildcard under localhost, with credentials", origin: "http://*.dev.localhost", credentials: true, refused: true},
		{desc: "https origin with credentials", origin: "https://app.example.com", credentials: true},
		{desc: "localhost with credentials", origin: "http://localhost:3000", credentials: true},
		{desc: "IPv4 loopback with credentials", origin: "http://127.0.0.1:8080", credentials: true},
		{desc: "IPv6 loopback with credentials", origin: "http://[::1]:3000", credentials: true},
		{desc: "http origin without credentials", origin: "http://app.example.com"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			src := fmt.Sprintf("kind: cors\norigins: [%q]\ncredentials: %v", tc.origin, tc.credentials)
			_, err := compile(t, src, pipeline.CompileEnv{Route: "r"})
			switch {
			case tc.refused && (err == nil || !strings.Contains(err.Error(), "is plain http, and with credentials: true")):
				t.Fatalf("error %v, want the plain-http refusal", err)
			case !tc.refused && err != nil:
				t.Fatalf("refused: %v", err)
			}
		})
	}
}
