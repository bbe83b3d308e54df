package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// What an operator reads: the tools' output (never material the loader
// refuses), help, /stats/auth's documented field names, state changes and
// every log line as JSON, and the docs' config examples, which must
// validate.

// TestToolsNeverPrintWhatTheLoaderRefuses: every tool that prints config
// material (an API key and its entry, a password hash, a development PKI
// and its config, the first admin token) refuses input the loader or the
// admin API would refuse, with a clear error naming the flag, exit 2 and
// nothing on stdout (no key, no hash, no token, no file written). The
// valid counterparts print material that `portcullis validate` accepts.
func TestToolsNeverPrintWhatTheLoaderRefuses(t *testing.T) {
	pkiDir := filepath.Join(t.TempDir(), "pki")
	store := filepath.Join(t.TempDir(), "admin.db")
	adminCfg := writeFile(t, "admin.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
admin: {store: {driver: sqlite, path: "`+store+`"}}
`)
	for _, tc := range []struct {
		desc  string
		args  []string
		stdin string
		want  string
	}{
		{"an id with a space and a '!'", []string{"keys", "generate", "--id", "bad id!"}, "", `--id "bad id!": a key id must start with a letter or digit`},
		{"an id starting with '-'", []string{"keys", "generate", "--id=-k1"}, "", `--id "-k1"`},
		{"an id of 65 characters", []string{"keys", "generate", "--id", strings.Repeat("k", 65)}, "", "at most 64 characters"},
		{"an id with a slash", []string{"keys", "generate", "--id", "a/b"}, "", `--id "a/b"`},
		{"a bcrypt cost above the maximum", []string{"hash-password", "--algorithm", "bcrypt", "--cost", "40"}, "pw\n", "bcrypt cost must be from 4 to 15"},
		{"a service name with a space", []string{"certs", "dev", "--dir", pkiDir, "--service", "bad svc"}, "", `--service "bad svc": a service name must start`},
		{"a trust domain with upper case", []string{"certs", "dev", "--dir", pkiDir, "--trust-domain", "Corp.Example"}, "", `--trust-domain "Corp.Example": the service's SPIFFE ID is not a valid SPIFFE ID`},
		{"a host that is no DNS name", []string{"certs", "dev", "--dir", pkiDir, "--hosts", "localhost,exa mple"}, "", `--hosts: "exa mple" is neither an IP address nor a DNS name`},
		{"a token name the admin API refuses", []string{"admin", "bootstrap", "--config", adminCfg, "--name", "first token"}, "", `--name "first token": a token name must start`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := runCLIStdin(t, tc.stdin, tc.args...)
			if r.code == 0 || r.stdout != "" {
				t.Fatalf("%v: exit %d, stdout %q: printed what the loader refuses", tc.args, r.code, r.stdout)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: stderr %q, want %q", tc.args, r.stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat(pkiDir); !os.IsNotExist(err) {
		t.Errorf("certs dev wrote %s though it refused its flags (%v)", pkiDir, err)
	}
	if _, err := os.Stat(store); err == nil {
		if r := runCLI(t, nil, "admin", "bootstrap", "--config", adminCfg, "--name", "first-token"); r.code != 0 {
			t.Errorf("bootstrap after a refused one: exit %d stderr %q (the refused run must not have created a token)", r.code, r.stderr)
		}
	}

	// The valid counterparts print what the loader accepts.
	r := runCLI(t, nil, "keys", "generate", "--id", "partner.k-1_a")
	if r.code != 0 {
		t.Fatalf("keys generate: exit %d stderr %q", r.code, r.stderr)
	}
	// The printed entry is indented for a consumer's credentials block.
	entry := "  " + strings.ReplaceAll(r.stdout[strings.Index(r.stdout, "    api_keys:"):], "\n", "\n  ")
	p := writeFile(t, "keys.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
consumers:
  - name: partner
    credentials:
`+entry)
	if v := runCLI(t, nil, "validate", "--config", p); v.code != 0 {
		t.Errorf("the entry keys generate printed is refused: %s\n%s", v.stderr, entry)
	}
	r = runCLI(t, nil, "certs", "dev", "--dir", pkiDir, "--service", "billing", "--trust-domain", "corp.example", "--hosts", "api.example.com,127.0.0.1")
	if r.code != 0 {
		t.Fatalf("certs dev: exit %d stderr %q", r.code, r.stderr)
	}
	i, j := strings.Index(r.stdout, "In a config:\n"), strings.Index(r.stdout, "\ncurl ")
	if i < 0 || j < i {
		t.Fatalf("certs dev printed no config:\n%s", r.stdout)
	}
	p = writeFile(t, "pki.yaml", "version: 1\n"+r.stdout[i+len("In a config:\n"):j])
	if v := runCLI(t, nil, "validate", "--config", p); v.code != 0 {
		t.Errorf("the config certs dev printed is refused: %s", v.stderr)
	}
}

// TestHelpPrintsOnce: -h and --help (and "help") print the usage exactly
// once, on stdout, with exit status 0 and nothing on stderr, for the
// program and for every command and subcommand.
func TestHelpPrintsOnce(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"},
		{"run", "--help"}, {"run", "-h"},
		{"validate", "--help"}, {"validate", "-h"},
		{"version", "--help"},
		{"token", "--help"},
		{"keys", "--help"}, {"keys", "generate", "--help"}, {"keys", "hash", "-h"},
		{"hash-password", "--help"},
		{"certs", "--help"}, {"certs", "dev", "--help"}, {"certs", "dev", "-h"},
		{"admin", "--help"}, {"admin", "-h"}, {"admin", "bootstrap", "--help"}, {"admin", "keys", "issue", "--help"},
	} {
		r := runCLI(t, nil, args...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%v: exit %d, stderr %q; want 0 and nothing", args, r.code, r.stderr)
		}
		if n := strings.Count(r.stdout, "Usage:"); n != 1 {
			t.Errorf("%v: the usage appears %d times on stdout, want once:\n%s", args, n, r.stdout)
		}
	}
	// A bad flag still gets its error and the usage once, on stderr, exit 2.
	r := runCLI(t, nil, "run", "--no-such-flag")
	if r.code != 2 || strings.Count(r.stderr, "Usage:") != 1 || r.stdout != "" {
		t.Errorf("bad flag: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// snakeCase is a JSON field name as the gateway writes them.
var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonFieldNames collects every object member name in v, at every depth.
func jsonFieldNames(v any, into map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			into[k] = true
			jsonFieldNames(e, into)
		}
	case []any:
		for _, e := range x {
			jsonFieldNames(e, into)
		}
	}
}

// TestStatsAuthSnakeCaseAndDocumented: /stats/auth names every field in
// snake_case (route, method, outcome, reason, value; key_id, consumer,
// requests, refused, last_used, last_client) like /readyz and the admin
// API, with the values of the traffic sent, and every field it writes is
// documented in docs/observability.md.
func TestStatsAuthSnakeCaseAndDocumented(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t)
	gw := StartGateway(t, GatewayConfig(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "`+up.URL+`"}]}]
routes:
  - name: keyed
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {}}]
consumers:
  - name: stats-app
    credentials:
      api_keys: [{id: stats-key, hash: "`+hash+`"}]
ops: {address: "{{ops}}"}
`))
	for _, k := range []string{key, key, "pcl_wrong", ""} {
		req, _ := http.NewRequest("GET", gw.URL("/x"), nil)
		if k != "" {
			req.Header.Set("X-API-Key", k)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + gw.OpsAddr + "/stats/auth")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	names := map[string]bool{}
	jsonFieldNames(doc, names)
	docs, err := os.ReadFile("../../docs/observability.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(docs)
	if i := strings.Index(section, "## Operations endpoints"); i >= 0 {
		section = section[i:]
		if j := strings.Index(section[3:], "\n## "); j >= 0 {
			section = section[:j+3]
		}
	} else {
		t.Fatal("docs/observability.md has no Operations endpoints section")
	}
	for n := range names {
		if !snakeCase.MatchString(n) {
			t.Errorf("/stats/auth field %q is not snake_case: %s", n, body)
		}
		if !strings.Contains(section, "`"+n+"`") {
			t.Errorf("/stats/auth field %q is not documented in docs/observability.md#operations-endpoints", n)
		}
	}
	for _, n := range []string{"authentication", "api_keys", "route", "method", "outcome", "reason", "value", "key_id", "consumer", "requests", "refused", "last_used", "last_client"} {
		if !names[n] {
			t.Errorf("/stats/auth has no field %q: %s", n, body)
		}
	}
	var stats struct {
		Authentication []map[string]any `json:"authentication"`
		APIKeys        []map[string]any `json:"api_keys"`
	}
	_ = json.Unmarshal(body, &stats)
	var ok, bad float64
	for _, c := range stats.Authentication {
		if c["route"] == "keyed" && c["method"] == "api_key" && c["outcome"] == "success" {
			ok += c["value"].(float64)
		}
		if c["route"] == "keyed" && c["outcome"] == "failure" {
			bad += c["value"].(float64)
		}
	}
	if ok != 2 || bad != 2 {
		t.Errorf("success %v failure %v, want 2 and 2: %s", ok, bad, body)
	}
	if len(stats.APIKeys) != 1 {
		t.Fatalf("api_keys %v, want one key", stats.APIKeys)
	}
	u := stats.APIKeys[0]
	if u["key_id"] != "stats-key" || u["consumer"] != "stats-app" || u["requests"] != 2.0 || u["last_client"] != "127.0.0.1" {
		t.Errorf("api_keys[0] = %v", u)
	}
	if s, _ := u["last_used"].(string); s == "" {
		t.Errorf("api_keys[0].last_used = %v", u["last_used"])
	} else if _, err := time.Parse(time.RFC3339, s); err != nil {
		t.Errorf("api_keys[0].last_used: %v", err)
	}
	if strings.Contains(string(body), key) {
		t.Error("/stats/auth shows the key")
	}
}

// restartable is an upstream that can be stopped and started again on
// the same address (a target going down and coming back).
type restartable struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newRestartable(t *testing.T) *restartable {
	r := &restartable{t: t, addr: freeAddr(t)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *restartable) start() {
	r.t.Helper()
	var l net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if l, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("listen again on %s: %v", r.addr, err)
		}
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(l) }()
}

func (r *restartable) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close() // the listener and every connection
	}
}

