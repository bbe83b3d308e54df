package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// expectRefused checks a raw response is the gateway's problem with want
// and that the upstream saw nothing.
func expectRefused(t *testing.T, up *Upstream, resp RawResponse, want int) {
	t.Helper()
	if resp.Status != want {
		t.Fatalf("status %d, want %d: %s", resp.Status, want, resp.Body)
	}
	var prob map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &prob); err != nil || prob["status"] != float64(want) {
		t.Fatalf("body %q is not a %d problem", resp.Body, want)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream saw %d requests, want none: %+v", n, up.Requests())
	}
}

// TestHostOutsideAuthorityGrammarRefused: a Host that is not an RFC 3986
// authority is refused with 400 before routing; a route for the host it
// seems to name is never reached.
func TestHostOutsideAuthorityGrammarRefused(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: any
    paths: [{prefix: /}]
    service: svc
ops:
  address: "{{ops}}"
`, up.URL)))
	for _, tc := range []struct{ desc, host string }{
		{"userinfo", "api.example@evil.example"},
		{"userinfo with port", "user:pw@api.example:80"},
		{"port with letters", "api.example:80x"},
		{"port above 65535", "api.example:65536"},
		{"port of six digits", "api.example:000080"},
		{"empty port", "api.example:"},
		{"unbracketed IPv6", "2001:db8::1"},
		{"IPv6 zone", "[fe80::1%25eth0]"},
		{"percent-encoded", "api%2eexample"},
		{"backslash", `api.example\evil`},
		{"comma", "api.example,evil.example"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up.Reset()
			resp := rawRequest(t, gw.Addr, "GET /x HTTP/1.1\r\nHost: "+tc.host+"\r\nConnection: close\r\n\r\n")
			if resp.Status == 0 {
				return // refused by the HTTP parser itself: never routed either
			}
			expectRefused(t, up, resp, http.StatusBadRequest)
		})
	}
	// Valid spellings are routed.
	for _, host := range []string{"api.example", "api.example:8080", "[2001:db8::1]:443", "192.0.2.1"} {
		up.Reset()
		resp := rawRequest(t, gw.Addr, "GET /x HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n")
		if resp.Status != 200 || up.Count() != 1 {
			t.Fatalf("host %q: status %d, upstream %d", host, resp.Status, up.Count())
		}
	}
	if !gw.WaitAccessLog(`"reason":"host: port is not 1 to 5 digits in 0-65535"`, 5*time.Second) {
		t.Fatalf("no host reason in the access log:\n%s", gw.Stdout.String())
	}
}

// TestHeaderNamesWithUnderscoreOrDotDropped: by default a header whose
// name has '_' or '.' never reaches a policy or the upstream (CGI-style
// servers read X_Consumer_Name as X-Consumer-Name, some read
// Transfer.Encoding as Transfer-Encoding).
func TestHeaderNamesWithUnderscoreOrDotDropped(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, ""))
	resp := rawRequest(t, gw.Addr, "GET /x HTTP/1.1\r\nHost: api.example\r\n"+
		"X_Consumer_Name: admin\r\nTransfer_Encoding: chunked\r\nContent.Length: 5\r\nX.Tenant: other\r\n"+
		"X_Custom_Thing: x\r\nHost_Override: evil.example\r\nX-Plain: kept\r\nConnection: close\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	s := up.Last(t)
	for k := range s.Header {
		if strings.ContainsAny(k, "_.") {
			t.Errorf("upstream received %s", k)
		}
	}
	if s.Header.Get("X-Plain") != "kept" {
		t.Errorf("a plain header was dropped: %v", s.Header)
	}
}

// TestHeaderAliasesGuardedWhenKept: a listener that keeps '_' and '.'
// names still drops the aliases of framing, routing, identity, policy-read
// and duplicated headers.
func TestHeaderAliasesGuardedWhenKept(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    allow_underscore_and_dot_headers: true
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: tenant
    paths: [{prefix: /}]
    headers: [{name: X-Route-Key, value: "1"}]
    service: svc
    policies:
      - kind: require_headers
        headers: [{name: X-Tenant}]
ops:
  address: "{{ops}}"
`, up.URL)))
	resp := rawRequest(t, gw.Addr, "GET /x HTTP/1.1\r\nHost: api.example\r\nX-Route-Key: 1\r\nX-Tenant: acme\r\n"+
		"Transfer_Encoding: chunked\r\nContent.Length: 5\r\nX_Route_Key: 2\r\nX_Tenant: other\r\nX.Consumer.Name: admin\r\n"+
		"X_Http_Method_Override: DELETE\r\nX_Dup: a\r\nX-Dup: b\r\nX_Custom_Thing: kept\r\nConnection: close\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	s := up.Last(t)
	for _, k := range []string{"Transfer_encoding", "Content.length", "X_route_key", "X_tenant", "X.consumer.name", "X_http_method_override", "X_dup"} {
		for got := range s.Header {
			if strings.EqualFold(got, k) {
				t.Errorf("upstream received the alias %s", got)
			}
		}
	}
	kept := false
	for got := range s.Header {
		kept = kept || strings.EqualFold(got, "X_Custom_Thing")
	}
	if !kept {
		t.Errorf("an unrelated underscore header was dropped on a listener that keeps them: %v", s.Header)
	}
}

