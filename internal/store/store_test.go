package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// testPGDSN is the PostgreSQL the tests use (.ci/run starts it).
func testPGDSN() string {
	if v := os.Getenv("PORTCULLIS_TEST_PG"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

func testKeys(t testing.TB) (*Keyring, []byte) {
	t.Helper()
	raw := make([]byte, MasterKeyLen)
	_, _ = rand.Read(raw)
	kr, err := NewKeyring(raw)
	if err != nil {
		t.Fatal(err)
	}
	return kr, raw
}

// backend opens a fresh store of one kind; where names its file or schema.
type backend struct {
	name string
	open func(t *testing.T, kr *Keyring) (s Store, where string)
}

func randomSchema() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t_store_" + hex.EncodeToString(b)
}

var backends = []backend{
	{"sqlite", func(t *testing.T, kr *Keyring) (Store, string) {
		path := filepath.Join(t.TempDir(), "store.db")
		s, err := OpenSQLite(context.Background(), path, kr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, path
	}},
	{"postgres", func(t *testing.T, kr *Keyring) (Store, string) {
		schema := randomSchema()
		s, err := OpenPostgres(context.Background(), PostgresOptions{DSN: testPGDSN(), Schema: schema}, kr)
		if err != nil {
			t.Fatalf("PostgreSQL at %s is needed (.ci/run starts it): %v", testPGDSN(), err)
		}
		t.Cleanup(func() {
			_ = s.Close()
			dropSchema(t, schema)
		})
		return s, schema
	}},
}

func pgDB(t testing.TB, schema string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", testPGDSN()+"&search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var _ = stdlib.GetDefaultDriver

func dropSchema(t testing.TB, schema string) {
	db := pgDB(t, schema)
	defer db.Close()
	_, _ = db.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`)
}

func eachBackend(t *testing.T, f func(t *testing.T, s Store, where string, kr *Keyring)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			kr, _ := testKeys(t)
			s, where := b.open(t, kr)
			f(t, s, where, kr)
		})
	}
}

func write(t *testing.T, s Store, fn func(Tx) error) (int64, error) {
	t.Helper()
	return s.Write(context.Background(), Actor{Kind: "test", Name: t.Name()}, fn)
}

func mustWrite(t *testing.T, s Store, fn func(Tx) error) int64 {
	t.Helper()
	rev, err := write(t, s, fn)
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func TestConsumerCRUDAndVersions(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, _ string, _ *Keyring) {
		ctx := context.Background()
		r0, _ := s.Revision(ctx)
		c := &Consumer{Name: "acme", Groups: []string{"partners"}, Metadata: map[string]string{"team": "x"}}
		r1 := mustWrite(t, s, func(tx Tx) error { return tx.CreateConsumer(c) })
		if r1 != r0+1 || c.Version != 1 {
			t.Fatalf("revision %d -> %d, version %d", r0, r1, c.Version)
		}
		if _, err := write(t, s, func(tx Tx) error { return tx.CreateConsumer(&Consumer{Name: "acme"}) }); !errors.Is(err, ErrExists) {
			t.Fatalf("duplicate create: %v", err)
		}
		// A failed write changes nothing, the revision included.
		if r, _ := s.Revision(ctx); r != r1 {
			t.Fatalf("revision after a failed write = %d, want %d", r, r1)
		}
		upd := &Consumer{Name: "acme", Groups: []string{"partners", "gold"}}
		mustWrite(t, s, func(tx Tx) error { return tx.UpdateConsumer(upd, 1) })
		if upd.Version != 2 {
			t.Fatalf("version after update = %d", upd.Version)
		}
		if _, err := write(t, s, func(tx Tx) error { return tx.UpdateConsumer(&Consumer{Name: "acme"}, 1) }); !errors.Is(err, ErrVersion) {
			t.Fatalf("stale update: %v", err)
		}
		if _, err := write(t, s, func(tx Tx) error { return tx.UpdateConsumer(&Consumer{Name: "nobody"}, 0) }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of a missing consumer: %v", err)
		}
		st, err := s.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Consumers) != 1 || strings.Join(st.Consumers[0].Groups, ",") != "partners,gold" || st.Consumers[0].Version != 2 {
			t.Fatalf("state consumers = %+v", st.Consumers)
		}
		mustWrite(t, s, func(tx Tx) error {
			return tx.CreateCredential(&Credential{ID: "k1", Consumer: "acme", Kind: KindAPIKey, Lookup: "sha256:aa", Data: CredentialData{Hash: "sha256:aa"}})
		})
		if _, err := write(t, s, func(tx Tx) error { return tx.DeleteConsumer("acme", 1) }); !errors.Is(err, ErrVersion) {
			t.Fatalf("stale delete: %v", err)
		}
		mustWrite(t, s, func(tx Tx) error { return tx.DeleteConsumer("acme", 2) })
		st, _ = s.State(ctx)
		if len(st.Consumers) != 0 || len(st.Credentials) != 0 {
			t.Fatalf("after delete: %+v %+v", st.Consumers, st.Credentials)
		}
	})
}

func TestCredentialUniqueness(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, _ string, _ *Keyring) {
		mustWrite(t, s, func(tx Tx) error {
			if err := tx.CreateConsumer(&Consumer{Name: "a"}); err != nil {
				return err
			}
			return tx.CreateConsumer(&Consumer{Name: "b"})
		})
		mustWrite(t, s, func(tx Tx) error {
			return tx.CreateCredential(&Credential{ID: "a-jwt", Consumer: "a", Kind: KindJWT, Lookup: "kid1", Data: CredentialData{Key: "kid1", Algorithm: "RS256"}})
		})
		for _, tc := range []struct {
			desc string
			c    Credential
			want error
		}{
			{"same jwt key on another consumer", Credential{ID: "b-jwt", Consumer: "b", Kind: KindJWT, Lookup: "kid1"}, ErrExists},
			{"same id", Credential{ID: "a-jwt", Consumer: "b", Kind: KindBasic, Lookup: "u"}, ErrExists},
			{"missing consumer", Credential{ID: "z", Consumer: "nobody", Kind: KindBasic, Lookup: "z"}, ErrNotFound},
		} {
			if _, err := write(t, s, func(tx Tx) error { return tx.CreateCredential(&tc.c) }); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.desc, err, tc.want)
			}
		}
		if _, err := write(t, s, func(tx Tx) error { return tx.DeleteCredential("b", "a-jwt", 0) }); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleting another consumer's credential: %v", err)
		}
	})
}

// TestSecretsSealedAtRest stores HMAC secrets, then reads every byte of
// the SQLite file (WAL included) or every row of every PostgreSQL table
// and finds none of them, in raw, hex or base64 form; the state still
// opens them.
func TestSecretsSealedAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, where string, _ *Keyring) {
		ctx := context.Background()
		var secrets [][]byte
		mustWrite(t, s, func(tx Tx) error {
			if err := tx.CreateConsumer(&Consumer{Name: "app"}); err != nil {
				return err
			}
			for i := range 5 {
				sec := make([]byte, 48)
				_, _ = rand.Read(sec)
				secrets = append(secrets, sec)
				c := &Credential{ID: fmt.Sprintf("jwt-%d", i), Consumer: "app", Kind: KindJWT, Lookup: fmt.Sprintf("kid-%d", i),
					Data: CredentialData{Key: fmt.Sprintf("kid-%d", i), Algorithm: "HS384"}, Secret: sec}
				if err := tx.CreateCredential(c); err != nil {
					return err
				}
			}
			// Signed-request keys (hmac-sha256) are sealed the same way.
			for i := range 2 {
				sec := make([]byte, 48)
				_, _ = rand.Read(sec)
				secrets = append(secrets, sec)
				c := &Credential{ID: fmt.Sprintf("sig-%d", i), Consumer: "app", Kind: KindSignatureKey, Lookup: fmt.Sprintf("sigkey-%d", i),
					Data: CredentialData{Key: fmt.Sprintf("sigkey-%d", i), Algorithm: "hmac-sha256"}, Secret: sec}
				if err := tx.CreateCredential(c); err != nil {
					return err
				}
			}
			return nil
		})
		// Named secrets (webhook keys), created and then replaced: neither
		// the first nor the second value may be in the store.
		var named [][]byte
		for range 3 {
			v := make([]byte, 40)
			_, _ = rand.Read(v)
			named = append(named, v)
		}
		mustWrite(t, s, func(tx Tx) error {
			if err := tx.CreateSecret(&Secret{Name: "hook-a", Value: named[0]}); err != nil {
				return err
			}
			return tx.CreateSecret(&Secret{Name: "hook-b", Value: named[1]})
		})
		mustWrite(t, s, func(tx Tx) error { return tx.UpdateSecret(&Secret{Name: "hook-b", Value: named[2]}, 1) })
		secrets = append(secrets, named...)
		st, err := s.State(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Credentials) != 7 || len(st.Secrets) != 2 || len(st.Problems) != 0 {
			t.Fatalf("state: %d credentials, %d secrets, problems %v", len(st.Credentials), len(st.Secrets), st.Problems)
		}
		for i, c := range st.Credentials {
			if !bytes.Equal(c.Secret, secrets[i]) {
				t.Fatalf("credential %s: secret does not round-trip", c.ID)
			}
		}
		if !bytes.Equal(st.Secrets[0].Value, named[0]) || !bytes.Equal(st.Secrets[1].Value, named[2]) || st.Secrets[1].Version != 2 {
			t.Fatalf("named secrets do not round-trip: %+v", st.Secrets)
		}
		// Rekey reseals the named secrets too (2 + 5 + 2 = 9 sealed values).
		var resealed int
		mustWrite(t, s, func(tx Tx) error {
			n, err := tx.Rekey()
			resealed = n
			return err
		})
		if resealed != 9 {
			t.Fatalf("rekey resealed %d secrets, want 9", resealed)
		}
		var haystack []byte
		if s.Driver() == "sqlite" {
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				b, err := os.ReadFile(where + suffix)
				if err == nil {
					haystack = append(haystack, b...)
				}
			}
		} else {
			db := pgDB(t, where)
			defer db.Close()
			rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1`, where)
			if err != nil {
				t.Fatal(err)
			}
			var tables []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				tables = append(tables, n)
			}
			_ = rows.Close()
			if len(tables) < 6 {
				t.Fatalf("tables = %v", tables)
			}
			for _, tb := range tables {
				r, err := db.Query(`SELECT row_to_json(t)::text FROM ` + tb + ` t`)
				if err != nil {
					t.Fatal(err)
				}
				for r.Next() {
					var line string
					_ = r.Scan(&line)
					haystack = append(haystack, line...)
				}
				_ = r.Close()
			}
		}
		if len(haystack) == 0 {
			t.Fatal("nothing read from the store")
		}
		for _, sec := range secrets {
			for _, form := range [][]byte{sec, []byte(hex.EncodeToString(sec)), []byte(base64.StdEncoding.EncodeToString(sec)),
				[]byte(base64.RawURLEncoding.EncodeToString(sec)), sec[:16]} {
				if bytes.Contains(haystack, form) {
					t.Fatalf("a plain secret (or part of one) is in the %s store", s.Driver())
				}
			}
		}
	})
}

