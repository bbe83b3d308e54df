package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// normGateway is a gateway whose routes make every normalization mistake
// visible: a traversal out of /public into /admin lands on a different
// upstream, and strip_prefix, rewrite and allow_encoded_slashes each have a
// route of their own.
type normGateway struct {
	gw             *Gateway
	pub, adm, misc *Upstream
	byName         map[string]*Upstream
}

func startNormGateway(t *testing.T) *normGateway {
	t.Helper()
	n := &normGateway{pub: NewUpstream(t, nil), adm: NewUpstream(t, nil), misc: NewUpstream(t, nil)}
	n.byName = map[string]*Upstream{"pub": n.pub, "adm": n.adm, "misc": n.misc}
	n.gw = StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: pub, targets: [{url: "%s"}]}
  - {name: adm, targets: [{url: "%s"}]}
  - {name: misc, targets: [{url: "%s"}]}
routes:
  - name: public
    paths: [{prefix: /public/}]
    service: pub
  - name: admin
    paths: [{prefix: /admin/}]
    service: adm
  - name: exact
    paths: [{exact: /exact}]
    service: misc
  - name: strip
    paths: [{prefix: /strip/}]
    service: misc
    strip_prefix: true
  - name: orders
    paths: [{exact: /v1/orders}]
    service: misc
    rewrite: /internal/7f3a9c/orders-svc
  - name: v2
    paths: [{prefix: /v2/}]
    service: misc
    rewrite: /internal/x9/
  - name: files
    paths: [{prefix: /files/}]
    service: misc
    allow_encoded_slashes: true