// TestMethodOverrideHeadersDropped: without a route's opt-in, method
// override headers never reach the upstream, so a framework cannot turn an
// allowed POST into a DELETE the gateway never authorized.
func TestMethodOverrideHeadersDropped(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: orders
    paths: [{prefix: /orders}]
    methods: [GET, POST]
    service: svc
ops:
  address: "{{ops}}"
`, up.URL)))
	for _, name := range []string{"X-HTTP-Method-Override", "x-http-method", "X-Method-Override", "X-HTTP-METHOD-OVERRIDE"} {
		up.Reset()
		resp := rawRequest(t, gw.Addr, "POST /orders/1 HTTP/1.1\r\nHost: api.example\r\n"+name+": DELETE\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		if resp.Status != 200 {
			t.Fatalf("%s: status %d", name, resp.Status)
		}
		s := up.Last(t)
		if s.Method != "POST" {
			t.Fatalf("%s: upstream saw %s", name, s.Method)
		}
		for k := range s.Header {
			if strings.Contains(strings.ToLower(k), "method") {
				t.Fatalf("%s: upstream received %s: %v", name, k, s.Header[k])
			}
		}
	}
}

// TestMethodOverrideOptInRoutesAndAuthorizesOverriddenMethod: on a route
// that opts in, the override is routed and authorized as the method it
// names, and forwarded as that method.
func TestMethodOverrideOptInRoutesAndAuthorizesOverriddenMethod(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: orders-write
    paths: [{prefix: /orders}]
    methods: [POST, PUT]
    method_override: true
    service: svc
  - name: orders-delete
    paths: [{prefix: /orders}]
    methods: [DELETE]
    method_override: true
    service: svc
    policies:
      - kind: ip_filter
        allow: [192.0.2.0/24]
  - name: legacy
    paths: [{prefix: /legacy}]
    methods: [POST]
    method_override: true
    service: svc
ops:
  address: "{{ops}}"
`, up.URL)))
	post := func(path, override string) RawResponse {
		return rawRequest(t, gw.Addr, "POST "+path+" HTTP/1.1\r\nHost: api.example\r\nX-HTTP-Method-Override: "+override+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
	// PUT is routed as PUT and forwarded as PUT, without the header.
	resp := post("/orders/1", "put")
	if resp.Status != 200 {
		t.Fatalf("override to PUT: %d %s", resp.Status, resp.Body)
	}
	if s := up.Last(t); s.Method != "PUT" || s.Header.Get("X-Http-Method-Override") != "" {
		t.Fatalf("upstream saw %s with %v", s.Method, s.Header)
	}
	// DELETE is authorized as DELETE: the DELETE route's IP filter refuses.
	up.Reset()
	expectRefused(t, up, post("/orders/1", "DELETE"), http.StatusForbidden)
	// An override to a method no route allows: 405.
	expectRefused(t, up, post("/legacy/x", "DELETE"), http.StatusMethodNotAllowed)
	// Methods that cannot be overridden to, and conflicting overrides.
	expectRefused(t, up, post("/orders/1", "CONNECT"), http.StatusBadRequest)
	resp = rawRequest(t, gw.Addr, "POST /orders/1 HTTP/1.1\r\nHost: api.example\r\nX-HTTP-Method-Override: PUT\r\nX-HTTP-Method: DELETE\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	expectRefused(t, up, resp, http.StatusBadRequest)
	// A GET carrying an override header is not overridden.
	resp = rawRequest(t, gw.Addr, "GET /legacy/x HTTP/1.1\r\nHost: api.example\r\nX-HTTP-Method-Override: DELETE\r\nConnection: close\r\n\r\n")
	if resp.Status != http.StatusMethodNotAllowed {
		t.Fatalf("GET with override on a POST-only route: %d", resp.Status)
	}
}

// TestSNIAndHostMustAgree: on a TLS listener, a request whose Host is not
// the name asked for in SNI (or, without SNI, not covered by the default
// certificate) gets 421 and never reaches the upstream, over HTTP/1.1 and
// HTTP/2. A listener can allow the mismatch for fronting setups.
func TestSNIAndHostMustAgree(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	certs := f.listenerCerts(t)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, certs, "", "", ""))

	for _, tc := range []struct {
		desc, sni, host string
		want            int
	}{
		{"same name", "a.example.test", "a.example.test", 200},
		{"same name, other case, port and trailing dot", "a.example.test", "A.Example.Test.:443", 200},
		{"wildcard name asked for", "x.b.example.test", "x.b.example.test", 200},
		{"other name on the same certificate", "x.b.example.test", "y.b.example.test", 421},
		{"other site", "a.example.test", "x.b.example.test", 421},
		{"no SNI, host covered by the default certificate", "", "a.example.test", 200},
		{"no SNI, host not covered", "", "x.b.example.test", 421},
	} {
		for _, h2 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s h2=%v", tc.desc, h2), func(t *testing.T) {
				up.Reset()
				cfg := &tls.Config{RootCAs: f.ca.pool, ServerName: tc.sni, InsecureSkipVerify: tc.sni == ""}
				c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: h2}}
				req, _ := http.NewRequest("GET", "https://"+gw.Addr+"/x", nil)
				req.Host = tc.host
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
				}
				if tc.want == 421 && up.Count() != 0 {
					t.Fatalf("the upstream saw a misdirected request")
				}
				if tc.want == 200 && up.Count() != 1 {
					t.Fatalf("the upstream saw %d requests", up.Count())
				}
			})
		}
	}

	t.Run("allow_sni_host_mismatch", func(t *testing.T) {
		gw2 := StartGateway(t, tlsGatewayConfig(up.URL, certs, "allow_sni_host_mismatch: true", "", ""))
		up.Reset()
		rawCfg := f.client("a.example.test")
		resp := rawTLSRequest(t, gw2.Addr, rawCfg, "GET /x HTTP/1.1\r\nHost: x.b.example.test\r\nConnection: close\r\n\r\n")
		if resp.Status != 200 || up.Count() != 1 {
			t.Fatalf("status %d, upstream %d", resp.Status, up.Count())
		}
	})
}