// TestSealedSecretBoundToRecord: a ciphertext copied into another
// credential does not open, and a store read with the wrong master key
// reports the credential as a problem instead of failing.
func TestSealedSecretBoundToRecord(t *testing.T) {
	kr, _ := testKeys(t)
	sealed, err := kr.Seal(credentialAAD("a", KindJWT, "app"), []byte("s3cret-s3cret-s3cret-s3cret-s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := kr.Open(credentialAAD("b", KindJWT, "app"), sealed); err == nil {
		t.Fatal("a secret moved to another record opened")
	}
	if _, _, err := kr.Open(credentialAAD("a", KindJWT, "other"), sealed); err == nil {
		t.Fatal("a secret moved to another consumer opened")
	}
	other, _ := testKeys(t)
	if _, _, err := other.Open(credentialAAD("a", KindJWT, "app"), sealed); err == nil {
		t.Fatal("opened under another master key")
	}
	if p, _, err := kr.Open(credentialAAD("a", KindJWT, "app"), sealed); err != nil || string(p) != "s3cret-s3cret-s3cret-s3cret-s3cret" {
		t.Fatalf("open: %q %v", p, err)
	}
}

// TestRekey rotates the master key: with the new key current and the old
// one previous, Rekey reseals every secret; the new key alone then opens
// everything, and the old key alone opens nothing.
func TestRekey(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			oldKR, oldRaw := testKeys(t)
			s, _ := b.open(t, oldKR)
			mustWrite(t, s, func(tx Tx) error {
				if err := tx.CreateConsumer(&Consumer{Name: "app"}); err != nil {
					return err
				}
				if err := tx.CreateSecret(&Secret{Name: "db", Value: []byte("db-password")}); err != nil {
					return err
				}
				if err := tx.RecordConfig(&ConfigVersion{SHA256: "aa", Source: "start", Raw: []byte("routes: []\n")}); err != nil {
					return err
				}
				return tx.CreateCredential(&Credential{ID: "j", Consumer: "app", Kind: KindJWT, Lookup: "j", Data: CredentialData{Key: "j", Algorithm: "HS256"}, Secret: []byte("0123456789abcdef0123456789abcdef")})
			})
			newRaw := make([]byte, MasterKeyLen)
			_, _ = rand.Read(newRaw)
			both, err := NewKeyring(newRaw, oldRaw)
			if err != nil {
				t.Fatal(err)
			}
			s.(*sqlStore).SetKeyring(both)
			var n int
			mustWrite(t, s, func(tx Tx) error { n, err = tx.Rekey(); return err })
			if n != 2 { // the credential and the named secret (config files are counted in the trail)
				t.Fatalf("resealed %d", n)
			}
			newOnly, _ := NewKeyring(newRaw)
			s.(*sqlStore).SetKeyring(newOnly)
			st, err := s.State(ctx)
			if err != nil || len(st.Credentials) != 1 || len(st.Secrets) != 1 || string(st.Secrets[0].Value) != "db-password" || len(st.Problems) != 0 {
				t.Fatalf("with the new key: %v %+v %+v %v", err, st.Credentials, st.Secrets, st.Problems)
			}
			if v, err := s.GetConfigVersion(ctx, 1); err != nil || string(v.Raw) != "routes: []\n" {
				t.Fatalf("config version with the new key: %v %v", v, err)
			}
			s.(*sqlStore).SetKeyring(oldKR)
			st, _ = s.State(ctx)
			if len(st.Credentials) != 0 || len(st.Secrets) != 0 || len(st.Problems) != 2 {
				t.Fatalf("the old key still opens: %+v %+v %v", st.Credentials, st.Secrets, st.Problems)
			}
			if _, err := s.GetConfigVersion(ctx, 1); err == nil {
				t.Fatal("the old key still opens the kept config file")
			}
		})
	}
}

