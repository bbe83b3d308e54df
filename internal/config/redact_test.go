package config

import (
	"strings"
	"testing"
)

// TestRedactYAML: secret values (and digests of secrets) are replaced
// wherever they appear; secret references and everything else are kept.
func TestRedactYAML(t *testing.T) {
	src := `version: 1
consumers:
  - name: acme
    credentials:
      jwt: [{key: kid-1, algorithm: HS256, secret: inline-hmac-secret-value}]
      api_keys: [{id: k1, hash: "sha256:abcdef"}]
      basic: [{username: alice, password_hash: "$argon2id$v=19$xyz"}]
routes:
  - name: r
    policies:
      - kind: signature
        secret: "${env:SIG_SECRET}"
admin:
  store: {dsn: "postgres://u:pw@db/x", master_key: "${file:/run/mk}", previous_master_keys: [old-inline-key]}
`
	out, err := RedactYAML([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, text string
		present    bool
	}{
		{"an inline JWT secret", "inline-hmac-secret-value", false},
		{"an API key digest", "sha256:abcdef", false},
		{"a password hash", "argon2id", false},
		{"a DSN with its password", "pw@db", false},
		{"a previous master key in a list", "old-inline-key", false},
		{"a secret reference", "${env:SIG_SECRET}", true},
		{"a file reference", "${file:/run/mk}", true},
		{"a JWT key id", "kid-1", true},
		{"a user name", "alice", true},
		{"the mark", RedactedMark, true},
	} {
		if strings.Contains(out, tc.text) != tc.present {
			t.Errorf("%s: present=%v in\n%s", tc.desc, !tc.present, out)
		}
	}
	if _, err := RedactYAML([]byte("a: [")); err == nil {
		t.Error("broken YAML: no error")
	}
}
