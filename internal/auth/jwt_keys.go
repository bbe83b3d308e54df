package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/config"
)

// jwtAlgs maps each supported JWS algorithm (config.JWTAlgorithms, the one
// list) to its bit in an algSet, its position in that list, and its
// implementation. "none" is deliberately absent.
var jwtAlgs = func() map[string]struct {
	bit    algSet
	method jwt.SigningMethod
} {
	m := map[string]struct {
		bit    algSet
		method jwt.SigningMethod
	}{}
	for i, a := range config.JWTAlgorithms {
		meth := jwt.GetSigningMethod(a)
		if meth == nil || a == "none" {
			panic("auth: JWT algorithm " + a + " has no implementation")
		}
		m[a] = struct {
			bit    algSet
			method jwt.SigningMethod
		}{1 << i, meth}
	}
	return m
}()

// algSet is a set of algorithms, one bit each.
type algSet uint16

// The families, as bits in config.JWTAlgorithms' order (HS*, then RS*
// and PS*); TestJWTAlgorithmFamilies checks them against the list.
const (
	algsHMAC algSet = 0b111
	algsRSA  algSet = 0b111111 << 3 // RS* and PS*
)

func algBit(alg string) algSet { return jwtAlgs[alg].bit }

func (s algSet) has(alg string) bool { return s.hasBit(algBit(alg)) }

// hasBit reports whether s holds b, the bit of one algorithm (0, an
// unknown algorithm's, is never held).
func (s algSet) hasBit(b algSet) bool { return b != 0 && s&b != 0 }

// ecCurveAlg binds each curve to the one algorithm it may verify.
var ecCurveAlg = map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}

const minRSABits = 2048

// verifyKey is one verification key bound to the algorithms it may verify:
// exactly one for a consumer credential; for a JWKS key its "alg", or when
// the JWK names none, the algorithms its key type allows (never HMAC).
type verifyKey struct {
	algs algSet
	// key is what golang-jwt's Verify expects: []byte for HMAC,
	// *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	key any
	// fp identifies the key material and its algorithms; the token cache
	// stores it so that a cached token is only used with the same key.
	fp [32]byte
	// id is the credential key (consumer credentials) or the kid (JWKS):
	// what X-Credential-Id carries.
	id string
	// consumer owns a credential key; empty for JWKS keys.
	consumer string
}

var fingerprintKey = func() (k [32]byte) {
	_, _ = rand.Read(k[:]) // crypto/rand.Read never fails (Go 1.24+)
	return k
}()

func newVerifyKey(algs algSet, key any, id, consumer string) (*verifyKey, error) {
	var material []byte
	switch k := key.(type) {
	case []byte:
		material = k
	default:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("encode public key: %w", err)
		}
		material = der
	}
	// Keyed with a per-process random key: the fingerprint of an HMAC
	// secret says nothing about the secret, even to someone who reads
	// the process's memory.
	h := hmac.New(sha256.New, fingerprintKey[:])
	var algBytes [2]byte
	binary.BigEndian.PutUint16(algBytes[:], uint16(algs))
	h.Write(algBytes[:])
	h.Write(material)
	vk := &verifyKey{algs: algs, key: key, id: id, consumer: consumer}
	h.Sum(vk.fp[:0])
	return vk, nil
}

// credentialKey compiles a consumer's JWT credential. Errors never contain
// the secret or the key.
func credentialKey(c config.JWTCredential, consumer string) (*verifyKey, error) {
	info, ok := jwtAlgs[c.Algorithm]
	if !ok {
		return nil, fieldErr("algorithm", "unsupported algorithm %q", c.Algorithm)
	}
	if c.Key == "" {
		return nil, fieldErr("key", "is required")
	}
	if info.bit&algsHMAC != 0 {
		if c.PublicKey != "" {
			return nil, fieldErr("public_key", "must not be set for %s", c.Algorithm)
		}
		if min := config.MinHMACSecretBytes[c.Algorithm]; len(c.Secret) < min {
			return nil, fieldErr("secret", "must be at least %d bytes for %s", min, c.Algorithm)
		}
		return newVerifyKey(info.bit, []byte(c.Secret), c.Key, consumer)
	}
	if c.Secret != "" {
		return nil, fieldErr("secret", "must not be set for %s", c.Algorithm)
	}
	pub, err := parsePublicKeyPEM([]byte(c.PublicKey))
	if err != nil {
		return nil, fieldErr("public_key", "%v", err)
	}
	if err := keyFitsAlg(pub, c.Algorithm); err != nil {
		return nil, fieldErr("public_key", "%v", err)
	}
	return newVerifyKey(info.bit, pub, c.Key, consumer)
}

