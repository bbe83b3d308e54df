package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// What a client could slip past the headers the gateway guarantees: an
// alias of a gateway-owned header ('_' for '-'), a Connection header naming
// one, its own X-Forwarded-* headers, a space in an HTTP/2 :path, an h2c
// upgrade to the upstream, and an internal URI in a second Location value.

// gatewayOwnedHeaders are headers only the gateway may send upstream.
var gatewayOwnedHeaders = []string{
	"X-Consumer-Name", "X-Consumer-Groups", "X-Credential-Id", "X-Auth-Method",
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
	"X-Request-Id", "X-Real-Ip",
}

// TestUnderscoreAliasesOfGatewayHeadersDropped: nginx (with
// underscores_in_headers), CGI, WSGI and PHP read X_Consumer_Name as
// X-Consumer-Name; a client must not get such an alias to the upstream.
//
// Header names with '_' are dropped by default (request_head_test.go);
// this is the rule on a listener that keeps them.
func TestUnderscoreAliasesOfGatewayHeadersDropped(t *testing.T) {
	up := NewUpstream(t, nil)
	cfg := strings.Replace(string(simpleConfig(up, "")), `address: "{{public}}"`, `address: "{{public}}"
    allow_underscore_and_dot_headers: true`, 1)
	gw := StartGateway(t, GatewayConfig(cfg))
	resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: api.example\r\n"+
		"X_Consumer_Name: admin\r\nx_consumer_groups: admins\r\nX_Auth_Method: mtls\r\n"+
		"X_Forwarded_For: 10.0.0.1\r\nX_Request_Id: forged\r\nX_Real_IP: 10.0.0.2\r\n"+
		"X_Custom_Thing: kept\r\nConnection: close\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	s := up.Last(t)
	for k, v := range s.Header {
		alias := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k, "_", "-"))
		for _, owned := range gatewayOwnedHeaders {
			if alias == owned && k != owned {
				t.Errorf("upstream received %s: %q, an alias of %s", k, v, owned)
			}
		}
	}
	if s.Header.Get("X_Custom_Thing") != "kept" {
		t.Errorf("an unrelated underscore header was dropped: %v", s.Header)
	}
}

// TestConnectionCannotRemoveIdentityHeaders: headers a client names
// in Connection are removed before forwarding, but never the identity the
// gateway set.
func TestConnectionCannotRemoveIdentityHeaders(t *testing.T) {
	bh := bhHash(t, "correct horse", "--algorithm", "bcrypt", "--cost", "4")
	up := NewUpstream(t, nil)
	gw := StartGateway(t, akGatewayConfig(up, fmt.Sprintf(`  - name: carol
    groups: [finance]
    credentials:
      basic:
        - {username: carol, password_hash: %q}
`, bh), `          - basic: {realm: "orders"}`))
	auth := bhAuth("carol", "correct horse")["Authorization"]
	resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: api.example\r\nAuthorization: "+auth+
		"\r\nConnection: close, X-Consumer-Name, x-consumer-groups, X-Auth-Method, X-Credential-Id, X-Request-Id\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	h := up.Last(t).Header
	for k, want := range map[string]string{"X-Consumer-Name": "carol", "X-Consumer-Groups": "finance", "X-Auth-Method": "basic"} {
		if got := h.Get(k); got != want {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	if h.Get("X-Credential-Id") == "" || h.Get("X-Request-Id") == "" {
		t.Errorf("gateway headers removed: %v", h)
	}
}

// TestUntrustedClientCannotSendOtherForwardedHeaders: from a peer
// that is not a trusted proxy, every X-Forwarded-* header the upstream sees
// is the gateway's (frameworks honour X-Forwarded-Prefix/-Port/-Ssl from
// their proxy).
func TestUntrustedClientCannotSendOtherForwardedHeaders(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, ""))
	resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: api.example\r\n"+
		"X-Forwarded-Prefix: /admin\r\nX-Forwarded-Port: 443\r\nX-Forwarded-Ssl: on\r\n"+
		"x-forwarded-scheme: https\r\nX_Forwarded_Server: evil\r\nConnection: close\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	h := up.Last(t).Header
	for k, v := range h {
		alias := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k, "_", "-"))
		if !strings.HasPrefix(alias, "X-Forwarded-") {
			continue
		}
		switch k {
		case "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			continue
		}
		t.Errorf("upstream received the client's %s: %q", k, v)
	}
	if h.Get("X-Forwarded-Proto") != "http" || h.Get("X-Forwarded-Host") != "api.example" {
		t.Errorf("gateway forwarding headers wrong: %v", h)
	}
}

// TestHTTP2QueryWithSpaceRefused: HTTP/2 carries :path as a header
// value, so a space in the query reaches the handler; it must be refused
// as the client's error (400), not sent on to fail as the upstream's (502,
// counted against the target's health).
func TestHTTP2QueryWithSpaceRefused(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "", ""))
	req, err := http.NewRequest(http.MethodGet, "https://"+gw.Addr+"/h2/path", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.RawQuery = "a=b c"
	resp, err := f.httpsClient("a.example.test", true).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("proto %s, want HTTP/2", resp.Proto)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream received %d requests", n)
	}
}

// TestH2CUpgradeNotForwarded: an h2c upgrade accepted by the upstream
// would turn the connection into a raw HTTP/2 tunnel to it, past every
// per-request policy ("h2c smuggling"); the gateway must not ask for it.
func TestH2CUpgradeNotForwarded(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, simpleConfig(up, ""))
	resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: api.example\r\n"+
		"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if resp.Status != 200 || resp.Body != "ok" {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	h := up.Last(t).Header
	if v := h.Values("Upgrade"); len(v) != 0 {
		t.Errorf("upstream was asked to upgrade to %q", v)
	}
	if v := h.Values("Http2-Settings"); len(v) != 0 {
		t.Errorf("upstream received HTTP2-Settings %q", v)
	}
	// Without Connection: HTTP2-Settings the header is not hop-by-hop by name.
	resp = rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: api.example\r\n"+
		"Connection: Upgrade\r\nUpgrade: H2C\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	h = up.Last(t).Header
	if len(h.Values("Upgrade")) != 0 || len(h.Values("Http2-Settings")) != 0 {
		t.Errorf("upstream was asked to upgrade to h2c: %v", h)
	}
}

// TestSecondLocationValueDoesNotLeakUpstream: every Location value is
// checked, not only the first.
func TestSecondLocationValueDoesNotLeakUpstream(t *testing.T) {
	var upAddr string
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Location"] = []string{"/next", "http://" + upAddr + "/internal"}
		w.Header()["Content-Location"] = []string{"", "http://" + upAddr + "/c"}
		w.WriteHeader(http.StatusFound)
	})
	upAddr = up.Addr
	gw := StartGateway(t, simpleConfig(up, ""))
	resp := rawRequest(t, gw.Addr, "GET /orders HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n\r\n")
	if resp.Status != http.StatusFound {
		t.Fatalf("status %d: %s", resp.Status, resp.Body)
	}
	for _, name := range []string{"Location", "Content-Location"} {
		for _, v := range resp.Header.Values(name) {
			if strings.Contains(v, upAddr) {
				t.Errorf("%s leaks the upstream address: %q", name, resp.Header.Values(name))
			}
		}
	}
	if got := resp.Header.Get("Location"); got != "/next" {
		t.Errorf("Location = %q, want /next", got)
	}
}
