package store

import (
	"database/sql"
	"errors"
)

// The Tx methods: each reads the record before and after its change in
// the write's own transaction and records both, redacted, for the audit
// trail. The change itself is in sql.go.

var _ Tx = (*writeTx)(nil)

// redactedMark replaces a secret-derived value in the trail.
const redactedMark = "[redacted]"

// auditCredential is a credential as the trail shows it: no digest, no
// sealed or plain secret.
type auditCredential struct {
	ID       string         `json:"id"`
	Consumer string         `json:"consumer"`
	Kind     string         `json:"kind"`
	Data     CredentialData `json:"data"`
	Version  int64          `json:"version"`
}

func redactCredential(c *Credential) *auditCredential {
	if c == nil {
		return nil
	}
	d := c.Data
	if d.Hash != "" {
		d.Hash = redactedMark
	}
	if d.PasswordHash != "" {
		d.PasswordHash = redactedMark
	}
	return &auditCredential{ID: c.ID, Consumer: c.Consumer, Kind: c.Kind, Data: d, Version: c.Version}
}

// one returns the single element of a read, or nil.
func one[T any](list []T, err error) (*T, error) {
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

func (w *writeTx) consumerRow(name string) (*Consumer, error) {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT name, groups_json, scopes_json, metadata_json, version, created_at, updated_at FROM consumers WHERE name = ?`), name)
	if err != nil {
		return nil, err
	}
	return one(scanConsumers(rows))
}

func (w *writeTx) credentialRow(id string) (*auditCredential, error) {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT id, consumer, kind, lookup, data_json, secret, version, created_at, updated_at FROM credentials WHERE id = ?`), id)
	if err != nil {
		return nil, err
	}
	c, err := one(scanCredentials(rows))
	if c == nil {
		return nil, err
	}
	return redactCredential(&c.Credential), nil
}

func (w *writeTx) tokenRow(id string) (*Token, error) {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT id, name, role, hash, version, created_at, expires_at, networks_json FROM admin_tokens WHERE id = ?`), id)
	if err != nil {
		return nil, err
	}
	return one(scanTokens(rows))
}

func (w *writeTx) banRow(address string) (*Ban, error) {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT address, until_ms, reason, created_by, created_at, lifted, version, rev FROM bans WHERE address = ?`), address)
	if err != nil {
		return nil, err
	}
	return one(scanBans(rows))
}

// audited runs change between two reads of the record and records both.
// A nil pointer is recorded as null (no record).
func audited[T any](w *writeTx, resource, action string, read func() (*T, error), change func() error) error {
	before, err := read()
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := read()
	if err != nil {
		return err
	}
	var b, a any
	if before != nil {
		b = before
	}
	if after != nil {
		a = after
	}
	w.record(resource, action, b, a)
	return nil
}

func (w *writeTx) CreateConsumer(c *Consumer) error {
	return audited(w, "consumer:"+c.Name, "create", func() (*Consumer, error) { return w.consumerRow(c.Name) }, func() error { return w.createConsumer(c) })
}

func (w *writeTx) UpdateConsumer(c *Consumer, ifVersion int64) error {
	return audited(w, "consumer:"+c.Name, "update", func() (*Consumer, error) { return w.consumerRow(c.Name) }, func() error { return w.updateConsumer(c, ifVersion) })
}

// DeleteConsumer records the consumer and each of its credentials.
func (w *writeTx) DeleteConsumer(name string, ifVersion int64) error {
	rows, err := w.tx.QueryContext(w.ctx, w.s.q(`SELECT id, consumer, kind, lookup, data_json, secret, version, created_at, updated_at FROM credentials WHERE consumer = ? ORDER BY id`), name)
	if err != nil {
		return err
	}
	creds, err := scanCredentials(rows)
	if err != nil {
		return err
	}
	if err := audited(w, "consumer:"+name, "delete", func() (*Consumer, error) { return w.consumerRow(name) }, func() error { return w.deleteConsumer(name, ifVersion) }); err != nil {
		return err
	}
	for i := range creds {
		w.record("credential:"+name+"/"+creds[i].ID, "delete", redactCredential(&creds[i].Credential), nil)
	}
	return nil
}

func (w *writeTx) CreateCredential(c *Credential) error {
	return audited(w, "credential:"+c.Consumer+"/"+c.ID, "create", func() (*auditCredential, error) { return w.credentialRow(c.ID) }, func() error { return w.createCredential(c) })
}

func (w *writeTx) UpdateCredential(c *Credential, ifVersion int64) error {
	return audited(w, "credential:"+c.Consumer+"/"+c.ID, "update", func() (*auditCredential, error) { return w.credentialRow(c.ID) }, func() error { return w.updateCredential(c, ifVersion) })
}

