package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/verify"
)

// TestOpsAllowList: with ops.allow, a peer outside the list gets 403 from
// every operations endpoint but the identity assertion's JWKS (public
// keys, which the services fetch); a listed peer is served; a reload that
// lists the peer lets it in.
func TestOpsAllowList(t *testing.T) {
	up := NewUpstream(t, nil)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := ztWriteKey(t, t.TempDir(), "k1", key)
	cfg := func(allow string) GatewayConfig {
		return GatewayConfig(strings.Replace(string(simpleConfig(up, "")), `ops:
  address: "{{ops}}"
`, fmt.Sprintf(`ops:
  address: "{{ops}}"
  allow: [%s]
identity_assertion:
  keys: [{id: k1, private_key_file: %q}]
`, allow, keyFile), 1))
	}
	// The harness checks readiness from 127.0.0.1, so that one is listed.
	gw := StartGateway(t, cfg("127.0.0.1"))
	service, listed := clientFrom(t, "127.0.0.3"), clientFrom(t, "127.0.0.1")
	paths := []string{"/healthz", "/readyz", "/stats/auth", "/metrics", "/dashboard/"}
	for _, p := range paths {
		resp, body := doRequest(t, service, "GET", "http://"+gw.OpsAddr+p, "")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "ops.allow") {
			t.Errorf("%s from an unlisted peer: %d %q, want 403", p, resp.StatusCode, body)
		}
		if resp, _ := doRequest(t, listed, "GET", "http://"+gw.OpsAddr+p, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("%s from a listed peer: %d, want 200", p, resp.StatusCode)
		}
	}
	if resp, body := doRequest(t, service, "GET", "http://"+gw.OpsAddr+verify.JWKSPath, ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"k1"`) {
		t.Fatalf("the JWKS from an unlisted peer: %d %q, want the keys", resp.StatusCode, body)
	}
	gw.WriteConfig(cfg("127.0.0.1, 127.0.0.0/29"))
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, _ := doRequest(t, service, "GET", "http://"+gw.OpsAddr+"/stats/auth", "")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the reload listing it, the peer still gets %d", resp.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOpsListenerOpenToEveryPeerIsLogged: an ops listener bound beyond
// loopback without ops.allow serves API key ids and client addresses to
// every peer that reaches it; the gateway says so at start, once. On
// loopback, or with ops.allow, it does not.
func TestOpsListenerOpenToEveryPeerIsLogged(t *testing.T) {
	up := NewUpstream(t, nil)
	const warning = "the ops listener is open to every peer that reaches it"
	for _, tc := range []struct {
		desc, ops string
		warned    bool
	}{
		{desc: "every address, no allow list", ops: "address: \"0.0.0.0:{{opsport}}\"\n", warned: true},
		{desc: "every address, an allow list", ops: "address: \"0.0.0.0:{{opsport}}\"\n  allow: [127.0.0.1]\n"},
		{desc: "loopback, no allow list", ops: "address: \"{{ops}}\"\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := strings.Replace(string(simpleConfig(up, "")), "address: \"{{ops}}\"\n", tc.ops, 1)
			gw := StartGateway(t, GatewayConfig(cfg))
			if !gw.WaitLog(`"msg":"ops listening"`, 5*time.Second) {
				t.Fatalf("no ops listening line:\n%s", gw.Stderr.String())
			}
			// The warning follows that line at once, from the same goroutine.
			wait := 300 * time.Millisecond
			if tc.warned {
				wait = 5 * time.Second
			}
			if got := gw.WaitLog(warning, wait); got != tc.warned {
				t.Fatalf("warning logged: %v, want %v\n%s", got, tc.warned, gw.Stderr.String())
			}
			if n := strings.Count(gw.Stderr.String(), warning); tc.warned && n != 1 {
				t.Errorf("warning logged %d times, want once", n)
			}
		})
	}
}

// TestOpsListenerOpenedByAReloadIsLogged: ops.allow applies on reload, so a
// reload that removes it opens the listener (bound beyond loopback) to
// every peer: the warning is logged then, once; a later reload that leaves
// it open says nothing again.
func TestOpsListenerOpenedByAReloadIsLogged(t *testing.T) {
	up := NewUpstream(t, nil)
	const warning = "the ops listener is open to every peer that reaches it"
	base := string(simpleConfig(up, ""))
	closed := strings.Replace(base, "address: \"{{ops}}\"\n", "address: \"0.0.0.0:{{opsport}}\"\n  allow: [127.0.0.1]\n", 1)
	open := strings.Replace(base, "address: \"{{ops}}\"\n", "address: \"0.0.0.0:{{opsport}}\"\n", 1)
	gw := StartGateway(t, GatewayConfig(closed))
	if !gw.WaitLog(`"msg":"ops listening"`, 5*time.Second) {
		t.Fatalf("no ops listening line:\n%s", gw.Stderr.String())
	}
	if gw.WaitLog(warning, 300*time.Millisecond) {
		t.Fatalf("warned with an allow list:\n%s", gw.Stderr.String())
	}
	gw.WriteConfig(GatewayConfig(open))
	if !gw.WaitLog(warning, 10*time.Second) {
		t.Fatalf("the reload that removed ops.allow was not logged as opening the listener:\n%s", gw.Stderr.String())
	}
	// Another reload that keeps it open: the config file changes (a
	// comment), the listener's exposure does not.
	gw.WriteConfig(GatewayConfig(open + "# again\n"))
	gw.WaitReloads(t, 2)
	if n := strings.Count(gw.Stderr.String(), warning); n != 1 {
		t.Errorf("warning logged %d times, want once (on the reload that opened it):\n%s", n, gw.Stderr.String())
	}
}
