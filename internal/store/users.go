package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is an administrator: a person with a role, a password (an argon2id
// hash) and a TOTP second factor. TOTPSecret is plain in memory and
// sealed under the master key in the database (the gateway must read it
// back to check codes); recovery codes are kept only as digests.
type User struct {
	Name         string `json:"name"`
	Role         string `json:"role"`
	PasswordHash string `json:"-"`
	TOTPSecret   []byte `json:"-"`
	// TOTPLastStep is the last RFC 6238 time step a code was accepted
	// for: a code of that step or an earlier one is never accepted again.
	TOTPLastStep int64     `json:"-"`
	Version      int64     `json:"version"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Session is an administrator's login. Only digests of its id and of its
// CSRF token are stored, so a database dump does not hand out sessions.
type Session struct {
	IDHash   string
	User     string
	CSRFHash string
	Client   string
	// CreatedAt starts the absolute lifetime; LastSeen the idle timeout.
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

// TokenUse is when and from where an admin token was last used.
type TokenUse struct {
	TokenID    string    `json:"token_id"`
	LastUsed   time.Time `json:"last_used"`
	LastClient string    `json:"last_client"`
}

// UserTx are the changes to administrators; they are admin changes like
// any other, so they go through Write.
type UserTx interface {
	// CreateUser stores u with its recovery code digests.
	CreateUser(u *User, recoveryHashes []string) error
	// UpdateUser changes the role and, when PasswordHash is set, the
	// password; a password change ends the user's sessions.
	UpdateUser(u *User, ifVersion int64) error
	// DeleteUser removes the user, its recovery codes and its sessions.
	DeleteUser(name string, ifVersion int64) error
	// EnrolTOTP replaces the user's second factor and recovery codes and
	// ends its sessions.
	EnrolTOTP(name string, secret []byte, recoveryHashes []string) error
}

// Admins are what logins need from the store outside Write: they are not
// changes of what the gateway serves, so they neither bump the revision
// nor notify nodes, but every node reads the same rows (a session made
// on one node is valid on all).
type Admins interface {
	// User reads one administrator (ErrNotFound when there is none).
	User(ctx context.Context, name string) (*User, error)
	// Users lists administrators by name, without their secrets.
	Users(ctx context.Context) ([]User, error)
	// UseTOTPStep records that a code of step was accepted for name; it
	// reports false when that step or a later one was already used (the
	// code is a replay). Atomic over every node.
	UseTOTPStep(ctx context.Context, name string, step int64) (bool, error)
	// UseRecoveryCode marks an unused recovery code used; it reports
	// false when the user has no such unused code. Atomic over every node.
	UseRecoveryCode(ctx context.Context, name, hash string) (bool, error)
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, name string) (int, error)

	// CreateSession stores a session and forgets sessions past their
	// absolute or idle end (idle).
	CreateSession(ctx context.Context, s *Session, idle time.Duration) error
	// Session reads a session by the digest of its id (ErrNotFound).
	Session(ctx context.Context, idHash string) (*Session, error)
	// TouchSession moves a session's last use forward.
	TouchSession(ctx context.Context, idHash string, at time.Time) error
	// DeleteSession ends a session.
	DeleteSession(ctx context.Context, idHash string) error

	// AddLoginFailure counts one failed login for each subject (a user or
	// a client address) in a window that starts at the first failure and
	// returns the counts and the windows' starts, in subjects' order.
	AddLoginFailure(ctx context.Context, subjects []string, window time.Duration) ([]LoginFailures, error)
	// LoginFailures reads the counts of failures within window.
	LoginFailures(ctx context.Context, subjects []string, window time.Duration) ([]LoginFailures, error)
	// ClearLoginFailures forgets a subject's failures (a successful login).
	ClearLoginFailures(ctx context.Context, subject string) error
	// ForgiveLoginFailure takes one failure back (an attempt counted before
	// it was checked that turned out to succeed).
	ForgiveLoginFailure(ctx context.Context, subject string) error

	// TouchToken records a use of an admin token.
	TouchToken(ctx context.Context, id, client string, at time.Time) error
	// TokenUses reads the last use of every admin token that was used.
	TokenUses(ctx context.Context) ([]TokenUse, error)
}

// LoginFailures is the failed logins of one subject in the current window.
type LoginFailures struct {
	Count int64
	Since time.Time
}

// userAAD binds a user's sealed TOTP secret to the user.
func userAAD(name string) string { return "portcullis/admin_user/" + name + "/totp" }

func (w *writeTx) insertRecoveryCodes(name string, hashes []string) error {
	for _, h := range hashes {
		if _, err := w.exec(`INSERT INTO admin_recovery_codes (username, hash, used_at) VALUES (?, ?, 0)`, name, h); err != nil {
			return err
		}
	}
	return nil
}

func (w *writeTx) createUser(u *User, recoveryHashes []string) error {
	sealed, err := w.s.kr().Seal(userAAD(u.Name), u.TOTPSecret)
	if err != nil {
		return err
	}
	u.Version = 1
	u.CreatedAt, u.UpdatedAt = fromMS(w.now), fromMS(w.now)
	if _, err := w.exec(`INSERT INTO admin_users (name, role, password_hash, totp_secret, totp_last_step, version, created_at, updated_at) VALUES (?, ?, ?, ?, 0, 1, ?, ?)`,
		u.Name, u.Role, u.PasswordHash, sealed, w.now, w.now); err != nil {
		return err
	}
	return w.insertRecoveryCodes(u.Name, recoveryHashes)
}

func (w *writeTx) updateUser(u *User, ifVersion int64) error {
	n, err := w.exec(`UPDATE admin_users SET role = ?, password_hash = CASE WHEN ? = '' THEN password_hash ELSE ? END, version = version + 1, updated_at = ? WHERE name = ? AND (? = 0 OR version = ?)`,
		u.Role, u.PasswordHash, u.PasswordHash, w.now, u.Name, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("admin_users", "name", u.Name)
	}
	if u.PasswordHash != "" {
		if _, err := w.exec(`DELETE FROM admin_sessions WHERE username = ?`, u.Name); err != nil {
			return err
		}
	}
	var ca, ua int64
	if err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT version, created_at, updated_at FROM admin_users WHERE name = ?`), u.Name).Scan(&u.Version, &ca, &ua); err != nil {
		return err
	}
	u.CreatedAt, u.UpdatedAt = fromMS(ca), fromMS(ua)
	return nil
}

