package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// The "mtls" method maps a verified client certificate to a consumer.
//
// The TLS handshake does the cryptography: the listener's client_auth
// verifies the chain against its CA bundle (and refuses expired or
// wrong-CA certificates). This method only reads the verified chain and
// looks its leaf up in the consumers' mtls credentials, by SHA-256
// fingerprint, then subject, then SAN.

func init() { RegisterMethod("mtls", compileMTLS) }

// mtlsConfig is the method's config: `mtls: {}` or `mtls: {require: false}`.
type mtlsConfig struct {
	// Require (default true): a verified certificate that maps to no
	// consumer is refused. With false it counts as no credential, so the
	// next method (or the anonymous consumer) decides.
	Require *bool `yaml:"require,omitempty"`
}

type mtlsMethod struct {
	idx       *mtlsIndex
	consumers *Consumers
	require   bool
	now       func() time.Time
}

func compileMTLS(d pipeline.Decoder, env Env) (Method, error) {
	var cfg mtlsConfig
	if err := d.Decode(&cfg); err != nil {
		return nil, err
	}
	if !mtlsListenerAsks(env.Config.Listeners) {
		// Without client_auth no connection carries a verified
		// certificate: the route could never be reached this way.
		return nil, errors.New("no HTTPS listener asks for client certificates: set listeners[].tls.client_auth")
	}
	idx, err := mtlsIndexOf(env)
	if err != nil {
		return nil, err
	}
	m := &mtlsMethod{idx: idx, consumers: env.Consumers, require: true, now: time.Now}
	if cfg.Require != nil {
		m.require = *cfg.Require
	}
	return m, nil
}

func mtlsListenerAsks(ls []config.Listener) bool {
	for _, l := range ls {
		if l.TLS != nil && l.TLS.ClientAuth != nil {
			return true
		}
	}
	return false
}

func (m *mtlsMethod) Name() string { return "mtls" }

// Challenge is empty: client certificates are asked for by the TLS
// handshake, not by an HTTP challenge.
func (m *mtlsMethod) Challenge() string { return "" }

// Authenticate reads the verified chain only: a certificate the handshake
// did not verify (PeerCertificates without VerifiedChains) is never trusted.
func (m *mtlsMethod) Authenticate(c *pipeline.Context) (*pipeline.Identity, error) {
	st := c.Request.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil, ErrNoCredentials
	}
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return nil, &Failure{Reason: "unverified certificate"}
	}
	leaf := st.VerifiedChains[0][0]
	if now := m.now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, &Failure{Reason: "certificate not valid now"}
	}
	r := m.idx.resolve(sha256.Sum256(leaf.Raw), leaf)
	if r.ambiguous {
		return nil, &Failure{Reason: "ambiguous certificate"}
	}
	if r.name == "" {
		if !m.require {
			return nil, ErrNoCredentials
		}
		return nil, &Failure{Reason: "unknown certificate"}
	}
	id := m.consumers.Identity(r.name, r.credID, "mtls")
	if id == nil { // the index and the consumers come from the same snapshot
		return nil, &Failure{Reason: "unknown certificate"}
	}
	return id, nil
}

// lookup finds the consumer of a certificate: fingerprint first (the most
// specific), then subject, then SANs. Two SANs of one certificate naming
// different consumers are ambiguous and refused.
func (x *mtlsIndex) lookup(fp [32]byte, leaf *x509.Certificate) (name string, ambiguous bool) {
	if n, ok := x.byFingerprint[fp]; ok {
		return n, false
	}
	if len(x.bySubject) > 0 {
		if n, ok := x.bySubject[leaf.Subject.String()]; ok {
			return n, false
		}
	}
	if len(x.bySAN) == 0 {
		return "", false
	}
	match := func(san string) bool {
		n, ok := x.bySAN[san]
		if !ok {
			return false
		}
		if name != "" && name != n {
			ambiguous = true
		}
		name = n
		return ambiguous
	}
	for _, s := range leaf.DNSNames {
		if match(mtlsDNSKey(s)) {
			return "", true
		}
	}
	for _, s := range leaf.EmailAddresses {
		if match(s) {
			return "", true
		}
	}
	for _, u := range leaf.URIs {
		if match(u.String()) {
			return "", true
		}
	}
	return name, false
}
