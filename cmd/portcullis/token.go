package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/config"
)

// cmdToken mints a signed JWT for testing a route. The key never comes
// from a flag's value (it would land in shell history and process
// listings): an HMAC secret is read from an environment variable or a
// file, a private key from a PEM file.
func cmdToken(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("token", `Mint a signed test JWT and print it.

Examples:
  export JWT_SECRET=...   # at least 32 bytes for HS256
  portcullis token --alg HS256 --kid alice-key --secret-env JWT_SECRET --sub alice --exp 1h
  portcullis token --alg RS256 --kid bob-key --key-file private.pem --aud orders --claim tenant=acme`, stderr)
	alg := fs.String("alg", "HS256", "signing algorithm, one of "+config.JWTAlgorithmNames()+" (HMAC ones sign with a secret, the others with a private key)")
	kid := fs.String("kid", "", "the kid header: the key of the consumer's jwt credential")
	secretEnv := fs.String("secret-env", "", "name of the environment variable holding the HMAC secret")
	secretFile := fs.String("secret-file", "", "file holding the HMAC secret (a trailing newline is ignored)")
	keyFile := fs.String("key-file", "", "PEM private key file (PKCS #8, PKCS #1 or SEC 1) for RS*, PS*, ES*, EdDSA")
	sub := fs.String("sub", "", "the sub claim")
	iss := fs.String("iss", "", "the iss claim")
	exp := fs.Duration("exp", time.Hour, "lifetime: exp = now + this (0: no exp claim)")
	nbf := fs.Duration("nbf", 0, "not before: nbf = now + this (0: no nbf claim)")
	scope := fs.String("scope", "", "the scope claim (space-separated scopes)")
	var auds []string
	fs.Func("aud", "an audience (repeat for several)", func(s string) error { auds = append(auds, s); return nil })
	claims := jwt.MapClaims{}
	fs.Func("claim", "an extra string claim name=value (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want name=value")
		}
		claims[k] = v
		return nil
	})
	fs.Func("claim-json", "an extra claim name=JSON value, e.g. roles='[\"a\",\"b\"]' (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want name=JSON")
		}
		var x any
		if err := json.Unmarshal([]byte(v), &x); err != nil {
			return errors.New("the value is not valid JSON")
		}
		claims[k] = x
		return nil
	})
	if rc := parse(fs, args, stdout); rc >= 0 {
		return rc
	}
	method := jwt.GetSigningMethod(*alg)
	if method == nil || *alg == "none" {
		fmt.Fprintf(stderr, "portcullis token: unsupported --alg %q\n", *alg)
		return 2
	}
	key, err := signingKey(*alg, *secretEnv, *secretFile, *keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis token: %v\n", err)
		return 2
	}
	now := time.Now()
	claims["iat"] = now.Unix()
	setIf(claims, "sub", *sub)
	setIf(claims, "iss", *iss)
	setIf(claims, "scope", *scope)
	if *exp > 0 {
		claims["exp"] = now.Add(*exp).Unix()
	}
	if *nbf != 0 {
		claims["nbf"] = now.Add(*nbf).Unix()
	}
	switch len(auds) {
	case 0:
	case 1:
		claims["aud"] = auds[0]
	default:
		claims["aud"] = auds
	}
	t := jwt.NewWithClaims(method, claims)
	if *kid != "" {
		t.Header["kid"] = *kid
	}
	s, err := t.SignedString(key)
	if err != nil {
		fmt.Fprintf(stderr, "portcullis token: signing: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, s)
	return 0
}

func setIf(c jwt.MapClaims, k, v string) {
	if v != "" {
		c[k] = v
	}
}

// signingKey loads the secret or private key that alg needs.
func signingKey(alg, secretEnv, secretFile, keyFile string) (any, error) {
	if config.IsHMACAlgorithm(alg) {
		if keyFile != "" || (secretEnv == "") == (secretFile == "") {
			return nil, fmt.Errorf("%s needs exactly one of --secret-env and --secret-file", alg)
		}
		var secret string
		if secretEnv != "" {
			secret = os.Getenv(secretEnv)
			if secret == "" {
				return nil, fmt.Errorf("environment variable %s is empty or not set", secretEnv)
			}
		} else {
			b, err := os.ReadFile(secretFile) // #nosec G304 -- the user names the file
			if err != nil {
				return nil, fmt.Errorf("--secret-file: %w", err)
			}
			secret = strings.TrimRight(string(b), "\r\n")
		}
		if min := config.MinHMACSecretBytes[alg]; len(secret) < min {
			return nil, fmt.Errorf("the secret is shorter than %d bytes, the minimum for %s", min, alg)
		}
		return []byte(secret), nil
	}
	if keyFile == "" || secretEnv != "" || secretFile != "" {
		return nil, fmt.Errorf("%s needs --key-file (a PEM private key)", alg)
	}
	data, err := os.ReadFile(keyFile) // #nosec G304 -- the user names the file
	if err != nil {
		return nil, fmt.Errorf("--key-file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("--key-file: no PEM block found")
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("--key-file: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, errors.New("--key-file: the private key cannot be parsed")
	}
	return key, nil
}
