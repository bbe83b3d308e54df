package config

import (
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pgdsn"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Admin is the control plane: the admin API on its own listener, and the
// store that keeps consumers, credentials, admin tokens and bans changed
// at run time. Absent, the gateway has no admin API and no store.
type Admin struct {
	// Address is the admin listener (default 127.0.0.1:9902). A
	// non-loopback address requires TLS.
	Address string     `yaml:"address,omitempty"`
	TLS     *AdminTLS  `yaml:"tls,omitempty"`
	Store   AdminStore `yaml:"store,omitempty"`
	// FileAuthoritative makes the consumers of this file the only ones:
	// the API can read consumers and credentials but not change them.
	FileAuthoritative bool `yaml:"file_authoritative,omitempty"`
	// Audit configures the audit trail of admin changes (docs/audit.md).
	Audit *AdminAudit `yaml:"audit,omitempty"`
	// Sessions bound the logins of administrators (people).
	Sessions AdminSessions `yaml:"sessions,omitempty"`
}

// AdminAudit configures the audit trail.
type AdminAudit struct {
	// SigningKey signs the head of the trail's hash chain (HMAC-SHA-256):
	// 32 random bytes as 64 hex digits or base64, from ${env:} or
	// ${file:} only, so that it is never in the store, in the config
	// history, or in the file itself.
	SigningKey string `yaml:"signing_key,omitempty"`
}

// AdminSessions are the timeouts of an administrator's session: it ends
// after IdleTimeout without a request, and after Lifetime in any case.
type AdminSessions struct {
	IdleTimeout Duration `yaml:"idle_timeout,omitempty"`
	Lifetime    Duration `yaml:"lifetime,omitempty"`
}

// AdminTLS serves the admin API over HTTPS, optionally authenticating
// operators by client certificate.
type AdminTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile verifies admin client certificates (optional).
	ClientCAFile string `yaml:"client_ca_file,omitempty"`
	// ClientCertificates map verified client certificates to roles.
	ClientCertificates []AdminClientCertificate `yaml:"client_certificates,omitempty"`
}

// AdminClientCertificate gives a role to a client certificate found by
// exactly one of subject, SAN or SHA-256 fingerprint.
type AdminClientCertificate struct {
	Subject           string `yaml:"subject,omitempty"`
	SAN               string `yaml:"san,omitempty"`
	FingerprintSHA256 string `yaml:"fingerprint_sha256,omitempty"`
	// Role: viewer, operator or admin.
	Role string `yaml:"role"`
}

// AdminStore is where run-time changes are kept.
type AdminStore struct {
	// Driver: sqlite (default, one node) or postgres (several nodes).
	Driver string `yaml:"driver,omitempty"`
	// Path is the SQLite file (default portcullis.db beside the config).
	Path string `yaml:"path,omitempty"`
	// DSN is the PostgreSQL connection string, usually ${env:NAME}.
	DSN string `yaml:"dsn,omitempty"`
	// Schema holds the tables in PostgreSQL (default portcullis).
	Schema string `yaml:"schema,omitempty"`
	// MasterKey seals recoverable secrets (HMAC secrets) with AES-256-GCM:
	// 32 bytes as 64 hex digits or base64, from ${env:} or ${file:}.
	MasterKey string `yaml:"master_key,omitempty"`
	// PreviousMasterKeys still open secrets sealed before a rotation.
	PreviousMasterKeys []string `yaml:"previous_master_keys,omitempty"`
	// PollInterval is how often a node checks the store's revision
	// (default 1s); PostgreSQL notifications usually come sooner.
	PollInterval Duration `yaml:"poll_interval,omitempty"`
	// ResyncInterval reloads the whole store even without a change
	// (default 1m): the safety net behind notifications.
	ResyncInterval Duration `yaml:"resync_interval,omitempty"`
	// UsageFlushInterval is how often a node adds its API key usage to the
	// store (default 10s).
	UsageFlushInterval Duration `yaml:"usage_flush_interval,omitempty"`
}

// Admin defaults.
const (
	DefaultAdminAddress       = "127.0.0.1:9902"
	StoreSQLite               = "sqlite"
	StorePostgres             = "postgres"
	DefaultStoreSchema        = "portcullis"
	DefaultStoreFile          = "portcullis.db"
	DefaultPollInterval       = time.Second
	DefaultResyncInterval     = time.Minute
	DefaultUsageFlushInterval = 10 * time.Second
	DefaultSessionIdle        = 15 * time.Minute
	DefaultSessionLifetime    = 8 * time.Hour
	// MaxSessionLifetime bounds a session: a stolen cookie is not good
	// for days.
	MaxSessionLifetime = 24 * time.Hour
)

// AdminRoles are the roles of admin tokens and certificates, least first.
var AdminRoles = []string{"viewer", "operator", "admin"}

func (c *Config) applyAdminDefaults() {
	a := c.Admin
	if a == nil {
		return
	}
	setStr(&a.Address, DefaultAdminAddress)
	setStr(&a.Store.Driver, StoreSQLite)
	if a.Store.Driver == StoreSQLite && a.Store.Path == "" {
		a.Store.Path = filepath.Join(filepath.Dir(c.File), DefaultStoreFile)
	}
	if a.Store.Driver == StorePostgres {
		setStr(&a.Store.Schema, DefaultStoreSchema)
	}
	setDur(&a.Store.PollInterval, DefaultPollInterval)
	setDur(&a.Store.ResyncInterval, DefaultResyncInterval)
	setDur(&a.Store.UsageFlushInterval, DefaultUsageFlushInterval)
	setDur(&a.Sessions.IdleTimeout, DefaultSessionIdle)
	setDur(&a.Sessions.Lifetime, DefaultSessionLifetime)
}