// logEvents returns the process log's JSON lines whose event field is ev.
func logEvents(t *testing.T, gw *Gateway, ev string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(gw.Stderr.String(), "\n") {
		if !strings.Contains(line, `"event"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("a log line with an event is not JSON: %q", line)
			continue
		}
		if m["event"] == ev {
			out = append(out, m)
		}
	}
	return out
}

// waitLogEvent waits until the process log has n lines of event ev, doing
// poke (a request) between looks; it returns them.
func waitLogEvent(t *testing.T, gw *Gateway, ev string, n int, poke func()) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if evs := logEvents(t, gw, ev); len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d %q event(s) after 20s; process log:\n%s", n, ev, gw.Stderr.String())
		}
		if poke != nil {
			poke()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wantEvent checks the fields every state-change event carries and the
// given ones.
func wantEvent(t *testing.T, e map[string]any, level string, fields map[string]any) {
	t.Helper()
	if e["level"] != level || e["msg"] == "" || e["time"] == nil {
		t.Errorf("event %v: want level %s, a msg and a time", e, level)
	}
	for k, v := range fields {
		if k == "services" {
			s, _ := e[k].([]any)
			if len(s) != 1 || s[0] != v {
				t.Errorf("event %s: services %v, want [%v]", e["event"], e[k], v)
			}
			continue
		}
		if e[k] != v {
			t.Errorf("event %s: %s = %v, want %v (%v)", e["event"], k, e[k], v, e)
		}
	}
}

// TestStateChangesAreJSONEvents: a target turning unhealthy and healthy
// again (active checks of a real upstream stopped and restarted; passive
// health ejecting it on failed requests and taking it back after the
// cool-off), a circuit breaker opened by 5xx answers, half-open and closed
// again, and a listener certificate whose file is replaced with garbage
// each write one JSON line with a stable event field (and the target,
// services, check, listener or file), and the certificate failure shows on
// /readyz (which stays 200: the previous certificate serves) until the
// file is good again.
func TestStateChangesAreJSONEvents(t *testing.T) {
	f := getTLSFixture(t)
	down := newRestartable(t)
	var failing atomic.Bool
	flaky := NewUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	failing.Store(true)
	certs := f.listenerCerts(t)
	secure := freeAddr(t)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - {name: public, address: "{{public}}"}
  - {name: secure, address: %q, tls: {certificates: [{cert_file: %q, key_file: %q}]}}
services:
  - name: checked
    targets: [{url: "http://%s"}]
    health_check: {path: /health, interval: 100ms, timeout: 100ms, healthy_threshold: 1, unhealthy_threshold: 2}
  - name: fragile
    targets: [{url: "http://%s"}]
    passive_health: {consecutive_failures: 2, cool_off: 1s}
    retries: {attempts: 1}
  - name: breaking
    targets: [{url: %q}]
    circuit_breaker: {failure_threshold: 3, open_duration: 500ms, half_open_requests: 1}
    retries: {attempts: 1}
routes:
  - {name: checked, paths: [{prefix: /checked}], service: checked}
  - {name: fragile, paths: [{prefix: /fragile}], service: fragile}
  - {name: breaking, paths: [{prefix: /breaking}], service: breaking}
ops: {address: "{{ops}}"}
`, secure, certs[0].cert, certs[0].key, down.addr, down.addr, flaky.URL)))
	get := func(path string) func() {
		return func() {
			resp, err := http.Get(gw.URL(path))
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
	target := "http://" + down.addr

	// The target goes down: the active checks and passive health each
	// take it out once; it comes back: each puts it back once.
	down.stop()
	unhealthy := waitLogEvent(t, gw, "upstream_target_unhealthy", 2, get("/fragile"))
	byCheck := map[string]map[string]any{}
	for _, e := range unhealthy {
		byCheck[e["check"].(string)] = e
	}
	wantEvent(t, byCheck["active"], "WARN", map[string]any{"target": target, "services": "checked", "check": "active"})
	wantEvent(t, byCheck["passive"], "WARN", map[string]any{"target": target, "services": "fragile", "check": "passive"})
	if r, _ := byCheck["active"]["reason"].(string); r == "" {
		t.Errorf("the active check's event says no reason: %v", byCheck["active"])
	}
	down.start()
	healthy := waitLogEvent(t, gw, "upstream_target_healthy", 2, get("/fragile"))
	byCheck = map[string]map[string]any{}
	for _, e := range healthy {
		byCheck[e["check"].(string)] = e
	}
	wantEvent(t, byCheck["active"], "INFO", map[string]any{"target": target, "services": "checked", "check": "active"})
	wantEvent(t, byCheck["passive"], "INFO", map[string]any{"target": target, "services": "fragile", "check": "passive"})
	if n := len(logEvents(t, gw, "upstream_target_unhealthy")); n != 2 {
		t.Errorf("%d unhealthy events, want one per check (a state that persists is not logged again)", n)
	}
	if r := resDo(t, "GET", gw.URL("/checked/x"), ""); r.status != 200 {
		t.Errorf("after the target came back: status %d", r.status)
	}

	// 5xx answers open the breaker; once the upstream recovers a trial
	// request closes it.
	open := waitLogEvent(t, gw, "circuit_breaker_open", 1, get("/breaking"))
	wantEvent(t, open[0], "WARN", map[string]any{"target": flaky.URL, "services": "breaking", "state": "open"})
	failing.Store(false)
	closed := waitLogEvent(t, gw, "circuit_breaker_closed", 1, get("/breaking"))
	wantEvent(t, closed[0], "INFO", map[string]any{"target": flaky.URL, "services": "breaking", "state": "closed"})
	half := logEvents(t, gw, "circuit_breaker_half_open")
	if len(half) == 0 {
		t.Error("no circuit_breaker_half_open event between open and closed")
	} else {
		wantEvent(t, half[0], "INFO", map[string]any{"target": flaky.URL, "state": "half_open"})
	}

	// A certificate file replaced with garbage: logged once, shown on
	// /readyz; the previous certificate keeps serving.
	tlsWriteFile(t, certs[0].cert, []byte("garbage, not a certificate\n"))
	failed := waitLogEvent(t, gw, "certificate_reload_failed", 1, nil)
	wantEvent(t, failed[0], "ERROR", map[string]any{"listener": "secure", "cert_file": certs[0].cert})
	code, body := gw.Readyz()
	var ready struct {
		Status string `json:"status"`
		Certs  []struct {
			Listener string `json:"listener"`
			CertFile string `json:"cert_file"`
			Error    string `json:"error"`
			Since    string `json:"since"`
		} `json:"certificate_errors"`
	}
	if err := json.Unmarshal([]byte(body), &ready); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	if code != 200 || len(ready.Certs) != 1 || ready.Certs[0].Listener != "secure" || ready.Certs[0].CertFile != certs[0].cert ||
		ready.Certs[0].Error == "" || ready.Certs[0].Since == "" {
		t.Errorf("/readyz %d during the failure: %s", code, body)
	}
	if got := f.servedSerial(t, secure, "a.example.test"); got != serialA {
		t.Errorf("after a broken file: serial %d, want the previous %d", got, serialA)
	}
	tlsWriteFile(t, certs[0].cert, f.a2.cert)
	tlsWriteFile(t, certs[0].key, f.a2.key)
	reloaded := waitLogEvent(t, gw, "certificate_reloaded", 1, nil)
	wantEvent(t, reloaded[0], "INFO", map[string]any{"listener": "secure", "cert_file": certs[0].cert})
	if n := len(logEvents(t, gw, "certificate_reload_failed")); n != 1 {
		t.Errorf("%d certificate_reload_failed events, want 1 (a file that stays broken is logged once)", n)
	}
	if _, body := gw.Readyz(); strings.Contains(body, "certificate_errors") {
		t.Errorf("/readyz still shows the failure after the file loaded: %s", body)
	}
}

// wantAllJSON checks that every line of out is one JSON object (the
// process log's also with time, level and msg).
func wantAllJSON(t *testing.T, name, out string, process bool) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if line == "" {
			continue
		}
		n++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("%s: a line that is not JSON: %q", name, line)
			continue
		}
		if process && (m["time"] == nil || m["level"] == nil || m["msg"] == nil) {
			t.Errorf("%s: a line without time, level and msg: %q", name, line)
		}
	}
	return n
}