func (w *writeTx) deleteUser(name string, ifVersion int64) error {
	n, err := w.exec(`DELETE FROM admin_users WHERE name = ? AND (? = 0 OR version = ?)`, name, ifVersion, ifVersion)
	if err != nil {
		return err
	}
	if n == 0 {
		return w.versionCheck("admin_users", "name", name)
	}
	if _, err := w.exec(`DELETE FROM admin_recovery_codes WHERE username = ?`, name); err != nil {
		return err
	}
	_, err = w.exec(`DELETE FROM admin_sessions WHERE username = ?`, name)
	return err
}

func (w *writeTx) enrolTOTP(name string, secret []byte, recoveryHashes []string) error {
	sealed, err := w.s.kr().Seal(userAAD(name), secret)
	if err != nil {
		return err
	}
	n, err := w.exec(`UPDATE admin_users SET totp_secret = ?, totp_last_step = 0, version = version + 1, updated_at = ? WHERE name = ?`, sealed, w.now, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	if _, err := w.exec(`DELETE FROM admin_recovery_codes WHERE username = ?`, name); err != nil {
		return err
	}
	if _, err := w.exec(`DELETE FROM admin_sessions WHERE username = ?`, name); err != nil {
		return err
	}
	return w.insertRecoveryCodes(name, recoveryHashes)
}

// rekeyUsers seals every TOTP secret again under the current master key.
func (w *writeTx) rekeyUsers() (int, error) {
	return w.reseal(`SELECT name, totp_secret FROM admin_users`, func(rows *sql.Rows) (sealedValue, error) {
		var name, sealed string
		err := rows.Scan(&name, &sealed)
		return sealedValue{what: fmt.Sprintf("admin user %q", name), aad: userAAD(name), sealed: sealed,
			update: `UPDATE admin_users SET totp_secret = ? WHERE name = ?`, args: []any{name}}, err
	})
}

func (s *sqlStore) User(ctx context.Context, name string) (*User, error) {
	var u User
	var sealed string
	var ca, ua int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT name, role, password_hash, totp_secret, totp_last_step, version, created_at, updated_at FROM admin_users WHERE name = ?`), name).
		Scan(&u.Name, &u.Role, &u.PasswordHash, &sealed, &u.TOTPLastStep, &u.Version, &ca, &ua)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read admin user: %w", err)
	}
	u.CreatedAt, u.UpdatedAt = fromMS(ca), fromMS(ua)
	plain, _, err := s.kr().Open(userAAD(u.Name), sealed)
	if err != nil {
		return nil, fmt.Errorf("store: admin user %q: the second factor cannot be opened: %w", u.Name, err)
	}
	u.TOTPSecret = plain
	return &u, nil
}

func (s *sqlStore) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, version, created_at, updated_at FROM admin_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: read admin users: %w", err)
	}
	return scanAll(rows, func(rows *sql.Rows) (u User, err error) {
		var ca, ua int64
		if err := rows.Scan(&u.Name, &u.Role, &u.Version, &ca, &ua); err != nil {
			return u, fmt.Errorf("store: read admin users: %w", err)
		}
		u.CreatedAt, u.UpdatedAt = fromMS(ca), fromMS(ua)
		return u, nil
	})
}

// affected runs one statement and reports whether it changed a row.
func (s *sqlStore) affected(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *sqlStore) UseTOTPStep(ctx context.Context, name string, step int64) (bool, error) {
	// RFC 6238 section 5.2: the verifier must not accept the second
	// attempt of an accepted OTP. The conditional update is the check and
	// the record at once, so two nodes cannot both accept one code.
	return s.affected(ctx, `UPDATE admin_users SET totp_last_step = ? WHERE name = ? AND totp_last_step < ?`, step, name, step)
}

func (s *sqlStore) UseRecoveryCode(ctx context.Context, name, hash string) (bool, error) {
	return s.affected(ctx, `UPDATE admin_recovery_codes SET used_at = ? WHERE username = ? AND hash = ? AND used_at = 0`, nowMS(), name, hash)
}

func (s *sqlStore) RecoveryCodesLeft(ctx context.Context, name string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM admin_recovery_codes WHERE username = ? AND used_at = 0`), name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return n, nil
}

