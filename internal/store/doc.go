// Package store keeps what operators change at run time, through the admin
// API, while the gateway serves: consumers, their credentials, admin
// tokens, manual bans and API key usage. One interface (Store), two
// implementations sharing one SQL layer: an embedded single-file SQLite
// (modernc.org/sqlite, pure Go, the default) and PostgreSQL (pgx) for
// several nodes.
//
// The threats this package answers:
//
//   - A stolen database file or dump must not hand out credentials. API
//     keys, admin tokens, session ids and recovery codes are stored only as
//     SHA-256 digests (they carry 80 to 256 random bits, so a digest cannot
//     be reversed); passwords as argon2id hashes. Secrets the gateway must
//     be able to read back (HMAC secrets of JWT credentials, administrators'
//     TOTP secrets) are sealed with AES-256-GCM under a master key that
//     never enters the store; the record's identity is the additional data,
//     so a ciphertext copied into another record does not open.
//   - Logins must not race across nodes: a TOTP time step and a recovery
//     code are consumed by one conditional update each, so two nodes cannot
//     both accept the same code (users.go).
//   - Two operators editing one record must not silently overwrite each
//     other: every record has a version, and a write that names a stale
//     version fails with ErrVersion (the admin API answers 412).
//   - A binary older than its store must not run against it: migrations
//     are numbered, applied at open, and a store whose schema is newer than
//     the binary is refused.
//   - Every write goes through Store.Write, one transaction that bumps the
//     store's revision (and, on PostgreSQL, notifies every node) and appends
//     the audit trail's entries (audit.go): each Tx method records its
//     record before and after, redacted, and the entries are hash-chained
//     with a head signed by a key kept outside the store.
//   - The configurations that went live are kept (history.go), the file's
//     bytes sealed under the master key, a redacted rendering in the clear.
//
// The request path never reads the store: the gateway loads the whole
// State into memory and compiles it into its snapshot, so a store outage
// stops writes, not traffic.
package store
