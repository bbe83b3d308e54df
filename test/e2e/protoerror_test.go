package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// cannedBadRequest is net/http's own plain-text answer to a request it
// cannot parse, byte for byte.
const cannedBadRequest = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"

// TestProtocolErrorsAnsweredAndLogged: requests net/http refuses before any
// handler runs get the gateway's problem body with a request id, on plain
// and TLS listeners, and an access log line naming the cause; a response
// body that happens to look like net/http's answer is left alone.
func TestProtocolErrorsAnsweredAndLogged(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/canned" {
			_, _ = io.WriteString(w, cannedBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	plainAddr := freeAddr(t)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "max_header_bytes: 4096",
		`{name: plain, address: "`+plainAddr+`", max_header_bytes: 4096}`))

	cases := []struct {
		name, raw, reason string
		status            int
	}{
		{"no Host", "GET /x HTTP/1.1\r\n\r\n", "missing required Host header", 400},
		{"bad header line", "GET /x HTTP/1.1\r\nHost: a.example.test\r\nno colon here\r\n\r\n", "Bad Request", 400},
		{"unknown transfer coding", "POST /x HTTP/1.1\r\nHost: a.example.test\r\nTransfer-Encoding: gzip\r\n\r\n", "Unsupported transfer encoding", 501},
		{"head too large", "GET /x HTTP/1.1\r\nHost: a.example.test\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n", "Request Header Fields Too Large", 431},
	}
	for _, tc := range cases {
		for _, listener := range []string{"plain", "tls"} {
			t.Run(listener+"/"+tc.name, func(t *testing.T) {
				up.Reset()
				var resp RawResponse
				if listener == "plain" {
					resp = rawRequest(t, plainAddr, tc.raw)
				} else {
					resp = rawTLSRequest(t, gw.Addr, f.client("a.example.test"), tc.raw)
				}
				if resp.Status != tc.status {
					t.Fatalf("status %d, want %d; body %q", resp.Status, tc.status, resp.Body)
				}
				normAssertProblem(t, resp, tc.status)
				rid := resp.Header.Get("X-Request-Id")
				if !gw.WaitAccessLog(rid, 5*time.Second) {
					t.Fatalf("no access line for %s:\n%s", rid, gw.Stdout.String())
				}
				for _, line := range strings.Split(gw.Stdout.String(), "\n") {
					if !strings.Contains(line, rid) {
						continue
					}
					var rec map[string]any
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("access line %q: %v", line, err)
					}
					if rec["status"] != float64(tc.status) || !strings.Contains(rec["reason"].(string), "malformed request: "+tc.reason) {
						t.Errorf("access line %s: want status %d and reason %q", line, tc.status, tc.reason)
					}
				}
				if n := up.Count(); n != 0 {
					t.Errorf("upstream saw %d requests", n)
				}
			})
		}
	}

	t.Run("a body that looks like net/http's answer is not rewritten", func(t *testing.T) {
		resp := rawRequest(t, plainAddr, "GET /canned HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
		if resp.Status != 200 || resp.Body != cannedBadRequest {
			t.Fatalf("status %d body %q", resp.Status, resp.Body)
		}
		// Pipelined requests: the responses, written back to back, pass
		// unchanged too. (The write-level guard is unit-tested in
		// internal/normalize, where a body can be made its own write.)
		rs := normRawResponses(t, plainAddr, strings.Repeat("GET /canned HTTP/1.1\r\nHost: a.example.test\r\n\r\n", 3), 3)
		if len(rs) != 3 {
			t.Fatalf("%d responses, want 3", len(rs))
		}
		for i, r := range rs {
			if r.Status != 200 || r.Body != cannedBadRequest {
				t.Errorf("pipelined response %d: status %d body %q", i, r.Status, r.Body)
			}
		}
	})
}

// TestProtocolErrorsCountAsMalformed: requests net/http cannot parse count
// as malformed-request events, so a client sending them gets banned.
func TestProtocolErrorsCountAsMalformed(t *testing.T) {
	up := NewUpstream(t, nil)
	_, hash := akGenerate(t)
	gw := StartGateway(t, intrusionConfig(up, hash, `  rules: [{event: malformed, threshold: 3, window: 1m, ban: 1m}]
`))
	for i := range 3 {
		if resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\n\r\n"); resp.Status != 400 {
			t.Fatalf("malformed request %d: status %d", i, resp.Status)
		}
	}
	resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
	if resp.Status != 403 {
		t.Fatalf("well-formed request after 3 malformed ones: status %d, want 403 (banned); body %q", resp.Status, resp.Body)
	}
	if n := up.Count(); n != 0 {
		t.Errorf("upstream saw %d requests from a banned client", n)
	}
}

// TestProtocolErrorsFromTrustedProxyNotCounted: behind a trusted proxy the
// peer of an unparseable request is the proxy; counting it could ban every
// client behind it, so it is not counted.
func TestProtocolErrorsFromTrustedProxyNotCounted(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	gw := StartGateway(t, intrusionConfig(up, hash, `  rules: [{event: malformed, threshold: 3, window: 1m, ban: 1m}]
trusted_proxies: [127.0.0.1/32]
`))
	for i := range 5 {
		if resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\n\r\n"); resp.Status != 400 {
			t.Fatalf("malformed request %d: status %d", i, resp.Status)
		}
	}
	// The proxy's own request (a health check, no X-Forwarded-For) and a
	// client's through it are both served.
	for _, xff := range []string{"", "X-Forwarded-For: 198.51.100.7\r\n"} {
		resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: a.example.test\r\n"+xff+"X-Api-Key: "+key+"\r\n\r\n")
		if resp.Status != 200 {
			t.Fatalf("request from the trusted proxy (%q): status %d, want 200; body %q", xff, resp.Status, resp.Body)
		}
	}
}
