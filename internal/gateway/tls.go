package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// certSet is the certificates of one HTTPS listener, chosen by SNI. Each
// certificate reloads itself when its files change on disk.
type certSet struct {
	certs []*reloadingCert
	exact map[string]*reloadingCert // lower-case DNS SAN -> cert
	wild  map[string]*reloadingCert // "example.com" for a "*.example.com" SAN
}

// reloadingCert holds a key pair and the file state it was loaded from.
type reloadingCert struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
	stamp             atomic.Value // fileStamp of the last successful load
	// The files on disk failing to load (the previous certificate serves).
	reloadState
}

// certFailure is a certificate (or client CA) reload that failed.
type certFailure struct {
	err   string
	since time.Time
}

// reloadState is what the gateway remembers of a file it reloads when the
// file changes (a certificate, a client CA bundle): the failure while it
// fails to load, logged when it starts or its error changes (not at every
// poll while the file stays broken) and shown on /readyz until the file
// loads again.
type reloadState struct {
	failing atomic.Pointer[certFailure]
}

// record logs the outcome of one poll of the file: err from the reload,
// changed when a new version was loaded; attrs name the file.
func (s *reloadState) record(log *slog.Logger, changed bool, err error, failed, reloaded string, attrs ...any) {
	prev := s.failing.Load()
	switch {
	case err != nil:
		if prev == nil || prev.err != err.Error() {
			s.failing.Store(&certFailure{err: err.Error(), since: time.Now().UTC()})
			log.Error(failed, append([]any{"event", eventCertReloadFailed}, append(attrs, "error", err)...)...)
		}
	case changed || prev != nil:
		s.failing.Store(nil)
		log.Info(reloaded, append([]any{"event", eventCertReloaded}, attrs...)...)
	}
}

type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

func stampOf(certFile, keyFile string) (fileStamp, error) {
	ci, err := os.Stat(certFile)
	if err != nil {
		return fileStamp{}, err
	}
	ki, err := os.Stat(keyFile)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{ci.ModTime(), ki.ModTime(), ci.Size(), ki.Size()}, nil
}

// certError is a certificate of a listener's list that does not load;
// index is its place in the list, so the problem is shown at its entry.
type certError struct {
	index int
	err   error
}

func (e certError) Error() string { return e.err.Error() }
func (e certError) Unwrap() error { return e.err }

// loadCertSet loads every certificate of a listener. It returns the set,
// or every certificate that did not load (one error each, not only the
// first: an operator fixing a listener sees all of its broken entries).
func loadCertSet(specs []config.Certificate) (*certSet, []certError) {
	if len(specs) == 0 {
		// The loader refuses an empty list first (listenerTLS); this is
		// the same rule for a config built in code.
		return nil, []certError{{index: -1, err: errors.New("at least one certificate is required")}}
	}
	cs := &certSet{exact: map[string]*reloadingCert{}, wild: map[string]*reloadingCert{}}
	var errs []certError
	for i, sp := range specs {
		rc := &reloadingCert{certFile: sp.CertFile, keyFile: sp.KeyFile}
		if err := rc.load(); err != nil {
			errs = append(errs, certError{index: i, err: err})
			continue
		}
		cs.certs = append(cs.certs, rc)
		leaf := rc.cur.Load().Leaf
		for _, name := range leaf.DNSNames {
			name = strings.ToLower(name)
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				if _, dup := cs.wild[rest]; !dup {
					cs.wild[rest] = rc
				}
			} else if _, dup := cs.exact[name]; !dup {
				cs.exact[name] = rc
			}
		}
	}
	if errs != nil {
		return nil, errs
	}
	return cs, nil
}

func (rc *reloadingCert) load() error {
	st, err := stampOf(rc.certFile, rc.keyFile)
	if err != nil {
		return err
	}
	kp, err := tls.LoadX509KeyPair(rc.certFile, rc.keyFile)
	if err != nil {
		// The error from crypto/tls never contains key material.
		return fmt.Errorf("load key pair %s: %w", rc.certFile, err)
	}
	if kp.Leaf == nil {
		leaf, err := x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			return fmt.Errorf("parse %s: %w", rc.certFile, err)
		}
		kp.Leaf = leaf
	}
	rc.cur.Store(&kp)
	rc.stamp.Store(st)
	return nil
}

// refresh reloads the certificate if its files changed. A broken new file
// keeps the old certificate serving; the error is returned for the log.
func (rc *reloadingCert) refresh() (bool, error) {
	st, err := stampOf(rc.certFile, rc.keyFile)
	if err != nil {
		return false, err
	}
	if old, _ := rc.stamp.Load().(fileStamp); old == st {
		return false, nil
	}
	if err := rc.load(); err != nil {
		return false, err
	}
	return true, nil
}

// get picks the certificate for an SNI name: exact SAN, then wildcard,
// then the first certificate.
func (cs *certSet) get(hello *tls.ClientHelloInfo) *tls.Certificate {
	name := strings.TrimSuffix(strings.ToLower(hello.ServerName), ".")
	if rc, ok := cs.exact[name]; ok {
		return rc.cur.Load()
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if rc, ok := cs.wild[name[i+1:]]; ok {
			return rc.cur.Load()
		}
	}
	return cs.certs[0].cur.Load()
}

// Certificate reload events (docs/observability.md, "State-change
// events"): a failure is logged when it starts (or its error changes), not
// at every poll while the files stay broken, and shown on /readyz until the
// files load again.
const (
	eventCertReloadFailed = "certificate_reload_failed"
	eventCertReloaded     = "certificate_reloaded"
)

func (cs *certSet) refreshAll(log *slog.Logger, listener string) {
	for _, rc := range cs.certs {
		changed, err := rc.refresh()
		rc.record(log, changed, err, "certificate reload failed; keeping the previous certificate", "certificate reloaded",
			"listener", listener, "cert_file", rc.certFile)
	}
}

// failures lists the certificates whose reload is failing, for /readyz.
func (cs *certSet) failures(listener string) []map[string]any {
	var out []map[string]any
	for _, rc := range cs.certs {
		if f := rc.failing.Load(); f != nil {
			out = append(out, map[string]any{"listener": listener, "cert_file": rc.certFile, "error": f.err, "since": f.since.Format(time.RFC3339)})
		}
	}
	return out
}

// hostMatchesTLS reports whether a request's host (port stripped) is the
// site its TLS connection was set up for: the SNI name the client sent, or
// without SNI (a client that connected by address), a name or address of
// the listener's default certificate. Names compare as DNS names do:
// case-insensitive, without a trailing dot.
func (s *Snapshot) hostMatchesTLS(listener, host, serverName string) bool {
	h := sniName(host)
	if serverName != "" {
		return h == sniName(serverName)
	}
	cs := s.certs[listener]
	if cs == nil || len(cs.certs) == 0 || h == "" {
		return false
	}
	leaf := cs.certs[0].cur.Load().Leaf
	return leaf != nil && leaf.VerifyHostname(h) == nil
}
