// Package devpki creates a local certificate authority and the
// certificates to try TLS, mTLS at the edge, mTLS toward services and the
// identity assertion on one machine (`portcullis certs dev`).
//
// It is for development only, and says so in every subject: the CA key
// sits next to the certificates. Private keys are written with 0600
// permissions in a 0700 directory, and existing files are never
// overwritten unless asked, so a rerun cannot silently replace a key in
// use.
package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// Options say what to create.
type Options struct {
	Dir string
	// Hosts are the names and addresses of the gateway's server
	// certificate (and of the service's).
	Hosts []string
	// Client is the common name of the edge client certificate.
	Client string
	// Service is the service name: its certificate carries the SPIFFE ID
	// spiffe://TrustDomain/ns/dev/sa/Service besides Hosts.
	Service     string
	TrustDomain string
	Validity    time.Duration
	Force       bool
}

// File is one file written.
type File struct {
	Name, Path, What string
}

// SPIFFEID is the SPIFFE ID of the service certificate Create writes (and
// the expected_identity of the config certs dev prints).
func SPIFFEID(trustDomain, service string) string {
	return fmt.Sprintf("spiffe://%s/ns/dev/sa/%s", trustDomain, service)
}

// Create writes the CA, the certificates and keys, and the assertion
// signing key, and returns what it wrote.
func Create(o Options) ([]File, error) {
	if o.Validity <= 0 {
		o.Validity = 90 * 24 * time.Hour
	}
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if o.Client == "" {
		o.Client = "dev-client"
	}
	if o.Service == "" {
		o.Service = "orders"
	}
	if o.TrustDomain == "" {
		o.TrustDomain = "dev.local"
	}
	spiffeID, err := url.Parse(SPIFFEID(o.TrustDomain, o.Service))
	if err != nil {
		return nil, fmt.Errorf("SPIFFE ID: %w", err)
	}
	names := []string{"ca.pem", "ca.key", "server.pem", "server.key", "client.pem", "client.key",
		"gateway-client.pem", "gateway-client.key", "service.pem", "service.key", "assertion.key"}
	if !o.Force {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(o.Dir, n)); err == nil {
				return nil, fmt.Errorf("%s exists; use --force to replace every file", filepath.Join(o.Dir, n))
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Portcullis development CA (not for production)", Organization: []string{"Portcullis dev"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(o.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caCert, caDER, err := sign(caTmpl, nil, caKey, caKey)
	if err != nil {
		return nil, err
	}
	var out []File
	write := func(name, what string, data []byte, perm os.FileMode) error {
		p := filepath.Join(o.Dir, name)
		if err := writeFile(p, data, perm); err != nil {
			return err
		}
		out = append(out, File{Name: name, Path: p, What: what})
		return nil
	}
	if err := write("ca.pem", "the CA certificate: client_auth.ca_file, services[].tls.ca_file, clients' trust", certPEM(caDER), 0o644); err != nil {
		return nil, err
	}
	if err := write("ca.key", "the CA key (development only)", keyPEM(caKey), 0o600); err != nil {
		return nil, err
	}

	leaf := func(base, what string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.Add(o.Validity)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		_, der, err := sign(tmpl, caCert, key, caKey)
		if err != nil {
			return err
		}
		if err := write(base+".pem", what, certPEM(der), 0o644); err != nil {
			return err
		}
		return write(base+".key", "its private key", keyPEM(key), 0o600)
	}
	server := &x509.Certificate{Subject: pkix.Name{CommonName: o.Hosts[0]}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	addHosts(server, o.Hosts)
	if err := leaf("server", "the gateway's HTTPS certificate: listeners[].tls.certificates", server); err != nil {
		return nil, err
	}
	if err := leaf("client", "an edge client certificate (subject CN="+o.Client+") for the mtls method",
		&x509.Certificate{Subject: pkix.Name{CommonName: o.Client}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, err
	}
	if err := leaf("gateway-client", "the gateway's client certificate toward services: services[].tls.cert_file",
		&x509.Certificate{Subject: pkix.Name{CommonName: "portcullis"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, err
	}
	service := &x509.Certificate{Subject: pkix.Name{CommonName: o.Service}, URIs: []*url.URL{spiffeID},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	addHosts(service, o.Hosts)
	if err := leaf("service", "a service's certificate ("+spiffeID.String()+"): services[].tls.expected_identity", service); err != nil {
		return nil, err
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := write("assertion.key", "an Ed25519 signing key: identity_assertion.keys[].private_key_file", keyPEM(edKey), 0o600); err != nil {
		return nil, err
	}
	return out, nil
}

func addHosts(c *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			c.IPAddresses = append(c.IPAddresses, ip)
		} else {
			c.DNSNames = append(c.DNSNames, h)
		}
	}
}

func sign(tmpl, parent *x509.Certificate, key crypto.Signer, caKey crypto.Signer) (*x509.Certificate, []byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, der, err
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err) // only ECDSA and Ed25519 keys made here
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// writeFile writes data with perm, also when the file existed with wider
// permissions (--force), through a temporary file and a rename.
func writeFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm) // #nosec G302 G304 -- certificates are public (0644), keys 0600
	if err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil { // umask or an old file must not widen a key's mode
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
