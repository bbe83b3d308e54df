// Package revocation refuses revoked client certificates at the TLS
// handshake of listeners with client_auth (the mtls method).
//
// The threat: a client certificate is valid until it expires, however
// soon its key leaks or its holder leaves. A CA says "no longer" through a
// certificate revocation list (RFC 5280 section 5) or an OCSP responder
// (RFC 6960); without checking them the gateway keeps admitting a
// certificate everyone else has stopped trusting.
//
// Rules, each enforced where noted:
//   - CRLs (crl_files) must be signed by a CA of the listener's ca_file;
//     a CRL signed by anyone else is refused at load (an attacker who can
//     write a file must not be able to un-revoke). Each link of the
//     verified chain is checked against its issuer's CRL, matched by the
//     issuer's subject and key (checkCRL).
//   - CRL files are reloaded when they change (checked at most once a
//     second, on the handshake path); a file that fails to load keeps the
//     previous lists and is logged. A CRL past its next update is still
//     used (it is the best knowledge) and logged as stale.
//   - OCSP (ocsp) asks the responder the leaf names, for the leaf's
//     status, with a bounded timeout; the answer must be signed for that
//     issuer (golang.org/x/crypto/ocsp checks it) and is cached until its
//     next update (at most max_cache; a revoked answer for max_cache), in
//     a bounded ttlmap whose full shards evict one answer, expired first
//     (ocspChecker.cache). A failure to learn the status
//     refuses the certificate (failure: closed, the default) or admits it
//     with a log line (failure: open).
//   - A revoked certificate fails the handshake (the client sees a
//     bad_certificate alert) before any request is read; the serial,
//     subject, source and reason are logged.
package revocation

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy"
	"github.com/portcullis/portcullis/internal/ttlmap"
)

// Checker checks the verified chains of client certificates.
type Checker struct {
	files []string
	cas   []*x509.Certificate
	log   *slog.Logger
	now   func() time.Time

	crls      atomic.Pointer[crlSet]
	reloadMu  sync.Mutex
	stamps    []fileStamp
	lastCheck atomic.Int64 // unix nanoseconds of the last file check

	ocsp *ocspChecker // nil: no OCSP
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// crlSet is the loaded CRLs by issuer.
type crlSet struct {
	byIssuer map[string][]*crl // key: the issuer's raw subject
}

type crl struct {
	file       string
	issuerKey  []byte         // the signing CA's RawSubjectPublicKeyInfo
	revoked    map[string]int // serial (hex) -> reason code
	nextUpdate time.Time
}

// New returns the checker of a listener's client_auth, or nil when it
// checks nothing. cas are the certificates of client_auth.ca_file.
func New(ca *config.ClientAuth, cas []*x509.Certificate, log *slog.Logger) (*Checker, error) {
	if len(ca.CRLFiles) == 0 && ca.OCSP == nil {
		return nil, nil
	}
	c := &Checker{files: ca.CRLFiles, cas: cas, log: log, now: time.Now}
	if len(c.files) > 0 {
		set, stamps, err := c.load()
		if err != nil {
			return nil, err
		}
		c.crls.Store(set)
		c.stamps = stamps
		c.lastCheck.Store(c.now().UnixNano())
	}
	if o := ca.OCSP; o != nil {
		c.ocsp = &ocspChecker{
			failOpen: o.Failure == config.OCSPFailOpen,
			timeout:  o.Timeout.Or(2 * time.Second),
			maxCache: o.MaxCache.Or(time.Hour),
			cache:    newOCSPCache(ocspCacheCapacity),
			// Answers are signed, so TLS adds only privacy; a responder
			// named https:// is still reached by the gateway's policy.
			client: &http.Client{Timeout: o.Timeout.Or(2 * time.Second), Transport: tlspolicy.Transport()},
		}
	}
	return c, nil
}

// load reads and checks every CRL file.
func (c *Checker) load() (*crlSet, []fileStamp, error) {
	set := &crlSet{byIssuer: map[string][]*crl{}}
	stamps := make([]fileStamp, len(c.files))
	for i, f := range c.files {
		fi, err := os.Stat(f)
		if err != nil {
			return nil, nil, fmt.Errorf("crl_files[%d]: %w", i, err)
		}
		stamps[i] = fileStamp{fi.ModTime(), fi.Size()}
		data, err := os.ReadFile(f) // #nosec G304 -- the operator's client_auth.crl_files
		if err != nil {
			return nil, nil, fmt.Errorf("crl_files[%d]: %w", i, err)
		}
		if b, _ := pem.Decode(data); b != nil {
			if b.Type != "X509 CRL" {
				return nil, nil, fmt.Errorf("crl_files[%d] %s: PEM block %q is not an X509 CRL", i, f, b.Type)
			}
			data = b.Bytes
		}
		rl, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, nil, fmt.Errorf("crl_files[%d] %s: %w", i, f, err)
		}
		var signer *x509.Certificate
		for _, ca := range c.cas {
			if bytes.Equal(ca.RawSubject, rl.RawIssuer) && rl.CheckSignatureFrom(ca) == nil {
				signer = ca
				break
			}
		}
		if signer == nil {
			return nil, nil, fmt.Errorf("crl_files[%d] %s: not signed by a CA of client_auth.ca_file", i, f)
		}
		entry := &crl{file: f, issuerKey: signer.RawSubjectPublicKeyInfo, revoked: map[string]int{}, nextUpdate: rl.NextUpdate}
		for _, r := range rl.RevokedCertificateEntries {
			entry.revoked[serialKey(r.SerialNumber)] = r.ReasonCode
		}
		set.byIssuer[string(rl.RawIssuer)] = append(set.byIssuer[string(rl.RawIssuer)], entry)
		if !rl.NextUpdate.IsZero() && c.now().After(rl.NextUpdate) && c.log != nil {
			c.log.Warn("CRL is past its next update; still used", "file", f, "next_update", rl.NextUpdate)
		}
	}
	return set, stamps, nil
}