ops: {address: "{{ops}}"}
`, n.pub.URL, n.adm.URL, n.misc.URL)))
	return n
}

func (n *normGateway) reset() {
	for _, u := range n.byName {
		u.Reset()
	}
}

// total is the number of requests all upstreams received.
func (n *normGateway) total() int {
	c := 0
	for _, u := range n.byName {
		c += u.Count()
	}
	return c
}

// get is a raw GET of target, closing the connection after the response.
func normGet(target string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n"
}

// withHeaders is a raw request line plus header lines (each without CRLF)
// and a body.
func normRaw(line string, body string, headers ...string) string {
	var b strings.Builder
	b.WriteString(line + "\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.String()
}

// normSmuggled is a second request hidden in a body: if any upstream sees
// /admin/smuggled, the framing was read two ways.
const normSmuggled = "GET /admin/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n"

type normCase struct {
	name   string
	raw    string
	status int
	// problem: the gateway's handler answered, so the body is
	// application/problem+json with the request id. False for answers
	// net/http gives before the handler runs.
	problem bool
	up      string // upstream that must get exactly one request ("" none)
	uri     string // the RequestURI it must see
	check   func(t *testing.T, s Seen, resp RawResponse)
}

func normCases() []normCase {
	ok := func(name, target, up, uri string) normCase {
		return normCase{name: name, raw: normGet(target), status: 200, up: up, uri: uri}
	}
	bad := func(name, target string) normCase {
		return normCase{name: name, raw: normGet(target), status: 400, problem: true}
	}
	return []normCase{
		// Dot segments and traversal.
		ok("dot-dot resolved", "/public/a/../b", "pub", "/public/b"),
		ok("single dot removed", "/public/./a/./b", "pub", "/public/a/b"),
		ok("traversal into admin is routed to admin", "/public/../admin/x", "adm", "/admin/x"),
		ok("double slashes collapsed", "//public//a///b", "pub", "/public/a/b"),
		ok("trailing dot-dot resolved", "/public/a/b/..", "pub", "/public/a/"),
		{name: "traversal out of every route is 404", raw: normGet("/public/.."), status: 404, problem: true},
		bad("dot-dot above root", "/.."),
		bad("dot-dot above root after a segment", "/public/../../admin/x"),
		bad("encoded dot-dot lower", "/public/%2e%2e/admin/x"),
		bad("encoded dot-dot mixed case", "/public/%2E%2e/admin/x"),
		bad("half-encoded dot-dot", "/public/.%2e/admin/x"),
		bad("half-encoded dot-dot other half", "/public/%2e./admin/x"),
		bad("encoded single dot", "/public/%2e/x"),
		bad("encoded dot-dot on the encoded-slash route", "/files/%2e%2e/admin/x"),

		// Encoded slashes.
		bad("encoded slash refused", "/public/a%2Fb"),
		bad("encoded slash lower case refused", "/public/a%2fb"),
		bad("encoded slash into admin refused", "/public/..%2Fadmin/x"),
		ok("encoded slash allowed stays encoded", "/files/a%2Fb", "misc", "/files/a%2Fb"),
		ok("encoded slash allowed upper-cased", "/files/a%2fb/c", "misc", "/files/a%2Fb/c"),
		bad("dot-dot next to allowed encoded slash", "/files/x/..%2F..%2Fadmin"),
		// A ".." dropping a segment with an encoded slash: "/files/a/" here,
		// "/files/a/b/" to a server that decodes before splitting; and on a
		// route without the switch, the slash would vanish from the output.
		bad("dot-dot dropping an allowed encoded slash", "/files/a/b%2Fc/.."),
		bad("dot-dot hiding an encoded slash", "/public/%2f/../x"),

		// Backslash, NUL, control characters, bad escapes, bad UTF-8.
		bad("encoded backslash", "/public/a%5Cb"),
		bad("encoded backslash lower", "/public/..%5c..%5cadmin/x"),
		bad("raw backslash", `/public/a\b`),
		bad("raw backslash traversal", `/public/..\admin/x`),
		bad("encoded NUL", "/public/a%00.json"),
		bad("encoded CRLF", "/public/a%0D%0AX-Injected:%201"),
		bad("encoded tab", "/public/a%09b"),
		bad("overlong UTF-8 slash", "/public/..%C0%AFadmin/x"),
		bad("lone 0xFF byte", "/public/%FF"),
		bad("truncated UTF-8 sequence", "/public/%E2%82"),
		// net/http refuses an invalid escape itself, before the handler.
		{name: "invalid escape", raw: normGet("/public/%zz"), status: 400},
		{name: "truncated escape", raw: normGet("/public/100%"), status: 400},

		// Percent-encoding normalized.
		ok("encoded tilde decoded", "/public/%7Euser", "pub", "/public/~user"),
		ok("encoded letter decoded", "/public/%41%62c", "pub", "/public/Abc"),
		ok("encoded route prefix decoded and routed", "/%70ublic/x", "pub", "/public/x"),
		ok("reserved escape upper-cased", "/public/a%3ab%40c", "pub", "/public/a%3Ab%40c"),
		ok("UTF-8 escapes upper-cased", "/public/%e2%82%ac", "pub", "/public/%E2%82%AC"),
		ok("raw space-free sub-delims kept", "/public/a:b@c!d$e", "pub", "/public/a:b@c!d$e"),
		ok("raw characters not allowed in a path escaped", "/public/a%22b|c", "pub", "/public/a%22b%7Cc"),

		// Path parameters and fragments.
		bad("semicolon parameter", "/public/a;jsessionid=1"),
		bad("dot-dot with parameter", "/public/..;/admin/x"),
		bad("fragment in target", "/public/a#frag"),

		// Request-target forms other than origin-form.
		{name: "absolute-form", raw: normGet("http://evil/public/x"), status: 400, problem: true},
		{name: "absolute-form to admin", raw: normGet("http://gw.test/admin/x"), status: 400, problem: true},
		{name: "asterisk-form GET", raw: normGet("*"), status: 400, problem: true},
		// net/http answers "OPTIONS *" itself (the framing checker relies
		// on that): an empty 200 that never reaches an upstream.
		{name: "asterisk-form OPTIONS answered locally", raw: normRaw("OPTIONS * HTTP/1.1", "", "Host: gw.test", "Connection: close"), status: 200},
		{name: "CONNECT authority-form", raw: normRaw("CONNECT evil.test:443 HTTP/1.1", "", "Host: evil.test:443"), status: 400, problem: true},
		{name: "CONNECT with a path", raw: normRaw("CONNECT /public/x HTTP/1.1", "", "Host: gw.test"), status: 400, problem: true},

		// Routing results after normalization.
		ok("exact route", "/exact", "misc", "/exact"),
		{name: "exact route does not match a longer path", raw: normGet("/exact/x"), status: 404, problem: true},
		ok("strip_prefix", "/strip/a/b?q=1", "misc", "/a/b?q=1"),
		ok("strip_prefix after dot segments", "/strip/x/../a", "misc", "/a"),
		ok("rewrite exact to obfuscated path", "/v1/orders", "misc", "/internal/7f3a9c/orders-svc"),
		ok("rewrite exact keeps the query", "/v1/orders?limit=5", "misc", "/internal/7f3a9c/orders-svc?limit=5"),
		ok("rewrite prefix", "/v2/a/b", "misc", "/internal/x9/a/b"),
		ok("rewrite prefix after normalization", "/v2/a/./%62/../b", "misc", "/internal/x9/a/b"),
		{name: "internal path not reachable", raw: normGet("/internal/7f3a9c/orders-svc"), status: 404, problem: true},
		ok("query passed through unchanged", "/public/q?a=1&b=%2F..%2f&c=x+y&d=%7e&e=%zz", "pub", "/public/q?a=1&b=%2F..%2f&c=x+y&d=%7e&e=%zz"),

		// Message framing (request smuggling).
		{name: "Content-Length and Transfer-Encoding",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n"+normSmuggled,
				"Host: gw.test", "Content-Length: 52", "Transfer-Encoding: chunked"),
			status: 400, problem: true},
		{name: "Transfer-Encoding and Content-Length",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n"+normSmuggled,
				"Host: gw.test", "Transfer-Encoding: chunked", "Content-Length: 52"),
			status: 400, problem: true},
		{name: "duplicate identical Content-Length",
			raw: normRaw("POST /public/x HTTP/1.1", "abcd",
				"Host: gw.test", "Content-Length: 4", "Content-Length: 4"),
			status: 400, problem: true},
		{name: "duplicate different Content-Length",
			raw: normRaw("POST /public/x HTTP/1.1", "abcd"+normSmuggled,
				"Host: gw.test", "Content-Length: 4", "Content-Length: 51"),
			status: 400},
		{name: "Content-Length list",
			raw: normRaw("POST /public/x HTTP/1.1", "abcd",
				"Host: gw.test", "Content-Length: 4, 4"),
			status: 400},
		{name: "Content-Length with a sign",
			raw: normRaw("POST /public/x HTTP/1.1", "abcd",
				"Host: gw.test", "Content-Length: +4"),
			status: 400},
		{name: "Transfer-Encoding chunked, identity",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: chunked, identity"),
			status: 501},
		{name: "Transfer-Encoding xchunked",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: xchunked"),
			status: 501},
		{name: "Transfer-Encoding twice",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"),
			status: 501},
		{name: "Transfer-Encoding tab before chunked",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding:\tchunked"),
			status: 400, problem: true},
		{name: "Transfer-Encoding vertical tab",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: \vchunked"),
			status: 400},
		{name: "Transfer-Encoding folded onto a new line",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding:", " chunked"),
			status: 400, problem: true},
		{name: "Transfer-Encoding as a continuation line",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n"+normSmuggled,
				"Host: gw.test", "Content-Length: 52", " Transfer-Encoding: chunked"),
			status: 400},
		{name: "Transfer-Encoding space before colon",
			raw: normRaw("POST /public/x HTTP/1.1", "0\r\n\r\n"+normSmuggled,
				"Host: gw.test", "Transfer-Encoding : chunked", "Content-Length: 52"),
			status: 400},
		{name: "Transfer-Encoding in HTTP/1.0",
			raw: normRaw("POST /public/x HTTP/1.0", "0\r\n\r\n"+normSmuggled,
				"Host: gw.test", "Transfer-Encoding: chunked"),
			status: 400, problem: true},
		{name: "malformed chunk size",
			raw: normRaw("POST /public/x HTTP/1.1", "zz\r\nabc\r\n0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: chunked"),
			status: 400, problem: true},
		{name: "chunk size with a 0x prefix",
			raw: normRaw("POST /public/x HTTP/1.1", "0x3\r\nabc\r\n0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: chunked"),
			status: 400, problem: true},
		{name: "chunk size line with bare LF",
			raw: normRaw("POST /public/x HTTP/1.1", "3\nabc\r\n0\r\n\r\n",
				"Host: gw.test", "Transfer-Encoding: chunked"),
			status: 400, problem: true},
		{name: "duplicate Host",
			raw:    normRaw("GET /public/x HTTP/1.1", "", "Host: gw.test", "Host: evil.test"),
			status: 400},
		{name: "missing Host in HTTP/1.1",
			raw:    normRaw("GET /public/x HTTP/1.1", ""),
			status: 400},
		{name: "obs-fold header",
			raw:    normRaw("GET /public/x HTTP/1.1", "", "Host: gw.test", "X-Note: a", " folded"),
			status: 400, problem: true},
		{name: "space before colon",
			raw:    normRaw("GET /public/x HTTP/1.1", "", "Host: gw.test", "X-Note : a"),
			status: 400},
		{name: "header line without colon",
			raw:    normRaw("GET /public/x HTTP/1.1", "", "Host: gw.test", "X-Note a"),
			status: 400},
		{name: "HTTP/2.0 request line on HTTP/1",
			raw:    normRaw("GET /public/x HTTP/2.0", "", "Host: gw.test"),
			status: 505},

		// Hop-by-hop headers cannot remove the gateway's own.
		{name: "Connection naming gateway headers",
			raw: normRaw("GET /public/c HTTP/1.1", "", "Host: gw.test",
				"Connection: close, X-Request-Id, X-Forwarded-For, X-Forwarded-Proto, Forwarded, X-Custom",
				"X-Custom: dropped", "X-Forwarded-For: 6.6.6.6"),
			status: 200, up: "pub", uri: "/public/c",
			check: func(t *testing.T, s Seen, resp RawResponse) {
				if got := s.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
					t.Errorf("X-Forwarded-For = %q, want 127.0.0.1", got)
				}
				if got := s.Header.Get("X-Forwarded-Proto"); got != "http" {
					t.Errorf("X-Forwarded-Proto = %q, want http", got)
				}
				if got := s.Header.Get("Forwarded"); !strings.HasPrefix(got, "for=127.0.0.1;proto=http") {
					t.Errorf("Forwarded = %q", got)
				}
				if got := s.Header.Get("X-Request-Id"); got == "" || got != resp.Header.Get("X-Request-Id") {
					t.Errorf("X-Request-Id upstream %q, client %q", got, resp.Header.Get("X-Request-Id"))
				}
				if s.Header.Get("X-Custom") != "" || s.Header.Get("Connection") != "" {
					t.Errorf("hop-by-hop headers forwarded: %v", s.Header)
				}
			}},
	}
}

func TestNormalizeAndSmuggling(t *testing.T) {
	n := startNormGateway(t)
	cases := normCases()
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n.reset()
			resp := rawRequest(t, n.gw.Addr, tc.raw)
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d; body %q", resp.Status, tc.status, resp.Body)
			}
			// Every refusal is a problem body, including those net/http
			// makes before any handler runs (the gateway rewrites them).
			if tc.problem || tc.status >= 400 {
				normAssertProblem(t, resp, tc.status)
			}
			if tc.up == "" {
				if c := n.total(); c != 0 {
					t.Fatalf("upstreams received %d requests, want none", c)
				}
				return
			}
			u := n.byName[tc.up]
			if c, all := u.Count(), n.total(); c != 1 || all != 1 {
				t.Fatalf("upstream %s received %d requests (all upstreams %d), want exactly 1", tc.up, c, all)
			}
			s := u.Last(t)
			if s.RequestURI != tc.uri {
				t.Errorf("upstream saw %q, want %q", s.RequestURI, tc.uri)
			}
			if resp.Body != "ok" {
				t.Errorf("body %q", resp.Body)
			}
			if tc.check != nil {
				tc.check(t, s, resp)
			}
		})
	}
}

// assertProblem checks an RFC 9457 body from the gateway's handler.
func normAssertProblem(t *testing.T, resp RawResponse, status int) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %q", ct, resp.Body)
	}
	var p struct {
		Status    int    `json:"status"`
		RequestID string `json:"request_id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatalf("problem body %q: %v", resp.Body, err)
	}
	if p.Status != status || p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-Id") {
		t.Fatalf("problem body %q, X-Request-Id %q", resp.Body, resp.Header.Get("X-Request-Id"))
	}
}

