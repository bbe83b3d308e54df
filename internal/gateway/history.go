package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/store"
)

// The config history and the audit trail as the running gateway feeds
// them: every config that goes live (at start, on reload, on rollback) is
// recorded in the store first; a rollback is compiled and checked like a
// reload and then written to the config file atomically, so the file, the
// live config and the history agree (docs/audit.md).

// fileActor authors a config that came from the file (a start, a signal
// or the file watcher).
var fileActor = store.Actor{Kind: "file", Name: "file"}

// configureAudit gives the store the trail's signing key (kept outside the
// store) and the logger that receives every entry.
func configureAudit(cfg *config.Config, st store.Store, log *slog.Logger) error {
	var key []byte
	if a := cfg.Admin.Audit; a != nil && a.SigningKey != "" {
		k, err := store.ParseMasterKey(a.SigningKey)
		if err != nil {
			return config.Errors{cfg.ErrorAtPath("admin.audit.signing_key", "the audit signing key is 32 random bytes written as 64 hex digits or in base64 (for example: openssl rand -base64 32)")}
		}
		key = k
	} else {
		log.Warn("admin.audit.signing_key is not set: the audit trail's head is not signed, so a cut tail or a recomputed chain would not be detected (docs/audit.md)")
	}
	st.ConfigureAudit(store.AuditOptions{Key: key, Logger: log})
	return nil
}

// recordConfig keeps cfg (read from data) in the config history before it
// goes live. actor nil means the file: a start must record (the store was
// just read, so it answers), a file reload that cannot record still goes
// live (the file is the operator's word and traffic must not depend on
// the store) and the failure is logged; a change an admin asked for is
// refused when it cannot be recorded.
func (g *Gateway) recordConfig(ctx context.Context, actor *store.Actor, source string, cfg *config.Config, data []byte) error {
	cp := g.control
	if cp == nil {
		return nil
	}
	who := fileActor
	if actor != nil {
		who = *actor
	}
	red, err := config.RedactYAML(data)
	if err != nil {
		return err
	}
	v := &store.ConfigVersion{SHA256: cfg.SHA256, AuthorKind: who.Kind, AuthorName: who.Name, Source: source, Node: cp.node, Redacted: red, Raw: data}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cp.st.Write(ctx, who, func(tx store.Tx) error { return tx.RecordConfig(v) }); err != nil {
		if actor == nil && source == "reload" {
			g.log.Error("config history: the reloaded config is not recorded (the store did not answer); it goes live anyway", "sha256", cfg.SHA256, "error", err)
			return nil
		}
		return fmt.Errorf("config history: %w", err)
	}
	return nil
}

var _ admin.History = (*controlPlane)(nil)

// ReloadBy reloads the config file on behalf of an admin.
func (cp *controlPlane) ReloadBy(ctx context.Context, actor store.Actor) error {
	return cp.g.reloadAs(ctx, &actor)
}

// Candidate parses and compiles data as the config file would be on a
// reload, and applies nothing: what a dry run and a rollback check.
func (cp *controlPlane) Candidate(data []byte) (*config.Config, error) {
	g := cp.g
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cfg, err := parseConfig(g.opts.ConfigPath, data)
	if err != nil {
		return nil, err
	}
	// The master keys of a candidate are not installed (compile does that
	// for a config that goes live): compare the rest of the admin block.
	probe := *cfg
	if cfg.Admin != nil && cp.cfg != nil {
		a, b := *cp.cfg, *cfg.Admin
		a.Store.MasterKey, a.Store.PreviousMasterKeys = "", nil
		b.Store.MasterKey, b.Store.PreviousMasterKeys = "", nil
		if !reflect.DeepEqual(a, b) {
			return nil, errors.New("admin settings changed (other than master keys): restart to apply")
		}
		probe.Admin = cp.cfg
	}
	_, err = g.check(&probe)
	g.reg.Prune(g.snap.Load().services) // the pools only the candidate would have used
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Rollback makes a kept version live: compiled and checked like a reload,
// recorded, written to the config file (atomically: a temporary file in
// the same directory renamed over it), then swapped in. A step that fails
// leaves the live config and the file as they were.
func (cp *controlPlane) Rollback(ctx context.Context, actor store.Actor, v *store.ConfigVersion) error {
	g := cp.g
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cfg, err := parseConfig(g.opts.ConfigPath, v.Raw)
	if err != nil {
		return &admin.CandidateError{Err: err}
	}
	s, err := g.check(cfg)
	if err != nil {
		return &admin.CandidateError{Err: err}
	}
	path := g.opts.ConfigPath
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	old, fi, err := readConfigFile(path)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, v.Raw, fi.Mode().Perm()); err != nil {
		return fmt.Errorf("the config file cannot be written (%v): the rollback is not applied", err)
	}
	rv := &store.ConfigVersion{SHA256: cfg.SHA256, AuthorKind: actor.Kind, AuthorName: actor.Name, Source: "rollback", Node: cp.node, Raw: v.Raw}
	if rv.Redacted, err = config.RedactYAML(v.Raw); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cp.st.Write(wctx, actor, func(tx store.Tx) error {
		if err := tx.Audit(fmt.Sprintf("config:v%d", v.Version), "rollback", map[string]any{"sha256": g.snap.Load().file.SHA256}, map[string]any{"version": v.Version, "sha256": v.SHA256}); err != nil {
			return err
		}
		return tx.RecordConfig(rv)
	}); err != nil {
		if rerr := writeFileAtomic(path, old, fi.Mode().Perm()); rerr != nil {
			g.log.Error("rollback: not recorded, and the config file could not be put back", "error", rerr)
		}
		return err
	}
	prev := g.snap.Load().cfg
	if err := g.apply(cfg, s); err != nil {
		return err
	}
	if nfi, err := os.Stat(g.opts.ConfigPath); err == nil {
		g.setSeen(nfi) // the watcher need not load what is already live
	}
	g.reloads.Add(1)
	g.log.Info("config rolled back", "event", "config_rolled_back", "version", v.Version, "sha256", cfg.SHA256, "by", actor.Kind+":"+actor.Name)
	g.warnChanges(prev)
	return nil
}

// writeFileAtomic replaces path with data: a reader sees the old file or
// the new one, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".portcullis-rollback-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
