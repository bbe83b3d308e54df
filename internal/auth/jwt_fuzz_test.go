package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// jwtReasons is the fixed set of failure reasons.
var jwtReasons = map[string]bool{
	reasonMalformed: true, reasonTooLarge: true, reasonMultipleTokens: true, reasonAlgNotAllowed: true,
	reasonAlgMismatch: true, reasonMissingKeyID: true, reasonUnknownKey: true, reasonBadSignature: true,
	reasonCritical: true, reasonInvalidClaims: true, reasonExpired: true, reasonMissingExp: true,
	reasonNotYetValid: true, reasonIssuedInFuture: true, reasonMissingIat: true, reasonTooOld: true,
	reasonWrongIssuer: true, reasonWrongAudience: true, reasonRequiredClaim: true, reasonUnknownConsumer: true,
	reasonJWKSUnavailable: true, reasonNoConsumerClaim: true, reasonUnsupportedToken: true, reasonAmbiguousJSON: true,
}

// FuzzJWTAuthenticate: any Authorization value is answered without a
// panic, with no credentials or a reason from the fixed set, and is
// accepted only when its signature really verifies with the named
// consumer's key (checked here independently of golang-jwt). Its seeds
// are tokens signed at run time with this run's keys and a fresh exp, so
// they are made here rather than kept in testdata/fuzz (where inputs the
// fuzzer finds go).
func FuzzJWTAuthenticate(f *testing.F) {
	k := keys(f)
	m, _ := newJWT(f, `{algorithms: [HS256, RS256, ES256], audience: [api], max_token_bytes: 2KiB}`)
	hs := sign(f, "HS256", "alice-hs", []byte(hmacSecret), jwt.MapClaims{"aud": "api"})
	for _, s := range []string{
		"Bearer " + hs,
		"Bearer " + sign(f, "RS256", "bob-rs", k.rsa, jwt.MapClaims{"aud": "api"}),
		"Bearer " + sign(f, "ES256", "bob-es", k.ec, jwt.MapClaims{"aud": []string{"x", "api"}}),
		"Bearer " + sign(f, "HS256", "bob-rs", []byte(k.rsaPEM), jwt.MapClaims{"aud": "api"}),
		"Bearer " + rawToken(map[string]any{"alg": "none", "kid": "alice-hs"}, map[string]any{"aud": "api"}, nil),
		"Bearer " + hs[:len(hs)-2] + "AA",
		"Bearer " + strings.Replace(hs, ".", "..", 1),
		"bearer  a.b.c", "Bearer", "Bearer ....", "Basic abc", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, authz string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{authz}
		id, err := m.Authenticate(&pipeline.Context{Request: r})
		if err != nil {
			var fl *Failure
			if !errors.Is(err, ErrNoCredentials) && (!errors.As(err, &fl) || !jwtReasons[fl.Reason]) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if id == nil {
			t.Fatal("nil identity without an error")
		}
		tok, _ := bearerToken(authz)
		if !independentlyValid(k, strings.TrimSpace(tok)) {
			t.Fatalf("accepted a token that does not verify: %q", authz)
		}
	})
}

// independentlyValid verifies a compact JWS with the test keys using the
// standard library only.
func independentlyValid(k *testKeys, tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	sig, err2 := base64.RawURLEncoding.DecodeString(parts[2])
	var h struct{ Alg, Kid string }
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &h) != nil {
		return false
	}
	signed := []byte(parts[0] + "." + parts[1])
	digest := sha256.Sum256(signed)
	switch {
	case h.Alg == "HS256" && h.Kid == "alice-hs":
		mac := hmac.New(sha256.New, []byte(hmacSecret))
		mac.Write(signed)
		return hmac.Equal(mac.Sum(nil), sig)
	case h.Alg == "RS256" && h.Kid == "bob-rs":
		return rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, digest[:], sig) == nil
	case h.Alg == "ES256" && h.Kid == "bob-es" && len(sig) == 64:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(&k.ec.PublicKey, digest[:], r, s)
	}
	return false
}

// FuzzParseJWKS: any body parses or fails without a panic, and every key
// kept is bound to asymmetric algorithms only.
// The seed corpus is in testdata/fuzz/FuzzParseJWKS.
func FuzzParseJWKS(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := parseJWKS(data)
		if err != nil {
			return
		}
		for kid, ks := range set.byKid {
			for _, vk := range ks {
				if kid == "" || vk.algs == 0 || vk.algs&algsHMAC != 0 || vk.key == nil {
					t.Fatalf("key %q: algs %b", kid, vk.algs)
				}
			}
		}
	})
}
