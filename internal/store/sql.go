package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// dialect is what differs between the two databases.
type dialect struct {
	name string
	// numbered placeholders ($1) instead of ?
	numbered bool
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// lockWrite serializes writers inside a write transaction; both
	// databases get it from the UPDATE of the revision row, this adds what
	// one needs beyond that (nothing today).
	afterBump func(tx *sql.Tx, ctx context.Context, rev int64) error
}

// rebind turns ? placeholders into $1, $2... for PostgreSQL.
func (d dialect) rebind(q string) string {
	if !d.numbered {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// sqlStore is the SQL layer both implementations share.
type sqlStore struct {
	db      *sql.DB
	d       dialect
	keys    atomic.Pointer[Keyring]
	changes chan struct{}
	closeFn func() error
	audit   auditState
}

func nowMS() int64 { return time.Now().UnixMilli() }

func fromMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func toMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func (s *sqlStore) Driver() string           { return s.d.name }
func (s *sqlStore) Changes() <-chan struct{} { return s.changes }
func (s *sqlStore) SetKeyring(kr *Keyring)   { s.keys.Store(kr) }
func (s *sqlStore) q(query string) string    { return s.d.rebind(query) }
func (s *sqlStore) Close() error             { return s.closeFn() }
func (s *sqlStore) KeyID() string            { return s.kr().CurrentID() }
func (s *sqlStore) kr() *Keyring             { return s.keys.Load() }

func (s *sqlStore) Revision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.db.QueryRowContext(ctx, `SELECT revision FROM meta WHERE id = 1`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("store: read revision: %w", err)
	}
	return rev, nil
}

// State reads every table the gateway keeps in memory in one read
// transaction, so consumers and credentials agree with the revision.
func (s *sqlStore) State(ctx context.Context) (*State, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.d.name == "postgres", Isolation: s.readIsolation()})
	if err != nil {
		return nil, fmt.Errorf("store: read state: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	st := &State{}
	if err := tx.QueryRowContext(ctx, `SELECT revision FROM meta WHERE id = 1`).Scan(&st.Revision); err != nil {
		return nil, fmt.Errorf("store: read revision: %w", err)
	}
	if st.Consumers, err = readConsumers(ctx, tx); err != nil {
		return nil, err
	}
	creds, err := readCredentials(ctx, tx)
	if err != nil {
		return nil, err
	}
	for i := range creds {
		c := &creds[i]
		if c.sealed != "" {
			plain, _, err := s.kr().Open(credentialAAD(c.ID, c.Kind, c.Consumer), c.sealed)
			if err != nil {
				st.Problems = append(st.Problems, fmt.Sprintf("credential %q of consumer %q left out: %v", c.ID, c.Consumer, err))
				continue
			}
			c.Secret = plain
		}
		st.Credentials = append(st.Credentials, c.Credential)
	}
	if st.Tokens, err = readTokens(ctx, tx); err != nil {
		return nil, err
	}
	if st.Bans, err = readBans(ctx, tx); err != nil {
		return nil, err
	}
	secs, err := readSecrets(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, sc := range secs {
		plain, _, err := s.kr().Open(secretAAD(sc.Name), sc.sealed)
		if err != nil {
			st.Problems = append(st.Problems, fmt.Sprintf("secret %q left out: %v", sc.Name, err))
			continue
		}
		sc.Value = plain
		st.Secrets = append(st.Secrets, sc.Secret)
	}
	return st, nil
}

func (s *sqlStore) readIsolation() sql.IsolationLevel {
	if s.d.name == "postgres" {
		return sql.LevelRepeatableRead
	}
	return sql.LevelDefault
}

type sealedCredential struct {
	Credential
	sealed string
}

// scanAll reads every row of rows with scan: the one loop over a query's
// result. rows is closed on every path, and rows.Err is checked at the end,
// so a read cut short (a dropped connection, a cancelled context) is an
// error, never a shorter answer.
func scanAll[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func readConsumers(ctx context.Context, tx *sql.Tx) ([]Consumer, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, groups_json, scopes_json, metadata_json, version, created_at, updated_at FROM consumers ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: read consumers: %w", err)
	}
	return scanConsumers(rows)
}

func scanConsumers(rows *sql.Rows) ([]Consumer, error) {
	return scanAll(rows, func(rows *sql.Rows) (c Consumer, err error) {
		var g, sc, md string
		var ca, ua int64
		if err := rows.Scan(&c.Name, &g, &sc, &md, &c.Version, &ca, &ua); err != nil {
			return c, fmt.Errorf("store: read consumers: %w", err)
		}
		if err := errors.Join(json.Unmarshal([]byte(g), &c.Groups), json.Unmarshal([]byte(sc), &c.Scopes), json.Unmarshal([]byte(md), &c.Metadata)); err != nil {
			return c, fmt.Errorf("store: consumer %q: %w", c.Name, err)
		}
		c.CreatedAt, c.UpdatedAt = fromMS(ca), fromMS(ua)
		return c, nil
	})
}

func readCredentials(ctx context.Context, tx *sql.Tx) ([]sealedCredential, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, consumer, kind, lookup, data_json, secret, version, created_at, updated_at FROM credentials ORDER BY consumer, id`)
	if err != nil {
		return nil, fmt.Errorf("store: read credentials: %w", err)
	}
	return scanCredentials(rows)
}

func scanCredentials(rows *sql.Rows) ([]sealedCredential, error) {
	return scanAll(rows, func(rows *sql.Rows) (c sealedCredential, err error) {
		var data string
		var ca, ua int64
		if err := rows.Scan(&c.ID, &c.Consumer, &c.Kind, &c.Lookup, &data, &c.sealed, &c.Version, &ca, &ua); err != nil {
			return c, fmt.Errorf("store: read credentials: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &c.Data); err != nil {
			return c, fmt.Errorf("store: credential %q: %w", c.ID, err)
		}
		c.CreatedAt, c.UpdatedAt = fromMS(ca), fromMS(ua)
		return c, nil
	})
}

func readTokens(ctx context.Context, tx *sql.Tx) ([]Token, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, name, role, hash, version, created_at, expires_at, networks_json FROM admin_tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: read admin tokens: %w", err)
	}
	return scanTokens(rows)
}

func scanTokens(rows *sql.Rows) ([]Token, error) {
	return scanAll(rows, func(rows *sql.Rows) (t Token, err error) {
		var ca, ea int64
		var nets string
		if err := rows.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &t.Version, &ca, &ea, &nets); err != nil {
			return t, fmt.Errorf("store: read admin tokens: %w", err)
		}
		if err := json.Unmarshal([]byte(nets), &t.Networks); err != nil {
			return t, fmt.Errorf("store: admin token %q: %w", t.ID, err)
		}
		t.CreatedAt, t.ExpiresAt = fromMS(ca), fromMS(ea)
		return t, nil
	})
}

func readBans(ctx context.Context, tx *sql.Tx) ([]Ban, error) {
	rows, err := tx.QueryContext(ctx, `SELECT address, until_ms, reason, created_by, created_at, lifted, version, rev FROM bans ORDER BY address`)
	if err != nil {
		return nil, fmt.Errorf("store: read bans: %w", err)
	}
	return scanBans(rows)
}

func scanBans(rows *sql.Rows) ([]Ban, error) {
	return scanAll(rows, func(rows *sql.Rows) (b Ban, err error) {
		var until, ca int64
		var lifted int
		if err := rows.Scan(&b.Address, &until, &b.Reason, &b.CreatedBy, &ca, &lifted, &b.Version, &b.Rev); err != nil {
			return b, fmt.Errorf("store: read bans: %w", err)
		}
		b.Until, b.CreatedAt, b.Lifted = fromMS(until), fromMS(ca), lifted != 0
		return b, nil
	})
}

type sealedSecret struct {
	Secret
	sealed string
}

func readSecrets(ctx context.Context, tx *sql.Tx) ([]sealedSecret, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, value, version, created_at, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: read secrets: %w", err)
	}
	return scanAll(rows, func(rows *sql.Rows) (sc sealedSecret, err error) {
		var ca, ua int64
		if err := rows.Scan(&sc.Name, &sc.sealed, &sc.Version, &ca, &ua); err != nil {
			return sc, fmt.Errorf("store: read secrets: %w", err)
		}
		sc.CreatedAt, sc.UpdatedAt = fromMS(ca), fromMS(ua)
		return sc, nil
	})
}

// Usage reads the usage table.
func (s *sqlStore) Usage(ctx context.Context) ([]Usage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT key_id, consumer, requests, refused, last_used, last_client FROM key_usage ORDER BY key_id`)
	if err != nil {
		return nil, fmt.Errorf("store: read usage: %w", err)
	}
	return scanAll(rows, func(rows *sql.Rows) (u Usage, err error) {
		var req, ref, lu int64
		if err := rows.Scan(&u.KeyID, &u.Consumer, &req, &ref, &lu, &u.LastClient); err != nil {
			return u, fmt.Errorf("store: read usage: %w", err)
		}
		u.Requests, u.Refused, u.LastUsed = uint64(max(req, 0)), uint64(max(ref, 0)), fromMS(lu) // #nosec G115 -- clamped at 0
		return u, nil
	})
}

// Write runs fn in one transaction. The first statement bumps the
// revision, which takes the write lock on both databases: writers are
// serialized, and the revision is the order of changes.
func (s *sqlStore) Write(ctx context.Context, actor Actor, fn func(Tx) error) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var rev int64
	if err := tx.QueryRowContext(ctx, `UPDATE meta SET revision = revision + 1 WHERE id = 1 RETURNING revision`).Scan(&rev); err != nil {
		return 0, fmt.Errorf("store: bump revision: %w", err)
	}
	w := &writeTx{s: s, tx: tx, ctx: ctx, rev: rev, now: nowMS()}
	if err := fn(w); err != nil {
		return 0, err
	}
	// The audit trail is appended in the same transaction: the change and
	// its record commit together or not at all (audit.go).
	entries, err := w.appendAudit(actor)
	if err != nil {
		return 0, err
	}
	if s.d.afterBump != nil {
		if err := s.d.afterBump(tx, ctx, rev); err != nil {
			return 0, fmt.Errorf("store: notify: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: commit: %w", err)
	}
	s.logAudit(entries)
	return rev, nil
}

// writeTx implements Tx on one SQL transaction.
type writeTx struct {
	s   *sqlStore
	tx  *sql.Tx
	ctx context.Context
	rev int64
	now int64
	// changes are the audit entries this write appends (audit.go).
	changes []auditChange
}

func (w *writeTx) Revision() int64 { return w.rev }

func (w *writeTx) exec(query string, args ...any) (int64, error) {
	res, err := w.tx.ExecContext(w.ctx, w.s.q(query), args...)
	if err != nil {
		if w.s.d.isUnique(err) {
			return 0, ErrExists
		}
		return 0, err
	}
	return res.RowsAffected()
}

// versionCheck explains a write that changed no row: the record is gone
// (ErrNotFound) or has another version (ErrVersion).
func (w *writeTx) versionCheck(table, keyCol string, key string) error {
	var v int64
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT version FROM `+table+` WHERE `+keyCol+` = ?`), key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return ErrVersion
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (w *writeTx) createConsumer(c *Consumer) error {
	c.Groups, c.Scopes = nonNil(c.Groups), nonNil(c.Scopes)
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	c.Version = 1
	c.CreatedAt, c.UpdatedAt = fromMS(w.now), fromMS(w.now)
	_, err := w.exec(`INSERT INTO consumers (name, groups_json, scopes_json, metadata_json, version, rev, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)`,
		c.Name, jsonText(c.Groups), jsonText(c.Scopes), jsonText(c.Metadata), w.rev, w.now, w.now)
	return err
}

func (w *writeTx) updateConsumer(c *Consumer, ifVersion int64) error {
	c.Groups, c.Scopes = nonNil(c.Groups), nonNil(c.Scopes)
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	n, err := w.exec(`UPDATE consumers SET groups_json = ?, scopes_json = ?, metadata_json = ?, version = version + 1, rev = ?, updated_at = ? WHERE name = ? AND (? = 0 OR version = ?)`,
		jsonText(c.Groups), jsonText(c.Scopes), jsonText(c.Metadata), w.rev, w.now, c.Name, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("consumers", "name", c.Name)
	}
	return w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT version, created_at FROM consumers WHERE name = ?`), c.Name).Scan(&c.Version, new(int64))
}

