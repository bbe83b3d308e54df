package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// cliResult is what one run of the binary produced.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the binary with args (and extra environment entries) and
// waits at most 20 s for it to exit.
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return runCLIInput(t, env, "", args...)
}

// runCLIStdin is runCLI with stdin as the standard input.
func runCLIStdin(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLIInput(t, nil, stdin, args...)
}

func runCLIInput(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	// A -race binary sleeps 1 s before a zero exit unless told not to.
	cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.code = ee.ExitCode()
	default:
		t.Fatalf("portcullis %s: %v (stderr %q)", strings.Join(args, " "), err, res.stderr)
	}
	return res
}

// writeFile writes text to a new file in a temporary directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCLIVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	if r.code != 0 || !regexp.MustCompile(`^portcullis \S+\n$`).MatchString(r.stdout) {
		t.Fatalf("version: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"validate", "--help"}, {"version", "--help"}} {
		r := runCLI(t, nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d, want 0 (stderr %q)", args, r.code, r.stderr)
			continue
		}
		if !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%v: help not on stdout: %q", args, r.stdout)
		}
		if len(args) == 2 && !strings.Contains(r.stdout, "portcullis "+args[0]) {
			t.Errorf("%v: help does not name the command: %q", args, r.stdout)
		}
		if args[0] != "version" && len(args) == 2 && !strings.Contains(r.stdout, "-config") {
			t.Errorf("%v: help does not list --config: %q", args, r.stdout)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"validate", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"run", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"version", "--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{nil, "Usage:"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d stderr %q, want exit 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestCLIStoreCommandsNeedAValidConfigWithAnAdminBlock: the commands that
// open the admin store directly (bootstrap, audit verify) read it from the
// config: a config that does not load is reported as validate reports it,
// one without an admin block is named, each with exit 1 and nothing on
// stdout (no token printed, no verdict).
func TestCLIStoreCommandsNeedAValidConfigWithAnAdminBlock(t *testing.T) {
	noAdmin := writeFile(t, "noadmin.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
`)
	broken := writeFile(t, "broken.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: all, paths: [{prefix: /}], service: nope}]
admin: {store: {driver: sqlite, path: "`+filepath.Join(t.TempDir(), "admin.db")+`"}}
`)
	for _, tc := range []struct {
		desc string
		args []string
		want string
	}{
		{"bootstrap, no admin block", []string{"admin", "bootstrap", "--config", noAdmin}, "portcullis admin bootstrap: the config has no admin block"},
		{"audit verify, no admin block", []string{"admin", "audit", "verify", "--config", noAdmin}, "portcullis admin audit verify: the config has no admin block"},
		{"bootstrap, a config that does not load", []string{"admin", "bootstrap", "--config", broken}, "broken.yaml:4:"},
		{"audit verify, a config that does not load", []string{"admin", "audit", "verify", "--config", broken}, "broken.yaml:4:"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%s: exit %d stdout %q stderr %q, want exit 1, no output and %q", tc.desc, r.code, r.stdout, r.stderr, tc.want)
		}
	}
}

func TestCLIValidateValid(t *testing.T) {
	p := writeFile(t, "ok.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
    policies: [{kind: request_headers, set: {X-From: gateway}}]
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "valid") {
		t.Errorf("stdout %q", r.stdout)
	}
}

// wantErrorLine asserts that out has a line "<file>:<line>:<col>: <path>: "
// followed by text containing msg.
func wantErrorLine(t *testing.T, out, file, path, msg string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(file) + `:\d+:\d+: ` + regexp.QuoteMeta(path) + `: .*` + regexp.QuoteMeta(msg))
	if !re.MatchString(out) {
		t.Errorf("no line for %s (%q) in:\n%s", path, msg, out)
	}
}

