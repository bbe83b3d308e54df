package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateRequireHeaders(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, `    policies:
      - kind: require_headers
        headers:
          - {name: X-Tenant, pattern: "[a-z]{3,16}"}
          - {name: X-Trace-Id, pattern: "[0-9a-f]{16}", required: false}
`))
	c := clientFrom(t, "127.0.0.1")
	resp, body := doRequest(t, c, "GET", gw.URL("/a"), "", "X-Tenant", "acme", "X-Trace-Id", "0123456789abcdef")
	seen := passedToUpstream(t, up, resp, body)
	if seen.Header.Get("X-Tenant") != "acme" {
		t.Errorf("upstream X-Tenant = %q", seen.Header.Get("X-Tenant"))
	}
	for _, kv := range [][]string{
		{},                           // missing
		{"X-Tenant", "ACME"},         // no match
		{"X-Tenant", "acme<script>"}, // partial match
		{"X-Tenant", "acme", "X-Tenant", "evil!"}, // a second line
		{"X-Tenant", "acme", "X-Trace-Id", "nothex"},
	} {
		resp, _ := doRequest(t, c, "GET", gw.URL("/a"), "", kv...)
		p := refusedBeforeUpstream(t, up, resp, 400)
		for _, leak := range []string{"script", "evil", "nothex", "ACME", "X-T"} {
			if strings.Contains(p, leak) {
				t.Errorf("problem echoes %q: %s", leak, p)
			}
		}
	}
}

// TestValidateMaxQueryParamsZeroRefusesAnyQuery: "max_query_params: 0" is
// what it says, no query parameter, where it used to mean no limit at
// all (zero read as "not set"): a route the operator closed to query
// strings let every one through.
func TestValidateMaxQueryParamsZeroRefusesAnyQuery(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, `    policies:
      - {kind: validate, max_query_params: 0}
`))
	c := clientFrom(t, "127.0.0.1")
	for _, path := range []string{"/a", "/a?", "/a?&&"} {
		resp, body := doRequest(t, c, "GET", gw.URL(path), "")
		passedToUpstream(t, up, resp, body)
	}
	for _, path := range []string{"/a?x=1", "/a?x", "/a?&x=1&", "/a?%26", "/a?;"} {
		t.Run(path, func(t *testing.T) {
			resp, _ := doRequest(t, c, "GET", gw.URL(path), "")
			p := refusedBeforeUpstream(t, up, resp, 400)
			if !strings.Contains(p, `"detail":"The request has too many query parameters."`) {
				t.Errorf("problem %s", p)
			}
		})
	}
}

