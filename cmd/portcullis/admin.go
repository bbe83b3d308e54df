package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

const adminUsage = `Usage:
  portcullis admin bootstrap --config FILE [--name NAME]
  portcullis admin audit verify --config FILE
  portcullis admin [connection flags] <command> [args]

bootstrap creates the first admin token in an empty store, on the machine
that holds the config (it opens the store directly), and prints it once.

Every other command talks to the admin API. The token comes from
$PORTCULLIS_ADMIN_TOKEN or --token-file, never from a flag's value.

Commands:
  status                                   the node, its store and revision
  consumers list [--group G] [--prefix P]
  consumers get NAME
  consumers create NAME [--group G]... [--scope S]... [--meta K=V]...
  consumers delete NAME
  keys list CONSUMER
  keys issue CONSUMER [--id ID] [--prefix P] [--expires-at RFC3339]
  keys rotate CONSUMER ID [--grace 24h] [--id NEWID]
  keys revoke CONSUMER ID
  credentials add CONSUMER --json BODY     any credential kind (see docs/admin-api.md)
  signature-keys list CONSUMER
  signature-keys add CONSUMER [--id ID] [--algorithm hmac-sha256|ed25519] [--public-key-file F]
                                           an hmac-sha256 secret is generated and printed once
  signature-keys revoke CONSUMER ID
  secrets list | secrets delete NAME
  secrets create NAME [--value-file F]     a secret for ${store:NAME}; generated (printed once) without a file
  secrets rotate NAME [--value-file F]     a new value; every node applies it like a reload
  usage [--consumer NAME]                  per key; "usage consumers" per consumer
  bans list | bans add ADDRESS --duration 1h [--reason R] | bans lift ADDRESS
  tokens list | tokens delete ID
  tokens create --name N --role viewer|operator|admin [--expires-in 720h | --expires-at RFC3339] [--network CIDR]...
  users list | users get NAME | users delete NAME
  users create NAME --role R [--password-file F] [--qr-file F.png]
                                           an administrator (person); the password from
                                           $PORTCULLIS_ADMIN_USER_PASSWORD or the file; prints
                                           the TOTP enrolment and recovery codes once
  users set NAME --role R [--password-file F]
  users enrol NAME [--qr-file F.png]       a new second factor and recovery codes
  routes | services | reload | rekey
  audit [--actor A] [--resource R] [--action X] [--since T] [--until T]
  config versions | config show V | config diff V1 V2
  config dry-run FILE | config rollback V [--dry-run]

Connection flags:
`

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func cmdAdmin(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "bootstrap" {
		return cmdAdminBootstrap(args[1:], stdout, stderr)
	}
	if len(args) > 1 && args[0] == "audit" && args[1] == "verify" {
		return cmdAuditVerify(args[2:], stdout, stderr)
	}
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), adminUsage); fs.PrintDefaults() }
	base := fs.String("url", envOr("PORTCULLIS_ADMIN_URL", "http://127.0.0.1:9902"), "admin API base URL ($PORTCULLIS_ADMIN_URL)")
	tokenFile := fs.String("token-file", "", "read the admin token from this file (else $PORTCULLIS_ADMIN_TOKEN)")
	caFile := fs.String("ca-file", "", "PEM bundle that verifies the admin listener's certificate")
	certFile := fs.String("cert", "", "client certificate (PEM) for certificate authentication")
	keyFile := fs.String("key", "", "client certificate key (PEM)")
	// -h or --help anywhere (before or after a command) prints the usage
	// once, on stdout, before any credential is needed.
	for i, a := range args {
		if a == "-h" || a == "-help" || a == "--help" || i == 0 && a == "help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
	}
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "\n%s", adminUsage)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, adminUsage)
		fs.PrintDefaults()
		return 2
	}
	c := &adminClient{base: strings.TrimRight(*base, "/"), stdout: stdout, stderr: stderr}
	tok, err := adminToken(*tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis admin: %v\n", err)
		return 2
	}
	c.token = tok
	tc := tlspolicy.Config(tls.VersionTLS12)
	if *caFile != "" {
		bundle, err := tlspolicy.ReadCAFile(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "portcullis admin: --ca-file: %v\n", err)
			return 2
		}
		tc.RootCAs = bundle.Pool()
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			fmt.Fprintf(stderr, "portcullis admin: %v\n", err)
			return 2
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil}}
	if c.token == "" && *certFile == "" {
		fmt.Fprintln(stderr, "portcullis admin: no credentials: set $PORTCULLIS_ADMIN_TOKEN, or use --token-file or --cert")
		return 2
	}
	return c.run(fs.Args())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// adminToken reads the token from a file or the environment; a flag never
