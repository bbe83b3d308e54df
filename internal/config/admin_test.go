package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateAdmin: one row per rule of the admin block; each bad config
// gets exactly one error, at the field.
func TestValidateAdmin(t *testing.T) {
	// /x.crt, /x.key and /ca.pem stand for real files (the loader reads
	// them: a key pair that loads, a CA bundle).
	dir := tlsFiles(t)
	files := strings.NewReplacer("/x.crt", dir+"/api.crt", "/x.key", dir+"/api.key", "/ca.pem", dir+"/clients-ca.pem", "/other.key", dir+"/redis-client.key")
	adm := func(body string) string { return minimal + "admin:\n" + files.Replace(body) }
	cases := []struct{ desc, src, want string }{
		{"public address without tls", adm("  address: \"0.0.0.0:9902\"\n"),
			`admin.address: "0.0.0.0:9902" is not a loopback address: the admin API then requires tls`},
		{"a proxy listener's address", adm("  address: \"127.0.0.1:8080\"\n"),
			`admin.address: address "127.0.0.1:8080" is also listeners[0]: the admin API never answers on a proxy listener`},
		{"the ops listener's address", adm("  address: \"127.0.0.1:9901\"\n"),
			`admin.address: address "127.0.0.1:9901" is also the ops listener`},
		{"not host:port", adm("  address: nowhere\n"), `admin.address: "nowhere": not a host:port address`},
		{"tls without key", adm("  address: \"10.0.0.1:9902\"\n  tls: {cert_file: /x.crt}\n"), `admin.tls.key_file: is required`},
		{"tls certificate unreadable", adm("  tls: {cert_file: /nonexistent/admin.crt, key_file: /x.key}\n"),
			`admin.tls.cert_file: cannot read "/nonexistent/admin.crt": no such file or directory`},
		{"tls key of another certificate", adm("  tls: {cert_file: /x.crt, key_file: /other.key}\n"),
			`admin.tls: cert_file and key_file do not load as a key pair: tls: private key does not match public key`},
		{"client CA holds no certificate", adm("  tls: {cert_file: /x.crt, key_file: /x.key, client_ca_file: /x.key}\n"),
			`admin.tls.client_ca_file: "` + dir + `/api.key" holds no PEM certificate`},
		{"certificates without a CA", adm("  tls: {cert_file: /x.crt, key_file: /x.key, client_certificates: [{subject: CN=a, role: admin}]}\n"),
			`admin.tls.client_ca_file: is required when client_certificates are listed`},
		{"certificate without a property", adm("  tls: {cert_file: /x.crt, key_file: /x.key, client_ca_file: /ca.pem, client_certificates: [{role: admin}]}\n"),
			`admin.tls.client_certificates[0]: set exactly one of subject, san or fingerprint_sha256`},
		{"unknown role", adm("  tls: {cert_file: /x.crt, key_file: /x.key, client_ca_file: /ca.pem, client_certificates: [{san: a.example, role: root}]}\n"),
			`admin.tls.client_certificates[0].role: must be one of viewer, operator, admin`},
		{"bad fingerprint", adm("  tls: {cert_file: /x.crt, key_file: /x.key, client_ca_file: /ca.pem, client_certificates: [{fingerprint_sha256: zz, role: admin}]}\n"),
			`admin.tls.client_certificates[0].fingerprint_sha256: must be a SHA-256 fingerprint`},
		{"unknown driver", adm("  store: {driver: mysql}\n"), `admin.store.driver: must be sqlite or postgres, not "mysql"`},
		{"postgres without dsn", adm("  store: {driver: postgres}\n"), `admin.store.dsn: is required for driver postgres`},
		{"bad schema", adm("  store: {driver: postgres, dsn: \"postgres://127.0.0.1/x\", schema: \"Bad-Schema\"}\n"), `admin.store.schema: "Bad-Schema": use lower-case letters`},
		{"a remote store that may fall back to plaintext", adm("  store: {driver: postgres, dsn: \"postgres://u:dsn-secret@db.internal/x\"}\n"),
			`admin.store.dsn: host db.internal may be reached without TLS`},
		{"a remote store over unverified TLS", adm("  store: {driver: postgres, dsn: \"postgres://u:dsn-secret@db.internal/x?sslmode=require\"}\n"),
			`admin.store.dsn: host db.internal is reached over TLS that accepts any certificate`},
		{"dsn on sqlite", adm("  store: {dsn: \"postgres://x\"}\n"), `admin.store: dsn and schema are for driver postgres`},
		{"previous keys without a key", adm("  store: {previous_master_keys: [x]}\n"), `admin.store.previous_master_keys: need a master_key`},
		{"poll too fast", adm("  store: {poll_interval: 1ms}\n"), `admin.store.poll_interval: must be at least 10ms`},
		{"an inline audit signing key", adm("  audit: {signing_key: \"0202020202020202020202020202020202020202020202020202020202020202\"}\n"),
			`admin.audit.signing_key: must be a secret reference`},
		{"unknown field", adm("  listen: x\n"), `admin.listen: unknown field`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			es := parseErrors(t, tc.src)
			if len(es) != 1 || !strings.Contains(es[0].Error(), tc.want) {
				t.Errorf("errors:\n%v\nwant one containing:\n%s", es, tc.want)
			}
			if len(es) > 0 && strings.Contains(fmt.Sprint(es), "dsn-secret") {
				t.Errorf("an error quotes the DSN's password: %v", es)
			}
		})
	}
}

