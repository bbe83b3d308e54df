package revocation

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portcullis/portcullis/internal/config"
)

type ca struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serial atomic.Int64

func newCert(t *testing.T, parent *ca, name string, isCA bool, edit func(*x509.Certificate)) *ca {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1) + 100),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if edit != nil {
		edit(tmpl)
	}
	p, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		p, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &ca{cert: c, key: key}
}

func writeCRL(t *testing.T, issuer *ca, revoked ...*x509.Certificate) string {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, c := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: c.SerialNumber, RevocationTime: time.Now(), ReasonCode: 4})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.cert, issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.crl")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func state(chain ...*ca) tls.ConnectionState {
	var certs []*x509.Certificate
	for _, c := range chain {
		certs = append(certs, c.cert)
	}
	return tls.ConnectionState{PeerCertificates: certs, VerifiedChains: [][]*x509.Certificate{certs}}
}

func TestCRLRevokedLinkOfTheChainRefused(t *testing.T) {
	root := newCert(t, nil, "root", true, nil)
	inter := newCert(t, root, "intermediate", true, nil)
	leaf := newCert(t, inter, "alice", false, nil)
	other := newCert(t, inter, "bob", false, nil)
	// The root revokes the intermediate: every leaf under it is refused.
	c, err := New(&config.ClientAuth{CRLFiles: []string{writeCRL(t, root, inter.cert)}}, []*x509.Certificate{root.cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []*ca{leaf, other} {
		if err := c.VerifyConnection(state(l, inter, root)); err != ErrRevoked {
			t.Errorf("%s under a revoked intermediate: %v", l.cert.Subject.CommonName, err)
		}
	}
	if err := c.VerifyConnection(tls.ConnectionState{}); err != nil {
		t.Errorf("no client certificate: %v", err)
	}
}

func TestCRLOfAnotherKeyWithTheSameNameRefusedAtLoad(t *testing.T) {
	real := newCert(t, nil, "clients CA", true, nil)
	impostor := newCert(t, nil, "clients CA", true, nil) // same subject, another key
	_, err := New(&config.ClientAuth{CRLFiles: []string{writeCRL(t, impostor)}}, []*x509.Certificate{real.cert}, nil)
	if err == nil || !strings.Contains(err.Error(), "not signed by a CA of client_auth.ca_file") {
		t.Fatalf("a CRL signed by an impostor CA: %v", err)
	}
}

func TestOCSPAnswersCachedAndMustBeSignedByTheIssuer(t *testing.T) {
	issuer := newCert(t, nil, "clients CA", true, nil)
	rogue := newCert(t, nil, "clients CA", true, nil)
	var hits atomic.Int64
	var signer atomic.Pointer[ca]
	signer.Store(issuer)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		q, err := ocsp.ParseRequest(body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		s := signer.Load()
		der, _ := ocsp.CreateResponse(s.cert, s.cert, ocsp.Response{Status: ocsp.Good, SerialNumber: q.SerialNumber, ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour)}, s.key)
		_, _ = w.Write(der)
	}))
	defer srv.Close()
	leaf := newCert(t, issuer, "alice", false, func(c *x509.Certificate) { c.OCSPServer = []string{srv.URL} })
	other := newCert(t, issuer, "bob", false, func(c *x509.Certificate) { c.OCSPServer = []string{srv.URL} })
	c, err := New(&config.ClientAuth{OCSP: &config.OCSP{}}, []*x509.Certificate{issuer.cert}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.VerifyConnection(state(leaf, issuer)); err != nil {
		t.Fatalf("good: %v", err)
	}
	if err := c.VerifyConnection(state(leaf, issuer)); err != nil || hits.Load() != 1 {
		t.Fatalf("cached: %v, %d responder hits", err, hits.Load())
	}
	// An answer signed by another key is no answer: fail closed.
	signer.Store(rogue)
	if err := c.VerifyConnection(state(other, issuer)); err == nil {
		t.Fatal("an OCSP answer signed by another key was believed")
	}
	// No responder named: status unknown, refused (failure: closed).
	bare := newCert(t, issuer, "carol", false, nil)
	if err := c.VerifyConnection(state(bare, issuer)); err == nil {
		t.Fatal("a certificate without a responder was admitted with failure: closed")
	}
	open, _ := New(&config.ClientAuth{OCSP: &config.OCSP{Failure: config.OCSPFailOpen}}, []*x509.Certificate{issuer.cert}, nil)
	if err := open.VerifyConnection(state(bare, issuer)); err != nil {
		t.Fatalf("failure: open: %v", err)
	}
}

