package store

import (
	"context"
	"errors"
	"time"
)

// Errors every implementation returns for the same conditions; the admin
// API maps them to statuses (404, 409, 412, 503).
var (
	// ErrNotFound: no record with that identity.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with the same identity, or the same unique
	// value (an API key hash, a JWT key, a username), already exists.
	ErrExists = errors.New("already exists")
	// ErrVersion: the record changed since the version the caller read.
	ErrVersion = errors.New("version mismatch")
	// ErrNotEmpty: bootstrap on a store that already has admin tokens.
	ErrNotEmpty = errors.New("the store already has admin tokens")
	// ErrNoMasterKey: a secret must be sealed but no master key is set.
	ErrNoMasterKey = errors.New("no master key is configured: secrets cannot be stored")
)

// Credential kinds, as the config names them.
const (
	KindAPIKey = "api_key"
	KindJWT    = "jwt"
	KindBasic  = "basic"
	KindMTLS   = "mtls"
	// KindSignatureKey is a key of signed requests (RFC 9421): an
	// hmac-sha256 secret (sealed) or an ed25519 public key. Every
	// signature policy accepts it besides the keys its config lists.
	KindSignatureKey = "signature_key"
)

// Roles of admin tokens and admin client certificates. Each includes the
// ones before it.
const (
	RoleViewer   = "viewer"
	RoleOperator = "operator"
	RoleAdmin    = "admin"
)

