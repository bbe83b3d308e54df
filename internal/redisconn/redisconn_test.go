package redisconn_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/devpki"
	"github.com/portcullis/portcullis/internal/redisconn"
	"github.com/portcullis/portcullis/internal/redisconn/redistest"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// otherPKI is a second development PKI: its CA signed neither the Redis
// server's certificate nor the client certificate Redis accepts.
func otherPKI(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "other")
	if _, err := devpki.Create(devpki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	return dir
}

func ping(t *testing.T, s *config.RedisServer) error {
	t.Helper()
	o, err := redisconn.Options(s, 2*time.Second, nil)
	if err != nil {
		t.Fatalf("options: %v", err)
	}
	o.MaxRetries = -1
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Set(ctx, "redisconn:test", "v", time.Minute).Err(); err != nil {
		return err
	}
	v, err := c.Get(ctx, "redisconn:test").Result()
	if err == nil && v != "v" {
		t.Fatalf("GET returned %q", v)
	}
	return err
}

// TestTLS: every row reaches the same TLS-only Redis (client certificate
// required, ACL user); only the rows that verify the server, present the
// accepted certificate and log in get an answer.
func TestTLS(t *testing.T) {
	srv := redistest.StartTLS(t, false)
	other := otherPKI(t)
	good := func() *config.ClientTLS {
		return &config.ClientTLS{CAFile: srv.File("ca.pem"), CertFile: srv.File("gateway-client.pem"), KeyFile: srv.File("gateway-client.key")}
	}
	for _, tc := range []struct {
		desc    string
		edit    func(*config.RedisServer)
		wantErr string // "" : reaches Redis
	}{
		{desc: "ca, client certificate and ACL user", edit: func(*config.RedisServer) {}},
		{desc: "TLS 1.2 floor still reaches a TLS 1.3 Redis", edit: func(s *config.RedisServer) { s.TLS.MinVersion = "1.2" }},
		{desc: "expected DNS identity in the certificate", edit: func(s *config.RedisServer) { s.TLS.ExpectedIdentity = "localhost" }},
		{desc: "server certificate not signed by ca_file", edit: func(s *config.RedisServer) { s.TLS.CAFile = filepath.Join(other, "ca.pem") },
			wantErr: "certificate signed by unknown authority"},
		{desc: "system roots do not vouch for a private CA", edit: func(s *config.RedisServer) { s.TLS.CAFile = "" },
			wantErr: "certificate signed by unknown authority"},
		{desc: "expected identity the certificate does not carry", edit: func(s *config.RedisServer) { s.TLS.ExpectedIdentity = "redis.other.example" },
			wantErr: "redis.other.example"},
		{desc: "server_name the certificate does not carry", edit: func(s *config.RedisServer) { s.TLS.ServerName = "redis.other.example" },
			wantErr: "redis.other.example"},
		{desc: "no client certificate", edit: func(s *config.RedisServer) { s.TLS.CertFile, s.TLS.KeyFile = "", "" },
			wantErr: "certificate required"},
		{desc: "client certificate from another CA", edit: func(s *config.RedisServer) {
			s.TLS.CertFile, s.TLS.KeyFile = filepath.Join(other, "gateway-client.pem"), filepath.Join(other, "gateway-client.key")
		}, wantErr: "unknown certificate authority"},
		{desc: "plain TCP to the TLS port", edit: func(s *config.RedisServer) { s.TLS = nil }, wantErr: "EOF"},
		{desc: "wrong ACL password", edit: func(s *config.RedisServer) { s.Password = "not-the-password" }, wantErr: "WRONGPASS"},
		{desc: "the default user is off", edit: func(s *config.RedisServer) { s.Username, s.Password = "", "" }, wantErr: "NOAUTH"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := &config.RedisServer{Address: srv.Addr, Username: redistest.User, Password: redistest.Password, TLS: good()}
			tc.edit(s)
			err := ping(t, s)
			t.Logf("error: %v", err)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Redis not reached: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("Redis answered; the connection must have been refused")
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestTLSSPIFFEIdentity: a Redis presenting an X.509-SVID is reached with
// its SPIFFE ID expected, and refused with any other.
func TestTLSSPIFFEIdentity(t *testing.T) {
	srv := redistest.StartTLS(t, true)
	for _, tc := range []struct {
		desc, id string
		ok       bool
	}{
		{desc: "the SVID's ID", id: redistest.SPIFFEID(), ok: true},
		{desc: "another workload's ID", id: "spiffe://dev.local/ns/dev/sa/payments"},
		{desc: "another trust domain", id: "spiffe://prod.example/ns/dev/sa/orders"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := ping(t, &config.RedisServer{Address: srv.Addr, Username: redistest.User, Password: redistest.Password,
				TLS: &config.ClientTLS{CAFile: srv.File("ca.pem"), CertFile: srv.File("gateway-client.pem"), KeyFile: srv.File("gateway-client.key"), ExpectedIdentity: tc.id}})
			if tc.ok != (err == nil) {
				t.Fatalf("expected identity %s: error %v", tc.id, err)
			}
		})
	}
}

// TestOptionsRefusesBadTLSFiles: a tls block whose files do not load is an
// error when the options are made (config load), naming the field.
func TestOptionsRefusesBadTLSFiles(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		tls  config.ClientTLS
		want string
	}{
		{desc: "missing ca_file", tls: config.ClientTLS{CAFile: filepath.Join(dir, "nope.pem")}, want: "tls.ca_file"},
		{desc: "ca_file without a certificate", tls: config.ClientTLS{CAFile: garbage}, want: "tls.ca_file"},
		{desc: "cert_file without key_file", tls: config.ClientTLS{CertFile: garbage}, want: "tls.cert_file and tls.key_file"},
		{desc: "unreadable key pair", tls: config.ClientTLS{CertFile: garbage, KeyFile: garbage}, want: "tls.cert_file/key_file"},
		{desc: "TLS 1.1 floor", tls: config.ClientTLS{MinVersion: "1.1"}, want: "min_version"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := redisconn.Options(&config.RedisServer{Address: "127.0.0.1:6379", TLS: &tc.tls}, time.Second, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestRedisClientHoldsToTheTLSPolicy: the Redis client offers only the
// gateway's TLS policy, and cannot reach a server that speaks only a
// refused suite.
func TestRedisClientHoldsToTheTLSPolicy(t *testing.T) {
	dial := func(srv *tlspolicytest.Server, ca string) error {
		o, err := redisconn.Options(&config.RedisServer{Address: strings.TrimPrefix(srv.URL, "https://"),
			TLS: &config.ClientTLS{CAFile: ca, ServerName: "example.com", MinVersion: "1.2"}}, 2*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		nc, err := o.Dialer(context.Background(), "tcp", o.Addr)
		if err == nil {
			_ = nc.Close()
		}
		return err
	}
	modern := tlspolicytest.NewServer(t, http.NotFoundHandler(), 0)
	if err := dial(modern, writeCert(t, modern)); err != nil {
		t.Fatalf("a TLS 1.2+ AEAD server was not reached: %v", err)
	}
	tlspolicytest.CheckHello(t, modern, "the Redis client")
	for _, suite := range []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256} {
		weak := tlspolicytest.NewServer(t, http.NotFoundHandler(), suite)
		if err := dial(weak, writeCert(t, weak)); err == nil || !strings.Contains(err.Error(), "tls handshake") {
			t.Errorf("%s: a server speaking only this suite was reached (err %v)", tls.CipherSuiteName(suite), err)
		}
		tlspolicytest.CheckHello(t, weak, "the Redis client")
	}
}

// writeCert writes the test server's self-signed certificate as a CA file.
func writeCert(t *testing.T, s *tlspolicytest.Server) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRotatedFilesUsedByTheNextConnection: the client certificate files
// are read again before each new connection. Replaced by a certificate
// Redis does not accept, the next connection is refused and the reload is
// logged; a file that does not load keeps the previous one and is logged
// once; restored, connections work again.
func TestRotatedFilesUsedByTheNextConnection(t *testing.T) {
	srv := redistest.StartTLS(t, false)
	other := otherPKI(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	install := func(from string, tick int) {
		t.Helper()
		for src, dst := range map[string]string{filepath.Join(from, "gateway-client.pem"): cert, filepath.Join(from, "gateway-client.key"): key} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o600); err != nil {
				t.Fatal(err)
			}
			// A distinct modification time for each step: the files are
			// polled by time and size.
			mt := time.Now().Add(time.Duration(tick) * time.Second)
			if err := os.Chtimes(dst, mt, mt); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(srv.PKI, 0)
	var logs bytes.Buffer
	o, err := redisconn.Options(&config.RedisServer{Address: srv.Addr, TLS: &config.ClientTLS{CAFile: srv.File("ca.pem"), CertFile: cert, KeyFile: key}},
		2*time.Second, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// One new connection, one command: the default user is off, so an
	// accepted connection answers NOAUTH; a refused one fails to read.
	accepted := func() bool {
		t.Helper()
		nc, err := o.Dialer(context.Background(), "tcp", o.Addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
			return false
		}
		line, err := bufio.NewReader(nc).ReadString('\n')
		return err == nil && strings.HasPrefix(line, "-NOAUTH")
	}
	wantEvents := func(event string, want int) {
		t.Helper()
		if n := strings.Count(logs.String(), `"event":"`+event+`"`); n != want {
			t.Fatalf("%d %s events, want %d:\n%s", n, event, want, logs.String())
		}
	}
	if !accepted() {
		t.Fatal("the first certificate was not accepted")
	}
	install(other, 10)
	if accepted() {
		t.Fatal("a new connection still used the previous certificate")
	}
	wantEvents(redisconn.EventTLSReloaded, 1)
	install(srv.PKI, 20)
	if !accepted() {
		t.Fatal("the restored certificate was not accepted")
	}
	// A key file that does not load: the previous (good) pair stays.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	mt := time.Now().Add(30 * time.Second)
	if err := os.Chtimes(key, mt, mt); err != nil {
		t.Fatal(err)
	}
	for range 2 { // two connections: the failure is logged once
		if !accepted() {
			t.Fatal("a key file that fails to load dropped the previous certificate")
		}
	}
	wantEvents(redisconn.EventTLSReloadFailed, 1)
	if strings.Contains(logs.String(), "BEGIN") {
		t.Fatal("key material in the logs")
	}
	install(other, 40)
	if accepted() {
		t.Fatal("after a failed reload, a changed pair was not loaded")
	}
	wantEvents(redisconn.EventTLSReloaded, 3)
}
