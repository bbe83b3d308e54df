package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// fwdGateway starts a gateway in front of up, with 127.0.0.1 as a trusted
// proxy or not. /api/ goes to up; /dead/ goes to a closed port (502).
func fwdGateway(t *testing.T, up *Upstream, trusted bool) *Gateway {
	t.Helper()
	tp := ""
	if trusted {
		tp = "trusted_proxies: [127.0.0.1/32]\n"
	}
	return StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
%slisteners: [{name: public, address: "{{public}}"}]
services:
  - {name: svc, targets: [{url: "%s"}]}
  - {name: gone, targets: [{url: "http://%s"}]}
routes:
  - name: api
    paths: [{prefix: /api/}]
    service: svc
  - name: dead
    paths: [{prefix: /dead/}]
    service: gone
ops: {address: "{{ops}}"}
`, tp, up.URL, freeAddr(t))))
}

// fwdDo sends a GET with the given header lines (name, value pairs; a
// name may repeat) and returns the response with its body read.
func fwdDo(t *testing.T, url string, kv ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// spoofHeaders are what a client sends to pose as someone else.
var spoofHeaders = []string{
	"X-Forwarded-For", "6.6.6.6",
	"X-Forwarded-Proto", "https",
	"X-Forwarded-Host", "evil.test",
	"Forwarded", "for=6.6.6.6;proto=https;host=evil.test",
	"X-Real-IP", "6.6.6.6",
	"True-Client-IP", "6.6.6.6",
	"X-Client-IP", "6.6.6.6",
}

// assertNoClientIPHeaders checks the headers only a gateway may set.
func assertNoClientIPHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for _, name := range []string{"X-Real-Ip", "True-Client-Ip", "X-Client-Ip"} {
		if v, ok := h[name]; ok {
			t.Errorf("%s reached the upstream: %q", name, v)
		}
	}
}

func TestForwardingUntrustedPeer(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := fwdGateway(t, up, false)

	kv := append([]string{"X-Request-Id", "client-chosen-id"}, spoofHeaders...)
	resp, body := fwdDo(t, gw.URL("/api/who"), kv...)
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	s := up.Last(t)
	want := map[string]string{
		"X-Forwarded-For":   "127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  gw.Addr,
		"Forwarded":         `for=127.0.0.1;proto=http;host="` + gw.Addr + `"`,
	}
	for name, v := range want {
		if got := s.Header.Values(name); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want only %q", name, got, v)
		}
	}
	assertNoClientIPHeaders(t, s.Header)
	rid := resp.Header.Get("X-Request-Id")
	if rid == "" || rid == "client-chosen-id" {
		t.Errorf("response X-Request-Id %q: an untrusted client's id must be replaced", rid)
	}
	if got := s.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != rid {
		t.Errorf("upstream X-Request-Id %q, response %q", got, rid)
	}

	// Two requests get two ids.
	resp2, _ := fwdDo(t, gw.URL("/api/who"))
	if id2 := resp2.Header.Get("X-Request-Id"); id2 == "" || id2 == rid || up.Last(t).Header.Get("X-Request-Id") != id2 {
		t.Errorf("second request id %q (first %q, upstream %q)", id2, rid, up.Last(t).Header.Get("X-Request-Id"))
	}
}

func TestForwardingTrustedProxy(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := fwdGateway(t, up, true)
	long128 := strings.Repeat("r", 128)
	long129 := strings.Repeat("r", 129)

	for _, tc := range []struct {
		name    string
		headers []string
		want    map[string]string // upstream header values (joined with ", ")
		keepID  string            // the client id that must be kept ("" = replaced)
	}{
		{name: "chain extended",
			headers: spoofHeaders,
			want: map[string]string{
				"X-Forwarded-For":   "6.6.6.6, 127.0.0.1",
				"X-Forwarded-Proto": "https",
				"X-Forwarded-Host":  "evil.test",
				"Forwarded":         `for=6.6.6.6;proto=https;host=evil.test, for=127.0.0.1;proto=http;host="` + gw.Addr + `"`,
			}},
		{name: "several X-Forwarded-For headers joined in order",
			headers: []string{"X-Forwarded-For", "1.1.1.1", "X-Forwarded-For", "2.2.2.2, 3.3.3.3"},
			want:    map[string]string{"X-Forwarded-For": "1.1.1.1, 2.2.2.2, 3.3.3.3, 127.0.0.1"}},
		{name: "no forwarding headers",
			want: map[string]string{
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Host":  gw.Addr,
				"Forwarded":         `for=127.0.0.1;proto=http;host="` + gw.Addr + `"`,
			}},
		{name: "valid request id kept",
			headers: []string{"X-Request-Id", "trace-Ab_12.3:4/5+6="},
			keepID:  "trace-Ab_12.3:4/5+6="},
		{name: "128-character request id kept",
			headers: []string{"X-Request-Id", long128},
			keepID:  long128},
		{name: "129-character request id replaced",
			headers: []string{"X-Request-Id", long129}},
		{name: "request id with spaces replaced",
			headers: []string{"X-Request-Id", "has spaces in it"}},
		{name: "request id with a quote replaced",
			headers: []string{"X-Request-Id", `a"b`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			resp, body := fwdDo(t, gw.URL("/api/t"), tc.headers...)
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("status %d body %q", resp.StatusCode, body)
			}
			s := up.Last(t)
			for name, v := range tc.want {
				if got := strings.Join(s.Header.Values(name), ", "); got != v {
					t.Errorf("%s = %q, want %q", name, got, v)
				}
			}
			assertNoClientIPHeaders(t, s.Header)
			rid := resp.Header.Get("X-Request-Id")
			if got := s.Header.Values("X-Request-Id"); len(got) != 1 || got[0] != rid || rid == "" {
				t.Fatalf("upstream X-Request-Id %q, response %q", got, rid)
			}
			var sent string
			for i := 0; i+1 < len(tc.headers); i += 2 {
				if tc.headers[i] == "X-Request-Id" {
					sent = tc.headers[i+1]
				}
			}
			switch {
			case tc.keepID != "" && rid != tc.keepID:
				t.Errorf("request id %q, want the client's %q kept", rid, tc.keepID)
			case tc.keepID == "" && sent != "" && rid == sent:
				t.Errorf("invalid client request id %q was kept", sent)
			}
		})
	}
}

