package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// protectClient is an HTTP client whose connections come from the
// loopback address src (127.0.0.0/8 is all local on Linux).
func protectClient(t *testing.T, src string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// protectDo sends method url with body (none when ""), header pairs, and
// returns the response with its body read.
func protectDo(t *testing.T, c *http.Client, method, url, body string, kv ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp, string(b)
}

// protectRefused asserts a problem answer with status and that the
// upstream received nothing; it returns the problem body.
func protectRefused(t *testing.T, up *Upstream, resp *http.Response, status int) string {
	t.Helper()
	body := readProblem(t, resp, status)
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream received %d request(s) for a refused one: %+v", n, up.Requests())
	}
	return body
}

// protectPassed asserts a 200 from the upstream and returns what it saw.
func protectPassed(t *testing.T, up *Upstream, resp *http.Response, body string) Seen {
	t.Helper()
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d body %q, want the upstream's 200 ok", resp.StatusCode, body)
	}
	s := up.Last(t)
	up.Reset()
	return s
}

func TestProtectIPFilter(t *testing.T) {
	up := NewUpstream(t, nil)
	dir := t.TempDir()
	denyFile := filepath.Join(dir, "deny.txt")
	if err := os.WriteFile(denyFile, []byte("# scanners\n127.0.0.4 # one host\n\n2001:db8:bad::/48\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// 127.0.0.2 is a trusted proxy; 127.0.0.3 and 203.0.113.0/24 are
	// refused everywhere; /allow/ admits only 127.0.0.1 and 198.51.100.7;
	// /deny/ refuses what the file lists.
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
trusted_proxies: [127.0.0.2/32]
ip_filter:
  deny: [127.0.0.3, 203.0.113.0/24]
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: svc, targets: [{url: "%s"}]}
routes:
  - name: allow
    paths: [{prefix: /allow/}]
    service: svc
    policies:
      - kind: ip_filter
        allow: [127.0.0.1, 198.51.100.0/24]
        deny: [198.51.100.66]
  - name: deny
    paths: [{prefix: /deny/}]
    service: svc
    policies:
      - {kind: ip_filter, deny_file: "%s"}
  - name: open
    paths: [{prefix: /open/}]
    service: svc
ops: {address: "{{ops}}"}
`, up.URL, denyFile)))

	direct := protectClient(t, "127.0.0.1")
	other := protectClient(t, "127.0.0.5")
	proxy := protectClient(t, "127.0.0.2")
	banned := protectClient(t, "127.0.0.3")
	listed := protectClient(t, "127.0.0.4")

	t.Run("allow list", func(t *testing.T) {
		resp, body := protectDo(t, direct, "GET", gw.URL("/allow/x"), "")
		protectPassed(t, up, resp, body)
		resp, _ = protectDo(t, other, "GET", gw.URL("/allow/x"), "")
		p := protectRefused(t, up, resp, 403)
		if strings.Contains(p, "127.0.0") || strings.Contains(p, "allow list") {
			t.Errorf("problem names the address or the list: %s", p)
		}
	})
	t.Run("spoofed X-Forwarded-For from an untrusted client", func(t *testing.T) {
		for _, kv := range [][]string{
			{"X-Forwarded-For", "127.0.0.1"},
			{"X-Forwarded-For", "198.51.100.7"},
			{"X-Forwarded-For", "198.51.100.7, 127.0.0.2"},
			{"Forwarded", "for=198.51.100.7", "X-Real-IP", "198.51.100.7"},
		} {
			resp, _ := protectDo(t, other, "GET", gw.URL("/allow/x"), "", kv...)
			protectRefused(t, up, resp, 403)
		}
	})
	t.Run("trusted proxy: the real client address is used", func(t *testing.T) {
		resp, body := protectDo(t, proxy, "GET", gw.URL("/allow/x"), "", "X-Forwarded-For", "198.51.100.7")
		seen := protectPassed(t, up, resp, body)
		if got := seen.Header.Get("X-Forwarded-For"); got != "198.51.100.7, 127.0.0.2" {
			t.Errorf("upstream X-Forwarded-For = %q", got)
		}
		// A client behind the proxy that is not on the list, or is denied.
		for _, xff := range []string{"192.0.2.1", "198.51.100.66", "127.0.0.1, 192.0.2.1"} {
			resp, _ = protectDo(t, proxy, "GET", gw.URL("/allow/x"), "", "X-Forwarded-For", xff)
			protectRefused(t, up, resp, 403)
		}
		// The proxy's own address is not on the allow list either.
		resp, _ = protectDo(t, proxy, "GET", gw.URL("/allow/x"), "")
		protectRefused(t, up, resp, 403)
	})
	t.Run("deny file", func(t *testing.T) {
		resp, body := protectDo(t, other, "GET", gw.URL("/deny/x"), "")
		protectPassed(t, up, resp, body)
		resp, _ = protectDo(t, listed, "GET", gw.URL("/deny/x"), "")
		protectRefused(t, up, resp, 403)
		resp, body = protectDo(t, listed, "GET", gw.URL("/open/x"), "")
		protectPassed(t, up, resp, body)
	})
	t.Run("global list applies before routing", func(t *testing.T) {
		for _, path := range []string{"/open/x", "/deny/x", "/no-such-route", "/open/../../etc"} {
			resp, _ := protectDo(t, banned, "GET", gw.URL(path), "")
			protectRefused(t, up, resp, 403)
		}
		resp, _ := protectDo(t, proxy, "GET", gw.URL("/open/x"), "", "X-Forwarded-For", "203.0.113.9")
		protectRefused(t, up, resp, 403)
		// The same address spoofed by an untrusted client is ignored: the
		// client is judged by its own address.
		resp, body := protectDo(t, other, "GET", gw.URL("/open/x"), "", "X-Forwarded-For", "203.0.113.9")
		protectPassed(t, up, resp, body)
	})
	t.Run("access log names the reason, never the list", func(t *testing.T) {
		if !gw.WaitAccessLog("ip_filter: address on the deny list", 5*time.Second) {
			t.Errorf("access log lacks the refusal reason:\n%s", gw.Stdout.String())
		}
	})
}

func TestProtectIPFilterBadListIsRefusedAtLoad(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "allow.txt")
	if err := os.WriteFile(bad, []byte("10.0.0.0/8\nnot-a-cidr\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "gw.yaml", fmt.Sprintf(`version: 1
ip_filter: {allow_file: "%s"}
listeners: [{name: public, address: "127.0.0.1:0"}]
ops: {disable: true}
`, bad))
	r := runCLI(t, nil, "validate", "--config", cfg)
	if r.code != 1 || !strings.Contains(r.stderr, `ip_filter: allow_file: "`+bad+`": line 2: invalid IP address "not-a-cidr"`) {
		t.Errorf("validate: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestProtectRequireHeaders(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, `    policies:
      - kind: require_headers
        headers:
          - {name: X-Tenant, pattern: "[a-z]{3,16}"}
          - {name: X-Trace-Id, pattern: "[0-9a-f]{16}", required: false}
`))
	c := protectClient(t, "127.0.0.1")
	resp, body := protectDo(t, c, "GET", gw.URL("/a"), "", "X-Tenant", "acme", "X-Trace-Id", "0123456789abcdef")
	seen := protectPassed(t, up, resp, body)
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
		resp, _ := protectDo(t, c, "GET", gw.URL("/a"), "", kv...)
		p := protectRefused(t, up, resp, 400)
		for _, leak := range []string{"script", "evil", "nothex", "ACME", "X-T"} {
			if strings.Contains(p, leak) {
				t.Errorf("problem echoes %q: %s", leak, p)
			}
		}
	}
}

func TestProtectValidate(t *testing.T) {
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
	c := protectClient(t, "127.0.0.1")
	json := "application/json"
	good := `{"sku":"AB-1","qty":2,"lines":[{"n":1}]}`

	t.Run("valid body reaches the upstream unchanged", func(t *testing.T) {
		resp, body := protectDo(t, c, "POST", gw.URL("/orders?x=1"), good, "Content-Type", json)
		if s := protectPassed(t, up, resp, body); string(s.Body) != good || s.Header.Get("Content-Length") != fmt.Sprint(len(good)) {
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
		resp, body = protectDo(t, c, "GET", gw.URL("/orders/1"), "")
		protectPassed(t, up, resp, body)
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
			resp, _ := protectDo(t, c, tc.method, gw.URL(tc.path), tc.body, kv...)
			p := protectRefused(t, up, resp, tc.status)
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
		resp, _ := protectDo(t, c, "GET", gw.URL("/orders"), "", kv...)
		protectRefused(t, up, resp, 431)
	})
	t.Run("upload streams within the limit", func(t *testing.T) {
		resp, body := protectDo(t, c, "PUT", gw.URL("/upload"), strings.Repeat("x", 64), "Content-Type", "image/png")
		if s := protectPassed(t, up, resp, body); len(s.Body) != 64 {
			t.Errorf("upstream body length %d", len(s.Body))
		}
	})
}