func (w *writeTx) deleteConsumer(name string, ifVersion int64) error {
	n, err := w.exec(`DELETE FROM consumers WHERE name = ? AND (? = 0 OR version = ?)`, name, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("consumers", "name", name)
	}
	_, err = w.exec(`DELETE FROM credentials WHERE consumer = ?`, name)
	return err
}

// sealFor seals a credential's secret ("" when it has none).
func (w *writeTx) sealFor(c *Credential) (string, error) {
	if len(c.Secret) == 0 {
		return "", nil
	}
	return w.s.kr().Seal(credentialAAD(c.ID, c.Kind, c.Consumer), c.Secret)
}

func (w *writeTx) createCredential(c *Credential) error {
	var one int
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT 1 FROM consumers WHERE name = ?`), c.Consumer).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	sealed, err := w.sealFor(c)
	if err != nil {
		return err
	}
	c.Version = 1
	c.CreatedAt, c.UpdatedAt = fromMS(w.now), fromMS(w.now)
	_, err = w.exec(`INSERT INTO credentials (id, consumer, kind, lookup, data_json, secret, version, rev, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
		c.ID, c.Consumer, c.Kind, c.Lookup, jsonText(c.Data), sealed, w.rev, w.now, w.now)
	return err
}

func (w *writeTx) updateCredential(c *Credential, ifVersion int64) error {
	sealed, err := w.sealFor(c)
	if err != nil {
		return err
	}
	n, err := w.exec(`UPDATE credentials SET lookup = ?, data_json = ?, secret = ?, version = version + 1, rev = ?, updated_at = ? WHERE id = ? AND consumer = ? AND kind = ? AND (? = 0 OR version = ?)`,
		c.Lookup, jsonText(c.Data), sealed, w.rev, w.now, c.ID, c.Consumer, c.Kind, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("credentials", "id", c.ID)
	}
	return w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT version FROM credentials WHERE id = ?`), c.ID).Scan(&c.Version)
}

func (w *writeTx) deleteCredential(consumer, id string, ifVersion int64) error {
	n, err := w.exec(`DELETE FROM credentials WHERE id = ? AND consumer = ? AND (? = 0 OR version = ?)`, id, consumer, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		var owner string
		err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT consumer FROM credentials WHERE id = ?`), id).Scan(&owner)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != consumer) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return ErrVersion
	}
	return nil
}

