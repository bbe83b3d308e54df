package config

import (
	"strings"
	"testing"
)

// withConsumers appends a consumers list to minimal; "consumers:" is line
// 14 and the entries start on line 15.
func withConsumers(lines string) string { return minimal + "consumers:\n" + lines }

// Credentials that pass validation, for tests that need a second consumer.
const (
	hash1   = "sha256:8c731f4e03780f360cdf469395dd06128295611853d826e871f9bfde4db8908a"
	hash2   = "sha256:207d28c47238e89eee33d9249bdbebeb80dd9b6aab9aed05dff24fe783cbc0c0"
	fpPlain = "96d19be611eca84ff4c6b45dedcb8b806cb0fe299c8426869354a7c4d93ec967"
	fpColon = "96:D1:9B:E6:11:EC:A8:4F:F4:C6:B4:5D:ED:CB:8B:80:6C:B0:FE:29:9C:84:26:86:93:54:A7:C4:D9:3E:C9:67"
	bcrypt  = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"
)

var secret32 = strings.Repeat("k", 32)

func TestConsumerValidationRules(t *testing.T) {
	jwt := func(fields string) string {
		return withConsumers("  - name: app\n    credentials:\n      jwt:\n        - " + fields + "\n") // entry on line 18
	}
	apiKey := func(fields string) string {
		return withConsumers("  - name: app\n    credentials:\n      api_keys:\n        - " + fields + "\n")
	}
	basic := func(fields string) string {
		return withConsumers("  - name: app\n    credentials:\n      basic:\n        - " + fields + "\n")
	}
	mtls := func(fields string) string {
		return withConsumers("  - name: app\n    credentials:\n      mtls:\n        - " + fields + "\n")
	}
	cases := []struct{ name, src, want string }{
		// consumers
		{"consumer name missing", withConsumers("  - groups: [a]\n"),
			`gw.yaml:15:5: consumers[0].name: is required`},
		{"consumer name pattern", withConsumers("  - name: \"my app\"\n"),
			`gw.yaml:15:11: consumers[0].name: consumer name "my app" must start with a letter or digit and use only letters, digits, '_', '.' and '-' (at most 64 characters)`},
		{"consumer name taken", withConsumers("  - name: app\n  - name: app\n"),
			`gw.yaml:16:11: consumers[1].name: consumer name "app" is already used by consumers[0]`},
		{"group empty", withConsumers("  - name: app\n    groups: [a, \"\"]\n"),
			`gw.yaml:16:17: consumers[0].groups[1]: must not be empty`},
		{"group blank", withConsumers("  - name: app\n    groups: [\" \"]\n"),
			`gw.yaml:16:14: consumers[0].groups[0]: must not be empty`},
		{"group with comma", withConsumers("  - name: app\n    groups: [\"a,b\"]\n"),
			`gw.yaml:16:14: consumers[0].groups[0]: group "a,b" must not contain a comma (groups are sent upstream comma-separated)`},
		{"group with control character", withConsumers("  - name: app\n    groups: [\"a\\nb\"]\n"),
			`gw.yaml:16:14: consumers[0].groups[0]: group "a\nb" must not contain control characters`},
		{"group with spaces", withConsumers("  - name: app\n    groups: [\" a\"]\n"),
			`gw.yaml:16:14: consumers[0].groups[0]: group " a" must not start or end with spaces`},
		{"group twice", withConsumers("  - name: app\n    groups: [a, a]\n"),
			`gw.yaml:16:17: consumers[0].groups[1]: group "a" is listed twice`},
		{"scope empty", withConsumers("  - name: app\n    scopes: [a, \"\"]\n"),
			`gw.yaml:16:17: consumers[0].scopes[1]: must not be empty`},
		{"scope with space", withConsumers("  - name: app\n    scopes: [\"a b\"]\n"),
			`gw.yaml:16:14: consumers[0].scopes[0]: scope "a b" must be visible ASCII without spaces or quotes`},
		{"scope with quote", withConsumers("  - name: app\n    scopes: ['a\"b']\n"),
			`gw.yaml:16:14: consumers[0].scopes[0]: scope "a\"b" must be visible ASCII without spaces or quotes`},
		{"scope twice", withConsumers("  - name: app\n    scopes: [orders:read, orders:read]\n"),
			`gw.yaml:16:27: consumers[0].scopes[1]: scope "orders:read" is listed twice`},

		// jwt
		{"jwt key missing", jwt("{algorithm: HS256, secret: " + secret32 + "}"),
			`gw.yaml:18:11: consumers[0].credentials.jwt[0].key: is required (the kid, or the claim value, that selects this credential)`},
		{"jwt key taken by another consumer", jwt("{key: k1, algorithm: HS256, secret: "+secret32+"}") +
			"  - name: other\n    credentials:\n      jwt: [{key: k1, algorithm: HS256, secret: " + secret32 + "}]\n",
			`gw.yaml:21:19: consumers[1].credentials.jwt[0].key: key "k1" is already used by consumers[0].credentials.jwt[0]`},
		{"jwt algorithm missing", jwt("{key: k1, secret: " + secret32 + "}"),
			`gw.yaml:18:11: consumers[0].credentials.jwt[0].algorithm: is required (one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA)`},
		{"jwt algorithm none", jwt("{key: k1, algorithm: none, secret: " + secret32 + "}"),
			`gw.yaml:18:32: consumers[0].credentials.jwt[0].algorithm: must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, not "none"`},
		{"jwt algorithm lower-case", jwt("{key: k1, algorithm: hs256, secret: " + secret32 + "}"),
			`gw.yaml:18:32: consumers[0].credentials.jwt[0].algorithm: must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, not "hs256"`},
		{"hmac without secret", jwt("{key: k1, algorithm: HS256}"),
			`gw.yaml:18:11: consumers[0].credentials.jwt[0].secret: is required for HS256`},
		{"hmac with public key", jwt("{key: k1, algorithm: HS512, secret: " + strings.Repeat("k", 64) + ", public_key: pem}"),
			`gw.yaml:18:125: consumers[0].credentials.jwt[0].public_key: must not be set for HS512 (an HMAC algorithm verifies with secret)`},
		{"hs256 secret short", jwt("{key: k1, algorithm: HS256, secret: " + strings.Repeat("k", 31) + "}"),
			`gw.yaml:18:47: consumers[0].credentials.jwt[0].secret: is shorter than 32 bytes, the minimum for HS256`},
		{"hs384 secret short", jwt("{key: k1, algorithm: HS384, secret: " + strings.Repeat("k", 47) + "}"),
			`gw.yaml:18:47: consumers[0].credentials.jwt[0].secret: is shorter than 48 bytes, the minimum for HS384`},
		{"hs512 secret short", jwt("{key: k1, algorithm: HS512, secret: " + strings.Repeat("k", 63) + "}"),
			`gw.yaml:18:47: consumers[0].credentials.jwt[0].secret: is shorter than 64 bytes, the minimum for HS512`},
		{"rsa without public key", jwt("{key: k1, algorithm: RS256}"),
			`gw.yaml:18:11: consumers[0].credentials.jwt[0].public_key: is required for RS256 (a PEM public key, usually ${file:/path})`},
		{"eddsa with secret", jwt("{key: k1, algorithm: EdDSA, public_key: pem, secret: " + secret32 + "}"),
			`gw.yaml:18:64: consumers[0].credentials.jwt[0].secret: must not be set for EdDSA (it verifies with public_key)`},

		// api keys
		{"api key id missing", apiKey("{hash: " + hash1 + "}"),
			`gw.yaml:18:11: consumers[0].credentials.api_keys[0].id: is required`},
		{"api key id pattern", apiKey("{id: \"key 1\", hash: " + hash1 + "}"),
			`gw.yaml:18:16: consumers[0].credentials.api_keys[0].id: key id "key 1" must start with a letter or digit and use only letters, digits, '_', '.' and '-' (at most 64 characters)`},
		{"api key id taken by another consumer", apiKey("{id: k1, hash: "+hash1+"}") +
			"  - name: other\n    credentials:\n      api_keys: [{id: k1, hash: " + hash2 + "}]\n",
			`gw.yaml:21:23: consumers[1].credentials.api_keys[0].id: key id "k1" is already used by consumers[0].credentials.api_keys[0]`},
		{"api key hash missing", apiKey("{id: k1}"),
			"gw.yaml:18:11: consumers[0].credentials.api_keys[0].hash: is required (the \"sha256:...\" line printed by `portcullis keys generate`)"},
		{"api key hash is the key", apiKey("{id: k1, hash: pc_live_4f9a8b7c6d5e}"),
			"gw.yaml:18:26: consumers[0].credentials.api_keys[0].hash: must be \"sha256:\" and 64 lower-case hex digits, as printed by `portcullis keys generate` (never the key itself)"},
		{"api key hash upper-case", apiKey("{id: k1, hash: " + strings.ToUpper(hash1) + "}"),
			"gw.yaml:18:26: consumers[0].credentials.api_keys[0].hash: must be \"sha256:\" and 64 lower-case hex digits, as printed by `portcullis keys generate` (never the key itself)"},
		{"api key hash short", apiKey("{id: k1, hash: " + hash1[:70] + "}"),
			"gw.yaml:18:26: consumers[0].credentials.api_keys[0].hash: must be \"sha256:\" and 64 lower-case hex digits, as printed by `portcullis keys generate` (never the key itself)"},
		{"api key hash taken", apiKey("{id: k1, hash: "+hash1+"}") + "        - {id: k2, hash: " + hash1 + "}\n",
			`gw.yaml:19:26: consumers[0].credentials.api_keys[1].hash: the same key hash as consumers[0].credentials.api_keys[0]`},
		{"api key expires_at", apiKey("{id: k1, hash: " + hash1 + ", expires_at: 2026-01-31}"),
			`gw.yaml:18:111: consumers[0].credentials.api_keys[0].expires_at: "2026-01-31" is not an RFC 3339 time such as "2026-01-31T00:00:00Z"`},
		{"api key not_after", apiKey("{id: k1, hash: " + hash1 + ", not_after: \"2026-01-31 10:00:00\"}"),
			`gw.yaml:18:110: consumers[0].credentials.api_keys[0].not_after: "2026-01-31 10:00:00" is not an RFC 3339 time such as "2026-01-31T00:00:00Z"`},

		// basic
		{"basic username missing", basic("{password_hash: \"" + bcrypt + "\"}"),
			`gw.yaml:18:11: consumers[0].credentials.basic[0].username: is required`},
		{"basic username with colon", basic("{username: \"a:b\", password_hash: \"" + bcrypt + "\"}"),
			`gw.yaml:18:22: consumers[0].credentials.basic[0].username: username "a:b" must not contain ':' (RFC 7617)`},
		{"basic username taken by another consumer", basic("{username: u, password_hash: \""+bcrypt+"\"}") +
			"  - name: other\n    credentials:\n      basic: [{username: u, password_hash: \"" + bcrypt + "\"}]\n",
			`gw.yaml:21:26: consumers[1].credentials.basic[0].username: username "u" is already used by consumers[0].credentials.basic[0]`},
		{"basic password hash missing", basic("{username: u}"),
			"gw.yaml:18:11: consumers[0].credentials.basic[0].password_hash: is required (a bcrypt or argon2id hash, as printed by `portcullis hash-password`)"},
		{"basic plaintext password", basic("{username: u, password_hash: hunter2}"),
			"gw.yaml:18:40: consumers[0].credentials.basic[0].password_hash: must be a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash, as printed by `portcullis hash-password`; a plaintext password is not accepted"},
		{"basic other crypt hash", basic("{username: u, password_hash: \"$argon2i$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\"}"),
			"gw.yaml:18:40: consumers[0].credentials.basic[0].password_hash: must be a bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$) hash, as printed by `portcullis hash-password`; a plaintext password is not accepted"},

		// mtls
		{"mtls nothing set", mtls("{}"),
			`gw.yaml:18:11: consumers[0].credentials.mtls[0]: set exactly one of subject, san or fingerprint_sha256`},
		{"mtls two set", mtls("{subject: CN=a, san: a.example}"),
			`gw.yaml:18:11: consumers[0].credentials.mtls[0]: set exactly one of subject, san or fingerprint_sha256`},
		{"mtls fingerprint short", mtls("{fingerprint_sha256: " + fpPlain[:63] + "}"),
			`gw.yaml:18:32: consumers[0].credentials.mtls[0].fingerprint_sha256: must be a SHA-256 fingerprint: 64 hex digits, optionally as colon-separated pairs`},
		{"mtls fingerprint not hex", mtls("{fingerprint_sha256: " + strings.Repeat("g", 64) + "}"),
			`gw.yaml:18:32: consumers[0].credentials.mtls[0].fingerprint_sha256: must be a SHA-256 fingerprint: 64 hex digits, optionally as colon-separated pairs`},
		{"mtls fingerprint bad colons", mtls("{fingerprint_sha256: \"96D:19" + fpPlain[5:] + "\"}"),
			`gw.yaml:18:32: consumers[0].credentials.mtls[0].fingerprint_sha256: must be a SHA-256 fingerprint: 64 hex digits, optionally as colon-separated pairs`},
		{"mtls fingerprint taken in another notation", mtls("{fingerprint_sha256: "+fpPlain+"}") +
			"  - name: other\n    credentials:\n      mtls: [{fingerprint_sha256: \"" + fpColon + "\"}]\n",
			`gw.yaml:21:35: consumers[1].credentials.mtls[0].fingerprint_sha256: the same fingerprint_sha256 as consumers[0].credentials.mtls[0]`},
		{"mtls subject taken", mtls("{subject: CN=a}") + "        - {subject: CN=a}\n",
			`gw.yaml:19:21: consumers[0].credentials.mtls[1].subject: the same subject as consumers[0].credentials.mtls[0]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

func TestIdentityClientAuthAndRouteAuthRules(t *testing.T) {
	dir := tlsFiles(t)
	// client_auth is on line 8; its fields start on line 9.
	clientAuth := func(lines string) string {
		return withListener("    tls:\n      certificates:\n        - {cert_file: " + dir + "/api.crt, key_file: " + dir + "/api.key}\n" +
			"      client_auth:\n" + lines)
	}
	ca := "        ca_file: " + dir + "/clients-ca.pem\n"
	cases := []struct{ name, src, want string }{
		{"identity header not a token", minimal + "identity_headers: {consumer: \"X Consumer\"}\n",
			`gw.yaml:14:30: identity_headers.consumer: "X Consumer" is not a valid header name`},
		{"identity header empty", minimal + "identity_headers: {groups: \"\"}\n",
			`gw.yaml:14:28: identity_headers.groups: "" is empty, and empty here would be the default: leave it out for the default, or write a value`},
		{"identity header host", minimal + "identity_headers: {method: host}\n",
			`gw.yaml:14:28: identity_headers.method: "host" is a header the gateway sets or reads itself`},
		{"identity header x-forwarded", minimal + "identity_headers: {consumer: x-forwarded-user}\n",
			`gw.yaml:14:30: identity_headers.consumer: "x-forwarded-user" is a header the gateway sets or reads itself`},
		{"identity header request id", minimal + "identity_headers: {credential: X-Request-ID}\n",
			`gw.yaml:14:32: identity_headers.credential: "X-Request-ID" is a header the gateway sets or reads itself`},
		{"identity header authorization", minimal + "identity_headers: {credential: Authorization}\n",
			`gw.yaml:14:32: identity_headers.credential: "Authorization" is a header the gateway sets or reads itself`},
		{"identity headers equal", minimal + "identity_headers: {consumer: X-Who, groups: x-who}\n",
			`gw.yaml:14:45: identity_headers.groups: "x-who" is already used by identity_headers.consumer`},
		{"identity header equals a default", minimal + "identity_headers: {method: X-Consumer-Name}\n",
			`gw.yaml:14:28: identity_headers.method: "X-Consumer-Name" is already used by identity_headers.consumer`},

		{"client auth mode missing", clientAuth(ca),
			`gw.yaml:9:9: listeners[0].tls.client_auth.mode: is required (request or require)`},
		{"client auth mode", clientAuth("        mode: optional\n" + ca),
			`gw.yaml:9:15: listeners[0].tls.client_auth.mode: must be request or require, not "optional"`},
		{"client auth ca missing", clientAuth("        mode: require\n"),
			`gw.yaml:9:9: listeners[0].tls.client_auth.ca_file: is required`},
		{"client auth ca unreadable", clientAuth("        mode: require\n        ca_file: /nonexistent/ca.pem\n"),
			`gw.yaml:10:18: listeners[0].tls.client_auth.ca_file: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{"client auth ca is a certificate's key", clientAuth("        mode: require\n        ca_file: " + dir + "/api.key\n"),
			`gw.yaml:10:18: listeners[0].tls.client_auth.ca_file: "` + dir + `/api.key" holds no PEM certificate`},
		{"client auth host upper-case", clientAuth("        mode: require\n" + ca + "        hosts: [Partners.example.com]\n"),
			`gw.yaml:11:17: listeners[0].tls.client_auth.hosts[0]: host "Partners.example.com" must be lower-case`},
		{"client auth host wildcard", clientAuth("        mode: require\n" + ca + "        hosts: [\"*.example.com\"]\n"),
			`gw.yaml:11:17: listeners[0].tls.client_auth.hosts[0]: host "*.example.com" must be an exact name (the SNI name is compared exactly)`},
		{"client auth host port", clientAuth("        mode: require\n" + ca + "        hosts: [\"a.example.com:443\"]\n"),
			`gw.yaml:11:17: listeners[0].tls.client_auth.hosts[0]: host "a.example.com:443" must not have a port`},
		{"client auth host twice", clientAuth("        mode: require\n" + ca + "        hosts: [a.example.com, a.example.com]\n"),
			`gw.yaml:11:32: listeners[0].tls.client_auth.hosts[1]: host "a.example.com" is listed twice`},
		{"ocsp max_cache written 0s", clientAuth("        mode: require\n" + ca + "        ocsp: {max_cache: 0s}\n"),
			`gw.yaml:11:27: listeners[0].tls.client_auth.ocsp.max_cache: "0s" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"ocsp timeout written 0s", clientAuth("        mode: require\n" + ca + "        ocsp: {timeout: 0s}\n"),
			`gw.yaml:11:25: listeners[0].tls.client_auth.ocsp.timeout: "0s" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"ocsp max_cache above a day", clientAuth("        mode: require\n" + ca + "        ocsp: {max_cache: 25h}\n"),
			`gw.yaml:11:27: listeners[0].tls.client_auth.ocsp.max_cache: must be at most 24h (default 1h)`},

		{"route auth value", withRoute("    auth: basic\n"),
			`gw.yaml:14:11: routes[0].auth: must be "none" or left out, not "basic" (authentication methods go in an auth policy)`},
		{"route auth upper-case", withRoute("    auth: None\n"),
			`gw.yaml:14:11: routes[0].auth: must be "none" or left out, not "None" (authentication methods go in an auth policy)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

// TestAuthErrorsNeverShowSecrets loads a file full of bad credentials and
// checks that no message carries a secret, a hash or a password, whether
// written inline or through a reference.
func TestAuthErrorsNeverShowSecrets(t *testing.T) {
	t.Setenv("PC_SHORT_SECRET", "env-secret-too-short")
	t.Setenv("PC_PLAIN_PASSWORD", "env-plain-password")
	t.Setenv("PC_BAD_ALG", "secret-alg-value")
	t.Setenv("PC_BAD_HEADER", "secret header value")
	src := withConsumers(`  - name: app
    credentials:
      jwt:
        - {key: k1, algorithm: HS256, secret: "${env:PC_SHORT_SECRET}"}
        - {key: k2, algorithm: HS512, secret: inline-secret-too-short}
        - {key: k3, algorithm: "${env:PC_BAD_ALG}", secret: inline-secret-with-bad-alg}
        - {key: k4, algorithm: RS256, secret: inline-secret-with-rsa, public_key: inline-public-key}
      api_keys:
        - {id: k1, hash: pc_live_inline_plain_key}
        - {id: k2, hash: "sha256:inline-bad-hash"}
      basic:
        - {username: u1, password_hash: inline-plain-password}
        - {username: u2, password_hash: "${env:PC_PLAIN_PASSWORD}"}
        - {username: u3, password_hash: "$1$inline-md5-crypt"}
identity_headers: {consumer: "${env:PC_BAD_HEADER}"}
`)
	es := parseErrors(t, src)
	if len(es) != 10 {
		t.Errorf("got %d errors, want 10:\n%v", len(es), es)
	}
	msgs := es.Error()
	for _, secret := range []string{
		"env-secret-too-short", "inline-secret-too-short", "secret-alg-value", "inline-secret-with-bad-alg",
		"inline-secret-with-rsa", "inline-public-key", "pc_live_inline_plain_key", "inline-bad-hash",
		"inline-plain-password", "env-plain-password", "inline-md5-crypt", "secret header value",
	} {
		if strings.Contains(msgs, secret) {
			t.Errorf("an error shows %q:\n%s", secret, msgs)
		}
	}
	// A bad value that came from a reference is named by the reference.
	for _, want := range []string{
		`consumers[0].credentials.jwt[2].algorithm: must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, not (the value of ${env:PC_BAD_ALG})`,
		`identity_headers.consumer: (the value of ${env:PC_BAD_HEADER}) is not a valid header name`,
		`consumers[0].credentials.jwt[0].secret: is shorter than 32 bytes, the minimum for HS256`,
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("missing %q in:\n%s", want, msgs)
		}
	}
}

func TestValidAuthConfigs(t *testing.T) {
	dir := tlsFiles(t)
	t.Setenv("PC_HS384", strings.Repeat("x", 48))
	jwts := "      jwt:\n"
	for i, alg := range JWTAlgorithms {
		key := "k" + string(rune('a'+i))
		if IsHMACAlgorithm(alg) {
			jwts += "        - {key: " + key + ", algorithm: " + alg + ", secret: " + strings.Repeat("x", MinHMACSecretBytes[alg]) + "}\n"
		} else {
			jwts += "        - {key: " + key + ", algorithm: " + alg + ", public_key: \"${file:" + dir + "/acme-jwt.pem}\"}\n"
		}
	}
	for name, src := range map[string]string{
		"every jwt algorithm":          withConsumers("  - name: app\n    credentials:\n" + jwts),
		"hmac secret from env":         withConsumers("  - name: app\n    credentials:\n      jwt: [{key: k, algorithm: HS384, secret: \"${env:PC_HS384}\"}]\n"),
		"consumer without credentials": withConsumers("  - name: guest\n    groups: [public]\n    metadata: {note: \"\"}\n"),
		"api key times": withConsumers("  - name: app\n    credentials:\n      api_keys:\n" +
			"        - {id: a.1, hash: " + hash1 + ", expires_at: \"2027-01-01T10:00:00.5+02:00\"}\n" +
			"        - {id: a_2, hash: " + hash2 + ", not_after: 2026-03-01T00:00:00Z}\n"),
		"password hashes": withConsumers("  - name: app\n    credentials:\n      basic:\n" +
			"        - {username: a, password_hash: \"$2a$10$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW\"}\n" +
			"        - {username: b, password_hash: \"$2y$10$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW\"}\n" +
			"        - {username: \"c d@example.com\", password_hash: \"$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g\"}\n"),
		"mtls kinds": withConsumers("  - name: app\n    credentials:\n      mtls:\n" +
			"        - subject: CN=app,O=Example\n        - san: app.example.com\n        - fingerprint_sha256: " + strings.ToUpper(fpPlain) + "\n" +
			"  - name: other\n    credentials:\n      mtls:\n        - {subject: CN=other}\n        - {san: \"CN=app,O=Example\"}\n"),
		"same kid as username": withConsumers("  - name: app\n    credentials:\n      jwt: [{key: app, algorithm: HS256, secret: " + secret32 + "}]\n" +
			"      basic: [{username: app, password_hash: \"" + bcrypt + "\"}]\n      api_keys: [{id: app, hash: " + hash1 + "}]\n"),
		"client auth on every name": withListener("    tls:\n      certificates: [{cert_file: " + dir + "/api.crt, key_file: " + dir + "/api.key}]\n" +
			"      client_auth: {mode: request, ca_file: " + dir + "/clients-ca.pem}\n"),
		"route auth none":         withRoute("    auth: none\n"),
		"custom identity headers": minimal + "identity_headers: {consumer: X-User, groups: X-Roles, credential: X-Key-Id, method: X-Authn}\n",
	} {
		t.Run(name, func(t *testing.T) { mustParse(t, src) })
	}

	c := mustParse(t, withConsumers("  - name: app\n    credentials:\n      mtls: [{fingerprint_sha256: \""+fpColon+"\"}]\n"))
	if got := c.Consumers[0].Credentials.MTLS[0].FingerprintSHA256; got != fpPlain {
		t.Errorf("normalized fingerprint = %q, want %q", got, fpPlain)
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	for in, want := range map[string]string{
		fpPlain:                  fpPlain,
		strings.ToUpper(fpPlain): fpPlain,
		fpColon:                  fpPlain,
		strings.ToLower(fpColon): fpPlain,
	} {
		if got, ok := NormalizeFingerprint(in); !ok || got != want {
			t.Errorf("NormalizeFingerprint(%q) = %q, %v", in, got, ok)
		}
	}
	for _, bad := range []string{
		"", fpPlain[:62], fpPlain + "00", strings.Repeat("z", 64), fpColon + ":00", fpColon[:len(fpColon)-3],
		":" + fpPlain, "9:6D" + fpColon[4:], strings.ReplaceAll(fpColon, ":", "-"),
	} {
		if got, ok := NormalizeFingerprint(bad); ok {
			t.Errorf("NormalizeFingerprint(%q) = %q, want not ok", bad, got)
		}
	}
}

func TestValidateAuthBuiltInCode(t *testing.T) {
	c := &Config{
		Version:   1,
		Listeners: []Listener{{Name: "a", Address: ":80"}},
		Consumers: []Consumer{{Name: "app", Credentials: Credentials{
			MTLS: []MTLSCredential{{FingerprintSHA256: strings.ToUpper(fpColon)}},
			JWT:  []JWTCredential{{Key: "k", Algorithm: "HS256", Secret: "short"}},
		}}},
	}
	c.ApplyDefaults()
	if c.IdentityHeaders.Consumer != DefaultConsumerHeader || c.IdentityHeaders.Groups != DefaultGroupsHeader ||
		c.IdentityHeaders.Credential != DefaultCredentialHeader || c.IdentityHeaders.Method != DefaultMethodHeader {
		t.Errorf("identity header defaults = %+v", c.IdentityHeaders)
	}
	if got := c.Consumers[0].Credentials.MTLS[0].FingerprintSHA256; got != fpPlain {
		t.Errorf("fingerprint = %q", got)
	}
	err := c.Validate()
	if err == nil || err.Error() != `consumers[0].credentials.jwt[0].secret: is shorter than 32 bytes, the minimum for HS256` {
		t.Errorf("Validate = %v", err)
	}
	c.IdentityHeaders.Groups = ""
	c.Consumers[0].Credentials.JWT[0].Secret = secret32
	if err := c.Validate(); err == nil || err.Error() != `identity_headers.groups: must not be empty` {
		t.Errorf("Validate = %v", err)
	}
}

// TestJWTAlgorithmNames: the names messages print are the one list's.
func TestJWTAlgorithmNames(t *testing.T) {
	if got, want := JWTAlgorithmNames(), "HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA"; got != want {
		t.Errorf("JWTAlgorithmNames() = %q, want %q", got, want)
	}
	if got, want := HMACAlgorithmNames(), "HS256, HS384, HS512"; got != want {
		t.Errorf("HMACAlgorithmNames() = %q, want %q", got, want)
	}
}
