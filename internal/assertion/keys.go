package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"

	"github.com/portcullis/portcullis/verify"
)

// Key is one signing key with its public JWK.
type Key struct {
	ID     string
	Alg    jose.SignatureAlgorithm
	signer crypto.Signer
	public jose.JSONWebKey
}

// LoadKey reads an Ed25519 or P-256 private key from a PEM file (PKCS #8,
// or SEC 1 "EC PRIVATE KEY").
func LoadKey(id, file string) (*Key, error) {
	data, err := os.ReadFile(file) // #nosec G304 -- identity_assertion.keys[].private_key_file
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block in the key file")
	}
	var priv any
	switch b.Type {
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want PRIVATE KEY or EC PRIVATE KEY)", b.Type)
	}
	if err != nil {
		return nil, errors.New("the private key cannot be parsed") // the parser's text may quote key bytes
	}
	k := &Key{ID: id}
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		k.Alg, k.signer = jose.EdDSA, p
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, errors.New("an ECDSA key must be on P-256 (ES256)")
		}
		k.Alg, k.signer = jose.ES256, p
	default:
		return nil, fmt.Errorf("a %T cannot sign assertions: use Ed25519 (EdDSA) or P-256 (ES256)", priv)
	}
	k.public = jose.JSONWebKey{Key: k.signer.Public(), KeyID: id, Algorithm: string(k.Alg), Use: "sig"}
	return k, nil
}

// Public returns the key's public JWK.
func (k *Key) Public() jose.JSONWebKey { return k.public }

// newSigner returns a JWS signer with the assertion's headers.
func (k *Key) newSigner() (jose.Signer, error) {
	opts := (&jose.SignerOptions{}).WithType(verify.TokenType).WithHeader("kid", k.ID)
	return jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: k.signer}, opts)
}