// IsLoopbackAddress reports whether a host:port binds only to loopback
// ("localhost" included; an empty host binds every interface).
func IsLoopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && tlspolicy.Loopback(host)
}

func (v *validator) admin() {
	a := v.c.Admin
	if a == nil {
		return
	}
	const p = "admin"
	if err := checkHostPort(a.Address); err != nil {
		v.add(p+".address", "%s: %v", v.q(p+".address", a.Address), err)
	} else {
		// The admin API never shares a socket with public traffic.
		for i, l := range v.c.Listeners {
			if sameListenAddr(l.Address, a.Address) {
				v.add(p+".address", "address %s is also listeners[%d]: the admin API never answers on a proxy listener", v.q(p+".address", a.Address), i)
			}
		}
		if !v.c.Ops.Disable && sameListenAddr(v.c.Ops.Address, a.Address) {
			v.add(p+".address", "address %s is also the ops listener", v.q(p+".address", a.Address))
		}
		if a.TLS == nil && !IsLoopbackAddress(a.Address) {
			v.add(p+".address", "%s is not a loopback address: the admin API then requires tls (tokens would cross the network in clear)", v.q(p+".address", a.Address))
		}
	}
	if t := a.TLS; t != nil {
		v.keyPair(p+".tls", t.CertFile, t.KeyFile)
		if len(t.ClientCertificates) > 0 && t.ClientCAFile == "" {
			v.add(p+".tls.client_ca_file", "is required when client_certificates are listed (a certificate is only trusted once verified)")
		} else if t.ClientCAFile != "" {
			v.caFile(p+".tls.client_ca_file", t.ClientCAFile)
		}
		for i, cc := range t.ClientCertificates {
			cp := indexPath(p+".tls.client_certificates", i)
			set := 0
			for _, s := range []string{cc.Subject, cc.SAN, cc.FingerprintSHA256} {
				if s != "" {
					set++
				}
			}
			if set != 1 {
				v.add(cp, "set exactly one of subject, san or fingerprint_sha256")
			}
			if cc.FingerprintSHA256 != "" {
				if _, ok := NormalizeFingerprint(cc.FingerprintSHA256); !ok {
					v.add(cp+".fingerprint_sha256", "must be a SHA-256 fingerprint: 64 hex digits, optionally as colon-separated pairs")
				}
			}
			if !isAdminRole(cc.Role) {
				v.add(cp+".role", "must be one of %s", strings.Join(AdminRoles, ", "))
			}
		}
	}
	s := a.Store
	sp := p + ".store"
	switch s.Driver {
	case StoreSQLite:
		if s.DSN != "" || s.Schema != "" {
			v.add(sp, "dsn and schema are for driver postgres")
		}
	case StorePostgres:
		if s.DSN == "" {
			v.add(sp+".dsn", "is required for driver postgres (usually ${env:NAME})")
		} else if _, err := pgdsn.Parse(s.DSN); err != nil {
			// The message names hosts and files, never the DSN.
			v.add(sp+".dsn", "%v", err)
		}
		if s.Path != "" {
			v.add(sp+".path", "is for driver sqlite")
		}
		if !pgSchemaRE.MatchString(s.Schema) {
			v.add(sp+".schema", "%s: use lower-case letters, digits and '_' (at most 48)", v.q(sp+".schema", s.Schema))
		}
	default:
		v.add(sp+".driver", "must be sqlite or postgres, not %s", v.q(sp+".driver", s.Driver))
	}
	if a.Audit != nil && a.Audit.SigningKey != "" && !v.c.IsSecret(p+".audit.signing_key") {
		// The key must live outside the store and outside the file, whose
		// bytes the config history keeps: a key written inline would sit
		// next to the chain it protects.
		v.add(p+".audit.signing_key", "must be a secret reference (${env:NAME} or ${file:/path}), never the key itself")
	}
	if len(s.PreviousMasterKeys) > 0 && s.MasterKey == "" {
		v.add(sp+".previous_master_keys", "need a master_key (the key that seals)")
	}
	for _, d := range []struct {
		name string
		val  Duration
		min  time.Duration
	}{
		{"poll_interval", s.PollInterval, 10 * time.Millisecond},
		{"resync_interval", s.ResyncInterval, time.Second},
		{"usage_flush_interval", s.UsageFlushInterval, 100 * time.Millisecond},
	} {
		if d.val.D() < d.min {
			v.add(sp+"."+d.name, "must be at least %s", d.min)
		}
	}
	ss := a.Sessions
	switch {
	case ss.IdleTimeout.D() < time.Second:
		v.add(p+".sessions.idle_timeout", "must be at least 1s")
	case ss.Lifetime.D() < ss.IdleTimeout.D():
		v.add(p+".sessions.lifetime", "must be at least idle_timeout (%s)", ss.IdleTimeout.D())
	case ss.Lifetime.D() > MaxSessionLifetime:
		v.add(p+".sessions.lifetime", "must be at most %s", MaxSessionLifetime)
	}
}

var pgSchemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

func isAdminRole(r string) bool {
	for _, x := range AdminRoles {
		if r == x {
			return true
		}
	}
	return false
}

// sameListenAddr reports whether two listen addresses would take the same
// port on a shared interface (a wildcard host overlaps every host): the
// one rule for the proxy listeners among themselves, the ops listener and
// the admin listener. Port 0 (any free port) never collides.
func sameListenAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}

// ValidName reports whether s is a valid name for a consumer, a
// credential or any other named thing in the config (NameRule says what
// that is).
func ValidName(s string) bool { return nameRE.MatchString(s) }

// NameRule describes a valid name, for messages.
func NameRule() string { return nameRule }