// carries it (shell history, ps).
func adminToken(file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file) // #nosec G304 -- the operator names the token file
		if err != nil {
			return "", fmt.Errorf("token file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return strings.TrimSpace(os.Getenv("PORTCULLIS_ADMIN_TOKEN")), nil
}

func cmdAdminBootstrap(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("admin bootstrap", "Create the first admin token in an empty store and print it once.", stderr)
	cfgPath := fs.String("config", "", "path to the gateway's YAML config (required)")
	name := fs.String("name", "bootstrap", "a name for the token")
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "portcullis admin bootstrap: --config is required")
		return 2
	}
	// The admin API refuses such a name (tokens.go): never print a token
	// that carries one.
	if !config.ValidName(*name) {
		fmt.Fprintf(stderr, "portcullis admin bootstrap: --name %q: a token name %s\n", *name, config.NameRule())
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, _, rc := openConfigStore(ctx, *cfgPath, "admin bootstrap", stderr)
	if rc != 0 {
		return rc
	}
	defer st.Close()
	tok, t, err := admin.Bootstrap(ctx, st, *name)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis admin bootstrap: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "token: %s\nid: %s\nrole: %s\n\nThe token is shown only this once; the store keeps only its hash.\nUse it with: export PORTCULLIS_ADMIN_TOKEN=...\n", tok, t.ID, t.Role)
	return 0
}

type adminClient struct {
	base, token    string
	http           *http.Client
	stdout, stderr io.Writer
}

// call sends one request and prints the JSON answer; a problem goes to
// stderr and exit status 1.
func (c *adminClient) call(method, path string, body any) int {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			fmt.Fprintf(c.stderr, "portcullis admin: %v\n", err)
			return 2
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		fmt.Fprintf(c.stderr, "portcullis admin: %v\n", err)
		return 2
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		fmt.Fprintf(c.stderr, "portcullis admin: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 400 {
		var p struct {
			Title, Detail, Field string
		}
		_ = json.Unmarshal(b, &p)
		msg := p.Title
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		if p.Field != "" {
			msg += " (field " + p.Field + ")"
		}
		fmt.Fprintf(c.stderr, "portcullis admin: %d %s\n", resp.StatusCode, msg)
		return 1
	}
	if len(b) > 0 {
		_, _ = c.stdout.Write(b)
	}
	return 0
}

