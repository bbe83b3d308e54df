package e2e

// Client certificate revocation at the edge through the real binary: a
// certificate on a CRL of its CA is refused at the handshake (and never
// reaches the upstream), the reason is logged, and a CRL changed on disk
// takes effect without a reload; OCSP answers are honoured, cached, and a
// responder that cannot be reached refuses (failure: closed) or admits
// (failure: open).

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"crypto/tls"

	"golang.org/x/crypto/ocsp"
)

// revCRL writes a CRL of ca revoking serials (with keyCompromise).
func revCRL(t testing.TB, ca *tlsTestCA, path string, number int64, serials ...*big.Int) {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(number), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
	for _, s := range serials {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: time.Now().Add(-time.Minute), ReasonCode: 1})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	tlsWriteFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
}

// revGateway is an HTTPS gateway whose client_auth trusts clientCA with
// the given extra settings; consumers alice, bob and carol by subject.
func revGateway(t testing.TB, clientCA *tlsTestCA, up *Upstream, extra string) (*Gateway, string) {
	t.Helper()
	f := getMTLSFixture(t)
	dir := t.TempDir()
	cf := tlsWriteLeaf(t, dir, "server", f.server)
	caFile := filepath.Join(dir, "client-ca.pem")
	tlsWriteFile(t, caFile, clientCA.pem)
	cfg := GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    tls:
      certificates: [{cert_file: %q, key_file: %q}]
      client_auth: {mode: require, ca_file: %q, %s}
services: [{name: svc, targets: [{url: %q}]}]
consumers:
  - {name: alice, credentials: {mtls: [{subject: "CN=alice"}]}}
  - {name: bob, credentials: {mtls: [{subject: "CN=bob"}]}}
  - {name: carol, credentials: {mtls: [{subject: "CN=carol"}]}}
routes:
  - name: secure
    paths: [{prefix: /}]
    service: svc
    policies: [{kind: auth, methods: [{mtls: {}}]}]
ops: {address: "{{ops}}"}
`, cf.cert, cf.key, caFile, extra, up.URL))
	return StartGateway(t, cfg), dir
}

func revClient(t testing.TB, ca *tlsTestCA, cn, ocspURL string) tls.Certificate {
	t.Helper()
	c, err := mtlsIssueClient(ca, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: cn}
		if ocspURL != "" {
			c.OCSPServer = []string{ocspURL}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// revGet sends one request on a new connection presenting cert.
func revGet(gw *Gateway, cert tls.Certificate) (int, error) {
	f, _ := mtlsFixtureOnce()
	resp, _, err := mtlsDo(f.client("public.example.test", &cert, false), gw.Addr, "", "/x")
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func TestClientCertificateCRL(t *testing.T) {
	clientCA := ztNewCA(t, "clients CA")
	alice, bob := revClient(t, clientCA, "alice", ""), revClient(t, clientCA, "bob", "")
	up := NewUpstream(t, nil)
	dir := t.TempDir()
	crlFile := filepath.Join(dir, "clients.crl")
	revCRL(t, clientCA, crlFile, 1, bob.Leaf.SerialNumber)
	gw, _ := revGateway(t, clientCA, up, fmt.Sprintf("crl_files: [%q]", crlFile))

	if code, err := revGet(gw, alice); err != nil || code != 200 {
		t.Fatalf("alice: %d %v", code, err)
	}
	n := up.Count()
	_, err := revGet(gw, bob)
	if err == nil || !strings.Contains(err.Error(), "remote error: tls: bad certificate") {
		t.Fatalf("a revoked certificate: %v, want the handshake refused", err)
	}
	if up.Count() != n {
		t.Fatal("the revoked certificate's request reached the upstream")
	}
	if !gw.WaitLog(`"reason":"revoked (keyCompromise)"`, 5*time.Second) || !strings.Contains(gw.Stderr.String(), bob.Leaf.SerialNumber.Text(16)) {
		t.Fatalf("the refusal and its reason are not logged:\n%s", gw.Stderr.String())
	}

	// The CA revokes alice too: the new list takes effect without a reload.
	revCRL(t, clientCA, crlFile, 2, bob.Leaf.SerialNumber, alice.Leaf.SerialNumber)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := revGet(gw, alice); err != nil && strings.Contains(err.Error(), "bad certificate") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice still admitted after the CRL changed:\n%s", gw.Stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !gw.WaitLog("CRLs reloaded", time.Second) {
		t.Fatal("the CRL reload is not logged")
	}

	// A broken CRL file keeps the previous lists. Files are checked on
	// the handshake path, at most once a second.
	tlsWriteFile(t, crlFile, []byte("garbage"))
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(gw.Stderr.String(), "CRL reload failed") {
		if _, err := revGet(gw, bob); err == nil {
			t.Fatal("a broken CRL file un-revoked bob")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged:\n%s", gw.Stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := revGet(gw, bob); err == nil {
		t.Fatal("a broken CRL file un-revoked bob")
	}
}

// TestClientCertificateCRLMustBeSignedByTheCA: a CRL from another CA is a
// config error (validate fails), never silently ignored.
func TestClientCertificateCRLMustBeSignedByTheCA(t *testing.T) {
	clientCA, other := ztNewCA(t, "clients CA"), ztNewCA(t, "other CA")
	f := getMTLSFixture(t)
	dir := t.TempDir()
	cf := tlsWriteLeaf(t, dir, "server", f.server)
	caFile, crlFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.crl")
	tlsWriteFile(t, caFile, clientCA.pem)
	revCRL(t, other, crlFile, 1)
	cfgFile := filepath.Join(dir, "gw.yaml")
	tlsWriteFile(t, cfgFile, fmt.Appendf(nil, `version: 1
listeners:
  - name: public
    address: "127.0.0.1:0"
    tls:
      certificates: [{cert_file: %q, key_file: %q}]
      client_auth: {mode: require, ca_file: %q, crl_files: [%q]}
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: r, paths: [{prefix: /}], service: svc, auth: none}]
`, cf.cert, cf.key, caFile, crlFile))
	out, err := exec.Command(binPath, "validate", "--config", cfgFile).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not signed by a CA of client_auth.ca_file") {
		t.Fatalf("validate: %v\n%s", err, out)
	}
}

// revResponder is an OCSP responder for ca: revoked serials answer
// Revoked, others Good; down makes it answer 503.
type revResponder struct {
	srv     *httptest.Server
	revoked map[string]bool
	down    atomic.Bool
	hits    atomic.Int64
}

func newRevResponder(t testing.TB, ca *tlsTestCA) *revResponder {
	r := &revResponder{revoked: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		q, err := ocsp.ParseRequest(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		tmpl := ocsp.Response{Status: ocsp.Good, SerialNumber: q.SerialNumber, ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		if r.revoked[q.SerialNumber.String()] {
			tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, time.Now().Add(-time.Minute), ocsp.KeyCompromise
		}
		der, err := ocsp.CreateResponse(ca.cert, ca.cert, tmpl, ca.key)
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(der)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func TestClientCertificateOCSP(t *testing.T) {
	clientCA := ztNewCA(t, "clients CA")
	resp := newRevResponder(t, clientCA)
	alice, bob, carol := revClient(t, clientCA, "alice", resp.srv.URL), revClient(t, clientCA, "bob", resp.srv.URL), revClient(t, clientCA, "carol", resp.srv.URL)
	resp.revoked[bob.Leaf.SerialNumber.String()] = true
	up := NewUpstream(t, nil)
	closed, _ := revGateway(t, clientCA, up, "ocsp: {failure: closed, timeout: 1s}")
	open, _ := revGateway(t, clientCA, up, "ocsp: {failure: open, timeout: 1s}")

	if code, err := revGet(closed, alice); err != nil || code != 200 {
		t.Fatalf("alice (good): %d %v", code, err)
	}
	hits := resp.hits.Load()
	if code, err := revGet(closed, alice); err != nil || code != 200 || resp.hits.Load() != hits {
		t.Fatalf("alice again: %d %v, responder asked %d more times (want the cached answer)", code, err, resp.hits.Load()-hits)
	}
	n := up.Count()
	if _, err := revGet(closed, bob); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("bob (revoked): %v", err)
	}
	if up.Count() != n || !closed.WaitLog(`"source":"ocsp","reason":"revoked (keyCompromise)"`, 5*time.Second) {
		t.Fatalf("bob reached the upstream or the reason is not logged:\n%s", closed.Stderr.String())
	}

	// The responder goes down: carol's status cannot be learned.
	resp.down.Store(true)
	if _, err := revGet(closed, carol); err == nil {
		t.Fatal("failure: closed admitted a certificate of unknown status")
	}
	if code, err := revGet(open, carol); err != nil || code != 200 {
		t.Fatalf("failure: open refused a certificate of unknown status: %d %v", code, err)
	}
	if !open.WaitLog("status unknown; admitted", 5*time.Second) {
		t.Fatalf("the admission is not logged:\n%s", open.Stderr.String())
	}
	// A revoked answer is still honoured by the open gateway.
	resp.down.Store(false)
	if _, err := revGet(open, bob); err == nil {
		t.Fatal("failure: open admitted a revoked certificate")
	}
}

// TestClientCAFileReloadKeepsCRLsConsistent: a client CA file reloaded
// with CRLs configured takes effect only when every CRL is signed by a CA
// of the new file. A new file without the CA that signs the CRL is
// refused as a whole (logged, on /readyz): the trusted CAs and the lists
// that revoke their certificates never disagree, and a revoked
// certificate stays refused. A file that keeps that CA and adds another
// is used.
func TestClientCAFileReloadKeepsCRLsConsistent(t *testing.T) {
	clientCA, otherCA := ztNewCA(t, "clients CA"), ztNewCA(t, "other CA")
	alice, bob := revClient(t, clientCA, "alice", ""), revClient(t, clientCA, "bob", "")
	carol := revClient(t, otherCA, "carol", "")
	up := NewUpstream(t, nil)
	crlDir := t.TempDir()
	crlFile := filepath.Join(crlDir, "clients.crl")
	revCRL(t, clientCA, crlFile, 1, bob.Leaf.SerialNumber)
	gw, dir := revGateway(t, clientCA, up, fmt.Sprintf("crl_files: [%q]", crlFile))
	caFile := filepath.Join(dir, "client-ca.pem")

	// Only the other CA: the CRL is no longer signed by a CA of the file.
	tlsWriteFile(t, caFile, otherCA.pem)
	failed := waitLogEvent(t, gw, "certificate_reload_failed", 1, nil)
	wantEvent(t, failed[0], "ERROR", map[string]any{"listener": "public", "ca_file": caFile})
	if e, _ := failed[0]["error"].(string); !strings.Contains(e, "not signed by a CA of client_auth.ca_file") {
		t.Errorf("the failure does not say why: %q", e)
	}
	if code, err := revGet(gw, alice); err != nil || code != 200 {
		t.Fatalf("alice after a refused CA file: %d %v (the previous CAs must stay)", code, err)
	}
	if _, err := revGet(gw, carol); err == nil {
		t.Fatal("carol admitted: the refused CA file was used")
	}
	if _, err := revGet(gw, bob); err == nil {
		t.Fatal("bob admitted: the revocation was lost")
	}

	// Both CAs: used; bob is still revoked, carol admitted.
	tlsWriteFile(t, caFile, append(append([]byte{}, clientCA.pem...), otherCA.pem...))
	waitLogEvent(t, gw, "certificate_reloaded", 1, nil)
	if code, err := revGet(gw, carol); err != nil || code != 200 {
		t.Fatalf("carol after her CA was added: %d %v", code, err)
	}
	n := up.Count()
	if _, err := revGet(gw, bob); err == nil || up.Count() != n {
		t.Fatalf("bob after the reload: %v (the CRL must still apply)", err)
	}
	if _, body := gw.Readyz(); strings.Contains(body, "certificate_errors") {
		t.Errorf("/readyz still shows the failure after a good file: %s", body)
	}
}
