package e2e

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/verify"
)

// TestZeroTrustExampleRuns runs the example of docs/zero-trust.md as a user
// would: examples/zero-trust/gateway.yaml (only its addresses, key file and
// key hash filled in) in front of the example service built from
// examples/zero-trust/service. The service greets the consumer the gateway
// authenticated, and refuses every request that did not come through the
// gateway: none, a forged assertion, an assertion for another service.
func TestZeroTrustExampleRuns(t *testing.T) {
	dir := t.TempDir()

	// The example service, built from the module like a user's service.
	svcBin := filepath.Join(dir, "service")
	build := exec.Command("go", "build", "-o", svcBin, "github.com/portcullis/portcullis/examples/zero-trust/service") // #nosec G204 -- fixed arguments
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the example service: %v\n%s", err, out)
	}
	svcAddr := freeAddr(t)

	// The example gateway config, as shipped.
	raw, err := os.ReadFile("../../examples/zero-trust/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, signKey, _ := ed25519.GenerateKey(rand.Reader)
	keyFile := ztWriteKey(t, dir, "assertion-k1", signKey)
	key, hash := akGenerate(t, "--id", "demo-1")
	text := string(raw)
	for old, repl := range map[string]string{
		"127.0.0.1:8080":           "{{public}}",
		"127.0.0.1:9901":           "{{ops}}",
		"http://127.0.0.1:9001":    "http://" + svcAddr,
		"dev-pki/assertion-k1.pem": keyFile,
		"sha256:0000000000000000000000000000000000000000000000000000000000000000": hash,
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("examples/zero-trust/gateway.yaml no longer contains %q: update this test with the example", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	gw := StartGateway(t, GatewayConfig(text))

	// The service, configured through its environment as main.go documents.
	svc := exec.Command(svcBin) // #nosec G204 -- built above
	svc.Env = append(os.Environ(), "LISTEN="+svcAddr, "SERVICE_NAME=orders",
		"JWKS_URL=http://"+gw.OpsAddr+verify.JWKSPath)
	stderr, err := svc.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Process.Kill(); _ = svc.Wait() })
	listening := make(chan struct{})
	var logMu syncBuffer
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			_, _ = logMu.Write(append(sc.Bytes(), '\n'))
			if !once && strings.Contains(sc.Text(), `"listening"`) {
				once = true
				close(listening)
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("the example service did not start:\n%s", logMu.String())
	}
	if strings.Contains(logMu.String(), "could not be fetched") {
		t.Fatalf("the service could not fetch the gateway's keys:\n%s", logMu.String())
	}

	get := func(url string, hdr map[string]string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Through the gateway with the consumer's key: the service greets the
	// consumer by the name in the gateway's assertion.
	code, body := get(gw.URL("/orders/42"), map[string]string{"X-API-Key": key})
	if code != http.StatusOK {
		t.Fatalf("through the gateway: %d %s\nservice log:\n%s", code, body, logMu.String())
	}
	var hello struct {
		Hello  string   `json:"hello"`
		Groups []string `json:"groups"`
		Route  string   `json:"route"`
	}
	if err := json.Unmarshal([]byte(body), &hello); err != nil {
		t.Fatalf("service answer %q: %v", body, err)
	}
	if hello.Hello != "demo-app" || hello.Route != "orders" || len(hello.Groups) != 1 || hello.Groups[0] != "demo" {
		t.Fatalf("service saw the wrong identity: %+v", hello)
	}

	// The gateway refuses a request without a key; the service is not asked.
	if code, _ := get(gw.URL("/orders/42"), nil); code != http.StatusUnauthorized {
		t.Fatalf("no key through the gateway: %d, want 401", code)
	}

	// Straight to the service: refused without an assertion, with a
	// self-made one (another key under the gateway's kid), and with the
	// gateway's own assertion replayed by hand for another audience.
	direct := "http://" + svcAddr + "/orders/42"
	if code, body := get(direct, nil); code != http.StatusUnauthorized {
		t.Fatalf("direct request without an assertion: %d %s, want 401", code, body)
	}
	_, forgeKey, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	claims := verify.Claims{Issuer: verify.DefaultIssuer, Audience: "orders", Subject: "demo-app",
		IssuedAt: now.Unix(), Expiry: now.Add(time.Minute).Unix(), ID: "forged-1", Groups: []string{"demo"},
		Scope: "orders:read", Route: "orders", AuthMethod: "api_key"}
	forged := ztSign(t, jose.EdDSA, forgeKey, "k1", verify.TokenType, claims)
	if code, body := get(direct, map[string]string{verify.DefaultHeader: forged}); code != http.StatusUnauthorized {
		t.Fatalf("direct request with a forged assertion: %d %s, want 401", code, body)
	}
	// Signed with the gateway's own key, but for another service.
	claims.Audience, claims.ID = "billing", "other-1"
	otherAud := ztSign(t, jose.EdDSA, signKey, "k1", verify.TokenType, claims)
	if code, body := get(direct, map[string]string{verify.DefaultHeader: otherAud}); code != http.StatusUnauthorized {
		t.Fatalf("direct request with another service's assertion: %d %s, want 401", code, body)
	}
}
