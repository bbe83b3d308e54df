package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// openConfigStore loads the config at cfgPath and opens the store it names,
// directly (not through the admin API), with the audit signing key
// configured: what bootstrap and audit verify need on the machine that
// holds the config. Every failure is reported on stderr as cmd's; rc is 0
// when the store is open (the caller closes it), else the exit status.
func openConfigStore(ctx context.Context, cfgPath, cmd string, stderr io.Writer) (st store.Store, key []byte, rc int) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		printConfigError(stderr, err)
		return nil, nil, 1
	}
	if cfg.Admin == nil {
		fmt.Fprintf(stderr, "portcullis %s: the config has no admin block\n", cmd)
		return nil, nil, 1
	}
	st, key, err = openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis %s: %v\n", cmd, err)
		return nil, nil, 1
	}
	return st, key, 0
}

func openStore(ctx context.Context, cfg *config.Config) (store.Store, []byte, error) {
	var key []byte
	if a := cfg.Admin.Audit; a != nil && a.SigningKey != "" {
		k, err := store.ParseMasterKey(a.SigningKey)
		if err != nil {
			return nil, nil, fmt.Errorf("admin.audit.signing_key: %v", err)
		}
		key = k
	}
	kr, _ := store.NewKeyring(nil)
	var st store.Store
	var err error
	if cfg.Admin.Store.Driver == config.StorePostgres {
		st, err = store.OpenPostgres(ctx, store.PostgresOptions{DSN: cfg.Admin.Store.DSN, Schema: cfg.Admin.Store.Schema}, kr)
	} else {
		st, err = store.OpenSQLite(ctx, cfg.Admin.Store.Path, kr)
	}
	if err != nil {
		return nil, nil, err
	}
	st.ConfigureAudit(store.AuditOptions{Key: key})
	return st, key, nil
}

// cmdAuditVerify checks the audit trail's hash chain and its signed head,
// reading the store directly with the signing key from the config. Exit
// status 0: intact; 1: the first problem is named; 2: usage.
func cmdAuditVerify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("admin audit verify", "Verify the audit trail: every entry's hash, the links between entries, and the signed head.", stderr)
	cfgPath := fs.String("config", "", "path to the gateway's YAML config (required: it names the store and the signing key)")
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "portcullis admin audit verify: --config is required")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, key, rc := openConfigStore(ctx, *cfgPath, "admin audit verify", stderr)
	if rc != 0 {
		return rc
	}
	defer st.Close()
	r, err := st.VerifyAudit(ctx, key)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis admin audit verify: %v\n", err)
		return 1
	}
	if r.Problem != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", r.Problem)
		fmt.Fprintf(stderr, "portcullis admin audit verify: the audit trail was tampered with: %v\n", r.Problem)
		return 1
	}
	if len(key) == 0 {
		fmt.Fprintf(stdout, "OK: %d entries, chain intact; the head is NOT checked (no admin.audit.signing_key): a cut tail would not show\n", r.Entries)
		return 0
	}
	fmt.Fprintf(stdout, "OK: %d entries, chain intact, head signed (key %s)\n", r.Entries, store.AuditKeyID(key))
	return 0
}

// history runs the audit and config commands through the admin API.
func (c *adminClient) history(cmd, verb string, rest []string) int {
	fail := func(msg string) int {
		fmt.Fprintf(c.stderr, "portcullis admin %s: %s\n", cmd, msg)
		return 2
	}
	if cmd == "audit" {
		fs := flag.NewFlagSet("audit", flag.ContinueOnError)
		fs.SetOutput(c.stderr)
		q := url.Values{}
		vals := map[string]*string{}
		for _, k := range []string{"actor", "resource", "action", "since", "until", "after", "limit"} {
			vals[k] = fs.String(k, "", "filter: "+k)
		}
		args := rest
		if verb != "" {
			args = append([]string{verb}, rest...)
		}
		if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
			return fail("usage: audit [--actor A] [--resource R] [--action X] [--since T] [--until T]")
		}
		for k, v := range vals {
			if *v != "" {
				q.Set(k, *v)
			}
		}
		return c.call("GET", "/admin/audit?"+q.Encode(), nil)
	}
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	dry := fs.Bool("dry-run", false, "say what the rollback would change, apply nothing")
	a, err := interleaved(fs, rest)
	if err != nil {
		return 2
	}
	switch {
	case verb == "versions" && len(a) == 0:
		return c.call("GET", "/admin/config/versions", nil)
	case verb == "show" && len(a) == 1:
		return c.call("GET", "/admin/config/versions/"+url.PathEscape(a[0]), nil)
	case verb == "diff" && len(a) == 2:
		return c.call("GET", "/admin/config/diff?from="+url.QueryEscape(a[0])+"&to="+url.QueryEscape(a[1]), nil)
	case verb == "dry-run" && len(a) == 1:
		b, err := os.ReadFile(a[0]) // #nosec G304 -- the operator names the candidate file
		if err != nil {
			return fail(err.Error())
		}
		return c.call("POST", "/admin/config/dry-run", map[string]string{"yaml": string(b)})
	case verb == "rollback" && len(a) == 1:
		path := "/admin/config/versions/" + url.PathEscape(a[0]) + "/rollback"
		if *dry {
			path += "?dry_run=true"
		}
		return c.call("POST", path, nil)
	}
	return fail("usage: config versions | config show V | config diff V1 V2 | config dry-run FILE | config rollback V [--dry-run]")
}