// parsePublicKeyPEM reads the first PEM block: PUBLIC KEY (PKIX), RSA
// PUBLIC KEY (PKCS #1) or CERTIFICATE (its public key).
func parsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found (expected a PEM public key)")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("invalid PUBLIC KEY block")
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("invalid RSA PUBLIC KEY block")
		}
		return k, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errors.New("invalid CERTIFICATE block")
		}
		return cert.PublicKey, nil
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key", block.Type)
	}
}

// keyFitsAlg checks that a public key may verify alg: the right key type,
// RSA of at least 2048 bits, the curve that belongs to the ES algorithm.
func keyFitsAlg(pub any, alg string) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if algBit(alg)&algsRSA == 0 {
			return fmt.Errorf("an RSA key cannot verify %s", alg)
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("RSA key of %d bits is too short (at least %d)", k.N.BitLen(), minRSABits)
		}
	case *ecdsa.PublicKey:
		if want := ecCurveAlg[k.Curve.Params().Name]; want != alg {
			return fmt.Errorf("an EC key on %s cannot verify %s", k.Curve.Params().Name, alg)
		}
	case ed25519.PublicKey:
		if alg != "EdDSA" {
			return fmt.Errorf("an Ed25519 key cannot verify %s", alg)
		}
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
	return nil
}

// credentialIndex maps a credential key to its verification key; built
// once per snapshot from the consumers' jwt credentials.
type credentialIndex map[string]*verifyKey

// jwtCredentialIndex returns the snapshot's index, building it once.
func jwtCredentialIndex(env Env) (credentialIndex, error) {
	v, err := env.Snapshot.Get("auth.jwt.index", func() (any, error) {
		return buildCredentialIndex(env.Config, env.Consumers.Configs())
	})
	if err != nil {
		return nil, err
	}
	return v.(credentialIndex), nil
}

// buildCredentialIndex indexes every consumer's jwt credentials; it
// reports every bad one, not only the first.
func buildCredentialIndex(cfg *config.Config, consumers []config.Consumer) (credentialIndex, error) {
	idx := credentialIndex{}
	var errs config.Errors
	for i, c := range consumers {
		for j, cred := range c.Credentials.JWT {
			path := fmt.Sprintf("consumers[%d].credentials.jwt[%d]", i, j)
			if _, dup := idx[cred.Key]; dup {
				errs = append(errs, cfg.ErrorAtPath(path+".key", "this jwt credential key is already used by another credential"))
				continue
			}
			k, err := credentialKey(cred, c.Name)
			if err != nil {
				errs = append(errs, errAtCredential(cfg, path, err))
				continue
			}
			idx[cred.Key] = k
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return idx, nil
}

// fieldError is a credential problem in one of its fields.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func fieldErr(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// errAtCredential positions a credential error at its field.
func errAtCredential(cfg *config.Config, path string, err error) *config.FieldError {
	var fe *fieldError
	if errors.As(err, &fe) {
		return cfg.ErrorAtPath(path+"."+fe.field, fe.msg)
	}
	return cfg.ErrorAtPath(path, err.Error())
}

// publicKeyFromEC builds an ECDSA key from JWK coordinates, checking that
// the point is on the curve.
func publicKeyFromEC(crv string, x, y []byte) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	if len(x) != size || len(y) != size {
		return nil, errors.New("bad coordinate length")
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}