func (s *sqlStore) CreateSession(ctx context.Context, se *Session, idle time.Duration) error {
	now := nowMS()
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM admin_sessions WHERE expires_at < ? OR last_seen < ?`), now, now-idle.Milliseconds()); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO admin_sessions (id_hash, username, csrf_hash, client, created_at, last_seen, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		se.IDHash, se.User, se.CSRFHash, se.Client, toMS(se.CreatedAt), toMS(se.LastSeen), toMS(se.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func (s *sqlStore) Session(ctx context.Context, idHash string) (*Session, error) {
	var se Session
	var ca, ls, ea int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id_hash, username, csrf_hash, client, created_at, last_seen, expires_at FROM admin_sessions WHERE id_hash = ?`), idHash).
		Scan(&se.IDHash, &se.User, &se.CSRFHash, &se.Client, &ca, &ls, &ea)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read session: %w", err)
	}
	se.CreatedAt, se.LastSeen, se.ExpiresAt = fromMS(ca), fromMS(ls), fromMS(ea)
	return &se, nil
}

func (s *sqlStore) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := s.affected(ctx, `UPDATE admin_sessions SET last_seen = ? WHERE id_hash = ? AND last_seen < ?`, toMS(at), idHash, toMS(at))
	return err
}

func (s *sqlStore) DeleteSession(ctx context.Context, idHash string) error {
	_, err := s.affected(ctx, `DELETE FROM admin_sessions WHERE id_hash = ?`, idHash)
	return err
}

