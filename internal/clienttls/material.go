package clienttls

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
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

// Material is the client side of TLS for one tls block: the trust
// anchors, the client certificate, the identity expected of the server and
// the protocol floor. Connections with the same settings share it.
type Material struct {
	caFile, certFile, keyFile string
	serverName                string      // "" : the dialed host
	dnsIdentity               string      // expected DNS identity, or ""
	spiffeID                  spiffeid.ID // expected SPIFFE ID (zero: none)
	minVersion                uint16

	mu    sync.Mutex // serializes reloads and failing
	stamp stamp
	cur   atomic.Pointer[state]
	// failing is the last refresh error reported (ReportOnce): a file that
	// stays broken is reported once, not at every pass.
	failing string
}

// state is one loaded generation of a material's files.
type state struct {
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

type stamp struct{ ca, cert, key fileState }

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

func (m *Material) stampNow() (stamp, error) {
	var st stamp
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

// Key names the settings of t (file names, not contents: contents reload
// in place). Equal keys may share one Material.
func Key(t *config.ClientTLS) string {
	if t == nil {
		return "tls:system"
	}
	return "tls:" + strings.Join([]string{t.CAFile, t.CertFile, t.KeyFile, t.ServerName, t.ExpectedIdentity, t.MinVersion}, "|")
}

// New loads the material of t (nil: system roots, no client certificate,
// TLS 1.3). Errors name the field ("tls.ca_file: ...").
func New(t *config.ClientTLS) (*Material, error) {
	m := &Material{minVersion: tls.VersionTLS13}
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
func (m *Material) reload(force bool) error {
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

// ErrUnchanged is what Refresh reports when no file changed.
var ErrUnchanged = errors.New("unchanged")

// Refresh reloads the files when one changed, reporting ErrUnchanged when
// none did. On any other error the previous files stay in use.
func (m *Material) Refresh() error {
	m.mu.Lock()
	st, err := m.stampNow()
	same := err == nil && st == m.stamp
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if same {
		return ErrUnchanged
	}
	return m.reload(false)
}

// ReportOnce tells whether a Refresh result is worth a log line: an error
// the first time it is seen (a file that stays broken is reported once,
// not at every pass), and every success (nil: the files changed and
// loaded), which also ends a run of errors.
func (m *Material) ReportOnce(err error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		m.failing = ""
		return true
	}
	if err.Error() == m.failing {
		return false
	}
	m.failing = err.Error()
	return true
}

func (m *Material) load() (*state, error) {
	s := &state{sessions: tls.NewLRUClientSessionCache(64)}
	if m.caFile != "" {
		ca, err := tlspolicy.ReadCAFile(m.caFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		s.roots = ca.Pool()
		if !m.spiffeID.IsZero() {
			s.bundle = x509bundle.FromX509Authorities(m.spiffeID.TrustDomain(), ca.Certs)
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

// Config is the tls.Config of one new connection to host (the dialed
// host name or address), from the current files.
func (m *Material) Config(host string) *tls.Config {
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
	if s.cert != nil {
		cert := s.cert
		// Sent whenever the server asks, whatever CA names it lists: the
		// server decides, and its refusal is the clearer error.
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
		// differ from the SNI name (server_name) and the dialed host.
		tc.InsecureSkipVerify = true // #nosec G402 -- verified by verifyDNS below
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifyDNS(cs, s.roots, m.dnsIdentity) }
	}
	return tc
}

// verifySPIFFE accepts a peer whose certificate is an X.509-SVID of
// exactly the expected ID, chained to the trust domain's bundle.
func verifySPIFFE(cs tls.ConnectionState, bundle *x509bundle.Bundle, want spiffeid.ID) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
	}
	id, _, err := x509svid.Verify(cs.PeerCertificates, bundle)
	if err != nil {
		return fmt.Errorf("server SVID: %w", err)
	}
	if id != want {
		return fmt.Errorf("server identity %s is not the expected %s", id, want)
	}
	return nil
}

// verifyDNS does what crypto/tls does, with name as the host to verify.
func verifyDNS(cs tls.ConnectionState, roots *x509.CertPool, name string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("server presented no certificate")
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

// Files lists the material's files, comma-separated (for logs).
func (m *Material) Files() string {
	var fs []string
	for _, f := range []string{m.caFile, m.certFile, m.keyFile} {
		if f != "" {
			fs = append(fs, f)
		}
	}
	return strings.Join(fs, ",")
}

// Dial opens a connection to addr and completes the TLS handshake with
// the material's current files, within ctx: the one dialer of every
// TLS connection the gateway opens with a tls block outside the upstream
// transport (Redis, a syslog receiver, a webhook). The files are polled first (Refresh), so a
// rotated client certificate is used from this connection on; report
// gets each refresh outcome worth a log line (ReportOnce): nil when the
// files changed and loaded, the error when they failed to (the previous
// files stay in use). The host of addr is the name verified when the
// block names none.
func (m *Material) Dial(ctx context.Context, network, addr string, report func(error)) (*tls.Conn, error) {
	if err := m.Refresh(); !errors.Is(err, ErrUnchanged) && m.ReportOnce(err) && report != nil {
		report(err)
	}
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	tc := tls.Client(nc, m.Config(host))
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}
