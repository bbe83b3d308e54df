package e2e

import (
	"encoding/base64"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// bhHash runs `portcullis hash-password` with the password on stdin.
func bhHash(t *testing.T, password string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binPath, append([]string{"hash-password"}, args...)...)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hash-password %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func bhAuth(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

func TestBasicEndToEnd(t *testing.T) {
	bh := bhHash(t, "correct horse", "--algorithm", "bcrypt", "--cost", "6")
	ah := bhHash(t, "battery staple")
	if !strings.HasPrefix(bh, "$2a$06$") || !strings.HasPrefix(ah, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hashes %q %q", bh, ah)
	}
	up := NewUpstream(t, nil)
	gw := StartGateway(t, akGatewayConfig(up, fmt.Sprintf(`  - name: carol
    groups: [finance]
    credentials:
      basic:
        - {username: carol, password_hash: %q}
  - name: dave
    credentials:
      basic:
        - {username: dave, password_hash: %q}
`, bh, ah), `          - basic: {realm: "orders"}`))
	const challenge = `Basic realm="orders", charset="UTF-8"`

	for _, tc := range []struct {
		name   string
		header map[string]string
		secret string
	}{
		{"missing", nil, ""},
		{"wrong password", bhAuth("carol", "wrong horse"), "wrong horse"},
		{"wrong argon2id password", bhAuth("dave", "correct horse"), ""},
		{"unknown user", bhAuth("mallory", "correct horse"), ""},
		{"no colon", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("carol"))}, ""},
		{"not base64", map[string]string{"Authorization": "Basic ***"}, ""},
		{"scheme only", map[string]string{"Authorization": "Basic"}, ""},
	} {
		resp, body := akSend(t, gw.URL("/ledger"), tc.header)
		akRefused(t, tc.name, up, resp, body, challenge, tc.secret)
	}

	for _, tc := range []struct{ name, user, pass, consumer, groups string }{
		{"bcrypt", "carol", "correct horse", "carol", "finance"},
		{"bcrypt again (cached)", "carol", "correct horse", "carol", "finance"},
		{"argon2id", "dave", "battery staple", "dave", ""},
	} {
		h := bhAuth(tc.user, tc.pass)
		h["X-Consumer-Name"] = "someone-else"
		resp, body := akSend(t, gw.URL("/ledger"), h)
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
		s := akIdentity(t, tc.name, up, tc.consumer, tc.groups, tc.user, "basic")
		if s.Header.Get("Authorization") != "" {
			t.Errorf("%s: the upstream received the password", tc.name)
		}
	}

	gw.Stop()
	logs := gw.Stdout.String() + gw.Stderr.String()
	for _, s := range []string{"correct horse", "battery staple", "wrong horse", base64.StdEncoding.EncodeToString([]byte("carol:correct horse"))} {
		if strings.Contains(logs, s) {
			t.Errorf("a password appears in the logs")
		}
	}
	for _, reason := range []string{"basic: wrong password", "basic: unknown user", "basic: malformed credentials"} {
		if !strings.Contains(logs, reason) {
			t.Errorf("access log lacks reason %q", reason)
		}
	}
}

func TestBasicForwardCredentials(t *testing.T) {
	up := NewUpstream(t, nil)
	h := bhHash(t, "pw-for-upstream", "--algorithm", "bcrypt", "--cost", "4")
	gw := StartGateway(t, akGatewayConfig(up, fmt.Sprintf("  - name: svc\n    credentials:\n      basic:\n        - {username: svc, password_hash: %q}\n", h),
		"          - basic: {forward_credentials: true, cache_ttl: 0s}"))
	auth := bhAuth("svc", "pw-for-upstream")
	resp, _ := akSend(t, gw.URL("/"), auth)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if s := akIdentity(t, "forward", up, "svc", "", "svc", "basic"); s.Header.Get("Authorization") != auth["Authorization"] {
		t.Errorf("forward_credentials: upstream Authorization %q", s.Header.Get("Authorization"))
	}
}

func TestHashPasswordCommand(t *testing.T) {
	// Never from a flag.
	if err := exec.Command(binPath, "hash-password", "--password", "x").Run(); err == nil {
		t.Fatal("a password flag was accepted")
	}
	cmd := exec.Command(binPath, "hash-password")
	cmd.Stdin = strings.NewReader("")
	if err := cmd.Run(); err == nil {
		t.Fatal("an empty password was hashed")
	}
	cmd = exec.Command(binPath, "hash-password", "--algorithm", "md5")
	cmd.Stdin = strings.NewReader("pw\n")
	if err := cmd.Run(); err == nil {
		t.Fatal("md5 accepted")
	}
	cmd = exec.Command(binPath, "hash-password", "--algorithm", "bcrypt")
	cmd.Stdin = strings.NewReader(strings.Repeat("x", 80) + "\n")
	if err := cmd.Run(); err == nil {
		t.Fatal("bcrypt hashed a password longer than 72 bytes")
	}
}
