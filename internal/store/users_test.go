package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAdminUserSecondFactorRules: on both databases a TOTP step and a
// recovery code are accepted once, the TOTP secret is sealed at rest,
// failed logins count within their window, and deleting a user ends its
// sessions.
func TestAdminUserSecondFactorRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, s Store, where string, kr *Keyring) {
		ctx := context.Background()
		secret := []byte("totp-secret-0123456789-abcdefgh!")
		u := &User{Name: "alice", Role: RoleAdmin, PasswordHash: "$argon2id$x", TOTPSecret: secret}
		mustWrite(t, s, func(tx Tx) error { return tx.CreateUser(u, []string{"h1", "h2"}) })
		if _, err := write(t, s, func(tx Tx) error {
			return tx.CreateUser(&User{Name: "alice", Role: RoleAdmin, TOTPSecret: secret}, nil)
		}); !errors.Is(err, ErrExists) {
			t.Errorf("second alice: %v, want ErrExists", err)
		}
		got, err := s.User(ctx, "alice")
		if err != nil || !bytes.Equal(got.TOTPSecret, secret) || got.Role != RoleAdmin {
			t.Fatalf("User: %+v %v", got, err)
		}
		if s.Driver() == "sqlite" {
			_ = s.Close()
			raw, _ := os.ReadFile(where)
			wal, _ := os.ReadFile(where + "-wal")
			if bytes.Contains(raw, secret) || bytes.Contains(wal, secret) {
				t.Fatal("the TOTP secret is in the SQLite file in clear")
			}
			s2, err := OpenSQLite(ctx, where, kr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s2.Close() })
			s = s2
		} else {
			db := pgDB(t, where)
			defer db.Close()
			var sealed string
			if err := db.QueryRow(`SELECT totp_secret FROM admin_users WHERE name = 'alice'`).Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(sealed, string(secret)) || !strings.HasPrefix(sealed, "pcs1:") {
				t.Fatalf("the TOTP secret is not sealed in PostgreSQL: %q", sealed)
			}
		}
		for _, tc := range []struct {
			desc string
			step int64
			want bool
		}{
			{"first use of a step", 100, true},
			{"the same step again (replay)", 100, false},
			{"an earlier step", 99, false},
			{"a later step", 101, true},
		} {
			ok, err := s.UseTOTPStep(ctx, "alice", tc.step)
			if err != nil || ok != tc.want {
				t.Errorf("%s: %v %v, want %v", tc.desc, ok, err, tc.want)
			}
		}
		for _, tc := range []struct {
			desc, hash string
			want       bool
		}{
			{"unused code", "h1", true},
			{"the same code again", "h1", false},
			{"unknown code", "h9", false},
			{"the other code", "h2", true},
		} {
			ok, err := s.UseRecoveryCode(ctx, "alice", tc.hash)
			if err != nil || ok != tc.want {
				t.Errorf("%s: %v %v, want %v", tc.desc, ok, err, tc.want)
			}
		}
		f, err := s.AddLoginFailure(ctx, []string{"user:alice", "addr:10.0.0.1"}, time.Hour)
		if err != nil || f[0].Count != 1 || f[1].Count != 1 {
			t.Fatalf("AddLoginFailure: %+v %v", f, err)
		}
		f, _ = s.AddLoginFailure(ctx, []string{"user:alice"}, time.Hour)
		if f[0].Count != 2 {
			t.Errorf("second failure counted %d", f[0].Count)
		}
		if err := s.ClearLoginFailures(ctx, "user:alice"); err != nil {
			t.Fatal(err)
		}
		f, _ = s.LoginFailures(ctx, []string{"user:alice", "addr:10.0.0.1"}, time.Hour)
		if f[0].Count != 0 || f[1].Count != 1 {
			t.Errorf("after clearing the user: %+v", f)
		}
		now := time.Now()
		if err := s.CreateSession(ctx, &Session{IDHash: "sid", User: "alice", CSRFHash: "c", Client: "127.0.0.1", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour)}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if se, err := s.Session(ctx, "sid"); err != nil || se.User != "alice" {
			t.Fatalf("Session: %+v %v", se, err)
		}
		mustWrite(t, s, func(tx Tx) error { return tx.DeleteUser("alice", 0) })
		if _, err := s.Session(ctx, "sid"); !errors.Is(err, ErrNotFound) {
			t.Errorf("session of a deleted user: %v", err)
		}
	})
}

// TestAdminUserTOTPSecretRekeyed: rekey reseals administrators' TOTP
// secrets under the new master key, so they open once the old key is
// gone.
func TestAdminUserTOTPSecretRekeyed(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			oldKR, oldRaw := testKeys(t)
			s, _ := b.open(t, oldKR)
			secret := []byte("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
			mustWrite(t, s, func(tx Tx) error {
				return tx.CreateUser(&User{Name: "alice", Role: RoleAdmin, PasswordHash: "h", TOTPSecret: secret}, nil)
			})
			_, newRaw := testKeys(t)
			both, err := NewKeyring(newRaw, oldRaw)
			if err != nil {
				t.Fatal(err)
			}
			s.SetKeyring(both)
			mustWrite(t, s, func(tx Tx) error { _, err := tx.Rekey(); return err })
			only, err := NewKeyring(newRaw)
			if err != nil {
				t.Fatal(err)
			}
			s.SetKeyring(only)
			u, err := s.User(ctx, "alice")
			if err != nil || !bytes.Equal(u.TOTPSecret, secret) {
				t.Fatalf("after rekey, with the new key only: %v", err)
			}
			s.SetKeyring(oldKR)
			if _, err := s.User(ctx, "alice"); err == nil {
				t.Fatal("the old key alone still opens the resealed secret")
			}
		})
	}
}