// TestMigrationNewerStoreRefused: a store migrated by a newer binary is
// refused, and reopening a current one is a no-op.
func TestMigrationNewerStoreRefused(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			kr, _ := testKeys(t)
			s, where := b.open(t, kr)
			ss := s.(*sqlStore)
			if _, err := ss.db.Exec(ss.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`), SchemaVersion()+1); err != nil {
				t.Fatal(err)
			}
			var err error
			if b.name == "sqlite" {
				_, err = OpenSQLite(context.Background(), where, kr)
			} else {
				_, err = OpenPostgres(context.Background(), PostgresOptions{DSN: testPGDSN(), Schema: where}, kr)
			}
			if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
				t.Fatalf("open of a newer store: %v", err)
			}
		})
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	schema := randomSchema()
	defer dropSchema(t, schema)
	kr, _ := testKeys(t)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenPostgres(context.Background(), PostgresOptions{DSN: testPGDSN(), Schema: schema}, kr)
			if err == nil {
				_ = s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNotifyReachesOtherNode: a write through one PostgreSQL store is
// announced to another opened on the same schema.
func TestNotifyReachesOtherNode(t *testing.T) {
	schema := randomSchema()
	defer dropSchema(t, schema)
	kr, _ := testKeys(t)
	a, err := OpenPostgres(context.Background(), PostgresOptions{DSN: testPGDSN(), Schema: schema}, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenPostgres(context.Background(), PostgresOptions{DSN: testPGDSN(), Schema: schema}, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The first signal says "listening"; drain it.
	select {
	case <-b.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("listener never connected")
	}
	mustWrite(t, a, func(tx Tx) error { return tx.CreateConsumer(&Consumer{Name: "x"}) })
	select {
	case <-b.Changes():
	case <-time.After(2 * time.Second):
		t.Fatal("no notification within 2s")
	}
}

func TestUsageAddsOverNodes(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, _ string, _ *Keyring) {
		t1 := time.UnixMilli(1_800_000_000_000).UTC()
		ctx := context.Background()
		r0, _ := s.Revision(ctx)
		if err := s.AddUsage(ctx, []Usage{{KeyID: "k", Consumer: "c", Requests: 3, Refused: 1, LastUsed: t1, LastClient: "10.0.0.1"}}); err != nil {
			t.Fatal(err)
		}
		// Another node, with an older last use.
		if err := s.AddUsage(ctx, []Usage{{KeyID: "k", Consumer: "c", Requests: 2, LastUsed: t1.Add(-time.Minute), LastClient: "10.0.0.2"}}); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Revision(ctx); r != r0 {
			t.Fatalf("usage bumped the revision %d -> %d (every node would reload)", r0, r)
		}
		us, err := s.Usage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(us) != 1 || us[0].Requests != 5 || us[0].Refused != 1 || !us[0].LastUsed.Equal(t1) || us[0].LastClient != "10.0.0.1" {
			t.Fatalf("usage = %+v", us)
		}
	})
}

func TestBansAndLifts(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, _ string, _ *Keyring) {
		until := time.Now().Add(time.Hour).Truncate(time.Millisecond).UTC()
		mustWrite(t, s, func(tx Tx) error {
			return tx.PutBan(&Ban{Address: "192.0.2.1", Until: until, Reason: "abuse", CreatedBy: "t"})
		})
		rev := mustWrite(t, s, func(tx Tx) error { return tx.LiftBan("192.0.2.1") })
		st, _ := s.State(context.Background())
		if len(st.Bans) != 1 || !st.Bans[0].Lifted || st.Bans[0].Rev != rev {
			t.Fatalf("bans = %+v", st.Bans)
		}
	})
}
