package config

import (
	"net/textproto"
	"regexp"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/ascii"
)

// Validation of consumers, their credentials, the identity headers, client
// certificate checks and route.auth. The methods in internal/auth refuse
// bad credential data again when they compile; these checks give the
// operator every problem at once, positioned, before anything runs.
//
// Messages never contain a secret (jwt secrets, password hashes, API key
// hashes, public keys): a value that may be secret is not printed at all,
// and other values go through v.q, which names a ${env:}/${file:}
// reference instead of its value.

// Client certificate modes (listeners[].tls.client_auth.mode).
const (
	ClientAuthRequest = "request"
	ClientAuthRequire = "require"
)

// RouteAuthNone is the value of route.auth that declares a route
// deliberately unauthenticated.
const RouteAuthNone = "none"

// JWTAlgorithms lists the algorithms a JWT credential may name, in the
// order messages print them.
var JWTAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

// MinHMACSecretBytes is the shortest secret accepted for each HMAC
// algorithm: the size of the hash output (RFC 7518, section 3.2).
var MinHMACSecretBytes = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

// JWTAlgorithmNames is JWTAlgorithms as a message prints it.
func JWTAlgorithmNames() string { return strings.Join(JWTAlgorithms, ", ") }

// HMACAlgorithmNames is the HMAC algorithms of JWTAlgorithms, in its
// order, as a message prints them.
func HMACAlgorithmNames() string {
	var hs []string
	for _, a := range JWTAlgorithms {
		if IsHMACAlgorithm(a) {
			hs = append(hs, a)
		}
	}
	return strings.Join(hs, ", ")
}

// IsHMACAlgorithm reports whether alg is one of the HS* algorithms, whose
// credentials carry a shared secret instead of a public key.
func IsHMACAlgorithm(alg string) bool {
	_, ok := MinHMACSecretBytes[alg]
	return ok
}

// Password hash prefixes accepted for Basic credentials: bcrypt and argon2id
// in their PHC/modular crypt forms.
var passwordHashPrefixes = []string{"$2a$", "$2b$", "$2y$", "$argon2id$"}

var apiKeyHashRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// reservedHeaders are headers the gateway sets, reads or strips itself; an
// identity header with one of these names would clash with it. Keys are
// canonical; X-Forwarded-* is checked by prefix.
var reservedHeaders = map[string]bool{
	"Host": true, "Forwarded": true, "X-Request-Id": true,
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true,
	// Hop-by-hop headers never reach the upstream.
	"Keep-Alive": true, "Proxy-Connection": true, "Te": true, "Trailer": true, "Upgrade": true,
	// Stripping these from every client request would break authentication.
	"Authorization": true, "Proxy-Authorization": true, "Cookie": true,
}

// NormalizeFingerprint turns a SHA-256 certificate fingerprint written as
// 64 hex digits, or as 32 colon-separated pairs (AB:CD:...), into 64
// lower-case hex digits. ok is false when s is neither.
func NormalizeFingerprint(s string) (fp string, ok bool) {
	hex := s
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		if len(parts) != 32 {
			return "", false
		}
		for _, p := range parts {
			if len(p) != 2 {
				return "", false
			}
		}
		hex = strings.Join(parts, "")
	}
	if len(hex) != 64 {
		return "", false
	}
	for i := 0; i < len(hex); i++ {
		if _, ok := ascii.Unhex(hex[i]); !ok {
			return "", false
		}
	}
	return strings.ToLower(hex), true
}

// credOwner remembers which credential first used a unique value.
type credOwner map[string]string

// claim records val for path and returns the path that already holds it.
func (o credOwner) claim(val, path string) (string, bool) {
	if prev, dup := o[val]; dup {
		return prev, true
	}
	o[val] = path
	return "", false
}

// consumerChecks holds the values that must be unique across consumers.
type consumerChecks struct {
	names                                   map[string]int
	jwtKeys, keyIDs, keyHashes, users, mtls credOwner
}

func (v *validator) consumers() {
	cc := &consumerChecks{
		names: map[string]int{}, jwtKeys: credOwner{}, keyIDs: credOwner{},
		keyHashes: credOwner{}, users: credOwner{}, mtls: credOwner{},
	}
	for i := range v.c.Consumers {
		cs := &v.c.Consumers[i]
		p := indexPath("consumers", i)
		v.name(p+".name", "consumer", cs.Name, cc.names, "consumers")
		if _, dup := cc.names[cs.Name]; !dup && cs.Name != "" {
			cc.names[cs.Name] = i
		}
		v.groups(p, cs.Groups)
		v.scopes(p, cs.Scopes)
		cp := p + ".credentials"
		for j := range cs.Credentials.JWT {
			v.jwtCredential(indexPath(cp+".jwt", j), &cs.Credentials.JWT[j], cc)
		}
		for j := range cs.Credentials.APIKeys {
			v.apiKeyCredential(indexPath(cp+".api_keys", j), &cs.Credentials.APIKeys[j], cc)
		}
		for j := range cs.Credentials.Basic {
			v.basicCredential(indexPath(cp+".basic", j), &cs.Credentials.Basic[j], cc)
		}
		for j := range cs.Credentials.MTLS {
			v.mtlsCredential(indexPath(cp+".mtls", j), &cs.Credentials.MTLS[j], cc)
		}
	}
}