// Consumer is a consumer kept in the store.
type Consumer struct {
	Name      string            `json:"name"`
	Groups    []string          `json:"groups"`
	Scopes    []string          `json:"scopes"`
	Metadata  map[string]string `json:"metadata"`
	Version   int64             `json:"version"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Credential is one credential of a consumer. Lookup is the value that
// must be unique among credentials of its kind (an API key digest, a JWT
// key, a username, a certificate property). Secret is the plain secret
// (an HMAC secret) when read through State, sealed in the database.
type Credential struct {
	ID       string         `json:"id"`
	Consumer string         `json:"consumer"`
	Kind     string         `json:"kind"`
	Lookup   string         `json:"-"`
	Data     CredentialData `json:"data"`
	// Secret is never serialized: the admin API returns a generated
	// secret once, at creation, from the request's own value.
	Secret    []byte    `json:"-"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CredentialData are a credential's fields that are not secret, per kind.
type CredentialData struct {
	// api_key
	Hash      string `json:"hash,omitempty"`
	Prefix    string `json:"prefix,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
	NotAfter  string `json:"not_after,omitempty"`
	// ReplacedBy names the key that a rotation issued in this one's place.
	ReplacedBy string `json:"replaced_by,omitempty"`
	// jwt
	Key       string `json:"key,omitempty"`
	Algorithm string `json:"algorithm,omitempty"`
	PublicKey string `json:"public_key,omitempty"`
	// basic
	Username     string `json:"username,omitempty"`
	PasswordHash string `json:"password_hash,omitempty"`
	// mtls
	Subject           string `json:"subject,omitempty"`
	SAN               string `json:"san,omitempty"`
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"`
}

// Secret is a named secret (a webhook's HMAC key) that the config
// references as ${store:NAME}. Value is sealed in the database and never
// serialized: the admin API does not read a value back.
type Secret struct {
	Name      string    `json:"name"`
	Value     []byte    `json:"-"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Token is an admin token: only its digest is stored.
type Token struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Hash      string    `json:"-"`
	Version   int64     `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for a token that does not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Networks are the client networks (CIDR prefixes) the token may be
	// used from; empty means any.
	Networks []string `json:"networks,omitempty"`
}

// Ban is a manual ban, or the lifting of one (Lifted): a lift is kept so
// that every node removes the address from its ban table, including bans
// the intrusion detector made.
type Ban struct {
	Address   string    `json:"address"`
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	Lifted    bool      `json:"-"`
	Version   int64     `json:"version"`
	// Rev is the store revision of the last change to this row.
	Rev int64 `json:"-"`
}

// Usage is the use of one API key, summed over every node.
type Usage struct {
	KeyID      string    `json:"key_id"`
	Consumer   string    `json:"consumer"`
	Requests   uint64    `json:"requests"`
	Refused    uint64    `json:"refused"`
	LastUsed   time.Time `json:"last_used,omitzero"`
	LastClient string    `json:"last_client,omitempty"`
}

// State is everything the gateway keeps in memory, read in one
// transaction at one revision.
type State struct {
	Revision    int64
	Consumers   []Consumer   // sorted by name
	Credentials []Credential // sorted by consumer, then id; secrets opened
	Tokens      []Token      // sorted by id
	Bans        []Ban        // sorted by address; lifted ones included
	Secrets     []Secret     // sorted by name; values opened
	// Problems are records that could not be read (a secret that does not
	// open under any known master key); they are left out of the state.
	Problems []string
}

// Actor is who makes a change: a token id, a certificate subject, or a
// command ("bootstrap", "rekey").
type Actor struct {
	Kind string // "token", "certificate", "cli", "node"
	Name string
}

// Tx is the set of changes one Write can make. Every method returns the
// package's errors (ErrNotFound, ErrExists, ErrVersion) for the
// conditions they name. A version of 0 means "whatever the current
// version is" (no If-Match).
type Tx interface {
	CreateConsumer(c *Consumer) error
	UpdateConsumer(c *Consumer, ifVersion int64) error
	DeleteConsumer(name string, ifVersion int64) error

	CreateCredential(c *Credential) error
	UpdateCredential(c *Credential, ifVersion int64) error
	DeleteCredential(consumer, id string, ifVersion int64) error

	CreateToken(t *Token) error
	DeleteToken(id string, ifVersion int64) error
	CountTokens() (int, error)

	UserTx

	CreateSecret(s *Secret) error
	UpdateSecret(s *Secret, ifVersion int64) error
	DeleteSecret(name string, ifVersion int64) error

	PutBan(b *Ban) error
	LiftBan(address string) error

	// Rekey seals every secret again under the current master key and
	// returns how many it sealed.
	Rekey() (int, error)

	// Audit records a change that is not a store record (audit.go); the
	// methods above record their own.
	Audit(resource, action string, before, after any) error
	// RecordConfig keeps a configuration that went live (history.go).
	RecordConfig(v *ConfigVersion) error

	// Revision is the revision this write will commit as.
	Revision() int64
}

// Store is a run-time store. Reads come from State (the gateway keeps one
// in memory) and the few direct queries the admin API needs; writes all go
// through Write.
type Store interface {
	// State reads everything the gateway needs, at one revision.
	State(ctx context.Context) (*State, error)
	// Revision reads the current revision (cheap: the poll of every node).
	Revision(ctx context.Context) (int64, error)
	// Usage reads API key usage summed over every node.
	Usage(ctx context.Context) ([]Usage, error)
	// AddUsage adds one node's deltas. It is not a change of what the
	// gateway serves: it does not bump the revision or notify nodes.
	AddUsage(ctx context.Context, u []Usage) error
	// Write runs fn in one transaction that bumps the revision. It is the
	// only way to change the store: the place an audit trail goes.
	Write(ctx context.Context, actor Actor, fn func(Tx) error) (revision int64, err error)
	// Changes delivers a value when another node may have changed the
	// store (PostgreSQL NOTIFY; reconnections too). Nil when the store
	// has no notifications (SQLite): poll Revision instead.
	Changes() <-chan struct{}
	// SetKeyring replaces the master keys (a reload during a rotation).
	SetKeyring(kr *Keyring)
	// KeyID names the current master key ("" without one).
	KeyID() string
	// Admins are the reads and writes of administrators' logins: sessions,
	// second-factor use, failed logins and admin token use (users.go).
	Admins
	// Driver is "sqlite" or "postgres".
	Driver() string
	Close() error

	// The audit trail (audit.go) and the config history (history.go).
	ConfigureAudit(o AuditOptions)
	AuditTrail(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	VerifyAudit(ctx context.Context, key []byte) (*VerifyReport, error)
	ConfigVersions(ctx context.Context, beforeVersion int64, limit int) ([]ConfigVersion, error)
	GetConfigVersion(ctx context.Context, version int64) (*ConfigVersion, error)
}
