package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// The audit trail: every change made through Store.Write is appended to
// audit_log in the same transaction as the change, so a change and its
// record commit together or not at all. The threats it answers:
//
//   - Someone with write access to the database edits, deletes or
//     reorders records to hide what was done. Each entry carries a
//     SHA-256 hash over a canonical, length-prefixed encoding of all its
//     fields, its sequence number and the previous entry's hash: changing
//     one entry breaks its hash, removing or moving one breaks the
//     sequence and the next entry's link.
//   - The same someone drops the newest entries, or rewrites the whole
//     chain from some point on. The head row (last sequence number and
//     hash) is signed with HMAC-SHA-256 under a key that never enters the
//     store (admin.audit.signing_key): without the key the head cannot be
//     made to match a shortened or recomputed chain.
//   - Secrets in the trail: before and after are redacted views (API key
//     and password digests, sealed secrets and generated values never
//     appear).
//   - Two nodes appending at once (PostgreSQL): every Write first updates
//     the revision row, which locks it until commit, and then reads the
//     head row FOR UPDATE; appends are serialized and the chain stays
//     linear.

// AuditEntry is one record of the trail.
type AuditEntry struct {
	Seq       int64           `json:"seq"`
	At        time.Time       `json:"at"`
	Revision  int64           `json:"revision"`
	ActorKind string          `json:"actor_kind"`
	ActorName string          `json:"actor_name"`
	Client    string          `json:"client,omitempty"`
	RequestID string          `json:"request_id,omitempty"`
	Operation string          `json:"operation,omitempty"`
	Resource  string          `json:"resource"`
	Action    string          `json:"action"`
	Before    json.RawMessage `json:"before"`
	After     json.RawMessage `json:"after"`
	PrevHash  string          `json:"prev_hash"`
	Hash      string          `json:"hash"`
}

// AuditHead is the signed end of the chain.
type AuditHead struct {
	Seq       int64
	Hash      string
	KeyID     string
	Signature string
}

// AuditQuery filters the trail. Zero fields do not filter.
type AuditQuery struct {
	// Actor matches "kind:name" or the name alone.
	Actor string
	// Resource matches the resource or any below it ("consumer:alice"
	// matches "consumer:alice" and "credential:alice/..." does not).
	Resource string
	Action   string
	Since    time.Time
	Until    time.Time
	// AfterSeq pages: entries with a greater sequence number.
	AfterSeq int64
	Limit    int
}

// AuditInfo is what the caller of Write knows about the request that
// makes the change; it travels in the context.
type AuditInfo struct {
	Client    string
	RequestID string
	// Operation is the request ("POST /admin/consumers").
	Operation string
}

type auditInfoKey struct{}

// WithAuditInfo returns ctx carrying the request's details for the trail.
func WithAuditInfo(ctx context.Context, ai AuditInfo) context.Context {
	return context.WithValue(ctx, auditInfoKey{}, ai)
}

func auditInfoFrom(ctx context.Context) AuditInfo {
	ai, _ := ctx.Value(auditInfoKey{}).(AuditInfo)
	return ai
}

// AuditOptions configure the trail of a store.
type AuditOptions struct {
	// Key signs the chain head (HMAC-SHA-256). Without it the head is
	// left unsigned: edits inside the chain are still found, a cut tail
	// or a recomputed chain is not.
	Key []byte
	// Logger receives every entry after it is committed.
	Logger *slog.Logger
}

type auditConfig struct {
	key   []byte
	keyID string
	log   *slog.Logger
}

// auditState is kept by each sqlStore.
type auditState struct {
	cfg atomic.Pointer[auditConfig]
}