// rawResponses writes raw to a fresh connection and reads up to n
// responses; it stops early when the connection ends.
func normRawResponses(t *testing.T, addr, raw string, n int) []RawResponse {
	t.Helper()
	c := sendRaw(t, addr, raw)
	defer c.Close()
	br := bufio.NewReader(c)
	var out []RawResponse
	for range n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)})
	}
	return out
}

func TestNormalizePipelining(t *testing.T) {
	n := startNormGateway(t)

	t.Run("two clean requests on one connection", func(t *testing.T) {
		n.reset()
		raw := "GET /public/first HTTP/1.1\r\nHost: gw.test\r\n\r\n" +
			"POST /public/second HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 5\r\n\r\nhello"
		rs := normRawResponses(t, n.gw.Addr, raw, 2)
		if len(rs) != 2 || rs[0].Status != 200 || rs[1].Status != 200 {
			t.Fatalf("responses %+v", rs)
		}
		seen := n.pub.Requests()
		if len(seen) != 2 || seen[0].RequestURI != "/public/first" || seen[1].RequestURI != "/public/second" || string(seen[1].Body) != "hello" {
			t.Fatalf("upstream saw %+v", seen)
		}
		if rs[0].Header.Get("X-Request-Id") == rs[1].Header.Get("X-Request-Id") {
			t.Error("pipelined requests share a request id")
		}
	})

	t.Run("request after bad framing is not trusted", func(t *testing.T) {
		n.reset()
		// Two identical Content-Length headers: net/http merges them, the
		// gateway refuses and must not serve what follows on the connection.
		raw := "POST /public/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd" +
			"GET /admin/after HTTP/1.1\r\nHost: gw.test\r\n\r\n"
		rs := normRawResponses(t, n.gw.Addr, raw, 2)
		if len(rs) != 1 || rs[0].Status != 400 {
			t.Fatalf("want exactly one 400 and the connection closed, got %+v", rs)
		}
		normAssertProblem(t, rs[0], 400)
		if c := n.total(); c != 0 {
			t.Fatalf("upstreams received %d requests", c)
		}
	})
}