// accessLines returns the access log lines on stdout, decoded; it fails
// the test on a line that is not JSON.
func accessLines(t *testing.T, gw *Gateway) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(gw.Stdout.String(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
		if m["msg"] == "access" {
			out = append(out, m)
		}
	}
	return out
}

// waitAccessLines waits (bounded) until n access lines are written; the
// line is written after the response, so the client can be ahead of it.
func waitAccessLines(t *testing.T, gw *Gateway, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := accessLines(t, gw)
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAccessLogLines(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := fwdGateway(t, up, true)

	type sent struct {
		method, target string
		kv             []string
		body           string
		status         int
		// expected log fields
		path, route, service, client string
		toUpstream                   bool
	}
	reqs := []sent{
		{method: "GET", target: "/api/a/../b?x=1", status: 200, path: "/api/b", route: "api", service: "svc", client: "127.0.0.1", toUpstream: true},
		{method: "POST", target: "/api/post", body: "hello", status: 200, path: "/api/post", route: "api", service: "svc", client: "127.0.0.1", toUpstream: true},
		{method: "GET", target: "/api/x", kv: []string{"X-Forwarded-For", "6.6.6.6"}, status: 200, path: "/api/x", route: "api", service: "svc", client: "6.6.6.6", toUpstream: true},
		{method: "GET", target: "/nowhere", status: 404, path: "/nowhere", client: "127.0.0.1"},
		{method: "GET", target: "/dead/x", status: 502, path: "/dead/x", route: "dead", service: "gone", client: "127.0.0.1"},
	}
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		req, err := http.NewRequest(r.method, gw.URL(r.target), strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if r.body == "" {
			req.Body, req.ContentLength = nil, 0
		}
		for j := 0; j+1 < len(r.kv); j += 2 {
			req.Header.Add(r.kv[j], r.kv[j+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.status {
			t.Fatalf("%s %s: status %d, want %d (%s)", r.method, r.target, resp.StatusCode, r.status, b)
		}
		ids[i] = resp.Header.Get("X-Request-Id")
		if r.toUpstream && up.Last(t).Header.Get("X-Request-Id") != ids[i] {
			t.Fatalf("%s: response X-Request-Id %q, upstream saw %q", r.target, ids[i], up.Last(t).Header.Get("X-Request-Id"))
		}
	}

	lines := waitAccessLines(t, gw, len(reqs))
	if len(lines) != len(reqs) {
		t.Fatalf("%d access lines for %d requests:\n%s", len(lines), len(reqs), gw.Stdout.String())
	}
	byID := map[string]map[string]any{}
	for _, l := range lines {
		id, _ := l["request_id"].(string)
		if _, dup := byID[id]; dup {
			t.Fatalf("two lines for request %q", id)
		}
		byID[id] = l
		for _, f := range []string{"request_id", "client", "method", "host", "path", "route", "service", "upstream", "status", "bytes_in", "bytes_out", "duration_ms", "upstream_ms"} {
			if _, ok := l[f]; !ok {
				t.Errorf("access line without %q: %v", f, l)
			}
		}
		for _, f := range []string{"status", "bytes_in", "bytes_out", "duration_ms", "upstream_ms"} {
			if _, ok := l[f].(float64); !ok {
				t.Errorf("%s is not a number: %v", f, l[f])
			}
		}
	}
	for i, r := range reqs {
		l, ok := byID[ids[i]]
		if !ok {
			t.Errorf("%s %s: no access line with request_id %q", r.method, r.target, ids[i])
			continue
		}
		check := func(field string, want any) {
			if l[field] != want {
				t.Errorf("%s %s: %s = %v, want %v", r.method, r.target, field, l[field], want)
			}
		}
		check("method", r.method)
		check("host", gw.Addr)
		check("path", r.path)
		check("status", float64(r.status))
		check("route", r.route)
		check("service", r.service)
		check("client", r.client)
		check("bytes_in", float64(len(r.body)))
		if r.toUpstream {
			check("upstream", up.Addr)
			check("bytes_out", float64(2)) // "ok"
			if l["upstream_ms"].(float64) <= 0 || l["duration_ms"].(float64) < l["upstream_ms"].(float64) {
				t.Errorf("%s: duration_ms %v, upstream_ms %v", r.target, l["duration_ms"], l["upstream_ms"])
			}
		}
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := fwdGateway(t, up, false)

	secrets := []string{
		"Authorization", "Bearer SECRET-TOKEN-123",
		"Cookie", "session=SECRET-COOKIE",
		"X-API-Key", "SECRET-KEY",
	}
	targets := map[string]int{
		"/api/data?access_token=SECRET-QUERY":           200, // forwarded
		"/nowhere?access_token=SECRET-QUERY":            404, // no route
		"/api/%2e%2e/x?access_token=SECRET-QUERY":       400, // refused path
		"/dead/x?access_token=SECRET-QUERY":             502, // upstream error
		"/api/a;jsessionid=1?access_token=SECRET-QUERY": 400, // refused parameter
	}
	for target, status := range targets {
		resp, body := fwdDo(t, gw.URL(target), secrets...)
		if resp.StatusCode != status {
			t.Fatalf("%s: status %d, want %d", target, resp.StatusCode, status)
		}
		if strings.Contains(body, "SECRET") {
			t.Errorf("%s: response body holds a secret: %q", target, body)
		}
	}
	// The secrets did travel through the gateway: the test is not vacuous.
	s := up.Last(t)
	if s.Header.Get("Authorization") != "Bearer SECRET-TOKEN-123" || !strings.Contains(s.RequestURI, "SECRET-QUERY") {
		t.Fatalf("upstream did not get the credentials: %q %v", s.RequestURI, s.Header)
	}

	if lines := waitAccessLines(t, gw, len(targets)); len(lines) != len(targets) {
		t.Fatalf("%d access lines for %d requests", len(lines), len(targets))
	}
	for name, out := range map[string]string{"stdout": gw.Stdout.String(), "stderr": gw.Stderr.String()} {
		for _, secret := range []string{"SECRET-TOKEN-123", "SECRET-COOKIE", "SECRET-KEY", "SECRET-QUERY"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s holds %s:\n%s", name, secret, out)
			}
		}
	}
}