// AuditKeyID names a signing key without revealing it.
func AuditKeyID(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	h := sha256.New()
	h.Write([]byte("portcullis audit key id"))
	h.Write(key)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// ConfigureAudit sets the signing key and the logger of the trail.
func (s *sqlStore) ConfigureAudit(o AuditOptions) {
	c := &auditConfig{key: append([]byte(nil), o.Key...), keyID: AuditKeyID(o.Key), log: o.Logger}
	s.audit.cfg.Store(c)
}

func (s *sqlStore) auditCfg() *auditConfig {
	if c := s.audit.cfg.Load(); c != nil {
		return c
	}
	return &auditConfig{}
}

// auditChange is one change a Tx method made, before it is chained.
type auditChange struct {
	resource, action string
	before, after    string
}

// redacted is the JSON text of v for the trail ("null" for nil).
func redacted(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}

// record adds a change to the entries this write appends.
func (w *writeTx) record(resource, action string, before, after any) {
	w.changes = append(w.changes, auditChange{resource: resource, action: action, before: redacted(before), after: redacted(after)})
}

// Audit records a change that is not a store record (a reload, a
// rollback): it is appended with the others of this write.
func (w *writeTx) Audit(resource, action string, before, after any) error {
	if resource == "" || action == "" {
		return errors.New("store: an audit entry needs a resource and an action")
	}
	w.record(resource, action, before, after)
	return nil
}

// appendAudit chains the write's changes onto the trail, inside its
// transaction, and signs the new head.
func (w *writeTx) appendAudit(actor Actor) ([]AuditEntry, error) {
	if len(w.changes) == 0 {
		return nil, nil
	}
	lock := ""
	if w.s.d.name == "postgres" {
		lock = " FOR UPDATE"
	}
	var seq int64
	var prev string
	if err := w.tx.QueryRowContext(w.ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+lock).Scan(&seq, &prev); err != nil {
		return nil, fmt.Errorf("store: read audit head: %w", err)
	}
	ai := auditInfoFrom(w.ctx)
	cfg := w.s.auditCfg()
	out := make([]AuditEntry, 0, len(w.changes))
	for _, c := range w.changes {
		seq++
		e := AuditEntry{Seq: seq, At: fromMS(w.now), Revision: w.rev, ActorKind: actor.Kind, ActorName: actor.Name,
			Client: ai.Client, RequestID: ai.RequestID, Operation: ai.Operation, Resource: c.resource, Action: c.action,
			Before: json.RawMessage(c.before), After: json.RawMessage(c.after), PrevHash: prev}
		e.Hash = EntryHash(&e)
		if _, err := w.tx.ExecContext(w.ctx, w.s.q(`INSERT INTO audit_log (seq, at, revision, actor_kind, actor_name, client, request_id, operation, resource, action, before_json, after_json, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			e.Seq, w.now, e.Revision, e.ActorKind, e.ActorName, e.Client, e.RequestID, e.Operation, e.Resource, e.Action, c.before, c.after, e.PrevHash, e.Hash); err != nil {
			return nil, fmt.Errorf("store: append audit entry: %w", err)
		}
		prev = e.Hash
		out = append(out, e)
	}
	sig := ""
	if len(cfg.key) > 0 {
		sig = HeadSignature(cfg.key, seq, prev)
	}
	if _, err := w.tx.ExecContext(w.ctx, w.s.q(`UPDATE audit_head SET seq = ?, hash = ?, key_id = ?, signature = ? WHERE id = 1`), seq, prev, cfg.keyID, sig); err != nil {
		return nil, fmt.Errorf("store: update audit head: %w", err)
	}
	return out, nil
}

// logAudit writes committed entries to the log (the copy outside the
// store); before and after are already redacted.
func (s *sqlStore) logAudit(entries []AuditEntry) {
	l := s.auditCfg().log
	if l == nil {
		return
	}
	for _, e := range entries {
		l.Info("admin audit", "event", "admin_audit", "seq", e.Seq, "actor", e.ActorKind+":"+e.ActorName, "client", e.Client,
			"request_id", e.RequestID, "operation", e.Operation, "resource", e.Resource, "action", e.Action,
			"before", string(e.Before), "after", string(e.After), "revision", e.Revision, "hash", e.Hash)
	}
}

// EntryHash is the chain hash of e: SHA-256 over a fixed label and every
// field, each length-prefixed (so no two different entries encode the
// same), including the sequence number and the previous hash.
func EntryHash(e *AuditEntry) string {
	h := sha256.New()
	h.Write([]byte("portcullis audit entry v1"))
	var n [8]byte
	for _, f := range []string{
		strconv.FormatInt(e.Seq, 10), e.PrevHash, strconv.FormatInt(e.At.UnixMilli(), 10), strconv.FormatInt(e.Revision, 10),
		e.ActorKind, e.ActorName, e.Client, e.RequestID, e.Operation, e.Resource, e.Action, string(e.Before), string(e.After),
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// HeadSignature signs the chain head (its sequence number and hash).
func HeadSignature(key []byte, seq int64, hash string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("portcullis audit head v1\x00"))
	m.Write([]byte(strconv.FormatInt(seq, 10)))
	m.Write([]byte{0})
	m.Write([]byte(hash))
	return hex.EncodeToString(m.Sum(nil))
}

const auditColumns = `seq, at, revision, actor_kind, actor_name, client, request_id, operation, resource, action, before_json, after_json, prev_hash, hash`

func scanAudit(rows *sql.Rows) (AuditEntry, error) {
	var e AuditEntry
	var at int64
	var before, after string
	err := rows.Scan(&e.Seq, &at, &e.Revision, &e.ActorKind, &e.ActorName, &e.Client, &e.RequestID, &e.Operation, &e.Resource, &e.Action, &before, &after, &e.PrevHash, &e.Hash)
	e.At = time.UnixMilli(at).UTC()
	e.Before, e.After = json.RawMessage(before), json.RawMessage(after)
	return e, err
}

// AuditTrail lists entries matching q, oldest first.
func (s *sqlStore) AuditTrail(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	where := []string{"seq > ?"}
	args := []any{q.AfterSeq}
	if q.Actor != "" {
		if kind, name, ok := strings.Cut(q.Actor, ":"); ok {
			where, args = append(where, "actor_kind = ? AND actor_name = ?"), append(args, kind, name)
		} else {
			where, args = append(where, "actor_name = ?"), append(args, q.Actor)
		}
	}
	if q.Resource != "" {
		where, args = append(where, "resource = ?"), append(args, q.Resource)
	}
	if q.Action != "" {
		where, args = append(where, "action = ?"), append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, q.Until.UnixMilli())
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+auditColumns+` FROM audit_log WHERE `+strings.Join(where, " AND ")+` ORDER BY seq LIMIT `+strconv.Itoa(limit)), args...)
	if err != nil {
		return nil, fmt.Errorf("store: read audit trail: %w", err)
	}
	out, err := scanAll(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("store: read audit trail: %w", err)
	}
	return out, nil
}

// VerifyProblem is the first thing wrong with the trail.
type VerifyProblem struct {
	// Seq is the entry at fault (0: the head).
	Seq int64
	// Kind: "edited", "removed", "reordered", "truncated", "head".
	Kind   string
	Detail string
}

func (p *VerifyProblem) Error() string {
	if p.Seq == 0 {
		return fmt.Sprintf("audit trail: %s: %s", p.Kind, p.Detail)
	}
	return fmt.Sprintf("audit trail: entry %d %s: %s", p.Seq, p.Kind, p.Detail)
}

// VerifyReport is the result of VerifyAudit.
type VerifyReport struct {
	Entries int64
	HeadSeq int64
	Signed  bool
	// Problem is nil for an intact trail.
	Problem *VerifyProblem
}

// VerifyAudit reads the whole trail in sequence order and checks every
// link, then the head: its sequence number and hash must be the last
// entry's, and, with key, its signature must hold. It stops at the first
// problem: what follows an edit cannot be trusted to be the cause.
func (s *sqlStore) VerifyAudit(ctx context.Context, key []byte) (*VerifyReport, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.d.name == "postgres", Isolation: s.readIsolation()})
	if err != nil {
		return nil, fmt.Errorf("store: verify: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	var head AuditHead
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash, key_id, signature FROM audit_head WHERE id = 1`).Scan(&head.Seq, &head.Hash, &head.KeyID, &head.Signature); err != nil {
		return nil, fmt.Errorf("store: read audit head: %w", err)
	}
	// Physical order (not ORDER BY seq) would not show a swap of sequence
	// numbers; reading by seq and checking each link does.
	rows, err := tx.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("store: read audit trail: %w", err)
	}
	all, err := scanAll(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("store: read audit trail: %w", err)
	}
	r := &VerifyReport{HeadSeq: head.Seq, Entries: int64(len(all))}
	var want int64 = 1
	prev := ""
	for _, e := range all {
		switch {
		case e.Seq > want:
			r.Problem = &VerifyProblem{Seq: want, Kind: "removed", Detail: fmt.Sprintf("entries %d to %d are missing (the next one present is %d)", want, e.Seq-1, e.Seq)}
			return r, nil
		case EntryHash(&e) != e.Hash:
			r.Problem = mismatch(e, all, int64(len(all))+head.Seq)
			return r, nil
		case e.PrevHash != prev:
			r.Problem = &VerifyProblem{Seq: e.Seq, Kind: "removed", Detail: "it does not link to the entry before it: an entry before it was removed or replaced"}
			return r, nil
		}
		prev = e.Hash
		want++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read audit trail: %w", err)
	}
	last := want - 1
	switch {
	case head.Seq > last:
		r.Problem = &VerifyProblem{Seq: last + 1, Kind: "removed", Detail: fmt.Sprintf("the signed head says the trail has %d entries; entries %d to %d are missing (truncated)", head.Seq, last+1, head.Seq)}
		return r, nil
	case head.Seq < last || head.Hash != prev:
		r.Problem = &VerifyProblem{Kind: "head", Detail: fmt.Sprintf("the head (entry %d) does not match the last entry (%d): the head or the tail was changed", head.Seq, last)}
		return r, nil
	}
	if len(key) > 0 {
		r.Signed = true
		switch {
		case head.Signature == "" && head.Seq > 0:
			r.Problem = &VerifyProblem{Kind: "head", Detail: "the head is not signed (entries were written without admin.audit.signing_key, or the signature was removed)"}
		case head.Seq > 0 && !hmac.Equal([]byte(head.Signature), []byte(HeadSignature(key, head.Seq, head.Hash))):
			detail := "the head's signature does not verify with this key: the head was rewritten"
			if head.KeyID != AuditKeyID(key) {
				detail = fmt.Sprintf("the head was signed with key %s, not with this key (%s)", head.KeyID, AuditKeyID(key))
			}
			r.Problem = &VerifyProblem{Kind: "head", Detail: detail}
		}
	}
	return r, nil
}

// mismatch explains an entry whose content does not match its hash. An
// entry that verifies under another sequence number was moved: if the
// entry it links to is nowhere in the table, the entries before it were
// removed and the rest renumbered; if it is still there, the entries were
// reordered.
func mismatch(e AuditEntry, all []AuditEntry, maxSeq int64) *VerifyProblem {
	for m := int64(1); m <= maxSeq; m++ {
		if m == e.Seq {
			continue
		}
		x := e
		x.Seq = m
		if EntryHash(&x) != e.Hash {
			continue
		}
		present := e.PrevHash == ""
		for _, o := range all {
			present = present || o.Hash == e.PrevHash
		}
		if !present {
			return &VerifyProblem{Seq: e.Seq, Kind: "removed", Detail: fmt.Sprintf("it was written as entry %d and the entry before it is gone: entries were removed and the rest renumbered", m)}
		}
		return &VerifyProblem{Seq: e.Seq, Kind: "reordered", Detail: fmt.Sprintf("it was written as entry %d (%s %s)", m, e.Action, e.Resource)}
	}
	return &VerifyProblem{Seq: e.Seq, Kind: "edited", Detail: fmt.Sprintf("its content does not match its hash (%s %s by %s:%s)", e.Action, e.Resource, e.ActorKind, e.ActorName)}
}