// TestCLIValidateReportsEveryObservabilityError: the security event stream
// and the alert rules are checked like the rest of the file, every problem
// at its own line and column in one run (they used to be reported one at a
// time, at the block's line, with the path written twice).
func TestCLIValidateReportsEveryObservabilityError(t *testing.T) {
	p := writeFile(t, "obs.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
observability:
  security_events:
    sample: 2
    webhooks: [{url: "ftp://x/hook"}]
    syslog: {network: sctp, address: "127.0.0.1:514", facility: local9}
  alerts:
    rules:
      - {name: a, metric: error_rat, window: 5m, above: 0.05}
      - {name: b, metric: latency_p99, window: 5m, above: -1}
      - {name: a, metric: bans, route: nope, window: 48h, above: 1}
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	for _, w := range []struct {
		line, col int
		path, msg string
	}{
		{7, 13, "observability.security_events.sample", "2 is not in (0, 1]"},
		{8, 22, "observability.security_events.webhooks[0].url", "must be an http or https URL"},
		{9, 23, "observability.security_events.syslog.network", "must be udp or tcp"},
		{9, 65, "observability.security_events.syslog.facility", `unknown facility "local9"`},
		{12, 27, "observability.alerts.rules[0].metric", `"error_rat"`},
		{13, 59, "observability.alerts.rules[1].above", "a positive threshold is required"},
		{14, 16, "observability.alerts.rules[2].name", `"a" is used twice`},
		{14, 40, "observability.alerts.rules[2].route", `no route is named "nope"`},
		{14, 54, "observability.alerts.rules[2].window", "must be from 1s to 24h"},
	} {
		wantErrorAt(t, r.stderr, p, w.line, w.col, w.path, w.msg)
	}
}

// TestCLIValidateLoadsEveryTLSFile: a certificate with another
// certificate's key, a CA file that holds a key, a CA bundle with a
// mangled certificate, on a listener, a service and the admin API, are
// refused by validate (they used to pass it, being readable files, and
// stop the gateway at start, or be skipped silently: crypto/x509 drops a
// certificate block that does not parse), each at its own line; and the
// same config with the right files is valid.
func TestCLIValidateLoadsEveryTLSFile(t *testing.T) {
	dir := t.TempDir()
	at := func(f string) string { return filepath.Join(dir, f) }
	tlspolicytest.WriteKeyPair(t, at("a.crt"), at("a.key"), "a.test")
	tlspolicytest.WriteKeyPair(t, at("b.crt"), at("b.key"), "b.test")
	if err := os.WriteFile(at("mangled.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := func(secondKey, clientCA, upstreamCA, adminCert string) string {
		return writeFile(t, "tls.yaml", `version: 1
listeners:
  - name: public
    address: "127.0.0.1:8443"
    tls:
      certificates:
        - cert_file: `+at("a.crt")+`
          key_file: `+at("a.key")+`
        - cert_file: `+at("b.crt")+`
          key_file: `+secondKey+`
      client_auth:
        mode: require
        ca_file: `+clientCA+`
services:
  - name: svc
    targets: [{url: "https://127.0.0.1:9"}]
    tls:
      ca_file: `+upstreamCA+`
routes: [{name: all, paths: [{prefix: /}], service: svc}]
admin:
  address: "127.0.0.1:9902"
  store: {driver: sqlite, path: "`+at("admin.db")+`"}
  tls:
    cert_file: `+adminCert+`
    key_file: `+at("a.key")+`
    client_ca_file: `+at("b.crt")+`
`)
	}
	bad := config(at("a.key"), at("b.key"), at("mangled.pem"), at("b.crt"))
	r := runCLI(t, nil, "validate", "--config", bad)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	for _, w := range []struct {
		line, col int
		path, msg string
	}{
		{9, 11, "listeners[0].tls.certificates[1]", "cert_file and key_file do not load as a key pair: tls: private key does not match public key"},
		{13, 18, "listeners[0].tls.client_auth.ca_file", at("b.key") + `" holds no PEM certificate`},
		{18, 16, "services[0].tls.ca_file", "holds a certificate that does not parse (certificate 1)"},
		{24, 5, "admin.tls", "cert_file and key_file do not load as a key pair: tls: private key does not match public key"},
	} {
		wantErrorAt(t, r.stderr, bad, w.line, w.col, w.path, w.msg)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n != 4 {
		t.Errorf("%d lines, want 4:\n%s", n, r.stderr)
	}
	if strings.Contains(r.stderr, "PRIVATE KEY") {
		t.Errorf("an error shows key material:\n%s", r.stderr)
	}

	good := config(at("b.key"), at("b.crt"), at("a.crt"), at("a.crt"))
	if r := runCLI(t, nil, "validate", "--config", good); r.code != 0 {
		t.Fatalf("the repaired config: exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// TestCLIValidateRefusesARouteNeverReached: a route that another route
// always takes first (the same hosts and path; it allows every method and
// requires every header the later one does) is refused at its path, with
// the route that wins named: here the operator meant the key-protected
// route for writes, and every write would have gone through the open one.
// A route that differs by a method, a header or a host is valid.
func TestCLIValidateRefusesARouteNeverReached(t *testing.T) {
	head := `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: catalogue
    paths: [{prefix: /api/}]
    service: svc
    auth: none
`
	writes := `  - name: writes
    paths: [{exact: /api/orders}, {prefix: /api/}]
    methods: [POST, PUT]
    service: svc
    policies: [{kind: auth, methods: [{api_key: {}}]}]
`
	p := writeFile(t, "shadow.yaml", head+writes)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorAt(t, r.stderr, p, 10, 35, "routes[1].paths[1]", `is never reached: routes[0] ("catalogue") comes first`)
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n != 1 {
		t.Errorf("%d lines, want 1 (paths[0] is an exact path: it is reached):\n%s", n, r.stderr)
	}

	for _, tc := range []struct{ desc, first string }{
		{"the first route allows GET only", "    methods: [GET]\n"},
		{"the first route requires a header", "    headers: [{name: X-Catalogue}]\n"},
		{"the first route serves another host", "    hosts: [catalogue.example.com]\n"},
	} {
		p := writeFile(t, "distinct.yaml", head+tc.first+writes)
		if r := runCLI(t, nil, "validate", "--config", p); r.code != 0 {
			t.Errorf("%s: exit %d; stderr:\n%s", tc.desc, r.code, r.stderr)
		}
	}
}

// TestCLIValidateRefusesAHeaderConditionTheRouterNeverSees: a route that
// requires X-Consumer-Name (an identity header: the client's copy is
// removed before routing) reads as "admins go here" and would receive no
// request; validate refuses it at the condition's name.
func TestCLIValidateRefusesAHeaderConditionTheRouterNeverSees(t *testing.T) {
	cfg := `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: everyone
    paths: [{prefix: /}]
    service: svc
    auth: none
  - name: admins
    paths: [{prefix: /admin/}]
    headers: [{name: X-Consumer-Name, value: admin}]
    service: svc
    auth: none
`
	p := writeFile(t, "identity-route.yaml", cfg)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorAt(t, r.stderr, p, 11, 22, "routes[1].headers[0].name", `"X-Consumer-Name" never reaches the router: the gateway removes it from every client request before routing and sets it for the upstream itself (identity_headers.consumer)`)

	// The same condition on a header of the client's own is a route.
	p = writeFile(t, "tenant-route.yaml", strings.Replace(cfg, "X-Consumer-Name", "X-Tenant", 1))
	if r := runCLI(t, nil, "validate", "--config", p); r.code != 0 {
		t.Errorf("X-Tenant: exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// TestCLIValidateListsEachProblemOnce: a list entry or a file the loader
// refuses is reported at its field, and not again at its block by the
// compile step that runs on a config with errors (trusted_proxies for
// trusted_proxies[1], services[0] for services[0].tls.ca_file).
func TestCLIValidateListsEachProblemOnce(t *testing.T) {
	p := writeFile(t, "lists.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services:
  - name: svc
    targets: [{url: "https://127.0.0.1:9"}]
    tls: {ca_file: /nonexistent/ca.pem}
routes: [{name: all, paths: [{prefix: /}], service: svc}]
trusted_proxies: ["10.0.0.0/8", "bogus"]
ops: {allow: ["nope"]}
ip_filter: {allow: ["x.y"]}
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	for _, path := range []string{"services[0].tls.ca_file", "trusted_proxies[1]", "ops.allow[0]", "ip_filter.allow[0]"} {
		if n := strings.Count(r.stderr, ": "+path+": "); n != 1 {
			t.Errorf("%s reported %d times, want once:\n%s", path, n, r.stderr)
		}
	}
	for _, block := range []string{"services[0]", "trusted_proxies", "ops.allow", "ip_filter"} {
		if strings.Contains(r.stderr, ": "+block+": ") {
			t.Errorf("the problem repeated at its block %s:\n%s", block, r.stderr)
		}
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n != 4 {
		t.Errorf("%d lines, want 4:\n%s", n, r.stderr)
	}
}

func TestCLIValidateReportsEveryError(t *testing.T) {
	p := writeFile(t, "bad.yaml", `version: 1
listeners:
  - name: public
    address: "127.0.0.1:8080"
    bogus_field: 1
services:
  - name: svc
    targets: [{url: "http://127.0.0.1:9"}]
    timeouts:
      connect: 5 parsecs
routes:
  - name: a
    paths: [{prefix: /}]
    service: missing
  - name: a
    paths: [{prefix: /b}]
    service: svc
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorLine(t, r.stderr, p, "listeners[0].bogus_field", "unknown field")
	wantErrorLine(t, r.stderr, p, "services[0].timeouts.connect", "5 parsecs")
	wantErrorLine(t, r.stderr, p, "routes[0].service", `"missing"`)
	wantErrorLine(t, r.stderr, p, "routes[1].name", `"a"`)
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; n != 4 {
		t.Errorf("%d lines, want one per error:\n%s", n, r.stderr)
	}
}

// Policy kinds are known to the gateway, not to the config schema, so an
// unknown kind is reported once the file itself is valid.
func TestCLIValidateUnknownPolicyKind(t *testing.T) {
	p := writeFile(t, "kind.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: a
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: request_headers
        set: {X-A: "1"}
      - kind: frobnicate
        whatever: 1
`)
	r := runCLI(t, nil, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorLine(t, r.stderr, p, "routes[0].policies[1]", `unknown policy kind "frobnicate"`)
}

func TestCLIValidateSecrets(t *testing.T) {
	const secret = "s3cr3t-Value-do-not-print"
	p := writeFile(t, "secret.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:8080"}]
services:
  - name: svc
    targets: [{url: "http://127.0.0.1:9"}]
    timeouts:
      connect: "${env:PC_E2E_SET_SECRET}"
routes:
  - name: a
    paths: [{prefix: /}]
    service: "${env:PC_E2E_MISSING_SECRET}"
`)
	r := runCLI(t, []string{"PC_E2E_SET_SECRET=" + secret}, "validate", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	wantErrorLine(t, r.stderr, p, "routes[0].service", "PC_E2E_MISSING_SECRET")
	// A secret that is set but not a valid value is named by its reference.
	wantErrorLine(t, r.stderr, p, "services[0].timeouts.connect", "${env:PC_E2E_SET_SECRET}")
	if strings.Contains(r.stderr+r.stdout, secret) {
		t.Errorf("output prints the secret:\n%s", r.stderr)
	}
}

func TestCLIRunPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := writeFile(t, "busy.yaml", `version: 1
listeners: [{name: busy-public, address: "`+l.Addr().String()+`"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: a, paths: [{prefix: /}], service: svc}]
ops: {address: "`+freeAddr(t)+`"}
`)
	r := runCLI(t, nil, "run", "--config", p)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "busy-public") || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("stderr does not name the listener and the cause:\n%s", r.stderr)
	}
}