func serialKey(n *big.Int) string { return hex.EncodeToString(n.Bytes()) }

// refresh reloads the CRL files when they changed, at most once a second.
func (c *Checker) refresh() {
	if len(c.files) == 0 {
		return
	}
	now := c.now().UnixNano()
	last := c.lastCheck.Load()
	if now-last < int64(time.Second) || !c.lastCheck.CompareAndSwap(last, now) {
		return
	}
	changed := false
	for i, f := range c.files {
		fi, err := os.Stat(f)
		if err != nil || (fileStamp{fi.ModTime(), fi.Size()}) != c.stamps[i] {
			changed = true
			break
		}
	}
	if !changed {
		return
	}
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	set, stamps, err := c.load()
	if err != nil {
		if c.log != nil {
			c.log.Error("CRL reload failed; the previous lists stay in use", "error", err)
		}
		return
	}
	c.crls.Store(set)
	c.stamps = stamps
	if c.log != nil {
		c.log.Info("CRLs reloaded", "files", len(c.files))
	}
}

// SetCAs replaces the CAs that must sign the CRLs (client_auth.ca_file
// was reloaded) and loads the CRL files again against them. On an error
// (a list signed by a CA no longer in the file) nothing changes: the
// caller keeps the previous CA file too, so that the trusted CAs and the
// lists that revoke their certificates never disagree.
func (c *Checker) SetCAs(cas []*x509.Certificate) error {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	old := c.cas
	c.cas = cas
	if len(c.files) == 0 {
		return nil
	}
	set, stamps, err := c.load()
	if err != nil {
		c.cas = old
		return err
	}
	c.crls.Store(set)
	c.stamps = stamps
	return nil
}

// ErrRevoked is returned for a revoked certificate.
var ErrRevoked = errors.New("client certificate revoked")

// VerifyConnection is the listener's tls.Config.VerifyConnection: it runs
// after crypto/tls verified the chain, on full and resumed handshakes.
func (c *Checker) VerifyConnection(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 {
		return nil // no client certificate (request mode) or none asked
	}
	c.refresh()
	chain := cs.VerifiedChains[0]
	leaf := chain[0]
	if set := c.crls.Load(); set != nil {
		for i := 0; i+1 < len(chain); i++ {
			if reason, ok := set.check(chain[i], chain[i+1]); ok {
				c.refused(leaf, chain[i], "crl", reasonName(reason))
				return ErrRevoked
			}
		}
	}
	if c.ocsp != nil && len(chain) > 1 {
		st, reason, err := c.ocsp.status(leaf, chain[1], c.now())
		switch {
		case err != nil && c.ocsp.failOpen:
			if c.log != nil {
				c.log.Warn("client certificate status unknown; admitted (ocsp failure: open)", "serial", serialKey(leaf.SerialNumber), "subject", leaf.Subject.String(), "error", err)
			}
		case err != nil:
			c.refused(leaf, leaf, "ocsp", "status unknown: "+err.Error())
			return fmt.Errorf("client certificate status unknown: %w", err)
		case st == ocsp.Revoked:
			c.refused(leaf, leaf, "ocsp", reasonName(reason))
			return ErrRevoked
		}
	}
	return nil
}

