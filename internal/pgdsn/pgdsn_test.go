package pgdsn

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portcullis/portcullis/internal/tlspolicy"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

const password = "dsn-test-password"

func TestParse(t *testing.T) {
	srv := tlspolicytest.NewServer(t, http.NotFoundHandler(), 0)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	for _, tc := range []struct {
		desc, dsn, wantErr string // wantErr "": accepted
	}{
		{desc: "loopback address, default sslmode", dsn: "postgres://u:" + password + "@127.0.0.1:5432/db"},
		{desc: "loopback IPv6 without TLS", dsn: "postgres://u:" + password + "@[::1]:5432/db?sslmode=disable"},
		{desc: "localhost without TLS", dsn: "host=localhost user=u password=" + password + " sslmode=disable"},
		{desc: "Unix socket", dsn: "host=/var/run/postgresql user=u password=" + password},
		{desc: "remote host, verify-full with the system roots", dsn: "postgres://u:" + password + "@db.internal:5432/db?sslmode=verify-full&sslrootcert=system"},
		{desc: "remote host, verify-full with a CA file", dsn: "postgres://u:" + password + "@db.internal:5432/db?sslmode=verify-full&sslrootcert=" + url.QueryEscape(ca)},
		{desc: "remote host, verify-ca", dsn: "postgres://u:" + password + "@10.0.0.5:5432/db?sslmode=verify-ca&sslrootcert=" + url.QueryEscape(ca)},
		{desc: "remote host, require with a CA file verifies the chain", dsn: "postgres://u:" + password + "@10.0.0.5:5432/db?sslmode=require&sslrootcert=" + url.QueryEscape(ca)},
		{desc: "remote host, default sslmode (prefer) falls back to plaintext", dsn: "postgres://u:" + password + "@db.internal:5432/db",
			wantErr: "host db.internal may be reached without TLS"},
		{desc: "remote host, sslmode=disable", dsn: "host=db.internal user=u password=" + password + " sslmode=disable",
			wantErr: "host db.internal may be reached without TLS"},
		{desc: "remote host, sslmode=allow", dsn: "postgres://u:" + password + "@db.internal/db?sslmode=allow",
			wantErr: "host db.internal may be reached without TLS"},
		{desc: "remote host, sslmode=require accepts any certificate", dsn: "postgres://u:" + password + "@db.internal/db?sslmode=require",
			wantErr: "host db.internal is reached over TLS that accepts any certificate"},
		{desc: "direct TLS negotiation without verification", dsn: "postgres://u:" + password + "@db.internal/db?sslnegotiation=direct",
			wantErr: "accepts any certificate"},
		{desc: "one of two hosts off the machine without TLS", dsn: "host=127.0.0.1,db2.internal user=u password=" + password + " sslmode=disable",
			wantErr: "host db2.internal may be reached without TLS"},
		{desc: "an unreadable CA file", dsn: "postgres://u:" + password + "@db.internal/db?sslmode=verify-full&sslrootcert=" + url.QueryEscape(missing),
			wantErr: "missing-ca.pem"},
		{desc: "not a DSN", dsn: "postgres://u:" + password + "@db.internal:notaport/db", wantErr: "cannot be parsed"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := Parse(tc.dsn)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				for _, tcfg := range tlsConfigs(cfg) {
					if tcfg.MinVersion < tls.VersionTLS12 || !slices.Equal(tcfg.CipherSuites, tlspolicy.CipherSuites()) {
						t.Fatalf("TLS config outside the policy: min %#x suites %v", tcfg.MinVersion, tcfg.CipherSuites)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error quotes the password: %v", err)
			}
		})
	}
}

func tlsConfigs(cfg *pgx.ConnConfig) []*tls.Config {
	var out []*tls.Config
	if cfg.TLSConfig != nil {
		out = append(out, cfg.TLSConfig)
	}
	for _, f := range cfg.Fallbacks {
		if f.TLSConfig != nil {
			out = append(out, f.TLSConfig)
		}
	}
	return out
}

// TestClientHoldsToTheTLSPolicy: what pgx really offers with the config
// Parse returns is the policy's suites only (direct TLS negotiation, so the
// recording TLS server sees the ClientHello first; the handshake then
// fails on ALPN, as an HTTPS server is no PostgreSQL).
func TestClientHoldsToTheTLSPolicy(t *testing.T) {
	srv := tlspolicytest.NewServer(t, http.NotFoundHandler(), 0)
	u, _ := url.Parse(srv.URL)
	cfg, err := Parse("postgres://u:p@" + u.Host + "/db?sslmode=require&sslnegotiation=direct&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pgx.ConnectConfig(ctx, cfg); err == nil {
		t.Fatal("an HTTPS server was taken for PostgreSQL")
	}
	tlspolicytest.CheckHello(t, srv, "the PostgreSQL client")
}

// TestConnectsToTheLocalPostgreSQLOverTLS: the machine's PostgreSQL
// (Debian's, ssl on) is reached over TLS with the config Parse returns.
func TestConnectsToTheLocalPostgreSQLOverTLS(t *testing.T) {
	cfg, err := Parse("postgres://postgres@127.0.0.1:5432/test?sslmode=require&connect_timeout=5")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("PostgreSQL on 127.0.0.1:5432 with sslmode=require: %v", err)
	}
	defer conn.Close(ctx)
	var ssl bool
	var version string
	if err := conn.QueryRow(ctx, "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &version); err != nil {
		t.Fatal(err)
	}
	if !ssl || (version != "TLSv1.2" && version != "TLSv1.3") {
		t.Fatalf("connection ssl=%v version %q", ssl, version)
	}
}
