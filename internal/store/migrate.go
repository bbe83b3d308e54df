package store

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are the store's schema, one step per entry; a step is never
// edited once released, only new steps appended. Types are portable: TEXT
// and BIGINT only (times in unix milliseconds, JSON and sealed secrets as
// text), so one SQL text serves SQLite and PostgreSQL.
var migrations = []string{
	// 1: the first schema.
	`CREATE TABLE meta (id INTEGER PRIMARY KEY, revision BIGINT NOT NULL);
INSERT INTO meta (id, revision) VALUES (1, 0);
CREATE TABLE consumers (
	name TEXT PRIMARY KEY,
	groups_json TEXT NOT NULL,
	scopes_json TEXT NOT NULL,
	metadata_json TEXT NOT NULL,
	version BIGINT NOT NULL,
	rev BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE credentials (
	id TEXT PRIMARY KEY,
	consumer TEXT NOT NULL,
	kind TEXT NOT NULL,
	lookup TEXT NOT NULL,
	data_json TEXT NOT NULL,
	secret TEXT NOT NULL,
	version BIGINT NOT NULL,
	rev BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (kind, lookup)
);
CREATE INDEX credentials_by_consumer ON credentials (consumer, id);
CREATE TABLE admin_tokens (
	id TEXT PRIMARY KEY,
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	hash TEXT NOT NULL UNIQUE,
	version BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE TABLE bans (
	address TEXT PRIMARY KEY,
	until_ms BIGINT NOT NULL,
	reason TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	lifted INTEGER NOT NULL,
	version BIGINT NOT NULL,
	rev BIGINT NOT NULL
);
CREATE TABLE key_usage (
	key_id TEXT PRIMARY KEY,
	consumer TEXT NOT NULL,
	requests BIGINT NOT NULL,
	refused BIGINT NOT NULL,
	last_used BIGINT NOT NULL,
	last_client TEXT NOT NULL
);`,
	// 2: administrators (people) with a second factor and their sessions;
	// admin tokens gain client networks and a record of their last use.
	`ALTER TABLE admin_tokens ADD COLUMN networks_json TEXT NOT NULL DEFAULT '[]';
CREATE TABLE admin_token_use (
	token_id TEXT PRIMARY KEY,
	last_used BIGINT NOT NULL,
	last_client TEXT NOT NULL
);
CREATE TABLE admin_users (
	name TEXT PRIMARY KEY,
	role TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	totp_secret TEXT NOT NULL,
	totp_last_step BIGINT NOT NULL,
	version BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE TABLE admin_recovery_codes (
	username TEXT NOT NULL,
	hash TEXT NOT NULL,
	used_at BIGINT NOT NULL,
	PRIMARY KEY (username, hash)
);
CREATE TABLE admin_sessions (
	id_hash TEXT PRIMARY KEY,
	username TEXT NOT NULL,
	csrf_hash TEXT NOT NULL,
	client TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	last_seen BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_user ON admin_sessions (username);
CREATE TABLE admin_login_failures (
	subject TEXT PRIMARY KEY,
	failures BIGINT NOT NULL,
	first_at BIGINT NOT NULL,
	last_at BIGINT NOT NULL
);`,
	// 3: the audit trail (a hash chain; its head row is signed with a key
	// kept outside the store) and the history of live configurations.
	`CREATE TABLE audit_log (
	seq BIGINT PRIMARY KEY,
	at BIGINT NOT NULL,
	revision BIGINT NOT NULL,
	actor_kind TEXT NOT NULL,
	actor_name TEXT NOT NULL,
	client TEXT NOT NULL,
	request_id TEXT NOT NULL,
	operation TEXT NOT NULL,
	resource TEXT NOT NULL,
	action TEXT NOT NULL,
	before_json TEXT NOT NULL,
	after_json TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE TABLE audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash, key_id, signature) VALUES (1, 0, '', '', '');
CREATE TABLE config_versions (
	version BIGINT PRIMARY KEY,
	sha256 TEXT NOT NULL,
	author_kind TEXT NOT NULL,
	author_name TEXT NOT NULL,
	source TEXT NOT NULL,
	node TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	redacted TEXT NOT NULL,
	sealed TEXT NOT NULL
);`,
	// 4: named secrets (webhook keys referenced as ${store:NAME}), sealed.
	`CREATE TABLE secrets (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	version BIGINT NOT NULL,
	rev BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);`,
}

// migrator is a *sql.DB or one *sql.Conn.
type migrator interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// SchemaVersion is the newest schema this binary knows.
func SchemaVersion() int { return len(migrations) }

// migrate applies the missing steps, each in its own transaction, and
// refuses a store whose schema is newer than this binary. Nodes starting
// together are serialized by the caller (an advisory lock on PostgreSQL;
// SQLite's write lock, taken by each step's transaction).
func migrate(ctx context.Context, db migrator, d dialect) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("store: create schema_migrations: %w", err)
	}
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		var cur int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("store: read schema version: %w", err)
		}
		if cur > len(migrations) {
			_ = tx.Rollback()
			return fmt.Errorf("store: the store's schema is version %d, newer than this binary's %d: upgrade portcullis (a downgrade would lose data)", cur, len(migrations))
		}
		if cur == len(migrations) {
			return tx.Commit()
		}
		if _, err := tx.ExecContext(ctx, migrations[cur]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("store: migration %d: %w", cur+1, err)
		}
		if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), cur+1, nowMS()); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("store: record migration %d: %w", cur+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %d: %w", cur+1, err)
		}
	}
}
