package auth

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/portcullis/portcullis/internal/ijson"
)

// jwkSet is a parsed JSON Web Key Set (RFC 7517): verification keys by kid.
type jwkSet struct {
	byKid map[string][]*verifyKey
	// skipped counts keys left out (not for signatures, unsupported type,
	// bad encoding, no kid); for the log.
	skipped int
}

// jwk is the subset of a JWK used for signature verification.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
	// KeyOps, when present, must allow "verify".
	KeyOps []string `json:"key_ops"`
}

// parseJWKS parses a key set. Keys that cannot verify signatures are left
// out rather than failing the whole set (an issuer may publish encryption
// keys beside signing keys). Symmetric ("oct") keys are always left out:
// a shared secret is never taken from the network.
//
// The document must be one I-JSON text (RFC 7493, internal/ijson): a key
// set read one way here and another way by the issuer's other relying
// parties ({"kid":"a","kid":"b"}, a lone surrogate in a kid) is refused as
// a whole, a fetch error. Members are matched by their exact names (JSON
// v2 semantics): encoding/json would read "KID" as "kid".
func parseJWKS(data []byte) (*jwkSet, error) {
	if err := ijson.Check(data); err != nil {
		return nil, fmt.Errorf("invalid JWKS JSON: %s", ijson.LogReason(err))
	}
	var doc struct {
		Keys []jsontext.Value `json:"keys"`
	}
	if err := jsonv2.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid JWKS JSON: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`invalid JWKS: no "keys" list`)
	}
	set := &jwkSet{byKid: map[string][]*verifyKey{}}
	for _, raw := range doc.Keys {
		var k jwk
		if err := jsonv2.Unmarshal(raw, &k); err != nil {
			set.skipped++
			continue
		}
		vk, err := k.verifyKey()
		if err != nil {
			set.skipped++
			continue
		}
		set.byKid[k.Kid] = append(set.byKid[k.Kid], vk)
	}
	return set, nil
}

func (k *jwk) verifyKey() (*verifyKey, error) {
	if k.Kid == "" {
		return nil, errors.New("no kid")
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, errors.New("not a signature key")
	}
	if k.KeyOps != nil && !contains(k.KeyOps, "verify") {
		return nil, errors.New("key_ops does not allow verify")
	}
	var (
		pub  any
		algs algSet
	)
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, errors.New("bad RSA key encoding")
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
			return nil, errors.New("bad RSA exponent")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
		algs = algsRSA
	case "EC":
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad EC key encoding")
		}
		ec, err := publicKeyFromEC(k.Crv, x, y)
		if err != nil {
			return nil, err
		}
		pub, algs = ec, algBit(ecCurveAlg[k.Crv])
	case "OKP":
		x, err := b64(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return nil, errors.New("unsupported OKP key")
		}
		pub, algs = ed25519.PublicKey(x), algBit("EdDSA")
	default: // "oct" included
		return nil, fmt.Errorf("unsupported key type %q", k.Kty)
	}
	if k.Alg != "" {
		// The JWK names its algorithm: the key verifies that one only,
		// and it must be one its type allows.
		if !algs.has(k.Alg) {
			return nil, fmt.Errorf("alg %q does not fit key type %q", k.Alg, k.Kty)
		}
		algs = algBit(k.Alg)
	}
	if err := keyFitsAlg(pub, firstAlg(algs)); err != nil {
		return nil, err
	}
	return newVerifyKey(algs, pub, k.Kid, "")
}

// b64 decodes base64url without padding, strictly (RFC 7518, section 2).
func b64(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.RawURLEncoding.Strict().DecodeString(s)
}

// firstAlg names one algorithm of a non-empty set.
func firstAlg(s algSet) string {
	for name, a := range jwtAlgs {
		if s&a.bit != 0 {
			return name
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