func (s *sqlStore) AddLoginFailure(ctx context.Context, subjects []string, window time.Duration) ([]LoginFailures, error) {
	now := nowMS()
	start := now - window.Milliseconds()
	// Counts of windows long over are forgotten, so guesses at random
	// names do not grow the table without bound.
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM admin_login_failures WHERE last_at < ?`), start); err != nil {
		return nil, fmt.Errorf("store: record failed login: %w", err)
	}
	out := make([]LoginFailures, len(subjects))
	for i, sub := range subjects {
		// A window older than window starts again at this failure.
		var first int64
		err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO admin_login_failures (subject, failures, first_at, last_at) VALUES (?, 1, ?, ?)
ON CONFLICT (subject) DO UPDATE SET
	failures = CASE WHEN admin_login_failures.first_at < ? THEN 1 ELSE admin_login_failures.failures + 1 END,
	first_at = CASE WHEN admin_login_failures.first_at < ? THEN excluded.first_at ELSE admin_login_failures.first_at END,
	last_at = excluded.last_at
RETURNING failures, first_at`), sub, now, now, start, start).Scan(&out[i].Count, &first)
		if err != nil {
			return nil, fmt.Errorf("store: record failed login: %w", err)
		}
		out[i].Since = fromMS(first)
	}
	return out, nil
}

func (s *sqlStore) LoginFailures(ctx context.Context, subjects []string, window time.Duration) ([]LoginFailures, error) {
	start := nowMS() - window.Milliseconds()
	out := make([]LoginFailures, len(subjects))
	for i, sub := range subjects {
		var first int64
		err := s.db.QueryRowContext(ctx, s.q(`SELECT failures, first_at FROM admin_login_failures WHERE subject = ? AND first_at >= ?`), sub, start).Scan(&out[i].Count, &first)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: read failed logins: %w", err)
		}
		out[i].Since = fromMS(first)
	}
	return out, nil
}

func (s *sqlStore) ClearLoginFailures(ctx context.Context, subject string) error {
	_, err := s.affected(ctx, `DELETE FROM admin_login_failures WHERE subject = ?`, subject)
	return err
}

func (s *sqlStore) ForgiveLoginFailure(ctx context.Context, subject string) error {
	_, err := s.affected(ctx, `UPDATE admin_login_failures SET failures = failures - 1 WHERE subject = ? AND failures > 0`, subject)
	return err
}

func (s *sqlStore) TouchToken(ctx context.Context, id, client string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO admin_token_use (token_id, last_used, last_client) VALUES (?, ?, ?)
ON CONFLICT (token_id) DO UPDATE SET
	last_client = CASE WHEN excluded.last_used >= admin_token_use.last_used THEN excluded.last_client ELSE admin_token_use.last_client END,
	last_used = CASE WHEN excluded.last_used > admin_token_use.last_used THEN excluded.last_used ELSE admin_token_use.last_used END`), id, toMS(at), client)
	if err != nil {
		return fmt.Errorf("store: record admin token use: %w", err)
	}
	return nil
}

func (s *sqlStore) TokenUses(ctx context.Context) ([]TokenUse, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT token_id, last_used, last_client FROM admin_token_use ORDER BY token_id`)
	if err != nil {
		return nil, fmt.Errorf("store: read admin token use: %w", err)
	}
	return scanAll(rows, func(rows *sql.Rows) (u TokenUse, err error) {
		var lu int64
		if err := rows.Scan(&u.TokenID, &lu, &u.LastClient); err != nil {
			return u, fmt.Errorf("store: read admin token use: %w", err)
		}
		u.LastUsed = fromMS(lu)
		return u, nil
	})
}

var _ Admins = (*sqlStore)(nil)
