// Package redistest starts a real redis-server for a test, listening on
// loopback for TLS only, requiring a client certificate and an ACL user,
// with certificates from internal/devpki. The tests of the gateway's Redis
// users (rate limits, signature replay, intrusion detection) reach it the
// way a production gateway reaches a managed Redis with in-transit
// encryption. It needs the redis-server binary (Debian's is built with
// TLS); without one the test fails rather than skips, unless
// PORTCULLIS_SKIP_REDIS=1 (never set in CI), as for the tests that use the
// shared Redis on 127.0.0.1:6379.
package redistest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/devpki"
)

// User and Password are the ACL user the server accepts; the default user
// is off.
const (
	User     = "portcullis"
	Password = "redistest-acl-password"
)

// Server is one running redis-server.
type Server struct {
	Addr string // 127.0.0.1:port, TLS only
	// PKI is the directory devpki wrote: ca.pem, server.pem (the Redis
	// certificate, for localhost and 127.0.0.1), gateway-client.pem/.key
	// (a client certificate Redis accepts), service.pem (an X.509-SVID,
	// SPIFFEID).
	PKI string
}

// File is the path of one of the server's PKI files (ca.pem, ...).
func (s *Server) File(name string) string { return filepath.Join(s.PKI, name) }

// SPIFFEID is the identity in service.pem.
func SPIFFEID() string { return devpki.SPIFFEID("dev.local", "orders") }

// StartTLS starts a redis-server presenting server.pem, or with svid
// service.pem, and stops it when the test ends.
func StartTLS(t testing.TB, svid bool) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil && os.Getenv("PORTCULLIS_SKIP_REDIS") == "1" {
		t.Skip("no redis-server and PORTCULLIS_SKIP_REDIS=1")
	}
	if err != nil {
		t.Fatalf("redis-server is needed to test Redis over TLS (apt-get install redis-server): %v", err)
	}
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if _, err := devpki.Create(devpki.Options{Dir: pki}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cert := "server"
	if svid {
		cert = "service"
	}
	cmd := exec.Command(bin,
		"--port", "0", "--bind", "127.0.0.1", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(pki, cert+".pem"), "--tls-key-file", filepath.Join(pki, cert+".key"),
		"--tls-ca-cert-file", filepath.Join(pki, "ca.pem"), "--tls-auth-clients", "yes",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"),
		"--user", "default", "off",
		"--user", User, "on", ">"+Password, "~*", "&*", "+@all")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Logf("redis-server's log:\n%s", b)
		}
	})
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), PKI: pki}
	tc := s.ClientTLS(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.Addr, tc)
		if err == nil {
			_ = c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not come up over TLS: %v", s.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ClientTLS is a tls.Config that reaches the server (for a test's own
// client): its CA, the gateway client certificate.
func (s *Server) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	ca, err := os.ReadFile(s.File("ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatal("no CA certificate in ca.pem")
	}
	kp, err := tls.LoadX509KeyPair(s.File("gateway-client.pem"), s.File("gateway-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{kp}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// TLSBlock is the YAML of a tls block that reaches the server with the
// gateway client certificate, plus extra lines (each "key: value").
func (s *Server) TLSBlock(extra ...string) string {
	b := fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q", s.File("ca.pem"), s.File("gateway-client.pem"), s.File("gateway-client.key"))
	for _, e := range extra {
		b += ", " + e
	}
	return b + "}"
}