func (w *writeTx) createToken(t *Token) error {
	t.Version = 1
	t.CreatedAt = fromMS(w.now)
	t.Networks = nonNil(t.Networks)
	_, err := w.exec(`INSERT INTO admin_tokens (id, name, role, hash, version, created_at, expires_at, networks_json) VALUES (?, ?, ?, ?, 1, ?, ?, ?)`,
		t.ID, t.Name, t.Role, t.Hash, w.now, toMS(t.ExpiresAt), jsonText(t.Networks))
	return err
}

func (w *writeTx) deleteToken(id string, ifVersion int64) error {
	n, err := w.exec(`DELETE FROM admin_tokens WHERE id = ? AND (? = 0 OR version = ?)`, id, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("admin_tokens", "id", id)
	}
	_, err = w.exec(`DELETE FROM admin_token_use WHERE token_id = ?`, id)
	return err
}

func (w *writeTx) CountTokens() (int, error) {
	var n int
	err := w.tx.QueryRowContext(w.ctx, `SELECT COUNT(*) FROM admin_tokens`).Scan(&n)
	return n, err
}

// createSecret stores a named secret, sealed under the current master key.
func (w *writeTx) createSecret(sc *Secret) error {
	sealed, err := w.s.kr().Seal(secretAAD(sc.Name), sc.Value)
	if err != nil {
		return err
	}
	sc.Version = 1
	sc.CreatedAt, sc.UpdatedAt = fromMS(w.now), fromMS(w.now)
	_, err = w.exec(`INSERT INTO secrets (name, value, version, rev, created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?)`,
		sc.Name, sealed, w.rev, w.now, w.now)
	return err
}