// TestOCSPCacheRules: through VerifyConnection, on the checker's clock, a
// good answer is reused until its next update or max_cache, whichever
// comes first, and the responder is asked again at that instant; a
// revoked answer is reused for max_cache whatever its next update says
// (revocation is final); and answers for many certificates leave the
// cache at its bound, full (one answer evicted per new one, not all).
func TestOCSPCacheRules(t *testing.T) {
	issuer := newCert(t, nil, "clients CA", true, nil)
	var hits atomic.Int64
	var status atomic.Int64 // ocsp.Good or ocsp.Revoked
	var nextUpdate atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		q, err := ocsp.ParseRequest(body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		tmpl := ocsp.Response{Status: int(status.Load()), SerialNumber: q.SerialNumber, ThisUpdate: time.Now(), NextUpdate: time.Unix(0, nextUpdate.Load())}
		if tmpl.Status == ocsp.Revoked {
			tmpl.RevokedAt, tmpl.RevocationReason = time.Now(), ocsp.KeyCompromise
		}
		der, _ := ocsp.CreateResponse(issuer.cert, issuer.cert, tmpl, issuer.key)
		_, _ = w.Write(der)
	}))
	defer srv.Close()
	leafOf := func(name string) *ca {
		return newCert(t, issuer, name, false, func(c *x509.Certificate) { c.OCSPServer = []string{srv.URL} })
	}
	base := time.Unix(1_800_000_000, 0)
	checker := func(maxCache time.Duration, now *time.Time) *Checker {
		c, err := New(&config.ClientAuth{OCSP: &config.OCSP{MaxCache: config.Duration(maxCache)}}, []*x509.Certificate{issuer.cert}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.now = func() time.Time { return *now }
		return c
	}
	// asks reports how many times the responder was asked for leaf at now.
	asks := func(c *Checker, leaf *ca, wantErr error) int64 {
		t.Helper()
		before := hits.Load()
		if err := c.VerifyConnection(state(leaf, issuer)); err != wantErr {
			t.Fatalf("%s: %v, want %v", leaf.cert.Subject.CommonName, err, wantErr)
		}
		return hits.Load() - before
	}

	for _, tc := range []struct {
		desc       string
		status     int
		nextUpdate time.Duration // after base
		maxCache   time.Duration
		reuse      time.Duration // the answer is good until base+reuse
		wantErr    error
	}{
		{"good, next update first", ocsp.Good, 10 * time.Minute, time.Hour, 10 * time.Minute, nil},
		{"good, max_cache first", ocsp.Good, 2 * time.Hour, 5 * time.Minute, 5 * time.Minute, nil},
		{"good, default max_cache (1h) first", ocsp.Good, 2 * time.Hour, 0, time.Hour, nil},
		{"revoked, kept for max_cache past its next update", ocsp.Revoked, time.Minute, 20 * time.Minute, 20 * time.Minute, ErrRevoked},
	} {
		status.Store(int64(tc.status))
		nextUpdate.Store(base.Add(tc.nextUpdate).UnixNano())
		now := base
		c := checker(tc.maxCache, &now)
		leaf := leafOf(tc.desc)
		if n := asks(c, leaf, tc.wantErr); n != 1 {
			t.Errorf("%s: first handshake asked %d times", tc.desc, n)
		}
		now = base.Add(tc.reuse - time.Nanosecond)
		if n := asks(c, leaf, tc.wantErr); n != 0 {
			t.Errorf("%s: the answer was not reused within its lifetime", tc.desc)
		}
		now = base.Add(tc.reuse)
		if n := asks(c, leaf, tc.wantErr); n != 1 {
			t.Errorf("%s: the answer was used at the end of its lifetime (asked %d times)", tc.desc, n)
		}
	}

	// Bounded: a small cache (the real one holds ocspCacheCapacity) and
	// many more serials than it holds. The leaf is copied with another
	// serial: the status is looked up by issuer key and serial only.
	status.Store(ocsp.Good)
	nextUpdate.Store(base.Add(time.Hour).UnixNano())
	now := base
	c := checker(0, &now)
	if got := c.ocsp.cache.Capacity(); got > ocspCacheCapacity {
		t.Fatalf("the cache holds up to %d answers, above %d", got, ocspCacheCapacity)
	}
	const small = 64
	c.ocsp.cache = newOCSPCache(small)
	leaf := leafOf("many")
	for i := range 400 {
		cert := *leaf.cert
		cert.SerialNumber = big.NewInt(int64(1_000_000 + i))
		if err := c.VerifyConnection(state(&ca{cert: &cert}, issuer)); err != nil {
			t.Fatalf("serial %d: %v", i, err)
		}
	}
	if n := c.ocsp.cache.Len(); n > small || n < small*7/8 {
		t.Errorf("after 400 certificates the cache holds %d answers (bound %d)", n, small)
	}
}
