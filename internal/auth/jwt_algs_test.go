package auth

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
)

// TestJWTAlgorithmFamilies: the algorithm bits come from config's one list,
// in its order, and the family masks name exactly the HMAC and RSA ones.
func TestJWTAlgorithmFamilies(t *testing.T) {
	if len(jwtAlgs) != len(config.JWTAlgorithms) {
		t.Fatalf("%d implementations for %d algorithms", len(jwtAlgs), len(config.JWTAlgorithms))
	}
	for _, tc := range []struct {
		desc   string
		family algSet
		want   func(alg string) bool
	}{
		{"hmac", algsHMAC, config.IsHMACAlgorithm},
		{"rsa", algsRSA, func(a string) bool { return strings.HasPrefix(a, "RS") || strings.HasPrefix(a, "PS") }},
	} {
		for _, a := range config.JWTAlgorithms {
			if tc.family.has(a) != tc.want(a) {
				t.Errorf("%s: %s in the family = %v", tc.desc, a, tc.family.has(a))
			}
			if jwtAlgs[a].method.Alg() != a {
				t.Errorf("%s implemented by %s", a, jwtAlgs[a].method.Alg())
			}
		}
	}
	if algSet(0).has("none") || algBit("none") != 0 {
		t.Error(`"none" has a bit`)
	}
}