func (w *writeTx) DeleteCredential(consumer, id string, ifVersion int64) error {
	return audited(w, "credential:"+consumer+"/"+id, "delete", func() (*auditCredential, error) { return w.credentialRow(id) }, func() error { return w.deleteCredential(consumer, id, ifVersion) })
}

func (w *writeTx) CreateToken(t *Token) error {
	return audited(w, "token:"+t.ID, "create", func() (*Token, error) { return w.tokenRow(t.ID) }, func() error { return w.createToken(t) })
}

func (w *writeTx) DeleteToken(id string, ifVersion int64) error {
	return audited(w, "token:"+id, "delete", func() (*Token, error) { return w.tokenRow(id) }, func() error { return w.deleteToken(id, ifVersion) })
}

func (w *writeTx) PutBan(b *Ban) error {
	return audited(w, "ban:"+b.Address, "ban", func() (*Ban, error) { return w.banRow(b.Address) }, func() error { return w.putBan(b) })
}

func (w *writeTx) LiftBan(address string) error {
	return audited(w, "ban:"+address, "lift", func() (*Ban, error) { return w.banRow(address) }, func() error { return w.liftBan(address) })
}

// Rekey reseals credential secrets and the kept config files; the count
// is of credentials (the config files are counted in the trail).
func (w *writeTx) Rekey() (int, error) {
	n, err := w.rekey()
	if err != nil {
		return n, err
	}
	m, err := w.rekeyConfigs()
	if err != nil {
		return n, err
	}
	w.record("store:master_key", "rekey", nil, map[string]any{"key_id": w.s.kr().CurrentID(), "resealed": n, "configs_resealed": m})
	return n, nil
}

// auditUser is an administrator as the trail shows it: no password hash,
// no second-factor secret, no recovery codes.
type auditUser struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Version int64  `json:"version"`
}

func (w *writeTx) userRow(name string) (*auditUser, error) {
	var u auditUser
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT name, role, version FROM admin_users WHERE name = ?`), name).Scan(&u.Name, &u.Role, &u.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (w *writeTx) CreateUser(u *User, recoveryHashes []string) error {
	return audited(w, "user:"+u.Name, "create", func() (*auditUser, error) { return w.userRow(u.Name) }, func() error { return w.createUser(u, recoveryHashes) })
}

// UpdateUser records a password change as such (never the password).
func (w *writeTx) UpdateUser(u *User, ifVersion int64) error {
	action := "update"
	if u.PasswordHash != "" {
		action = "update_password"
	}
	return audited(w, "user:"+u.Name, action, func() (*auditUser, error) { return w.userRow(u.Name) }, func() error { return w.updateUser(u, ifVersion) })
}

func (w *writeTx) DeleteUser(name string, ifVersion int64) error {
	return audited(w, "user:"+name, "delete", func() (*auditUser, error) { return w.userRow(name) }, func() error { return w.deleteUser(name, ifVersion) })
}

func (w *writeTx) EnrolTOTP(name string, secret []byte, recoveryHashes []string) error {
	return audited(w, "user:"+name, "enrol_totp", func() (*auditUser, error) { return w.userRow(name) }, func() error { return w.enrolTOTP(name, secret, recoveryHashes) })
}

// auditSecret is a named secret as the trail shows it: never its value,
// sealed or plain, nor anything derived from it.
type auditSecret struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	Version int64  `json:"version"`
}

func (w *writeTx) secretRow(name string) (*auditSecret, error) {
	sc := auditSecret{Value: redactedMark}
	err := w.tx.QueryRowContext(w.ctx, w.s.q(`SELECT name, version FROM secrets WHERE name = ?`), name).Scan(&sc.Name, &sc.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &sc, nil
}

func (w *writeTx) CreateSecret(sc *Secret) error {
	return audited(w, "secret:"+sc.Name, "create", func() (*auditSecret, error) { return w.secretRow(sc.Name) }, func() error { return w.createSecret(sc) })
}

func (w *writeTx) UpdateSecret(sc *Secret, ifVersion int64) error {
	return audited(w, "secret:"+sc.Name, "update", func() (*auditSecret, error) { return w.secretRow(sc.Name) }, func() error { return w.updateSecret(sc, ifVersion) })
}

func (w *writeTx) DeleteSecret(name string, ifVersion int64) error {
	return audited(w, "secret:"+name, "delete", func() (*auditSecret, error) { return w.secretRow(name) }, func() error { return w.deleteSecret(name, ifVersion) })
}
