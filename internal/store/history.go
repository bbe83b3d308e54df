package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Config history: every configuration that went live is kept with a
// version number, its SHA-256, its author and time. The file's bytes may
// hold inline secrets, so they are kept only sealed under the master key
// (AES-256-GCM, the version and hash as additional data); the redacted
// rendering (secret values replaced) is kept in the clear for listing and
// diffs. Without a master key only the redacted text is kept, and that
// version cannot be rolled back to.

// ConfigVersion is one configuration that went live.
type ConfigVersion struct {
	Version    int64  `json:"version"`
	SHA256     string `json:"sha256"`
	AuthorKind string `json:"author_kind"`
	AuthorName string `json:"author_name"`
	// Source is how it went live: "start", "reload" or "rollback".
	Source    string    `json:"source"`
	Node      string    `json:"node"`
	CreatedAt time.Time `json:"created_at"`
	// Redacted is the YAML with secret values replaced.
	Redacted string `json:"-"`
	// Raw is the file's bytes (opened), nil when not kept or not read.
	Raw []byte `json:"-"`
	// Restorable: the bytes are kept (sealed) and can be rolled back to.
	Restorable bool `json:"restorable"`
}

func configAAD(version int64, sum string) string {
	return "portcullis/config/" + strconv.FormatInt(version, 10) + "/" + sum
}

// RecordConfig keeps v as the newest version unless the newest already
// has the same content (a restart or a reload of an unchanged file), and
// records the event in the trail either way. v.Version is set to the
// version that is live.
func (w *writeTx) RecordConfig(v *ConfigVersion) error {
	var last int64
	var lastSum string
	err := w.tx.QueryRowContext(w.ctx, `SELECT version, sha256 FROM config_versions ORDER BY version DESC LIMIT 1`).Scan(&last, &lastSum)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: read config versions: %w", err)
	}
	before := map[string]any{"version": last, "sha256": lastSum}
	if last == 0 {
		before = nil
	}
	if lastSum == v.SHA256 && last > 0 {
		v.Version = last
		w.record("config", v.Source, before, before)
		return nil
	}
	v.Version = last + 1
	v.CreatedAt = fromMS(w.now)
	sealed := ""
	if len(v.Raw) > 0 && w.s.kr().CurrentID() != "" {
		if sealed, err = w.s.kr().Seal(configAAD(v.Version, v.SHA256), v.Raw); err != nil {
			return err
		}
	}
	v.Restorable = sealed != ""
	if _, err := w.exec(`INSERT INTO config_versions (version, sha256, author_kind, author_name, source, node, created_at, redacted, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.Version, v.SHA256, v.AuthorKind, v.AuthorName, v.Source, v.Node, w.now, v.Redacted, sealed); err != nil {
		return fmt.Errorf("store: record config version: %w", err)
	}
	w.record("config", v.Source, before, map[string]any{"version": v.Version, "sha256": v.SHA256})
	return nil
}

// rekeyConfigs seals the kept config files again under the current key.
func (w *writeTx) rekeyConfigs() (int, error) {
	return w.reseal(`SELECT version, sha256, sealed FROM config_versions WHERE sealed <> ''`, func(rows *sql.Rows) (sealedValue, error) {
		var v int64
		var sum, sealed string
		err := rows.Scan(&v, &sum, &sealed)
		return sealedValue{what: fmt.Sprintf("config version %d", v), aad: configAAD(v, sum), sealed: sealed,
			update: `UPDATE config_versions SET sealed = ? WHERE version = ?`, args: []any{v}}, err
	})
}

const configColumns = `version, sha256, author_kind, author_name, source, node, created_at, redacted, sealed`

func scanConfig(sc interface{ Scan(...any) error }) (ConfigVersion, string, error) {
	var v ConfigVersion
	var at int64
	var sealed string
	err := sc.Scan(&v.Version, &v.SHA256, &v.AuthorKind, &v.AuthorName, &v.Source, &v.Node, &at, &v.Redacted, &sealed)
	v.CreatedAt = fromMS(at)
	v.Restorable = sealed != ""
	return v, sealed, err
}

// ConfigVersions lists versions newest first, below beforeVersion when it
// is not 0.
func (s *sqlStore) ConfigVersions(ctx context.Context, beforeVersion int64, limit int) ([]ConfigVersion, error) {
	if limit <= 0 {
		limit = 100
	}
	if beforeVersion <= 0 {
		beforeVersion = 1 << 62
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+configColumns+` FROM config_versions WHERE version < ? ORDER BY version DESC LIMIT `+strconv.Itoa(limit)), beforeVersion)
	if err != nil {
		return nil, fmt.Errorf("store: read config versions: %w", err)
	}
	return scanAll(rows, func(rows *sql.Rows) (v ConfigVersion, err error) {
		v, _, err = scanConfig(rows)
		if err != nil {
			return v, fmt.Errorf("store: read config versions: %w", err)
		}
		return v, nil
	})
}

// GetConfigVersion reads one version, its file's bytes opened when kept.
func (s *sqlStore) GetConfigVersion(ctx context.Context, version int64) (*ConfigVersion, error) {
	v, sealed, err := scanConfig(s.db.QueryRowContext(ctx, s.q(`SELECT `+configColumns+` FROM config_versions WHERE version = ?`), version))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read config version: %w", err)
	}
	if sealed != "" {
		plain, _, err := s.kr().Open(configAAD(v.Version, v.SHA256), sealed)
		if err != nil {
			return nil, fmt.Errorf("store: config version %d: %w", v.Version, err)
		}
		v.Raw = plain
	}
	return &v, nil
}
