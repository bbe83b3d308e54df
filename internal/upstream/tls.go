package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// TLS toward services (docs/zero-trust.md).
//
// Threats and the rule that answers each:
//   - A service reachable by anyone who can open a socket trusts headers
//     that prove nothing. The gateway presents a client certificate
//     (cert_file, key_file), so a service can accept the gateway and
//     refuse everything else at its TLS handshake.
//   - An attacker who can answer in the service's place (DNS, ARP, a
//     compromised neighbour holding any certificate from the same CA)
//     would receive the request and the identity it carries. The target's
//     certificate must chain to ca_file and carry the expected identity:
//     the target's host, server_name, a DNS expected_identity, or a SPIFFE
//     ID matched against the single URI SAN of an X.509-SVID (checked by
//     go-spiffe: one URI SAN, not a CA, signature key usage, chain to the
//     trust domain's bundle).
//   - Protocol downgrade: TLS 1.3 unless min_version says "1.2"; the 1.2
//     suites are the forward-secret AEAD ones.
//   - Certificates are short-lived and rotated on disk. Files are polled;
//     a change is loaded for the next connection while open connections
//     carry on (nothing is dropped), and a file that fails to load keeps
//     the previous material and is logged.

// tlsMaterial is the client side of TLS for one set of service settings.
// Pools with the same settings share it; the registry reloads it when its
// files change.
type tlsMaterial struct {
	key                       string
	caFile, certFile, keyFile string
	serverName                string      // "" : the target's host
	dnsIdentity               string      // expected DNS identity, or ""
	spiffeID                  spiffeid.ID // expected SPIFFE ID (zero: none)
	minVersion                uint16

	mu    sync.Mutex // serializes reloads
	stamp tlsStamp
	cur   atomic.Pointer[tlsState]
	// failing is the last reload error logged (reaper goroutine only): a
	// file that stays broken is logged once, not at every pass.
	failing string
}

// tlsState is one loaded generation of a material's files.
type tlsState struct {
	roots  *x509.CertPool     // nil: system roots
	bundle *x509bundle.Bundle // SPIFFE trust bundle (ca_file), with a SPIFFE identity
	cert   *tls.Certificate   // nil: no client certificate
	// sessions is per generation: a session resumed after a rotation
	// would carry the previous client certificate's authentication.
	sessions tls.ClientSessionCache
}

type fileState struct {
	mod  time.Time
	size int64
}

type tlsStamp struct{ ca, cert, key fileState }