func TestAdminDefaults(t *testing.T) {
	c := mustParse(t, minimal+"admin: {}\n")
	a := c.Admin
	if a.Address != DefaultAdminAddress || a.Store.Driver != StoreSQLite || a.Store.Path != filepath.Join(filepath.Dir(c.File), DefaultStoreFile) ||
		a.Store.PollInterval.D() != DefaultPollInterval || a.Store.ResyncInterval.D() != DefaultResyncInterval || a.Store.UsageFlushInterval.D() != DefaultUsageFlushInterval {
		t.Fatalf("defaults: %+v", a)
	}
	pg := mustParse(t, minimal+"admin: {address: \"[::1]:9902\", store: {driver: postgres, dsn: \"postgres://db/x?sslmode=verify-full&sslrootcert=system\"}}\n")
	if pg.Admin.Store.Schema != DefaultStoreSchema {
		t.Fatalf("schema default: %q", pg.Admin.Store.Schema)
	}
}

// TestWithStoreConsumers: store consumers are checked as the file's are,
// a name or credential value in both is an error naming the store record,
// and the file's config is not changed.
func TestWithStoreConsumers(t *testing.T) {
	c := mustParse(t, minimal+`consumers:
  - name: filec
    credentials:
      api_keys: [{id: k1, hash: "sha256:`+strings.Repeat("ab", 32)+`"}]
`)
	for _, tc := range []struct {
		desc string
		in   Consumer
		want string
	}{
		{"name in both", Consumer{Name: "filec"}, `(store): consumers["filec"].name: consumer name "filec" is already used by consumers[0]`},
		{"key id in both", Consumer{Name: "s", Credentials: Credentials{APIKeys: []APIKeyCredential{{ID: "k1", Hash: "sha256:" + strings.Repeat("cd", 32)}}}},
			`(store): consumers["s"].credentials.api_keys[0].id: key id "k1" is already used by consumers[0].credentials.api_keys[0]`},
		{"bad group", Consumer{Name: "s", Groups: []string{"a,b"}}, `(store): consumers["s"].groups[0]: group "a,b" must not contain a comma`},
	} {
		_, err := c.WithStoreConsumers([]Consumer{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.desc, err, tc.want)
		}
	}
	m, err := c.WithStoreConsumers([]Consumer{{Name: "s", Credentials: Credentials{MTLS: []MTLSCredential{{FingerprintSHA256: strings.Repeat("AB:", 31) + "AB"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Consumers) != 1 || len(m.Consumers) != 2 || m.StoreConsumerCount() != 1 || m.Consumers[1].Credentials.MTLS[0].FingerprintSHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("merge: file %d, merged %d", len(c.Consumers), len(m.Consumers))
	}
}