// updateSecret replaces a named secret's value.
func (w *writeTx) updateSecret(sc *Secret, ifVersion int64) error {
	sealed, err := w.s.kr().Seal(secretAAD(sc.Name), sc.Value)
	if err != nil {
		return err
	}
	n, err := w.exec(`UPDATE secrets SET value = ?, version = version + 1, rev = ?, updated_at = ? WHERE name = ? AND (? = 0 OR version = ?)`,
		sealed, w.rev, w.now, sc.Name, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("secrets", "name", sc.Name)
	}
	var ca int64
	if err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT version, created_at FROM secrets WHERE name = ?`), sc.Name).Scan(&sc.Version, &ca); err != nil {
		return err
	}
	sc.CreatedAt, sc.UpdatedAt = fromMS(ca), fromMS(w.now)
	return nil
}

// deleteSecret removes a named secret.
func (w *writeTx) deleteSecret(name string, ifVersion int64) error {
	n, err := w.exec(`DELETE FROM secrets WHERE name = ? AND (? = 0 OR version = ?)`, name, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("secrets", "name", name)
	}
	return nil
}

// PutBan records a manual ban (a later end wins over an earlier one).
func (w *writeTx) putBan(b *Ban) error {
	b.CreatedAt = fromMS(w.now)
	_, err := w.exec(`INSERT INTO bans (address, until_ms, reason, created_by, created_at, lifted, version, rev) VALUES (?, ?, ?, ?, ?, 0, 1, ?)
ON CONFLICT (address) DO UPDATE SET until_ms = excluded.until_ms, reason = excluded.reason, created_by = excluded.created_by,
	created_at = excluded.created_at, lifted = 0, version = bans.version + 1, rev = excluded.rev`,
		b.Address, toMS(b.Until), b.Reason, b.CreatedBy, w.now, w.rev)
	return err
}

// LiftBan records that address is no longer banned, whoever banned it.
func (w *writeTx) liftBan(address string) error {
	_, err := w.exec(`INSERT INTO bans (address, until_ms, reason, created_by, created_at, lifted, version, rev) VALUES (?, 0, '', '', ?, 1, 1, ?)
ON CONFLICT (address) DO UPDATE SET until_ms = 0, lifted = 1, version = bans.version + 1, rev = excluded.rev`,
		address, w.now, w.rev)
	if err != nil {
		return err
	}
	// Lifts older than the longest ban have done their work everywhere.
	_, err = w.exec(`DELETE FROM bans WHERE lifted = 1 AND created_at < ?`, w.now-int64(7*24*time.Hour/time.Millisecond))
	return err
}

// AddUsage adds each node's deltas; the last use and client are those of
// the latest use seen by any node.
func (s *sqlStore) AddUsage(ctx context.Context, us []Usage) error {
	if len(us) == 0 {
		return nil
	}
	sort.Slice(us, func(i, j int) bool { return us[i].KeyID < us[j].KeyID }) // one lock order for every node
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: usage: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, u := range us {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO key_usage (key_id, consumer, requests, refused, last_used, last_client) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (key_id) DO UPDATE SET consumer = excluded.consumer,
	requests = key_usage.requests + excluded.requests, refused = key_usage.refused + excluded.refused,
	last_client = CASE WHEN excluded.last_used >= key_usage.last_used THEN excluded.last_client ELSE key_usage.last_client END,
	last_used = CASE WHEN excluded.last_used > key_usage.last_used THEN excluded.last_used ELSE key_usage.last_used END`),
			u.KeyID, u.Consumer, int64(min(u.Requests, 1<<62)), int64(min(u.Refused, 1<<62)), toMS(u.LastUsed), u.LastClient) // #nosec G115 -- clamped
		if err != nil {
			return fmt.Errorf("store: usage: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: usage: %w", err)
	}
	return nil
}

