package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"testing"
	"time"
)

func testServerTLS(t *testing.T, protos ...string) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gw.test"},
		DNSNames: []string{"gw.test"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, NextProtos: protos}
}

func dialTLS(t *testing.T, addr string, protos ...string) (*tls.Conn, error) {
	t.Helper()
	return tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, NextProtos: protos}) // #nosec G402 -- test against its own self-signed cert
}

// Every connection comes out as a handshaken *tls.Conn carrying the
// protocol ALPN chose (the caller hands h2 to HTTP/2, the rest to the
// engine); a stalled handshake times out without holding up others; Close
// ends Accept.
func TestTLSListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newTLSListener(inner, testServerTLS(t, "h2", "http/1.1"), 300*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	accepted := make(chan net.Conn, 4)
	acceptErr := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			accepted <- c
		}
	}()

	stalled, err := net.Dial("tcp", l.Addr().String()) // never says hello
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	for _, tc := range []struct {
		proto string
	}{{"http/1.1"}, {"h2"}, {""}} {
		var protos []string
		if tc.proto != "" {
			protos = []string{tc.proto}
		}
		c, err := dialTLS(t, l.Addr().String(), protos...)
		if err != nil {
			t.Fatalf("%q: %v", tc.proto, err)
		}
		defer c.Close()
		select {
		case sc := <-accepted:
			tc2, isTLS := sc.(*tls.Conn)
			if !isTLS {
				t.Fatalf("ALPN %q: got %T, want *tls.Conn", tc.proto, sc)
			}
			if st := tc2.ConnectionState(); !st.HandshakeComplete || st.NegotiatedProtocol != tc.proto {
				t.Errorf("ALPN %q: handshake complete %v, negotiated %q", tc.proto, st.HandshakeComplete, st.NegotiatedProtocol)
			}
			sc.Close()
		case <-time.After(2 * time.Second):
			t.Fatalf("ALPN %q: not accepted (a stalled handshake held it up?)", tc.proto)
		}
	}

	// The stalled connection is closed once its handshake times out.
	_ = stalled.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("stalled handshake: read gave %v, want the gateway to close it", err)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acceptErr:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

func TestHandshakeTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{nil, 10 * time.Second},
		{[]time.Duration{0, 0}, 10 * time.Second},
		{[]time.Duration{5 * time.Second, 60 * time.Second, 0}, 5 * time.Second},
		{[]time.Duration{0, 30 * time.Second, 20 * time.Second}, 20 * time.Second},
	} {
		if got := handshakeTimeout(tc.in...); got != tc.want {
			t.Errorf("handshakeTimeout(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
