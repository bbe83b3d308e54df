package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// adminNode is a gateway with the admin plane on, its admin address and
// an admin token made by `portcullis admin bootstrap`.
type adminNode struct {
	*Gateway
	AdminAddr string
	Token     string
}

// adminOpts shape an admin-enabled config.
type adminOpts struct {
	// store is the admin.store block (YAML flow mapping); default: a
	// SQLite file in a temp dir.
	store string
	// routes is the routes block; default: one route with api_key and
	// jwt authentication.
	routes string
	// extra is appended inside the admin block (indented two spaces).
	extra string
	// consumers is the file's consumers block.
	consumers string
	// noBootstrap skips making the first token.
	noBootstrap bool
	// env is set for the gateway process (secret references).
	env []string
}

// adminConfig returns the config text for up and o, with the admin
// listener on adminAddr.
func adminConfig(up *Upstream, adminAddr string, o adminOpts, dir string) GatewayConfig {
	store := o.store
	if store == "" {
		store = fmt.Sprintf("{driver: sqlite, path: %q, poll_interval: 200ms}", filepath.Join(dir, "store.db"))
	}
	routes := o.routes
	if routes == "" {
		routes = `
  - name: keyed
    paths: [{prefix: /key}]
    service: app
    policies:
      - kind: auth
        methods: [{api_key: {}}, {jwt: {algorithms: [HS256, HS512]}}]
  - name: open
    paths: [{prefix: /open}]
    service: app
    auth: none`
	}
	consumers := o.consumers
	if consumers == "" {
		consumers = "consumers: []"
	}
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
ops: {address: "{{ops}}"}
services: [{name: app, targets: [{url: "%s"}]}]
routes:%s
%s
admin:
  address: %q
  store: %s
%s
`, up.URL, routes, consumers, adminAddr, store, o.extra))
}

// startAdminNode starts a gateway with the admin plane and bootstraps a
// token (unless o.noBootstrap).
func startAdminNode(t *testing.T, up *Upstream, o adminOpts) *adminNode {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := adminConfig(up, addr, o, dir)
	n := &adminNode{AdminAddr: addr}
	if !o.noBootstrap {
		// Bootstrap before start: the store is created by the command.
		path := filepath.Join(dir, "bootstrap.yaml")
		text := strings.NewReplacer("{{public}}", freeAddr(t), "{{ops}}", freeAddr(t)).Replace(string(cfg))
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		res := runCLI(t, o.env, "admin", "bootstrap", "--config", path)
		if res.code != 0 && !strings.Contains(res.stderr, "already has admin tokens") {
			t.Fatalf("bootstrap: %d %s", res.code, res.stderr)
		}
		n.Token = tokenRE.FindString(res.stdout)
	}
	n.Gateway = startGatewayEnv(t, cfg, o.env)
	return n
}

var tokenRE = regexp.MustCompile(`pcladm_[0-9A-Za-z]+`)

// startGatewayEnv is StartGateway with extra environment variables.
func startGatewayEnv(t *testing.T, cfg GatewayConfig, env []string) *Gateway {
	t.Helper()
	if len(env) == 0 {
		return StartGateway(t, cfg)
	}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	return StartGateway(t, cfg)
}

// apiResp is one admin API answer.
type apiResp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r apiResp) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("answer is not a JSON object (%d): %s", r.Status, r.Body)
	}
	return m
}

func (r apiResp) Str(t testing.TB, key string) string {
	t.Helper()
	s, _ := r.JSON(t)[key].(string)
	return s
}

var adminHTTP = &http.Client{Timeout: 15 * time.Second}

// api calls the admin API at addr with token; body is JSON-encoded unless
// it is a string or []byte (sent as is).
func api(t testing.TB, addr, token, method, path string, body any, hdr ...string) apiResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+addr+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := adminHTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResp{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func (n *adminNode) api(t testing.TB, method, path string, body any, hdr ...string) apiResp {
	t.Helper()
	return api(t, n.AdminAddr, n.Token, method, path, body, hdr...)
}

// mustAPI calls and checks the status.
func (n *adminNode) mustAPI(t testing.TB, want int, method, path string, body any, hdr ...string) apiResp {
	t.Helper()
	r := n.api(t, method, path, body, hdr...)
	if r.Status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	return r
}

// keyGet sends GET path through the proxy with an API key.
func keyGet(t testing.TB, g *Gateway, path, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", g.URL(path), nil)
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// pgDSN is the shared PostgreSQL of the tests (.ci/run starts it).
func pgDSN() string {
	if v := os.Getenv("PORTCULLIS_TEST_PG"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}