// Rekey opens every sealed secret with whichever configured key sealed it
// and seals it again under the current key.
func (w *writeTx) rekey() (int, error) {
	if w.s.kr().CurrentID() == "" {
		return 0, ErrNoMasterKey
	}
	n, err := w.reseal(`SELECT id, consumer, kind, secret FROM credentials WHERE secret <> ''`,
		func(rows *sql.Rows) (sealedValue, error) {
			var id, consumer, kind, sealed string
			err := rows.Scan(&id, &consumer, &kind, &sealed)
			return sealedValue{what: fmt.Sprintf("credential %q", id), aad: credentialAAD(id, kind, consumer), sealed: sealed,
				update: `UPDATE credentials SET secret = ?, rev = ? WHERE id = ?`, args: []any{w.rev, id}}, err
		})
	if err != nil {
		return n, err
	}
	m, err := w.rekeyUsers()
	if err != nil {
		return n + m, err
	}
	k, err := w.rekeySecrets()
	return n + m + k, err
}

// rekeySecrets seals every named secret again under the current key.
func (w *writeTx) rekeySecrets() (int, error) {
	return w.reseal(`SELECT name, value FROM secrets`, func(rows *sql.Rows) (sealedValue, error) {
		var name, sealed string
		err := rows.Scan(&name, &sealed)
		return sealedValue{what: fmt.Sprintf("secret %q", name), aad: secretAAD(name), sealed: sealed,
			update: `UPDATE secrets SET value = ?, rev = ? WHERE name = ?`, args: []any{w.rev, name}}, err
	})
}

// sealedValue is one value a rekey seals again: what it is (for errors),
// the additional data it is bound to, its sealed text, and the UPDATE that
// writes the new sealed text back (its first placeholder), args after it.
type sealedValue struct {
	what, aad, sealed string
	update            string
	args              []any
}

// reseal is the one rekey step: every value query selects (scan turns a
// row into a sealedValue) is opened under its additional data and sealed
// again under the current key. All rows are read before the first UPDATE:
// one transaction, one statement at a time. A value that does not open
// fails the whole rekey, naming the value, never its content.
func (w *writeTx) reseal(query string, scan func(*sql.Rows) (sealedValue, error)) (int, error) {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(query))
	if err != nil {
		return 0, err
	}
	items, err := scanAll(rows, scan)
	if err != nil {
		return 0, err
	}
	for i, it := range items {
		plain, _, err := w.s.kr().Open(it.aad, it.sealed)
		if err != nil {
			return i, fmt.Errorf("%s: %w", it.what, err)
		}
		sealed, err := w.s.kr().Seal(it.aad, plain)
		if err != nil {
			return i, err
		}
		if _, err := w.exec(it.update, append([]any{sealed}, it.args...)...); err != nil {
			return i, err
		}
	}
	return len(items), nil
}
