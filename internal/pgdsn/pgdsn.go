// Package pgdsn reads the PostgreSQL connection string of the admin store
// (admin.store.dsn) and holds it to the gateway's TLS rules. The config
// loader checks a DSN with it, and the store connects with what it
// returns, so what was checked is what connects.
//
// Threat: the store is the gateway's state: consumers and their
// credentials, administrators, the configuration history and the audit
// trail. Whoever can rewrite the conversation with PostgreSQL can add a
// consumer, change a credential's hash or an administrator's role, and
// every node applies it. PostgreSQL clients default to sslmode=prefer:
// TLS that accepts any certificate, and plaintext when the server (or
// someone in its place) declines TLS. Both let a machine on the path read
// and rewrite the store. sslmode=require encrypts but still accepts any
// certificate.
//
// Rules:
//   - Every host the DSN names that is not a Unix socket or a loopback
//     address is reached over TLS that verifies the server's certificate:
//     sslmode=verify-full (chain and name; the one to use) or verify-ca
//     (chain only), with sslrootcert naming the CA (or "system"). A DSN
//     that allows anything less for such a host is a configuration error
//     that names the host and the reason, never the DSN (it holds the
//     password).
//   - Every TLS connection offers the gateway's TLS policy
//     (internal/tlspolicy): TLS 1.2 or later, ECDHE with an AEAD.
//   - A Unix socket or loopback host may use any sslmode: the path to it
//     does not leave the machine.
package pgdsn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Parse parses dsn (a libpq connection string or URL), checks that every
// host off this machine is reached over verified TLS, and returns the
// config with the TLS policy applied. Errors never quote the DSN.
func Parse(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message can quote the DSN, password included. A file it
		// could not read (sslrootcert, sslcert, sslkey) is not secret and
		// says what is wrong; nothing else of the error is repeated.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("the PostgreSQL DSN's TLS files: %w", pe)
		}
		return nil, errors.New("the PostgreSQL DSN cannot be parsed")
	}
	targets := []*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}
	targets = append(targets, cfg.Fallbacks...)
	// Plaintext first: sslmode=prefer tries unverified TLS, then
	// plaintext, and the plaintext is the worse of its two faults.
	for _, t := range targets {
		if t.TLSConfig == nil && !local(t.Host) {
			return nil, fmt.Errorf("host %s may be reached without TLS (sslmode disable, allow or prefer, the default): a machine on the path could read and rewrite the store; use sslmode=verify-full with sslrootcert", t.Host)
		}
	}
	for _, t := range targets {
		if tc := t.TLSConfig; tc != nil && !local(t.Host) && tc.InsecureSkipVerify && tc.VerifyPeerCertificate == nil && tc.VerifyConnection == nil {
			return nil, fmt.Errorf("host %s is reached over TLS that accepts any certificate (sslmode require without sslrootcert): use sslmode=verify-full with sslrootcert", t.Host)
		}
		applyPolicy(t.TLSConfig) // targets[0].TLSConfig is cfg.TLSConfig
	}
	return cfg, nil
}

// local reports a Unix socket directory or a loopback host.
func local(host string) bool {
	return strings.HasPrefix(host, "/") || tlspolicy.Loopback(host)
}

// applyPolicy holds a pgx TLS config to the gateway's policy.
func applyPolicy(tc *tls.Config) {
	if tc == nil {
		return
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	tc.CipherSuites = tlspolicy.CipherSuites()
}