// groups are sent upstream joined with commas, so a group may not hold one.
func (v *validator) groups(p string, groups []string) {
	seen := map[string]bool{}
	for j, g := range groups {
		gp := indexPath(p+".groups", j)
		switch {
		case strings.TrimSpace(g) == "":
			v.add(gp, "must not be empty")
		case strings.ContainsRune(g, ','):
			v.add(gp, "group %s must not contain a comma (groups are sent upstream comma-separated)", v.q(gp, g))
		case strings.IndexFunc(g, isControl) >= 0:
			v.add(gp, "group %s must not contain control characters", v.q(gp, g))
		case g != strings.TrimSpace(g):
			v.add(gp, "group %s must not start or end with spaces", v.q(gp, g))
		case seen[g]:
			v.add(gp, "group %s is listed twice", v.q(gp, g))
		}
		seen[g] = true
	}
}

// scopes follow OAuth scope-token syntax (RFC 6749 section 3.3): visible
// ASCII without spaces, since tokens carry them space-separated.
func (v *validator) scopes(p string, scopes []string) {
	seen := map[string]bool{}
	for j, s := range scopes {
		sp := indexPath(p+".scopes", j)
		switch {
		case s == "":
			v.add(sp, "must not be empty")
		case strings.IndexFunc(s, notScopeChar) >= 0:
			v.add(sp, "scope %s must be visible ASCII without spaces or quotes", v.q(sp, s))
		case seen[s]:
			v.add(sp, "scope %s is listed twice", v.q(sp, s))
		}
		seen[s] = true
	}
}

// notScopeChar is true outside RFC 6749's scope-token characters
// (%x21 / %x23-5B / %x5D-7E).
func notScopeChar(r rune) bool { return r <= 0x20 || r >= 0x7f || r == '"' || r == '\\' }

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func (v *validator) jwtCredential(p string, c *JWTCredential, cc *consumerChecks) {
	kp := p + ".key"
	if c.Key == "" {
		v.add(kp, "is required (the kid, or the claim value, that selects this credential)")
	} else if prev, dup := cc.jwtKeys.claim(c.Key, p); dup {
		v.add(kp, "key %s is already used by %s", v.q(kp, c.Key), prev)
	}
	ap := p + ".algorithm"
	switch {
	case c.Algorithm == "":
		v.add(ap, "is required (one of %s)", JWTAlgorithmNames())
		return
	case !isJWTAlgorithm(c.Algorithm):
		v.add(ap, "must be one of %s, not %s", JWTAlgorithmNames(), v.q(ap, c.Algorithm))
		return
	}
	if IsHMACAlgorithm(c.Algorithm) {
		if c.PublicKey != "" {
			v.add(p+".public_key", "must not be set for %s (an HMAC algorithm verifies with secret)", c.Algorithm)
		}
		if c.Secret == "" {
			v.add(p+".secret", "is required for %s", c.Algorithm)
		} else if n := MinHMACSecretBytes[c.Algorithm]; len(c.Secret) < n {
			// Neither the secret nor its length goes in the message.
			v.add(p+".secret", "is shorter than %d bytes, the minimum for %s", n, c.Algorithm)
		}
		return
	}
	if c.Secret != "" {
		v.add(p+".secret", "must not be set for %s (it verifies with public_key)", c.Algorithm)
	}
	if strings.TrimSpace(c.PublicKey) == "" {
		v.add(p+".public_key", "is required for %s (a PEM public key, usually ${file:/path})", c.Algorithm)
	}
}

func isJWTAlgorithm(alg string) bool {
	for _, a := range JWTAlgorithms {
		if a == alg {
			return true
		}
	}
	return false
}

func (v *validator) apiKeyCredential(p string, c *APIKeyCredential, cc *consumerChecks) {
	ip := p + ".id"
	switch {
	case c.ID == "":
		v.add(ip, "is required")
	case !nameRE.MatchString(c.ID):
		v.add(ip, "key id %s %s", v.q(ip, c.ID), nameRule)
	default:
		if prev, dup := cc.keyIDs.claim(c.ID, p); dup {
			v.add(ip, "key id %s is already used by %s", v.q(ip, c.ID), prev)
		}
	}
	hp := p + ".hash"
	switch {
	case c.Hash == "":
		v.add(hp, "is required (the \"sha256:...\" line printed by `portcullis keys generate`)")
	case !apiKeyHashRE.MatchString(c.Hash):
		// Not quoted: a malformed hash may be the key itself.
		v.add(hp, "must be \"sha256:\" and 64 lower-case hex digits, as printed by `portcullis keys generate` (never the key itself)")
	default:
		if prev, dup := cc.keyHashes.claim(c.Hash, p); dup {
			v.add(hp, "the same key hash as %s", prev)
		}
	}
	v.rfc3339(p+".expires_at", c.ExpiresAt)
	v.rfc3339(p+".not_after", c.NotAfter)
}