// TestEveryLogLineIsJSON: the gateway run through a start with a WAF and
// Redis-backed rate limits (one Redis up, one down), TLS with HTTP/2,
// traffic (proxied, WAF-blocked, rate-limited, malformed framing, a TLS
// handshake of garbage), a reload, a reload of a broken file and SIGTERM
// writes only JSON lines on stderr (the process log, each with time, level
// and msg) and stdout (the access log); so does a start that fails on an
// invalid config.
func TestEveryLogLineIsJSON(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	certs := f.listenerCerts(t)
	secure := freeAddr(t)
	cfg := func(extra string) GatewayConfig {
		return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - {name: public, address: "{{public}}"}
  - {name: secure, address: %q, tls: {certificates: [{cert_file: %q, key_file: %q}]}}
services:
  - name: svc
    targets: [{url: %q}]
    health_check: {path: /health, interval: 200ms, timeout: 200ms}
routes:
  - name: waf
    paths: [{prefix: /waf}]
    service: svc
    policies: [{kind: waf, mode: blocking}]
  - name: limited
    paths: [{prefix: /limited}]
    service: svc
    policies: [{kind: rate_limit, limits: [{rate: 2, per: 1m}], store: redis, redis: {address: "127.0.0.1:6379", prefix: "logjson-%d:", timeout: 2s}}]
  - name: deadredis
    paths: [{prefix: /dead}]
    service: svc
    policies: [{kind: rate_limit, limits: [{rate: 100, per: 1s}], store: redis, redis: {address: %q, timeout: 50ms}, fail: open}]
  - name: all
    paths: [{prefix: /}]
    service: svc
%s
ops: {address: "{{ops}}"}
`, secure, certs[0].cert, certs[0].key, up.URL, time.Now().UnixNano(), freeAddr(t), extra))
	}
	gw := StartGateway(t, cfg(""))
	for _, p := range []string{"/ok", "/waf/x?q=" + url.QueryEscape("1' OR '1'='1"), "/limited/a", "/limited/b", "/limited/c", "/limited/d", "/dead/a", "/dead/b"} {
		resp, err := http.Get(gw.URL(p))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if r := rawRequest(t, gw.Addr, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"); r.Status != 400 {
		t.Errorf("smuggling framing: status %d", r.Status)
	}
	if c, err := net.Dial("tcp", secure); err == nil {
		_, _ = io.WriteString(c, "this is no TLS handshake\r\n\r\n")
		_, _ = io.ReadAll(c)
		c.Close()
	}
	h2 := f.httpsClient("a.example.test", true)
	resp, err := h2.Get("https://" + secure + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("TLS request served over %s, want HTTP/2", resp.Proto)
	}

	// A reload, then a broken file.
	gw.WriteConfig(cfg(`    policies: [{kind: request_headers, set: {X-From: gateway}}]`))
	gw.Signal(syscall.SIGHUP)
	waitLogEvent(t, gw, "config_reloaded", 1, nil)
	gw.WriteConfig(GatewayConfig("version: 1\nlisteners: [{name: public, address: \"{{public}}\"}]\nroutes: [{name: x, paths: [{prefix: /}], service: nowhere}]\nops: {address: \"{{ops}}\"}\n"))
	gw.Signal(syscall.SIGHUP)
	waitLogEvent(t, gw, "config_reload_failed", 1, nil)

	gw.Signal(syscall.SIGTERM)
	if err := gw.Wait(30 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if n := wantAllJSON(t, "stderr", gw.Stderr.String(), true); n < 5 {
		t.Errorf("only %d process log lines:\n%s", n, gw.Stderr.String())
	}
	if !strings.Contains(gw.Stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no stop line:\n%s", gw.Stderr.String())
	}
	if n := wantAllJSON(t, "stdout", gw.Stdout.String(), false); n < 8 {
		t.Errorf("only %d access log lines:\n%s", n, gw.Stdout.String())
	}

	// A start that fails: its errors are JSON too, with their position.
	bad := writeFile(t, "bad.yaml", "version: 1\nlisteners: [{name: public, address: \"127.0.0.1:0\"}]\nroutes: [{name: x, paths: [{prefix: /}], service: nowhere}]\n")
	r := runCLI(t, nil, "run", "--config", bad)
	if r.code != 1 {
		t.Fatalf("run with a bad config: exit %d", r.code)
	}
	wantAllJSON(t, "stderr of a failed start", r.stderr+r.stdout, true)
	if !strings.Contains(r.stderr, `"path":"routes[0].service"`) || !strings.Contains(r.stderr, `"line":3`) {
		t.Errorf("the start error lacks its position:\n%s", r.stderr)
	}
}

// TestDocsCompleteConfigExamplesValidate: every YAML block of the docs and
// the README that is a complete config (it starts with `version: 1`) is
// accepted by `portcullis validate`, which compiles every policy; the
// files it names are replaced by generated ones (certificates, CAs, an
// RSA public key, secrets) and its environment variables are set. The
// secret reference example of configuration.md is one of them.
func TestDocsCompleteConfigExamplesValidate(t *testing.T) {
	f := getTLSFixture(t)
	rsaPub, err := os.ReadFile(rsaPublicPEM(t, 2048))
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	content := func(name string) []byte {
		switch {
		case strings.HasSuffix(name, "-ca.pem"):
			return f.ca.pem
		case strings.HasSuffix(name, ".crt"):
			return f.a.cert
		case strings.HasSuffix(name, ".key"):
			return f.a.key
		case strings.HasSuffix(name, ".pem"):
			return rsaPub
		}
		return []byte(strings.Repeat("s3cr3t-", 10) + "\n")
	}
	pathRE := regexp.MustCompile(`/(?:etc/portcullis|run/secrets)/[A-Za-z0-9_./-]+`)
	envRE := regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}`)
	blockRE := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	docs, _ := filepath.Glob("../../docs/*.md")
	n := 0
	for _, doc := range append(docs, "../../README.md") {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range blockRE.FindAllSubmatchIndex(b, -1) {
			block := string(b[m[2]:m[3]])
			first := ""
			for _, l := range strings.Split(block, "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					first = l
					break
				}
			}
			if first != "version: 1" {
				continue // a fragment
			}
			n++
			line := bytes.Count(b[:m[0]], []byte("\n")) + 1
			name := fmt.Sprintf("%s:%d", filepath.Base(doc), line)
			block = pathRE.ReplaceAllStringFunc(block, func(p string) string {
				local := filepath.Join(files, strings.ReplaceAll(strings.TrimPrefix(p, "/"), "/", "_"))
				if err := os.WriteFile(local, content(p), 0o600); err != nil {
					t.Fatal(err)
				}
				return local
			})
			var env []string
			for _, e := range envRE.FindAllStringSubmatch(block, -1) {
				env = append(env, e[1]+"="+strings.Repeat("e", 64))
			}
			p := writeFile(t, "example.yaml", block)
			if r := runCLIInput(t, env, "", "validate", "--config", p); r.code != 0 {
				t.Errorf("%s: the example is refused:\n%s", name, r.stderr)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d complete examples found, want at least 3 (the README's, the secret references' and the complete one)", n)
	}
	// The secret reference example is a complete config, so it is checked.
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(b[bytes.Index(b, []byte("## Secret references")):])
	if m := blockRE.FindStringSubmatch(sec); m == nil || !strings.HasPrefix(m[1], "version: 1\n") {
		t.Error("the example of docs/configuration.md#secret-references is not a complete config that validate checks")
	}
}