func TestValidatePolicy(t *testing.T) {
	up := NewUpstream(t, nil)
	schema := filepath.Join(t.TempDir(), "order.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object","required":["sku","qty"],"additionalProperties":false,
"properties":{"sku":{"type":"string","pattern":"^[A-Z0-9-]{1,20}$"},"qty":{"type":"integer","minimum":1},
"lines":{"type":"array","items":{"type":"object","properties":{"n":{"type":"integer"}}}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: svc, targets: [{url: "%s"}]}
routes:
  - name: orders
    paths: [{prefix: /orders}]
    service: svc
    policies:
      - kind: validate
        max_body: 256
        content_types: [application/json]
        json_schema: {file: "%s"}
        max_headers: 20
        max_query_params: 3
        max_url_length: 200
  - name: upload
    paths: [{prefix: /upload}]
    service: svc
    policies:
      - {kind: validate, max_body: 64, content_types: ["image/*"]}
ops: {address: "{{ops}}"}
`, up.URL, schema)))
	c := clientFrom(t, "127.0.0.1")
	json := "application/json"
	good := `{"sku":"AB-1","qty":2,"lines":[{"n":1}]}`

	t.Run("valid body reaches the upstream unchanged", func(t *testing.T) {
		resp, body := doRequest(t, c, "POST", gw.URL("/orders?x=1"), good, "Content-Type", json)
		if s := passedToUpstream(t, up, resp, body); string(s.Body) != good || s.Header.Get("Content-Length") != fmt.Sprint(len(good)) {
			t.Errorf("upstream body %q (Content-Length %q)", s.Body, s.Header.Get("Content-Length"))
		}
		// Chunked from the client: buffered, checked, sent with a length.
		raw := "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(good), good)
		if r := rawRequest(t, gw.Addr, raw); r.Status != 200 {
			t.Fatalf("chunked: %+v", r)
		}
		if s := up.Last(t); string(s.Body) != good || s.Header.Get("Content-Length") != fmt.Sprint(len(good)) {
			t.Errorf("chunked: upstream body %q, Content-Length %q", s.Body, s.Header.Get("Content-Length"))
		}
		up.Reset()
		resp, body = doRequest(t, c, "GET", gw.URL("/orders/1"), "")
		passedToUpstream(t, up, resp, body)
	})

	refused := []struct {
		name, method, path, ct, body string
		status                       int
		detail                       string
	}{
		{"malformed JSON", "POST", "/orders", json, `{"sku":"AB-1",`, 400, "The request body is not valid."},
		{"empty POST", "POST", "/orders", json, "", 400, "The request body is not valid."},
		{"schema violation", "POST", "/orders", json, `{"sku":"AB-1","qty":2,"lines":[{"n":1},{"n":"DROP TABLE"}]}`, 400, `The request body is not valid. Failing location: \"/lines/1/n\".`},
		{"unknown property", "POST", "/orders", json, `{"sku":"AB-1","qty":2,"secret_flag":"s3cr3t"}`, 400, "The request body is not valid."},
		{"wrong content type", "POST", "/orders", "text/plain", good, 415, "The request body's media type is not accepted."},
		{"too large", "POST", "/orders", json, `{"sku":"` + strings.Repeat("A", 300) + `"}`, 413, "The request body is too large."},
		{"too many query params", "GET", "/orders?a=1&b=2&c=3&d=4", "", "", 400, "The request has too many query parameters."},
		{"URL too long", "GET", "/orders?a=" + strings.Repeat("x", 200), "", "", 414, "The request URL is too long."},
		{"upload of a non-image", "PUT", "/upload", "application/json", "{}", 415, "The request body's media type is not accepted."},
		{"upload too large", "PUT", "/upload", "image/png", strings.Repeat("x", 65), 413, "The request body is too large."},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			var kv []string
			if tc.ct != "" {
				kv = []string{"Content-Type", tc.ct}
			}
			resp, _ := doRequest(t, c, tc.method, gw.URL(tc.path), tc.body, kv...)
			p := refusedBeforeUpstream(t, up, resp, tc.status)
			if !strings.Contains(p, `"detail":"`+tc.detail+`"`) {
				t.Errorf("problem %s, want detail %q", p, tc.detail)
			}
			for _, leak := range []string{"DROP", "s3cr3t", "secret_flag", "AAAA"} {
				if strings.Contains(p, leak) {
					t.Errorf("problem echoes %q: %s", leak, p)
				}
			}
		})
	}
	t.Run("too many headers", func(t *testing.T) {
		var kv []string
		for i := 0; i < 25; i++ {
			kv = append(kv, fmt.Sprintf("X-H%d", i), "v")
		}
		resp, _ := doRequest(t, c, "GET", gw.URL("/orders"), "", kv...)
		refusedBeforeUpstream(t, up, resp, 431)
	})
	t.Run("upload streams within the limit", func(t *testing.T) {
		resp, body := doRequest(t, c, "PUT", gw.URL("/upload"), strings.Repeat("x", 64), "Content-Type", "image/png")
		if s := passedToUpstream(t, up, resp, body); len(s.Body) != 64 {
			t.Errorf("upstream body length %d", len(s.Body))
		}
	})
}