func (v *validator) rfc3339(path, s string) {
	if s == "" {
		return
	}
	if _, err := time.Parse(time.RFC3339, s); err != nil {
		v.add(path, "%s is not an RFC 3339 time such as \"2026-01-31T00:00:00Z\"", v.q(path, s))
	}
}

func (v *validator) basicCredential(p string, c *BasicCredential, cc *consumerChecks) {
	up := p + ".username"
	switch {
	case c.Username == "":
		v.add(up, "is required")
	case strings.ContainsRune(c.Username, ':'):
		v.add(up, "username %s must not contain ':' (RFC 7617)", v.q(up, c.Username))
	case strings.IndexFunc(c.Username, isControl) >= 0:
		v.add(up, "must not contain control characters")
	default:
		if prev, dup := cc.users.claim(c.Username, p); dup {
			v.add(up, "username %s is already used by %s", v.q(up, c.Username), prev)
		}
	}
	hp := p + ".password_hash"
	if c.PasswordHash == "" {
		v.add(hp, "is required (a bcrypt or argon2id hash, as printed by `portcullis hash-password`)")
		return
	}
	for _, pre := range passwordHashPrefixes {
		if strings.HasPrefix(c.PasswordHash, pre) {
			return
		}
	}
	// Not quoted: this is most likely a plaintext password.
	v.add(hp, "must be a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash, as printed by `portcullis hash-password`; a plaintext password is not accepted")
}

func (v *validator) mtlsCredential(p string, c *MTLSCredential, cc *consumerChecks) {
	set := 0
	var field, val string
	for _, f := range []struct{ name, val string }{
		{"subject", c.Subject}, {"san", c.SAN}, {"fingerprint_sha256", c.FingerprintSHA256},
	} {
		if f.val != "" {
			set++
			field, val = f.name, f.val
		}
	}
	if set != 1 {
		v.add(p, "set exactly one of subject, san or fingerprint_sha256")
		return
	}
	fp := p + "." + field
	if field == "fingerprint_sha256" {
		norm, ok := NormalizeFingerprint(val)
		if !ok {
			v.add(fp, "must be a SHA-256 fingerprint: 64 hex digits, optionally as colon-separated pairs")
			return
		}
		val = norm
	}
	if prev, dup := cc.mtls.claim(field+"\x00"+val, p); dup {
		v.add(fp, "the same %s as %s", field, prev)
	}
}

func (v *validator) identityHeaders() {
	h := v.c.IdentityHeaders
	seen := map[string]string{}
	for _, f := range []struct{ name, val string }{
		{"consumer", h.Consumer}, {"groups", h.Groups}, {"credential", h.Credential}, {"method", h.Method},
	} {
		p := "identity_headers." + f.name
		canon := textproto.CanonicalMIMEHeaderKey(f.val)
		switch {
		case f.val == "":
			v.add(p, "must not be empty")
		case !httpguts.ValidHeaderFieldName(f.val):
			v.add(p, "%s is not a valid header name", v.q(p, f.val))
		case reservedHeaders[canon] || strings.HasPrefix(canon, "X-Forwarded-"):
			v.add(p, "%s is a header the gateway sets or reads itself", v.q(p, f.val))
		default:
			if prev, dup := seen[canon]; dup {
				v.add(p, "%s is already used by identity_headers.%s", v.q(p, f.val), prev)
			} else {
				seen[canon] = f.name
			}
		}
	}
}

func (v *validator) clientAuth(p string, ca *ClientAuth) {
	mp := p + ".mode"
	switch ca.Mode {
	case ClientAuthRequest, ClientAuthRequire:
	case "":
		v.add(mp, "is required (request or require)")
	default:
		v.add(mp, "must be request or require, not %s", v.q(mp, ca.Mode))
	}
	v.caFile(p+".ca_file", ca.CAFile)
	v.revocation(p, ca)
	seen := map[string]bool{}
	for j, h := range ca.Hosts {
		hp := indexPath(p+".hosts", j)
		if err := CheckHost(h); err != nil {
			v.add(hp, "host %s %v", v.q(hp, h), err)
		} else if strings.HasPrefix(h, "*.") {
			v.add(hp, "host %s must be an exact name (the SNI name is compared exactly)", v.q(hp, h))
		} else if seen[h] {
			v.add(hp, "host %s is listed twice", v.q(hp, h))
		}
		seen[h] = true
	}
}

func (v *validator) routeAuth(p, auth string) {
	if auth != "" && auth != RouteAuthNone {
		ap := p + ".auth"
		v.add(ap, "must be \"none\" or left out, not %s (authentication methods go in an auth policy)", v.q(ap, auth))
	}
}
