package gateway

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/revocation"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// clientCAs is the CA bundle a TLS listener verifies client certificates
// with (a listener's client_auth.ca_file, the admin API's client_ca_file),
// reloaded when the file changes, as certificates are: adding a partner's
// CA, or the next CA of a rotation, takes effect without a restart, and a
// broken file keeps the previous bundle (logged once, shown on /readyz).
//
// A handshake takes the current configs with one atomic load
// (GetConfigForClient); a reload builds new clones of the listener's
// config with the new pool. With revocation (CRLs), the CRLs are checked
// against the new CAs first; if one is not signed by a CA of the new file,
// nothing changes.
type clientCAs struct {
	file    string
	owner   string // the listener's name, or adminCertOwner
	proto   *tls.Config
	mode    tls.ClientAuthType
	hosts   map[string]bool // only these SNI names are asked (none: every connection)
	revoker *revocation.Checker

	mu    sync.Mutex // one reload at a time
	stamp caStamp
	cur   atomic.Pointer[clientAuthConfigs]
	reloadState
}

// clientAuthConfigs are the configs of one bundle: withCerts asks for a
// certificate, base (for the SNI names not listed in hosts) does not.
type clientAuthConfigs struct {
	withCerts, base *tls.Config
}

type caStamp struct {
	mod  time.Time
	size int64
}

// newClientCAs reads the bundle and makes tc ask for client certificates
// (mode) on the connections whose SNI names one of hosts, or on every one
// when hosts is empty; a non-nil revoker checks the CRLs against the CAs.
// tc must be complete (certificates, protocols, VerifyConnection): the
// configs handed to handshakes are clones of it.
func newClientCAs(tc *tls.Config, file, owner string, mode tls.ClientAuthType, hosts []string, revoker *revocation.Checker) (*clientCAs, error) {
	c := &clientCAs{file: file, owner: owner, proto: tc.Clone(), mode: mode, revoker: revoker}
	if len(hosts) > 0 {
		c.hosts = map[string]bool{}
		for _, h := range hosts {
			c.hosts[sniName(h)] = true
		}
	}
	if _, err := c.load(); err != nil {
		return nil, err
	}
	tc.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		cfgs := c.cur.Load()
		if c.hosts == nil || c.hosts[sniName(hello.ServerName)] {
			return cfgs.withCerts, nil
		}
		return cfgs.base, nil
	}
	return c, nil
}

// load reads the file and, when it is new, installs its configs; it
// reports whether anything changed.
func (c *clientCAs) load() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fi, err := os.Stat(c.file)
	if err != nil {
		return false, err
	}
	st := caStamp{fi.ModTime(), fi.Size()}
	if c.cur.Load() != nil && st == c.stamp {
		return false, nil
	}
	bundle, err := tlspolicy.ReadCAFile(c.file)
	if err != nil {
		return false, err
	}
	if c.revoker != nil && c.cur.Load() != nil {
		// At start the checker was built with these CAs already.
		if err := c.revoker.SetCAs(bundle.Certs); err != nil {
			return false, fmt.Errorf("the CRLs do not agree with the new CA file: %w", err)
		}
	}
	pool := bundle.Pool()
	base, withCerts := c.proto.Clone(), c.proto.Clone()
	base.ClientCAs, withCerts.ClientCAs = pool, pool
	withCerts.ClientAuth = c.mode
	c.cur.Store(&clientAuthConfigs{withCerts: withCerts, base: base})
	c.stamp = st
	return true, nil
}

// refresh reloads a changed file, reported as a certificate's reload is
// (with ca_file).
func (c *clientCAs) refresh(log *slog.Logger) {
	changed, err := c.load()
	c.record(log, changed, err, "client CA file reload failed; keeping the previous CAs", "client CA file reloaded",
		"listener", c.owner, "ca_file", c.file)
}

// failures is the failing reload for /readyz, if any.
func (c *clientCAs) failures() []map[string]any {
	if f := c.failing.Load(); f != nil {
		return []map[string]any{{"listener": c.owner, "ca_file": c.file, "error": f.err, "since": f.since.Format(time.RFC3339)}}
	}
	return nil
}

// clientAuthMode is the handshake's demand for a client_auth mode.
func clientAuthMode(ca *config.ClientAuth) tls.ClientAuthType {
	if ca.Mode == config.ClientAuthRequire {
		return tls.RequireAndVerifyClientCert
	}
	return tls.VerifyClientCertIfGiven
}