func stat(path string) (fileState, error) {
	if path == "" {
		return fileState{}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	return fileState{fi.ModTime(), fi.Size()}, nil
}

func (m *tlsMaterial) stampNow() (tlsStamp, error) {
	var st tlsStamp
	var err error
	if st.ca, err = stat(m.caFile); err != nil {
		return st, fmt.Errorf("tls.ca_file: %w", err)
	}
	if st.cert, err = stat(m.certFile); err != nil {
		return st, fmt.Errorf("tls.cert_file: %w", err)
	}
	if st.key, err = stat(m.keyFile); err != nil {
		return st, fmt.Errorf("tls.key_file: %w", err)
	}
	return st, nil
}

// materialKey names the settings that shape TLS toward a target (file
// names, not contents: contents reload in place).
func materialKey(t *config.UpstreamTLS) string {
	if t == nil {
		return "tls:system"
	}
	return "tls:" + strings.Join([]string{t.CAFile, t.CertFile, t.KeyFile, t.ServerName, t.ExpectedIdentity, t.MinVersion}, "|")
}

func newTLSMaterial(t *config.UpstreamTLS) (*tlsMaterial, error) {
	m := &tlsMaterial{key: materialKey(t), minVersion: tls.VersionTLS13}
	if t != nil {
		m.caFile, m.certFile, m.keyFile, m.serverName = t.CAFile, t.CertFile, t.KeyFile, t.ServerName
		v, err := tlspolicy.Version(t.MinVersion, tls.VersionTLS13)
		if err != nil {
			return nil, fmt.Errorf("tls.%w", err)
		}
		m.minVersion = v
		if (m.certFile == "") != (m.keyFile == "") {
			return nil, errors.New("tls.cert_file and tls.key_file go together")
		}
		if id := t.ExpectedIdentity; strings.HasPrefix(id, "spiffe://") {
			sid, err := spiffeid.FromString(id)
			if err != nil {
				return nil, fmt.Errorf("tls.expected_identity: %w", err)
			}
			if m.caFile == "" {
				return nil, errors.New("tls.expected_identity: a SPIFFE ID needs tls.ca_file (the trust domain's bundle)")
			}
			m.spiffeID = sid
		} else if id != "" {
			m.dnsIdentity = strings.ToLower(id)
		}
	}
	if err := m.reload(true); err != nil {
		return nil, err
	}
	return m, nil
}

// reload loads the files again when they changed (or always with force).
// On error the previous state stays in use.
func (m *tlsMaterial) reload(force bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, err := m.stampNow()
	if err != nil {
		return err
	}
	if !force && st == m.stamp && m.cur.Load() != nil {
		return nil
	}
	s, err := m.load()
	if err != nil {
		return err
	}
	m.cur.Store(s)
	m.stamp = st
	return nil
}

// errUnchanged is what refresh reports when nothing changed.
var errUnchanged = errors.New("unchanged")

// refresh reloads changed files, reporting errUnchanged when none did.
func (m *tlsMaterial) refresh() error {
	m.mu.Lock()
	st, err := m.stampNow()
	same := err == nil && st == m.stamp
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if same {
		return errUnchanged
	}
	return m.reload(false)
}

func (m *tlsMaterial) load() (*tlsState, error) {
	s := &tlsState{sessions: tls.NewLRUClientSessionCache(64)}
	if m.caFile != "" {
		data, err := os.ReadFile(m.caFile) // #nosec G304 -- the operator's services[].tls.ca_file
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		certs, err := parseCertsPEM(data)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		s.roots = x509.NewCertPool()
		for _, c := range certs {
			s.roots.AddCert(c)
		}
		if !m.spiffeID.IsZero() {
			s.bundle = x509bundle.FromX509Authorities(m.spiffeID.TrustDomain(), certs)
		}
	}
	if m.certFile != "" {
		kp, err := tls.LoadX509KeyPair(m.certFile, m.keyFile)
		if err != nil {
			// crypto/tls errors never contain key material.
			return nil, fmt.Errorf("tls.cert_file/key_file: %w", err)
		}
		s.cert = &kp
	}
	return s, nil
}

func parseCertsPEM(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found in the CA file")
	}
	return out, nil
}

// clientConfig is the tls.Config of one new connection to host (the
// target's host name or address), from the current state.
func (m *tlsMaterial) clientConfig(host string) *tls.Config {
	s := m.cur.Load()
	sni := m.serverName
	if sni == "" {
		sni = m.dnsIdentity
	}
	if sni == "" {
		sni = host
	}
	tc := tlspolicy.Config(m.minVersion)
	tc.ServerName, tc.RootCAs, tc.ClientSessionCache = sni, s.roots, s.sessions
	tc.NextProtos = []string{"h2", "http/1.1"}
	if s.cert != nil {
		cert := s.cert
		// Sent whenever the service asks, whatever CA names it lists:
		// the service decides, and its refusal is the clearer error.
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	switch {
	case !m.spiffeID.IsZero():
		// An X.509-SVID carries its identity in a URI SAN and usually no
		// DNS name, so crypto/tls's host name check cannot apply; the
		// whole verification is go-spiffe's, in VerifyConnection, which
		// runs on every handshake, resumed ones included.
		tc.InsecureSkipVerify = true // #nosec G402 -- verified by verifySPIFFE below
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifySPIFFE(cs, s.bundle, m.spiffeID) }
	case m.dnsIdentity != "":
		// The certificate must be valid for the expected name, which may
		// differ from the SNI name (server_name) and the target's host.
		tc.InsecureSkipVerify = true // #nosec G402 -- verified by verifyDNS below
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifyDNS(cs, s.roots, m.dnsIdentity) }
	}
	return tc
}

// verifySPIFFE accepts a peer whose certificate is an X.509-SVID of
// exactly the expected ID, chained to the trust domain's bundle.
func verifySPIFFE(cs tls.ConnectionState, bundle *x509bundle.Bundle, want spiffeid.ID) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("upstream presented no certificate")
	}
	id, _, err := x509svid.Verify(cs.PeerCertificates, bundle)
	if err != nil {
		return fmt.Errorf("upstream SVID: %w", err)
	}
	if id != want {
		return fmt.Errorf("upstream identity %s is not the expected %s", id, want)
	}
	return nil
}