// check reports whether cert, issued by issuer, is on a CRL of issuer.
func (s *crlSet) check(cert, issuer *x509.Certificate) (reason int, revoked bool) {
	for _, l := range s.byIssuer[string(issuer.RawSubject)] {
		if !bytes.Equal(l.issuerKey, issuer.RawSubjectPublicKeyInfo) {
			continue // the same name, another key: not this CA's list
		}
		if r, ok := l.revoked[serialKey(cert.SerialNumber)]; ok {
			return r, true
		}
	}
	return 0, false
}

func (c *Checker) refused(leaf, revoked *x509.Certificate, source, reason string) {
	if c.log == nil {
		return
	}
	c.log.Warn("client certificate refused at the handshake", "source", source, "reason", reason,
		"serial", serialKey(revoked.SerialNumber), "subject", revoked.Subject.String(), "leaf_subject", leaf.Subject.String())
}

// reasonName is the RFC 5280 section 5.3.1 name of a CRL reason code.
func reasonName(code int) string {
	names := map[int]string{0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged", 4: "superseded",
		5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL", 9: "privilegeWithdrawn", 10: "aACompromise"}
	if n, ok := names[code]; ok {
		return "revoked (" + n + ")"
	}
	return fmt.Sprintf("revoked (reason %d)", code)
}

// ocspChecker asks OCSP responders and caches their answers.
type ocspChecker struct {
	failOpen bool
	timeout  time.Duration
	maxCache time.Duration
	client   *http.Client
	// cache holds answers by issuer key and serial (ocspKey) until they
	// stop being good: a ttlmap (bounded, sharded, expiring; a full shard
	// evicts an expired answer or else a random one), so certificates
	// presented by the thousand cannot grow it, and an answer is never
	// used past its next update or max_cache.
	cache *ttlmap.Map[[32]byte, ocspAnswer]
}

type ocspAnswer struct{ status, reason int }

const (
	// ocspCacheCapacity bounds one listener's OCSP cache.
	ocspCacheCapacity = 10000
	// ocspCacheShards spreads it over locks.
	ocspCacheShards = 16
)

func newOCSPCache(capacity int) *ttlmap.Map[[32]byte, ocspAnswer] {
	return ttlmap.New[[32]byte, ocspAnswer](capacity, ocspCacheShards, ttlmap.FirstByte)
}

// ocspKey names the leaf's status: the SHA-256 of the issuer's public key
// (DER, so self-delimiting) followed by the leaf's serial, the pair an
// OCSP request names (RFC 6960 section 4.1.1: CertID).
func ocspKey(leaf, issuer *x509.Certificate) [32]byte {
	h := sha256.New()
	h.Write(issuer.RawSubjectPublicKeyInfo)
	h.Write(leaf.SerialNumber.Bytes())
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// status returns the leaf's OCSP status (ocsp.Good or ocsp.Revoked), or an
// error when it cannot be learned (no responder, unreachable, unknown).
func (o *ocspChecker) status(leaf, issuer *x509.Certificate, now time.Time) (int, int, error) {
	key := ocspKey(leaf, issuer)
	if a, ok := o.cache.Get(&key, now.UnixNano()); ok {
		return a.status, a.reason, nil
	}
	if len(leaf.OCSPServer) == 0 {
		return 0, 0, errors.New("the certificate names no OCSP responder")
	}
	req, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: 0})
	if err != nil {
		return 0, 0, err
	}
	resp, err := o.client.Post(leaf.OCSPServer[0], "application/ocsp-request", bytes.NewReader(req)) // #nosec G107 -- the responder named by a certificate the trusted CA signed
	if err != nil {
		return 0, 0, fmt.Errorf("OCSP responder: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("OCSP responder: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, 0, fmt.Errorf("OCSP responder: %w", err)
	}
	r, err := ocsp.ParseResponseForCert(body, leaf, issuer)
	if err != nil {
		return 0, 0, fmt.Errorf("OCSP response: %w", err)
	}
	if r.Status != ocsp.Good && r.Status != ocsp.Revoked {
		return 0, 0, errors.New("OCSP responder does not know the certificate")
	}
	// RFC 6960 section 4.2.2.1: an answer is good until its nextUpdate.
	until := now.Add(o.maxCache)
	if !r.NextUpdate.IsZero() && r.NextUpdate.Before(until) {
		until = r.NextUpdate
	}
	if r.Status == ocsp.Revoked {
		until = now.Add(o.maxCache) // revocation is final
	}
	o.cache.Put(&key, ocspAnswer{status: r.Status, reason: r.RevocationReason}, until.UnixNano(), now.UnixNano())
	return r.Status, r.RevocationReason, nil
}