func (c *adminClient) run(args []string) int {
	fail := func(msg string) int { fmt.Fprintf(c.stderr, "portcullis admin: %s\n\n%s", msg, adminUsage); return 2 }
	p := url.PathEscape
	cmd, rest := args[0], args[1:]
	verb := ""
	if len(rest) > 0 {
		verb, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "status", "routes", "services":
		return c.call("GET", "/admin/"+cmd, nil)
	case "reload", "rekey":
		return c.call("POST", "/admin/"+cmd, nil)
	case "audit", "config":
		return c.history(cmd, verb, rest)
	case "consumers":
		fs := flag.NewFlagSet("consumers", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		var groups, scopes, metas multi
		fs.Var(&groups, "group", "a group (repeatable)")
		fs.Var(&scopes, "scope", "a scope (repeatable)")
		fs.Var(&metas, "meta", "metadata key=value (repeatable)")
		prefix := fs.String("prefix", "", "names starting with this")
		name, err := positional(fs, rest, verb != "list")
		if err != nil {
			return fail(err.Error())
		}
		switch verb {
		case "list":
			q := url.Values{}
			if len(groups) > 0 {
				q.Set("group", groups[0])
			}
			if *prefix != "" {
				q.Set("prefix", *prefix)
			}
			return c.call("GET", "/admin/consumers?"+q.Encode(), nil)
		case "get":
			return c.call("GET", "/admin/consumers/"+p(name), nil)
		case "delete":
			return c.call("DELETE", "/admin/consumers/"+p(name), nil)
		case "create":
			md := map[string]string{}
			for _, m := range metas {
				k, v, ok := strings.Cut(m, "=")
				if !ok {
					return fail("--meta takes key=value")
				}
				md[k] = v
			}
			return c.call("POST", "/admin/consumers", map[string]any{"name": name, "groups": []string(groups), "scopes": []string(scopes), "metadata": md})
		}
	case "keys":
		fs := flag.NewFlagSet("keys", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		id := fs.String("id", "", "the key's id")
		prefix := fs.String("prefix", "", "key prefix (default pcl_)")
		expires := fs.String("expires-at", "", "RFC 3339 end of the key's life")
		grace := fs.String("grace", "24h", "how long the old key keeps working after a rotation")
		a, err := interleaved(fs, rest)
		if err != nil {
			return 2
		}
		switch {
		case verb == "list" && len(a) == 1:
			return c.call("GET", "/admin/consumers/"+p(a[0])+"/credentials?kind=api_key", nil)
		case verb == "issue" && len(a) == 1:
			body := map[string]any{"kind": "api_key"}
			for k, v := range map[string]string{"id": *id, "prefix": *prefix, "expires_at": *expires} {
				if v != "" {
					body[k] = v
				}
			}
			return c.call("POST", "/admin/consumers/"+p(a[0])+"/credentials", body)
		case verb == "rotate" && len(a) == 2:
			body := map[string]any{"grace": *grace}
			if *id != "" {
				body["id"] = *id
			}
			return c.call("POST", "/admin/consumers/"+p(a[0])+"/credentials/"+p(a[1])+"/rotate", body)
		case verb == "revoke" && len(a) == 2:
			return c.call("DELETE", "/admin/consumers/"+p(a[0])+"/credentials/"+p(a[1]), nil)
		}
	case "credentials":
		fs := flag.NewFlagSet("credentials", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		body := fs.String("json", "", "the credential as a JSON object")
		a, err := interleaved(fs, rest)
		if err != nil {
			return 2
		}
		switch {
		case verb == "list" && len(a) == 1:
			return c.call("GET", "/admin/consumers/"+p(a[0])+"/credentials", nil)
		case verb == "add" && len(a) == 1:
			var v map[string]any
			if err := json.Unmarshal([]byte(*body), &v); err != nil {
				return fail("--json must be a JSON object")
			}
			return c.call("POST", "/admin/consumers/"+p(a[0])+"/credentials", v)
		case verb == "delete" && len(a) == 2:
			return c.call("DELETE", "/admin/consumers/"+p(a[0])+"/credentials/"+p(a[1]), nil)
		}
	case "signature-keys":
		fs := flag.NewFlagSet("signature-keys", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		id := fs.String("id", "", "the key id (keyid in Signature-Input; default: generated)")
		alg := fs.String("algorithm", "hmac-sha256", "hmac-sha256 or ed25519")
		pubFile := fs.String("public-key-file", "", "the ed25519 public key (PEM or base64 of the 32 bytes)")
		a, err := interleaved(fs, rest)
		if err != nil {
			return 2
		}
		switch {
		case verb == "list" && len(a) == 1:
			return c.call("GET", "/admin/consumers/"+p(a[0])+"/credentials?kind=signature_key", nil)
		case verb == "add" && len(a) == 1:
			body := map[string]any{"kind": "signature_key", "algorithm": *alg}
			if *id != "" {
				body["id"] = *id
			}
			if *pubFile != "" {
				b, err := readSmallFile(*pubFile)
				if err != nil {
					return fail("--public-key-file: " + err.Error())
				}
				body["public_key"] = b
			}
			return c.call("POST", "/admin/consumers/"+p(a[0])+"/credentials", body)
		case verb == "revoke" && len(a) == 2:
			return c.call("DELETE", "/admin/consumers/"+p(a[0])+"/credentials/"+p(a[1]), nil)
		}
	case "secrets":
		fs := flag.NewFlagSet("secrets", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		valueFile := fs.String("value-file", "", "read the value from this file (default: generated and printed once)")
		a, err := interleaved(fs, rest)
		if err != nil {
			return 2
		}
		body := map[string]any{}
		if *valueFile != "" {
			v, err := readSmallFile(*valueFile)
			if err != nil {
				return fail("--value-file: " + err.Error())
			}
			body["value"] = v
		}
		switch {
		case verb == "list":
			return c.call("GET", "/admin/secrets", nil)
		case verb == "create" && len(a) == 1:
			body["name"] = a[0]
			return c.call("POST", "/admin/secrets", body)
		case verb == "rotate" && len(a) == 1:
			return c.call("PUT", "/admin/secrets/"+p(a[0]), body)
		case verb == "delete" && len(a) == 1:
			return c.call("DELETE", "/admin/secrets/"+p(a[0]), nil)
		}
	case "usage":
		if verb == "consumers" {
			return c.call("GET", "/admin/usage/consumers", nil)
		}
		fs := flag.NewFlagSet("usage", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		consumer := fs.String("consumer", "", "only this consumer's keys")
		all := rest
		if verb != "" {
			all = append([]string{verb}, rest...)
		}
		if err := fs.Parse(all); err != nil {
			return 2
		}
		q := url.Values{}
		if *consumer != "" {
			q.Set("consumer", *consumer)
		}
		return c.call("GET", "/admin/usage/keys?"+q.Encode(), nil)
	case "bans":
		fs := flag.NewFlagSet("bans", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		dur := fs.String("duration", "1h", "how long")
		reason := fs.String("reason", "", "why (kept with the ban)")
		a, err := interleaved(fs, rest)
		if err != nil {
			return 2
		}
		switch {
		case verb == "list":
			return c.call("GET", "/admin/bans", nil)
		case verb == "add" && len(a) == 1:
			return c.call("POST", "/admin/bans", map[string]any{"address": a[0], "duration": *dur, "reason": *reason})
		case verb == "lift" && len(a) == 1:
			return c.call("DELETE", "/admin/bans/"+p(a[0]), nil)
		}
	case "users":
		return c.users(verb, rest, fail)
	case "tokens":
		fs := flag.NewFlagSet("tokens", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		name := fs.String("name", "", "the token's name")
		role := fs.String("role", "viewer", "viewer, operator or admin")
		expires := fs.String("expires-in", "", "lifetime, such as 720h (default: none)")
		expiresAt := fs.String("expires-at", "", "expiry as an RFC 3339 time (instead of --expires-in)")
		var nets multi
		fs.Var(&nets, "network", "a client network (CIDR) the token may be used from (repeatable; default: any)")
		a, err := interleaved(fs, rest)
		if err != nil {
			return 2
		}
		switch {
		case verb == "list":
			return c.call("GET", "/admin/tokens", nil)
		case verb == "create":
			body := map[string]any{"name": *name, "role": *role}
			if *expires != "" {
				body["expires_in"] = *expires
			}
			if *expiresAt != "" {
				body["expires_at"] = *expiresAt
			}
			if len(nets) > 0 {
				body["networks"] = []string(nets)
			}
			return c.call("POST", "/admin/tokens", body)
		case verb == "delete" && len(a) == 1:
			return c.call("DELETE", "/admin/tokens/"+p(a[0]), nil)
		}
	}
	return fail("unknown command or wrong arguments: " + strings.Join(args, " "))
}

// readSmallFile reads a key or secret file (at most 64 KiB), minus one
// trailing newline; a value never comes from a flag itself.
func readSmallFile(path string) (string, error) {
	f, err := os.Open(path) // #nosec G304 -- the operator names the file
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
	if err != nil {
		return "", err
	}
	if len(b) > 64<<10 {
		return "", errors.New("larger than 64 KiB")
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// positional parses flags around one positional argument (a name).
func positional(fs *flag.FlagSet, args []string, need bool) (string, error) {
	pos, err := interleaved(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) > 1 {
		return "", fmt.Errorf("unexpected argument %q", pos[1])
	}
	if need && len(pos) == 0 {
		return "", errors.New("a name is required")
	}
	if len(pos) == 0 {
		return "", nil
	}
	return pos[0], nil
}

// interleaved parses flags wherever they stand among the positional
// arguments ("keys issue acme --id k1") and returns the positionals.
func interleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