// verifyDNS does what crypto/tls does, with name as the host to verify.
func verifyDNS(cs tls.ConnectionState, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("upstream presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		DNSName:       name,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err
}

// newTransport builds the http.Transport of an https:// target: the pool
// dials and runs the TLS handshake itself (dialTLS) with the material's
// current files, HTTP/2 when the server offers it, the pool's timeouts
// and sizes, and no compression or environment proxy (a proxy passes
// bodies and routes through untouched).
func newTransport(p *pool) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,
		DialTLSContext:        p.dialTLS,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   p.maxIdle,
		MaxConnsPerHost:       p.maxConns,
		IdleConnTimeout:       p.idleTimeout,
		ResponseHeaderTimeout: p.respTimeout,
		DisableCompression:    true,
	}
}

// dialTLS dials the target, feeding passive health, and completes the
// TLS handshake within the connect timeout.
func (p *pool) dialTLS(ctx context.Context, network, _ string) (net.Conn, error) {
	nc, err := p.dialer.DialContext(ctx, network, p.addr)
	if err != nil {
		if ctx.Err() == nil {
			p.dialFailed()
		}
		return nil, err
	}
	hctx := ctx
	if p.dialer.Timeout > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, p.dialer.Timeout)
		defer cancel()
	}
	tc := tls.Client(nc, p.tlsm.clientConfig(hostname(p.host)))
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = nc.Close()
		if ctx.Err() == nil {
			p.dialFailed()
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	p.dialSucceeded()
	return tc, nil
}

// hostname is the host part of an authority, without brackets.
func hostname(authority string) string {
	if h, _, err := net.SplitHostPort(authority); err == nil {
		return h
	}
	return strings.Trim(authority, "[]")
}

// roundTripTLS is RoundTrip for https:// targets.
func (p *pool) roundTripTLS(req *http.Request) (*http.Response, error) {
	if _, ok := req.Header["User-Agent"]; !ok {
		// Present but empty keeps http.Transport from adding Go's default.
		if req.Header == nil {
			req.Header = make(http.Header)
		}
		req.Header["User-Agent"] = nil
	}
	resp, err := p.tr.RoundTrip(req)
	if err != nil {
		return nil, p.wrapErr(req.Context(), "round trip", err)
	}
	return resp, nil
}

// refreshTLS reloads the materials whose files changed; a file that fails
// to load keeps the previous material and is logged.
func (r *Registry) refreshTLS() {
	r.mu.Lock()
	ms := make([]*tlsMaterial, 0, len(r.materials))
	for _, m := range r.materials {
		ms = append(ms, m)
	}
	r.mu.Unlock()
	log := r.log.Load()
	for _, m := range ms {
		switch err := m.refresh(); {
		case errors.Is(err, errUnchanged):
		case err != nil:
			if err.Error() == m.failing {
				continue
			}
			m.failing = err.Error()
			if log != nil {
				log.Error("upstream TLS files failed to reload; new connections keep the previous ones", "event", EventUpstreamTLSReloadFailed, "files", m.files(), "error", err)
			}
		default:
			m.failing = ""
			if log != nil {
				log.Info("upstream TLS files reloaded", "event", EventUpstreamTLSReloaded, "files", m.files())
			}
		}
	}
}

func (m *tlsMaterial) files() string {
	var fs []string
	for _, f := range []string{m.caFile, m.certFile, m.keyFile} {
		if f != "" {
			fs = append(fs, f)
		}
	}
	return strings.Join(fs, ",")
}

// SetLogger sets where the registry reports what happens outside any
// request (TLS files reloaded or failing to).
func (r *Registry) SetLogger(l *slog.Logger) {
	r.log.Store(l)
}

// material returns the shared TLS material for t, loading its files. An
// existing one is refreshed first, so a reload that follows a file change
// uses (or reports) the new files at once.
func (r *Registry) material(t *config.UpstreamTLS) (*tlsMaterial, error) {
	key := materialKey(t)
	r.mu.Lock()
	m := r.materials[key]
	r.mu.Unlock()
	if m != nil {
		if err := m.refresh(); err != nil && !errors.Is(err, errUnchanged) {
			return nil, err
		}
		return m, nil
	}
	m, err := newTLSMaterial(t)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old := r.materials[key]; old != nil {
		return old, nil
	}
	r.materials[key] = m
	return m, nil
}