// bodyResult is what an upstream handler got when it read a request body.
type bodyResult struct {
	n   int
	end bool // the body's closing marker arrived
	err error
}

// startBodyUpstream is an upstream that reports each body read, error
// included: the recording Upstream keeps a body even when reading it
// failed, which cannot tell a cut stream from a complete one.
func startBodyUpstream(t *testing.T) (string, <-chan bodyResult) {
	t.Helper()
	results := make(chan bodyResult, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		results <- bodyResult{n: len(b), end: strings.Contains(string(b), "END"), err: err}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, results
}

func TestNormalizeBodyLimit(t *testing.T) {
	const limit = 1024
	up := NewUpstream(t, nil)
	bodyURL, results := startBodyUpstream(t)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services:
  - {name: rec, targets: [{url: "%s"}]}
  - {name: body, targets: [{url: "%s"}]}
routes:
  - name: recorded
    paths: [{prefix: /rec/}]
    service: rec
    max_body_size: 1KiB
  - name: streamed
    paths: [{prefix: /stream/}]
    service: body
    max_body_size: 1KiB
ops: {address: "{{ops}}"}
`, up.URL, bodyURL)))
	body := strings.Repeat("a", 2*limit-3) + "END"
	chunked := func(s string) string {
		var b strings.Builder
		for s != "" {
			k := min(len(s), 256)
			fmt.Fprintf(&b, "%x\r\n%s\r\n", k, s[:k])
			s = s[k:]
		}
		return b.String() + "0\r\n\r\n"
	}

	t.Run("Content-Length over the limit", func(t *testing.T) {
		up.Reset()
		raw := fmt.Sprintf("POST /rec/upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		resp := rawRequest(t, gw.Addr, raw)
		if resp.Status != 413 {
			t.Fatalf("status %d, want 413", resp.Status)
		}
		normAssertProblem(t, resp, 413)
		if c := up.Count(); c != 0 {
			t.Fatalf("upstream received %d requests", c)
		}
	})

	t.Run("Content-Length at the limit passes", func(t *testing.T) {
		up.Reset()
		small := strings.Repeat("b", limit)
		raw := fmt.Sprintf("POST /rec/upload HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(small), small)
		if resp := rawRequest(t, gw.Addr, raw); resp.Status != 200 {
			t.Fatalf("status %d", resp.Status)
		}
		if got := up.Last(t).Body; string(got) != small {
			t.Fatalf("upstream body of %d bytes, want %d", len(got), limit)
		}
	})

	t.Run("chunked at the limit passes", func(t *testing.T) {
		small := strings.Repeat("c", limit-3) + "END"
		raw := "POST /stream/upload HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(small)
		if resp := rawRequest(t, gw.Addr, raw); resp.Status != 200 {
			t.Fatalf("status %d", resp.Status)
		}
		select {
		case r := <-results:
			if r.err != nil || r.n != limit || !r.end {
				t.Fatalf("upstream read %d bytes, end %v, err %v", r.n, r.end, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("upstream got nothing")
		}
	})

	t.Run("chunked over the limit never completes upstream", func(t *testing.T) {
		raw := "POST /stream/upload HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body)
		resp := rawRequest(t, gw.Addr, raw)
		if resp.Status != 413 && resp.Status != 0 {
			t.Fatalf("status %d, want 413 or a cut connection", resp.Status)
		}
		// The access line says whether the gateway sent the request on
		// (its upstream field). If it did, the upstream's read must end in
		// an error (the stream was cut), never in a clean end of a shorter
		// body; if it did not, the upstream must have nothing.
		var line map[string]any
		if !waitFor(5*time.Second, func() bool {
			for _, l := range accessLines(t, gw) {
				if l["path"] == "/stream/upload" && l["status"] != float64(200) {
					line = l
					return true
				}
			}
			return false
		}) {
			t.Fatalf("no access line for the refused request:\n%s", gw.Stdout.String())
		}
		if line["upstream"] == "" {
			select {
			case r := <-results:
				t.Fatalf("the access line says the request was not sent on, but the upstream read %d bytes (err %v)", r.n, r.err)
			default:
			}
			return
		}
		select {
		case r := <-results:
			if r.err == nil || r.end || r.n >= len(body) {
				t.Fatalf("upstream read %d bytes cleanly (end %v, err %v): a truncated body looked complete", r.n, r.end, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the request was sent on (%v) but the upstream's read never ended", line["upstream"])
		}
	})
}
