package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

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

// TestFilterFieldsDeniesAtEveryDepthForEveryJSONMediaType: a deny list
// removes the named members wherever they appear (the root, nested
// objects, objects inside arrays, arrays inside arrays, a two-step path
// under another object), for a real upstream answering the same nested
// document as application/json, text/json, application/*+json, with
// parameters, in upper case, and with a malformed parameter; the client
// gets valid JSON with every other member, and a text/plain answer passes
// unchanged.
func TestFilterFieldsDeniesAtEveryDepthForEveryJSONMediaType(t *testing.T) {
	const doc = `{"id":1,"password":"p0","user":{"name":"ada","Password":"p1","profile":{"password":"p2","city":"x"},
"card":{"number":"n1","last4":"4242"}},"users":[{"id":2,"password":"p3","sessions":[{"token":"t1","password":"p4","ok":true}]},
[{"password":"p5","k":3}]],"org":{"owner":{"card":{"number":"n2","last4":"1111"}}}}`
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", r.URL.Query().Get("ct"))
		_, _ = io.WriteString(w, doc)
	})
	gw := StartGateway(t, simpleConfig(up, `    policies:
      - kind: filter_fields
        deny: [password, "card.number", "sessions[].token"]`))
	want := `{"id":1,"user":{"name":"ada","profile":{"city":"x"},"card":{"last4":"4242"}},"users":[{"id":2,"sessions":[{"ok":true}]},[{"k":3}]],"org":{"owner":{"card":{"last4":"1111"}}}}`
	for _, ct := range []string{
		"application/json",
		"application/json; charset=utf-8",
		"text/json",
		"text/json;charset=UTF-8",
		"application/vnd.api+json",
		"application/problem+json; charset=utf-8",
		"APPLICATION/JSON",
		"application/json; charset",
	} {
		resp, err := http.Get(gw.URL("/doc?ct=" + url.QueryEscape(ct)))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%q: status %d: %s", ct, resp.StatusCode, body)
			continue
		}
		var got, exp any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Errorf("%q: not JSON: %v: %s", ct, err, body)
			continue
		}
		_ = json.Unmarshal([]byte(want), &exp)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("%q: client got\n%s\nwant\n%s", ct, body, want)
		}
		for _, secret := range []string{"p0", "p1", "p2", "p3", "p4", "p5", "n1", "n2", "t1"} {
			if strings.Contains(string(body), `"`+secret+`"`) {
				t.Errorf("%q: %s reached the client", ct, secret)
			}
		}
	}
	// Not JSON: passed unchanged (the policy is not strict).
	resp, err := http.Get(gw.URL("/doc?ct=" + url.QueryEscape("text/plain")))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != doc {
		t.Errorf("text/plain was changed: %s", body)
	}
}
