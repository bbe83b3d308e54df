package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestAuditChainStaysLinearAcrossNodes: three stores (three nodes) on one
// PostgreSQL schema append concurrently; every entry is there once, the
// sequence has no gap, every link holds and the signed head verifies.
func TestAuditChainStaysLinearAcrossNodes(t *testing.T) {
	schema := randomSchema()
	defer dropSchema(t, schema)
	kr, _ := testKeys(t)
	key := []byte("0123456789abcdef0123456789abcdef")
	var nodes []Store
	for range 3 {
		s, err := OpenPostgres(context.Background(), PostgresOptions{DSN: testPGDSN(), Schema: schema}, kr)
		if err != nil {
			t.Fatalf("PostgreSQL at %s is needed: %v", testPGDSN(), err)
		}
		defer s.Close()
		s.ConfigureAudit(AuditOptions{Key: key})
		nodes = append(nodes, s)
	}
	const perNode = 15
	var wg sync.WaitGroup
	errs := make(chan error, 3*perNode)
	for i, s := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perNode {
				name := fmt.Sprintf("n%d-c%d", i, j)
				_, err := s.Write(context.Background(), Actor{Kind: "test", Name: fmt.Sprint(i)}, func(tx Tx) error {
					return tx.CreateConsumer(&Consumer{Name: name})
				})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r, err := nodes[1].VerifyAudit(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if r.Problem != nil || r.Entries != 3*perNode || r.HeadSeq != 3*perNode || !r.Signed {
		t.Fatalf("report %+v problem %v", r, r.Problem)
	}
	es, err := nodes[2].AuditTrail(context.Background(), AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range es {
		if e.Seq != int64(i+1) || e.Action != "create" || seen[e.Resource] {
			t.Fatalf("entry %d: %+v", i, e)
		}
		seen[e.Resource] = true
	}
}

// TestAuditEntryInSameTransaction: a write that fails leaves neither the
// change nor an entry; one that succeeds leaves both, with before and
// after, on both backends.
func TestAuditEntryInSameTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, _ string, _ *Keyring) {
		mustWrite(t, s, func(tx Tx) error { return tx.CreateConsumer(&Consumer{Name: "a", Groups: []string{"g1"}}) })
		_, err := write(t, s, func(tx Tx) error {
			if err := tx.UpdateConsumer(&Consumer{Name: "a", Groups: []string{"g2"}}, 0); err != nil {
				return err
			}
			return tx.CreateConsumer(&Consumer{Name: "a"}) // exists: the whole write fails
		})
		if err == nil {
			t.Fatal("the failing write succeeded")
		}
		es, err := s.AuditTrail(context.Background(), AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Resource != "consumer:a" || string(es[0].Before) != "null" || !strings.Contains(string(es[0].After), `"g1"`) {
			t.Fatalf("trail after a failed write: %+v", es)
		}
		mustWrite(t, s, func(tx Tx) error { return tx.UpdateConsumer(&Consumer{Name: "a", Groups: []string{"g3"}}, 0) })
		es, _ = s.AuditTrail(context.Background(), AuditQuery{Action: "update"})
		if len(es) != 1 || !strings.Contains(string(es[0].Before), `"g1"`) || !strings.Contains(string(es[0].After), `"g3"`) || es[0].PrevHash == "" {
			t.Fatalf("update entry: %+v", es)
		}
		if r, err := s.VerifyAudit(context.Background(), nil); err != nil || r.Problem != nil {
			t.Fatalf("verify: %v %v", err, r.Problem)
		}
	})
}

// TestEntryHashCoversEveryField: changing any field of an entry changes
// its hash (so an edit of any column is found).
func TestEntryHashCoversEveryField(t *testing.T) {
	base := AuditEntry{Seq: 3, Revision: 9, ActorKind: "token", ActorName: "t1", Client: "127.0.0.1", RequestID: "r", Operation: "POST /x",
		Resource: "consumer:a", Action: "create", Before: []byte("null"), After: []byte(`{"a":1}`), PrevHash: "ab"}
	h := EntryHash(&base)
	for _, tc := range []struct {
		desc string
		edit func(e *AuditEntry)
	}{
		{"seq", func(e *AuditEntry) { e.Seq++ }},
		{"revision", func(e *AuditEntry) { e.Revision++ }},
		{"time", func(e *AuditEntry) { e.At = e.At.Add(1e6) }},
		{"actor kind", func(e *AuditEntry) { e.ActorKind = "user" }},
		{"actor name", func(e *AuditEntry) { e.ActorName = "t2" }},
		{"client", func(e *AuditEntry) { e.Client = "10.0.0.1" }},
		{"request id", func(e *AuditEntry) { e.RequestID = "s" }},
		{"operation", func(e *AuditEntry) { e.Operation = "PUT /x" }},
		{"resource", func(e *AuditEntry) { e.Resource = "consumer:b" }},
		{"action", func(e *AuditEntry) { e.Action = "delete" }},
		{"before", func(e *AuditEntry) { e.Before = []byte("{}") }},
		{"after", func(e *AuditEntry) { e.After = []byte(`{"a":2}`) }},
		{"previous hash", func(e *AuditEntry) { e.PrevHash = "ac" }},
		{"a byte moved between fields", func(e *AuditEntry) { e.ActorKind, e.ActorName = "toke", "nt1" }},
	} {
		e := base
		tc.edit(&e)
		if EntryHash(&e) == h {
			t.Errorf("%s: the hash did not change", tc.desc)
		}
	}
	if HeadSignature([]byte("k1"), 3, h) == HeadSignature([]byte("k2"), 3, h) || HeadSignature([]byte("k1"), 3, h) == HeadSignature([]byte("k1"), 4, h) {
		t.Error("the head signature does not depend on its key and sequence")
	}
}

// TestAuditUsersAndSecretsRedacted: administrators and named secrets are
// in the trail with their role and version, never with a password hash,
// a TOTP secret, a recovery code digest or a secret's value.
func TestAuditUsersAndSecretsRedacted(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, _ string, _ *Keyring) {
		u := &User{Name: "alice", Role: RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", TOTPSecret: []byte("totp-secret-0123456789")}
		mustWrite(t, s, func(tx Tx) error { return tx.CreateUser(u, []string{"recovery-digest-1"}) })
		mustWrite(t, s, func(tx Tx) error {
			return tx.UpdateUser(&User{Name: "alice", Role: RoleOperator, PasswordHash: "$argon2id$v=19$new-hash"}, 0)
		})
		mustWrite(t, s, func(tx Tx) error {
			return tx.EnrolTOTP("alice", []byte("totp-secret-new-9876543210"), []string{"recovery-digest-2"})
		})
		mustWrite(t, s, func(tx Tx) error {
			return tx.CreateSecret(&Secret{Name: "hook", Value: []byte("named-secret-value-0123456789abcdef")})
		})
		mustWrite(t, s, func(tx Tx) error { return tx.DeleteUser("alice", 0) })
		es, err := s.AuditTrail(context.Background(), AuditQuery{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		var actions []string
		for _, e := range es {
			fmt.Fprintln(&all, e.Resource, e.Action, string(e.Before), string(e.After))
			actions = append(actions, e.Resource+" "+e.Action)
		}
		want := "[user:alice create user:alice update_password user:alice enrol_totp secret:hook create user:alice delete]"
		if fmt.Sprint(actions) != want {
			t.Fatalf("actions %v, want %s", actions, want)
		}
		if !strings.Contains(all.String(), `"role":"operator"`) {
			t.Fatalf("the role change is not in the trail:\n%s", all.String())
		}
		for _, secret := range []string{"argon2id", "totp-secret", "recovery-digest", "named-secret-value"} {
			if strings.Contains(all.String(), secret) {
				t.Errorf("%q is in the trail", secret)
			}
		}
	})
}
