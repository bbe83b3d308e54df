package tlspolicy

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// CABundle is a PEM file of CA certificates as read: its certificates and
// its bytes (which callers hash into the key of what they build from it).
type CABundle struct {
	Certs []*x509.Certificate
	PEM   []byte
}

// Pool is a new pool holding the bundle's certificates.
func (b *CABundle) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range b.Certs {
		p.AddCert(c)
	}
	return p
}

// ReadCAFile reads the PEM file of CA certificates at path (ParseCA's
// rules). It is the one reader of every ca_file the gateway trusts: the
// listeners' client certificates, the admin API's, the upstreams', Redis's,
// the identity providers'.
func ReadCAFile(path string) (*CABundle, error) {
	data, err := os.ReadFile(path) // #nosec G304 -- a CA file the operator named
	if err != nil {
		return nil, err
	}
	certs, err := ParseCA(data)
	if err != nil {
		return nil, fmt.Errorf("%s %w", path, err)
	}
	return &CABundle{Certs: certs, PEM: data}, nil
}

// ParseCA parses a PEM bundle of CA certificates. Blocks of other types
// (a comment block, a stray key) are skipped; a CERTIFICATE block that does
// not parse is an error, and so is a bundle without one. crypto/x509's
// AppendCertsFromPEM skips a broken certificate silently: a bundle whose
// only good certificate was mangled in a copy would then trust less than
// the operator believes, or nothing at all, and fail only at the first
// handshake. Errors name the certificate by its place, never the bytes.
func ParseCA(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for n := 1; ; {
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
			return nil, fmt.Errorf("holds a certificate that does not parse (certificate %d): %w", n, err)
		}
		out = append(out, c)
		n++
	}
	if len(out) == 0 {
		return nil, errors.New("holds no PEM certificate")
	}
	return out, nil
}
