package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