// TestForwardedFromTrustedProxyNamesClient: behind a trusted proxy that
// sends only RFC 7239 Forwarded, the client is the address it names
// (checked through an IP allow list the proxy's own address is not on);
// from an untrusted peer, Forwarded is ignored.
func TestForwardedFromTrustedProxyNamesClient(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
trusted_proxies: [127.0.0.2/32]
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: partners
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: ip_filter
        allow: [198.51.100.0/24, "2001:db8::/32"]
ops:
  address: "{{ops}}"
`, up.URL)))
	from := func(ip, headers string) RawResponse {
		c, err := dialerFrom(ip, 2*time.Second).Dial("tcp", gw.Addr)
		if err != nil {
			t.Fatal(err)
		}
		return rawExchange(c, "GET /x HTTP/1.1\r\nHost: api.example\r\n"+headers+"Connection: close\r\n\r\n")
	}
	for _, tc := range []struct {
		desc, peer, headers string
		want                int
	}{
		{"forwarded only, IPv4", "127.0.0.2", "Forwarded: for=198.51.100.7;proto=https\r\n", 200},
		{"forwarded only, quoted IPv6 with port", "127.0.0.2", "Forwarded: for=\"[2001:db8::7]:4711\"\r\n", 200},
		{"client-written element left of the proxy's", "127.0.0.2", "Forwarded: for=203.0.113.9, for=198.51.100.7\r\n", 200},
		{"client spoofs an allowed address left of the proxy's", "127.0.0.2", "Forwarded: for=198.51.100.7, for=203.0.113.9\r\n", 403},
		{"two lines read as one list", "127.0.0.2", "Forwarded: for=198.51.100.7\r\nForwarded: for=203.0.113.9\r\n", 403},
		{"unknown stops the walk at the proxy", "127.0.0.2", "Forwarded: for=198.51.100.7, for=unknown\r\n", 403},
		{"malformed element stops the walk", "127.0.0.2", "Forwarded: for=198.51.100.7, for=\"[2001:db8::1\r\n", 403},
		{"both headers agree", "127.0.0.2", "Forwarded: for=198.51.100.7\r\nX-Forwarded-For: 198.51.100.7\r\n", 200},
		{"both headers disagree: neither believed", "127.0.0.2", "Forwarded: for=203.0.113.9\r\nX-Forwarded-For: 198.51.100.7\r\n", 403},
		{"untrusted peer's forwarded ignored", "127.0.0.3", "Forwarded: for=198.51.100.7\r\n", 403},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up.Reset()
			resp := from(tc.peer, tc.headers)
			if resp.Status != tc.want {
				t.Fatalf("status %d, want %d", resp.Status, tc.want)
			}
			if tc.want == 403 && up.Count() != 0 {
				t.Fatalf("the upstream saw a refused request")
			}
		})
	}
}
