package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIPFilter(t *testing.T) {
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

	direct := clientFrom(t, "127.0.0.1")
	other := clientFrom(t, "127.0.0.5")
	proxy := clientFrom(t, "127.0.0.2")
	banned := clientFrom(t, "127.0.0.3")
	listed := clientFrom(t, "127.0.0.4")

	t.Run("allow list", func(t *testing.T) {
		resp, body := doRequest(t, direct, "GET", gw.URL("/allow/x"), "")
		passedToUpstream(t, up, resp, body)
		resp, _ = doRequest(t, other, "GET", gw.URL("/allow/x"), "")
		p := refusedBeforeUpstream(t, up, resp, 403)
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
			resp, _ := doRequest(t, other, "GET", gw.URL("/allow/x"), "", kv...)
			refusedBeforeUpstream(t, up, resp, 403)
		}
	})
	t.Run("trusted proxy: the real client address is used", func(t *testing.T) {
		resp, body := doRequest(t, proxy, "GET", gw.URL("/allow/x"), "", "X-Forwarded-For", "198.51.100.7")
		seen := passedToUpstream(t, up, resp, body)
		if got := seen.Header.Get("X-Forwarded-For"); got != "198.51.100.7, 127.0.0.2" {
			t.Errorf("upstream X-Forwarded-For = %q", got)
		}
		// A client behind the proxy that is not on the list, or is denied.
		for _, xff := range []string{"192.0.2.1", "198.51.100.66", "127.0.0.1, 192.0.2.1"} {
			resp, _ = doRequest(t, proxy, "GET", gw.URL("/allow/x"), "", "X-Forwarded-For", xff)
			refusedBeforeUpstream(t, up, resp, 403)
		}
		// The proxy's own address is not on the allow list either.
		resp, _ = doRequest(t, proxy, "GET", gw.URL("/allow/x"), "")
		refusedBeforeUpstream(t, up, resp, 403)
	})
	t.Run("deny file", func(t *testing.T) {
		resp, body := doRequest(t, other, "GET", gw.URL("/deny/x"), "")
		passedToUpstream(t, up, resp, body)
		resp, _ = doRequest(t, listed, "GET", gw.URL("/deny/x"), "")
		refusedBeforeUpstream(t, up, resp, 403)
		resp, body = doRequest(t, listed, "GET", gw.URL("/open/x"), "")
		passedToUpstream(t, up, resp, body)
	})
	t.Run("global list applies before routing", func(t *testing.T) {
		for _, path := range []string{"/open/x", "/deny/x", "/no-such-route", "/open/../../etc"} {
			resp, _ := doRequest(t, banned, "GET", gw.URL(path), "")
			refusedBeforeUpstream(t, up, resp, 403)
		}
		resp, _ := doRequest(t, proxy, "GET", gw.URL("/open/x"), "", "X-Forwarded-For", "203.0.113.9")
		refusedBeforeUpstream(t, up, resp, 403)
		// The same address spoofed by an untrusted client is ignored: the
		// client is judged by its own address.
		resp, body := doRequest(t, other, "GET", gw.URL("/open/x"), "", "X-Forwarded-For", "203.0.113.9")
		passedToUpstream(t, up, resp, body)
	})
	t.Run("access log names the reason, never the list", func(t *testing.T) {
		if !gw.WaitAccessLog("ip_filter: address on the deny list", 5*time.Second) {
			t.Errorf("access log lacks the refusal reason:\n%s", gw.Stdout.String())
		}
	})
}

func TestIPFilterBadListIsRefusedAtLoad(t *testing.T) {
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

// TestIPFilterListEntryWithHostBitsIsRefusedAtLoad: "192.168.1.10/24" in a
// list file names one host and its /24 at once; validate and a start refuse
// it at its line with both readings, rather than widening the list to the
// network.
func TestIPFilterListEntryWithHostBitsIsRefusedAtLoad(t *testing.T) {
	list := filepath.Join(t.TempDir(), "allow.txt")
	if err := os.WriteFile(list, []byte("10.0.0.0/8\n192.168.1.10/24   # the build host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "gw.yaml", fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: up, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - {name: admin, paths: [{prefix: /}], service: up, policies: [{kind: ip_filter, allow_file: "%s"}]}
ops: {disable: true}
`, list))
	want := `allow_file: "` + list + `": line 2: CIDR "192.168.1.10/24" has host bits set: write 192.168.1.0/24 for the network, or 192.168.1.10 for the one address`
	if r := runCLI(t, nil, "validate", "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("validate: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// run logs the error as JSON: its quotes escaped.
	if r := runCLI(t, nil, "run", "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, strings.ReplaceAll(want, `"`, `\"`)) {
		t.Errorf("run: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
