package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openapiSpec: GET /orders/{id} (integer id, required query "fields") and
// POST /orders (JSON body). Its security scheme must be ignored: the
// gateway's auth policy does authentication.
const openapiSpec = `openapi: 3.0.3
info: {title: orders, version: "1"}
security:
  - key: []
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
paths:
  /orders/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: fields, in: query, required: true, schema: {type: string, enum: [all, summary]}}
      responses:
        "200": {description: ok}
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [item, qty]
              additionalProperties: false
              properties:
                item: {type: string, maxLength: 40}
                qty: {type: integer, minimum: 1}
      responses:
        "201": {description: created}
`

func openapiGateway(t *testing.T, up *Upstream) *Gateway {
	t.Helper()
	spec := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(spec, []byte(openapiSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	return StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %s}]}]
routes:
  - name: api
    paths: [{prefix: /v1/}]
    service: svc
    policies:
      - {kind: openapi, spec: %q, strip_prefix: /v1, max_body: 4KiB}
ops: {address: "{{ops}}"}
`, up.URL, spec)))
}

func TestOpenAPIValidRequestsReachUpstream(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := openapiGateway(t, up)
	c := clientFrom(t, "127.0.0.1")

	resp, body := doRequest(t, c, "GET", gw.URL("/v1/orders/42?fields=all"), "")
	s := passedToUpstream(t, up, resp, body)
	if s.Method != "GET" || s.RequestURI != "/v1/orders/42?fields=all" {
		t.Fatalf("upstream saw %s %s", s.Method, s.RequestURI)
	}

	order := `{"item":"apple","qty":3}`
	resp, body = doRequest(t, c, "POST", gw.URL("/v1/orders"), order, "Content-Type", "application/json")
	s = passedToUpstream(t, up, resp, body)
	if string(s.Body) != order || s.Header.Get("Content-Length") != fmt.Sprint(len(order)) {
		t.Fatalf("upstream body %q length %q", s.Body, s.Header.Get("Content-Length"))
	}

	// A chunked body is buffered, validated and forwarded intact.
	req, _ := http.NewRequest("POST", gw.URL("/v1/orders"), strings.NewReader(order))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 || string(up.Last(t).Body) != order {
		t.Fatalf("chunked: status %d upstream body %q", r2.StatusCode, up.Last(t).Body)
	}
}

func TestOpenAPIRefusals(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := openapiGateway(t, up)
	c := clientFrom(t, "127.0.0.1")
	const secret = "Zq7SECRETinput"
	json := []string{"Content-Type", "application/json"}
	cases := []struct {
		name, method, path, body string
		status                   int
		hdr                      []string
	}{
		{"unknown path", "GET", "/v1/internal/" + secret, "", 400, nil},
		{"unknown method", "DELETE", "/v1/orders/1", "", 400, nil},
		{"wrong param type", "GET", "/v1/orders/" + secret + "?fields=all", "", 400, nil},
		{"missing required query", "GET", "/v1/orders/1", "", 400, nil},
		{"query not in enum", "GET", "/v1/orders/1?fields=" + secret, "", 400, nil},
		{"invalid body type", "POST", "/v1/orders", `{"item":"` + secret + `","qty":"three"}`, 400, json},
		{"body extra property", "POST", "/v1/orders", `{"item":"a","qty":1,"` + secret + `":true}`, 400, json},
		{"malformed body", "POST", "/v1/orders", `{"item":"` + secret, 400, json},
		{"missing body", "POST", "/v1/orders", "", 400, json},
		{"wrong content type", "POST", "/v1/orders", `{"item":"a","qty":1}`, 400, []string{"Content-Type", "text/plain"}},
		{"body too large", "POST", "/v1/orders", `{"item":"` + strings.Repeat("a", 5000) + `","qty":1}`, 413, json},
		// Bypass attempts: encodings and dot segments are canonicalized
		// before matching, and a trailing slash is a different path.
		{"dot segments", "GET", "/v1/orders/1/../../internal?fields=all", "", 400, nil},
		{"trailing slash", "GET", "/v1/orders/1/?fields=all", "", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			resp, _ := doRequest(t, c, tc.method, gw.URL(tc.path), tc.body, tc.hdr...)
			body := refusedBeforeUpstream(t, up, resp, tc.status)
			if strings.Contains(body, secret) || strings.Contains(body, "orders") {
				t.Fatalf("problem echoes the request: %s", body)
			}
			if tc.status == 400 && !strings.Contains(body, "The request does not match the API description.") {
				t.Fatalf("problem detail: %s", body)
			}
		})
	}
	// The access log says which check refused, with a fixed reason (the
	// access line is written after the response: wait, bounded).
	for _, reason := range []string{"validate: openapi: path", "validate: openapi: parameter", "validate: openapi: body"} {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(gw.Stdout.String(), reason) {
			if time.Now().After(deadline) {
				t.Fatalf("access log lacks reason %q", reason)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestOpenAPIBadSpecIsConfigError(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "broken-openapi.yaml")
	if err := os.WriteFile(spec, []byte("openapi: 3.0.3\ninfo: {title: x}\npaths:\n  /a:\n    get: {responses: {'200': {description: ok}}, parameters: [{name: q, in: nowhere}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: api
    paths: [{prefix: /}]
    service: svc
    policies: [{kind: openapi, spec: %q}]
`, spec)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, "validate", "--config", cfg)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "broken-openapi.yaml") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}
