package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An operator's tasks through the admin plane end to end: signing in with a
// client certificate on a TLS admin listener, the command line, consumers
// from the file beside those from the store, and revoking every kind of
// credential.

// TestAdminCertificateReload: the admin listener's certificate renewed on
// disk is served without a restart, as on the HTTPS listeners (it used to
// be read once at start: a renewal by cert-manager or certbot left the
// admin API serving the old certificate until it expired); a broken
// renewal keeps the previous one serving, is logged once and shows on
// /readyz under the listener "admin API"; the API answers throughout.
func TestAdminCertificateReload(t *testing.T) {
	ca, err := newTLSTestCA("Admin Server CA")
	if err != nil {
		t.Fatal(err)
	}
	first, err := ca.issue(7101, time.Now().Add(time.Hour), false, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := ca.issue(7102, time.Now().Add(2*time.Hour), false, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key")
	tlsWriteFile(t, certFile, first.cert)
	tlsWriteFile(t, keyFile, first.key)
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{extra: fmt.Sprintf("  tls: {cert_file: %s, key_file: %s}", certFile, keyFile)})
	tc := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
	served := func() int64 {
		t.Helper()
		st, err := tlsHandshake(n.AdminAddr, tc)
		if err != nil {
			t.Fatalf("handshake with the admin listener: %v", err)
		}
		return st.PeerCertificates[0].SerialNumber.Int64()
	}
	api := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}
	status := func() int {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+n.AdminAddr+"/admin/status", nil)
		req.Header.Set("Authorization", "Bearer "+n.Token)
		resp, err := api.Do(req)
		if err != nil {
			t.Fatalf("admin API: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := served(); got != 7101 {
		t.Fatalf("serial %d at start, want 7101", got)
	}

	tlsWriteFile(t, keyFile, renewed.key)
	tlsWriteFile(t, certFile, renewed.cert)
	reloaded := waitLogEvent(t, n.Gateway, "certificate_reloaded", 1, nil)
	wantEvent(t, reloaded[0], "INFO", map[string]any{"listener": "admin API", "cert_file": certFile})
	if got := served(); got != 7102 {
		t.Fatalf("serial %d after the renewal, want 7102", got)
	}
	if code := status(); code != 200 {
		t.Errorf("admin API after the renewal: %d", code)
	}

	tlsWriteFile(t, certFile, []byte("garbage, not a certificate\n"))
	failed := waitLogEvent(t, n.Gateway, "certificate_reload_failed", 1, nil)
	wantEvent(t, failed[0], "ERROR", map[string]any{"listener": "admin API", "cert_file": certFile})
	if got := served(); got != 7102 {
		t.Errorf("serial %d after a broken renewal, want the previous 7102", got)
	}
	if code := status(); code != 200 {
		t.Errorf("admin API during the failure: %d", code)
	}
	code, body := n.Readyz()
	var ready struct {
		Certs []struct {
			Listener string `json:"listener"`
			CertFile string `json:"cert_file"`
		} `json:"certificate_errors"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	if code != 200 || len(ready.Certs) != 1 || ready.Certs[0].Listener != "admin API" || ready.Certs[0].CertFile != certFile {
		t.Errorf("/readyz %d during the failure: %s", code, body)
	}
	if strings.Contains(n.Stderr.String(), "PRIVATE KEY") {
		t.Error("the process log contains key material")
	}
}

// TestAdminClientCertificates: on a TLS admin listener, a verified client
// certificate listed in the config gets its role; a verified but unlisted
// one gets nothing; one from another CA fails the handshake; a token
// still works; plain HTTP gets no answer from the API; TLS 1.1 and CBC
// suites are refused as on the HTTPS listeners.
func TestAdminClientCertificates(t *testing.T) {
	ca, err := newTLSTestCA("Admin Server CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.issue(7001, time.Now().Add(time.Hour), false, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	clientCA, err := newTLSTestCA("Admin Client CA")
	if err != nil {
		t.Fatal(err)
	}
	subj := func(cn string) func(*x509.Certificate) {
		return func(c *x509.Certificate) { c.Subject = pkix.Name{CommonName: cn, Organization: []string{"Example"}} }
	}
	oncall, _ := mtlsIssueClient(clientCA, subj("oncall"))
	intern, _ := mtlsIssueClient(clientCA, subj("intern"))
	forged, _ := mtlsIssueClient(nil, subj("oncall"))
	dir := t.TempDir()
	for name, b := range map[string][]byte{"srv.crt": srv.cert, "srv.key": srv.key, "client-ca.pem": clientCA.pem} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{extra: fmt.Sprintf(`  tls:
    cert_file: %s
    key_file: %s
    client_ca_file: %s
    client_certificates: [{subject: "CN=oncall,O=Example", role: operator}]`,
		filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key"), filepath.Join(dir, "client-ca.pem"))})
	client := func(cert *tls.Certificate) *http.Client {
		tc := &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS12}
		if cert != nil {
			// Sent whatever CAs the server names, so a forged one reaches it.
			c := *cert
			tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	}
	do := func(c *http.Client, method, path, token, body string) (int, error) {
		req, _ := http.NewRequest(method, "https://"+n.AdminAddr+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	for _, tc := range []struct {
		desc, method, path, token, body string
		cert                            *tls.Certificate
		want                            int
	}{
		{"listed certificate reads", "GET", "/admin/consumers", "", "", &oncall, 200},
		{"listed certificate writes as operator", "POST", "/admin/consumers", "", `{"name":"by-cert"}`, &oncall, 201},
		{"operator certificate cannot create tokens", "POST", "/admin/tokens", "", `{"name":"x","role":"admin"}`, &oncall, 403},
		{"verified but unlisted certificate", "GET", "/admin/consumers", "", "", &intern, 401},
		{"no certificate, no token", "GET", "/admin/consumers", "", "", nil, 401},
		{"no certificate, a token", "GET", "/admin/tokens", n.Token, "", nil, 200},
	} {
		got, err := do(client(tc.cert), tc.method, tc.path, tc.token, tc.body)
		if err != nil || got != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.desc, got, err, tc.want)
		}
	}
	if got, err := do(client(&forged), "GET", "/admin/consumers", "", ""); err == nil {
		t.Errorf("a certificate from another CA with the listed subject was accepted in the handshake (%d)", got)
	}

	// The admin listener holds to the gateway's TLS policy (package
	// tlspolicy), as the HTTPS listeners do: no TLS 1.1, no CBC suite. Each
	// control handshake shows the client offers what is refused, against a
	// plain Go server with the same certificate.
	pair, err := tls.X509KeyPair(srv.cert, srv.key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc     string
		min, max uint16
		suite    uint16
	}{
		{"TLS 1.1", tls.VersionTLS10, tls.VersionTLS11, 0},
		{"ECDHE-ECDSA with AES-CBC-SHA", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		{"ECDHE-ECDSA with AES-CBC-SHA256", tls.VersionTLS12, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256},
	} {
		hello := &tls.Config{RootCAs: ca.pool, MinVersion: tc.min, MaxVersion: tc.max}
		control := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tc.min, MaxVersion: tc.max}
		if tc.suite != 0 {
			hello.CipherSuites, control.CipherSuites = []uint16{tc.suite}, []uint16{tc.suite}
		}
		if err := tlsControlHandshake(t, control, hello); err != nil {
			t.Fatalf("%s: control: the client must offer it: %v", tc.desc, err)
		}
		if st, err := tlsHandshake(n.AdminAddr, hello); err == nil {
			t.Errorf("%s: the admin listener accepted it (%s)", tc.desc, tls.CipherSuiteName(st.CipherSuite))
		}
	}
	modern := &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}
	if _, err := tlsHandshake(n.AdminAddr, modern); err != nil {
		t.Errorf("a modern TLS 1.2 suite on the admin listener: %v", err)
	}
	resp, err := http.Get("http://" + n.AdminAddr + "/admin/consumers")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if strings.Contains(string(b), "items") {
			t.Error("the TLS admin listener answered plain HTTP with data")
		}
	}
}

// TestAdminCLI: the command line drives the common tasks with a token
// from the environment or a file (there is no flag for it), and prints
// the API's answers; refusals exit 1 with the problem.
func TestAdminCLI(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	env := []string{"PORTCULLIS_ADMIN_TOKEN=" + n.Token, "PORTCULLIS_ADMIN_URL=http://" + n.AdminAddr}
	cli := func(want int, args ...string) string {
		t.Helper()
		res := runCLI(t, env, append([]string{"admin"}, args...)...)
		if res.code != want {
			t.Fatalf("portcullis admin %s: %d, want %d: %s %s", strings.Join(args, " "), res.code, want, res.stdout, res.stderr)
		}
		return res.stdout + res.stderr
	}
	cli(0, "consumers", "create", "acme", "--group", "partners", "--meta", "team=x")
	out := cli(0, "keys", "issue", "acme", "--id", "acme-k1")
	var issued struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal([]byte(out), &issued); err != nil || issued.APIKey == "" {
		t.Fatalf("keys issue printed %q", out)
	}
	if got := keyGet(t, n.Gateway, "/key/x", issued.APIKey); got != 200 {
		t.Fatalf("CLI-issued key: %d", got)
	}
	out = cli(0, "keys", "rotate", "acme", "acme-k1", "--grace", "1h", "--id", "acme-k2")
	if !strings.Contains(out, `"replaced_by": "acme-k2"`) {
		t.Fatalf("rotate printed %s", out)
	}
	cli(0, "keys", "revoke", "acme", "acme-k1")
	if got := keyGet(t, n.Gateway, "/key/x", issued.APIKey); got != 401 {
		t.Fatalf("CLI-revoked key: %d", got)
	}
	if out := cli(0, "usage", "--consumer", "acme"); !strings.Contains(out, `"key_id": "acme-k1"`) {
		t.Fatalf("usage printed %s", out)
	}
	cli(0, "bans", "add", "192.0.2.9", "--duration", "5m", "--reason", "cli")
	if out := cli(0, "bans", "list"); !strings.Contains(out, "192.0.2.9") {
		t.Fatalf("bans list printed %s", out)
	}
	cli(0, "bans", "lift", "192.0.2.9")
	if out := cli(1, "consumers", "create", "bad name"); !strings.Contains(out, "400") || !strings.Contains(out, "field name") {
		t.Fatalf("refusal printed %s", out)
	}
	// The token from a file, not the environment.
	tf := writeFile(t, "token", n.Token+"\n")
	res := runCLI(t, []string{"PORTCULLIS_ADMIN_TOKEN=", "PORTCULLIS_ADMIN_URL=http://" + n.AdminAddr}, "admin", "--token-file", tf, "status")
	if res.code != 0 || !strings.Contains(res.stdout, `"store_status": "ok"`) {
		t.Fatalf("status with --token-file: %d %s %s", res.code, res.stdout, res.stderr)
	}
	// No credentials at all, and no flag that would take a token's value.
	res = runCLI(t, []string{"PORTCULLIS_ADMIN_TOKEN=", "PORTCULLIS_ADMIN_URL=http://" + n.AdminAddr}, "admin", "status")
	if res.code != 2 || !strings.Contains(res.stderr, "PORTCULLIS_ADMIN_TOKEN") {
		t.Fatalf("no token: %d %s", res.code, res.stderr)
	}
	res = runCLI(t, nil, "admin", "--token", n.Token, "status")
	if res.code != 2 || strings.Contains(res.stdout, "store_status") {
		t.Fatalf("--token flag: %d %s", res.code, res.stdout)
	}
}

// TestAdminFileAndStoreConsumers: the file's consumers show in the API as
// read-only; a name in both the file and the store is refused by the API,
// and a reload that would create one fails with the old config serving;
// with file_authoritative, the API changes no consumer.
func TestAdminFileAndStoreConsumers(t *testing.T) {
	up := NewUpstream(t, nil)
	fileConsumers := `consumers:
  - name: filec
    credentials:
      api_keys: [{id: file-k1, hash: "sha256:` + strings.Repeat("ab", 32) + `"}]`
	n := startAdminNode(t, up, adminOpts{consumers: fileConsumers})
	items := n.mustAPI(t, 200, "GET", "/admin/consumers?source=file", nil).JSON(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["name"] != "filec" {
		t.Fatalf("file consumers: %v", items)
	}
	if r := n.api(t, "PUT", "/admin/consumers/filec", map[string]any{"groups": []string{"x"}}); r.Status != 409 {
		t.Fatalf("PUT of a file consumer: %d %s", r.Status, r.Body)
	}
	if r := n.api(t, "POST", "/admin/consumers", map[string]any{"name": "filec"}); r.Status != 409 {
		t.Fatalf("a store consumer with a file consumer's name: %d %s", r.Status, r.Body)
	}
	if r := n.api(t, "POST", "/admin/consumers/filec/credentials", map[string]any{"kind": "api_key"}); r.Status != 409 {
		t.Fatalf("a credential on a file consumer: %d %s", r.Status, r.Body)
	}
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "storec"})
	key := n.mustAPI(t, 201, "POST", "/admin/consumers/storec/credentials", map[string]any{"kind": "api_key", "id": "store-k1"}).Str(t, "api_key")
	if r := n.api(t, "POST", "/admin/consumers/storec/credentials", map[string]any{"kind": "api_key", "id": "file-k1"}); r.Status != 409 {
		t.Fatalf("a key id the file uses: %d %s", r.Status, r.Body)
	}
	// The file now also defines storec: the reload fails, the old config serves.
	cfg := string(mustRead(t, n.ConfigPath))
	n.WriteConfig(GatewayConfig(strings.Replace(cfg, "consumers:\n", "consumers:\n  - name: storec\n", 1)))
	if !n.WaitLog("reload failed", 5*time.Second) || !strings.Contains(n.Stderr.String(), `consumers[\"storec\"]`) {
		t.Fatalf("the reload did not fail naming the store consumer: %s", n.Stderr.String())
	}
	if got := keyGet(t, n.Gateway, "/key/x", key); got != 200 {
		t.Fatalf("after the failed reload: %d", got)
	}

	auth := startAdminNode(t, up, adminOpts{consumers: fileConsumers, extra: "  file_authoritative: true"})
	if r := auth.api(t, "POST", "/admin/consumers", map[string]any{"name": "x"}); r.Status != 409 || !strings.Contains(string(r.Body), "authoritative") {
		t.Fatalf("file_authoritative create: %d %s", r.Status, r.Body)
	}
	auth.mustAPI(t, 200, "GET", "/admin/consumers/filec/credentials", nil)
}

// TestAdminRevocationEveryKind: basic and JWT credentials made through
// the API work, and once deleted are refused at once, although both
// methods cache successful checks (the caches are tied to the credential
// that verified).
func TestAdminRevocationEveryKind(t *testing.T) {
	up := NewUpstream(t, nil)
	dir := t.TempDir()
	mk := filepath.Join(dir, "mk")
	if err := os.WriteFile(mk, []byte(strings.Repeat("7f", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startAdminNode(t, up, adminOpts{store: `{path: "` + filepath.Join(dir, "s.db") + `", master_key: "${file:` + mk + `}"}`, routes: `
  - name: keyed
    paths: [{prefix: /key}]
    service: app
    policies:
      - kind: auth
        methods: [{basic: {cache_ttl: 1h}}, {jwt: {algorithms: [HS256]}}]`})
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "app"})
	n.mustAPI(t, 201, "POST", "/admin/consumers/app/credentials", map[string]any{"kind": "basic", "id": "b1", "username": "app-user", "password": "correct horse battery"})
	secret := n.mustAPI(t, 201, "POST", "/admin/consumers/app/credentials", map[string]any{"kind": "jwt", "id": "j1", "algorithm": "HS256", "secret": strings.Repeat("s", 40)}).Str(t, "secret")
	if secret != "" {
		t.Fatal("a given secret was echoed back")
	}
	res := runCLI(t, []string{"PCL_S=" + strings.Repeat("s", 40)}, "token", "--alg", "HS256", "--kid", "j1", "--secret-env", "PCL_S", "--sub", "u")
	tok := strings.TrimSpace(res.stdout)
	get := func(set func(*http.Request)) int {
		req, _ := http.NewRequest("GET", n.URL("/key/x"), nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	basic := func(r *http.Request) { r.SetBasicAuth("app-user", "correct horse battery") }
	bearer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	for range 2 { // the second request of each is served from the method's cache
		if get(basic) != 200 || get(bearer) != 200 {
			t.Fatal("credentials made through the API are refused")
		}
	}
	n.mustAPI(t, 204, "DELETE", "/admin/consumers/app/credentials/b1", nil)
	n.mustAPI(t, 204, "DELETE", "/admin/consumers/app/credentials/j1", nil)
	before := up.Count()
	if got := get(basic); got != 401 {
		t.Errorf("revoked basic credential: %d", got)
	}
	if got := get(bearer); got != 401 {
		t.Errorf("revoked jwt credential: %d", got)
	}
	if up.Count() != before {
		t.Error("a revoked credential reached the upstream")
	}
}

// TestOperatorListenersBoundHeaders: the ops listener and the admin
// listener share one server setup (operatorServer): a header section
// over 64 KiB is refused with 431 on both, where net/http's default would
// read up to 1 MiB. (The same setup bounds the head to 5 s, the request
// to 30 s, the answer to 60 s and idle connections to 2 minutes.)
func TestOperatorListenersBoundHeaders(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	for _, tc := range []struct{ desc, addr, path string }{
		{"ops listener", n.OpsAddr, "/healthz"},
		{"admin listener", n.AdminAddr, "/admin/consumers"},
	} {
		for _, size := range []int{32 << 10, 100 << 10} {
			req, _ := http.NewRequest("GET", "http://"+tc.addr+tc.path, nil)
			req.Header.Set("X-Padding", strings.Repeat("a", size))
			if tc.path != "/healthz" {
				req.Header.Set("Authorization", "Bearer "+n.Token)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatalf("%s, %d-byte header: %v", tc.desc, size, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			want := http.StatusOK
			if size > 64<<10 {
				want = http.StatusRequestHeaderFieldsTooLarge
			}
			if resp.StatusCode != want {
				t.Errorf("%s, %d-byte header: %d, want %d", tc.desc, size, resp.StatusCode, want)
			}
		}
	}
	if up.Count() != 0 {
		t.Fatalf("operator requests reached the upstream %d times", up.Count())
	}
}
