package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSecretReferencesExpand(t *testing.T) {
	t.Setenv("PC_TEST_LOG", "/var/log/portcullis.log")
	t.Setenv("PC_TEST_TIMEOUT", "7s")
	t.Setenv("PC_TEST_WEIGHT", "5")
	dir := t.TempDir()
	hdr := filepath.Join(dir, "header")
	if err := os.WriteFile(hdr, []byte("X-Tenant\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	twoLines := filepath.Join(dir, "two")
	if err := os.WriteFile(twoLines, []byte("keep\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := withService(`        weight: ${env:PC_TEST_WEIGHT}
    load_balancing:
      hash_on: header
      hash_header: ${file:`+hdr+`}
    timeouts:
      connect: ${env:PC_TEST_TIMEOUT}
`) + `access_log:
  output: "${env:PC_TEST_LOG}"
ops:
  address: ${file:` + twoLines + `}
  disable: true
`
	c := mustParse(t, src)
	s := c.Services[0]
	if s.Targets[0].Weight != 5 || s.LoadBalancing.HashHeader != "X-Tenant" || s.Timeouts.Connect.D() != 7*time.Second {
		t.Errorf("service = %+v", s)
	}
	if c.AccessLog.Output != "/var/log/portcullis.log" {
		t.Errorf("output = %q", c.AccessLog.Output)
	}
	if c.Ops.Address != "keep\n" {
		t.Errorf("only one trailing newline must be trimmed: %q", c.Ops.Address)
	}
	if !c.IsSecret("access_log.output") || !c.IsSecret("services[0].targets[0].weight") || c.IsSecret("services[0].name") {
		t.Errorf("IsSecret is wrong")
	}
}

func TestSecretReferenceErrorsDoNotLeak(t *testing.T) {
	const secret = "hunter2-very-secret"
	t.Setenv("PC_TEST_SECRET", secret)
	os.Unsetenv("PC_TEST_MISSING")
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "s")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `version: 1
listeners:
  - name: public
    address: ${env:PC_TEST_SECRET}
    read_timeout: ${env:PC_TEST_SECRET}
    idle_timeout: ${file:` + secretFile + `}
services:
  - name: ${env:PC_TEST_MISSING}
    targets:
      - url: ${file:` + dir + `/missing}
      - url: ${env:PC_TEST_SECRET}
        weight: ${env:PC_TEST_SECRET}
routes:
  - name: orders
    service: ${env:PC_TEST_SECRET}
    paths: [{prefix: /}]
    rewrite: ${vault:secret/x}
    hosts: ["${env:bad-name}", "${file:}", "${file:` + dir + `}"]
`
	es := parseErrors(t, src)
	want := []string{
		`gw.yaml:4:14: listeners[0].address: (the value of ${env:PC_TEST_SECRET}): not a host:port address`,
		`gw.yaml:5:19: listeners[0].read_timeout: the value of ${env:PC_TEST_SECRET} is not a duration such as "30s"`,
		`gw.yaml:6:19: listeners[0].idle_timeout: the value of ${file:` + secretFile + `} is not a duration such as "30s"`,
		`gw.yaml:8:11: services[0].name: environment variable PC_TEST_MISSING (from ${env:PC_TEST_MISSING}) is not set`,
		`gw.yaml:10:14: services[0].targets[0].url: secret reference ${file:` + dir + `/missing}: cannot read the file: no such file or directory`,
		`gw.yaml:11:14: services[0].targets[1].url: scheme must be http or https`,
		`gw.yaml:12:17: services[0].targets[1].weight: the value of ${env:PC_TEST_SECRET} is not an integer`,
		`gw.yaml:15:14: routes[0].service: service (the value of ${env:PC_TEST_SECRET}) is not defined`,
		`gw.yaml:17:14: routes[0].rewrite: unknown secret reference ${vault:secret/x} (use ${env:NAME}, ${file:/path} or ${store:NAME}; write $${ for a literal ${)`,
		`gw.yaml:18:13: routes[0].hosts[0]: invalid secret reference ${env:bad-name}: the variable name must match ^[A-Za-z_][A-Za-z0-9_]*$`,
		`gw.yaml:18:32: routes[0].hosts[1]: invalid secret reference ${file:}: the file path is empty`,
		`gw.yaml:18:44: routes[0].hosts[2]: secret reference ${file:` + dir + `}: cannot read the file: not a regular file`,
	}
	if got := es.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
	if strings.Contains(es.Error(), "hunter2") {
		t.Errorf("an error leaks the secret:\n%v", es)
	}
}

// TestStoreSecretReferences: ${store:NAME} is allowed only in webhook
// secrets and with an admin block; WithStoreSecrets fills the fields from
// the store (without changing the loaded config) and names the field of a
// secret the store lacks.
func TestStoreSecretReferences(t *testing.T) {
	hooks := `observability:
  security_events:
    webhooks: [{url: "http://127.0.0.1:1/a", secret: "${store:events-hook}"}, {url: "http://127.0.0.1:1/b", secret: plain-secret}]
intrusion_detection:
  rules: [{event: auth_failure, threshold: 5, window: 1m, ban: 1m}]
  alerts:
    webhooks: [{url: "http://127.0.0.1:1/c", secret: "${store:alerts-hook}"}]
`
	for _, tc := range []struct{ desc, src, want string }{
		{"outside a webhook secret", minimal + "admin: {}\naccess_log: {output: \"${store:x}\"}\n",
			`access_log.output: ${store:x}: a store secret can only be a webhook secret`},
		{"without an admin block", minimal + hooks, `observability.security_events.webhooks[0].secret: ${store:events-hook} needs the admin block`},
		{"an invalid name", minimal + "admin: {}\nobservability: {security_events: {webhooks: [{url: \"http://127.0.0.1:1/a\", secret: \"${store:Bad Name}\"}]}}\n",
			`invalid secret reference ${store:Bad Name}`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			es := parseErrors(t, tc.src)
			if !strings.Contains(es.Error(), tc.want) {
				t.Errorf("errors:\n%v\nwant one containing: %s", es, tc.want)
			}
		})
	}
	c := mustParse(t, minimal+"admin: {}\n"+hooks)
	refs := c.StoreSecretRefs()
	if len(refs) != 2 || refs["events-hook"][0] != "observability.security_events.webhooks[0].secret" || refs["alerts-hook"][0] != "intrusion_detection.alerts.webhooks[0].secret" {
		t.Fatalf("refs = %v", refs)
	}
	vals := map[string]string{"events-hook": "value-of-events-hook-0123456789abcdef", "alerts-hook": "value-of-alerts-hook-0123456789abcdef"}
	got, err := c.WithStoreSecrets(func(n string) ([]byte, bool) { v, ok := vals[n]; return []byte(v), ok })
	if err != nil {
		t.Fatal(err)
	}
	ev, al := got.Observability.SecurityEvents.Webhooks, got.IntrusionDetection.Alerts.Webhooks
	if ev[0].Secret != vals["events-hook"] || ev[1].Secret != "plain-secret" || al[0].Secret != vals["alerts-hook"] {
		t.Fatalf("resolved: %+v %+v", ev, al)
	}
	if c.Observability.SecurityEvents.Webhooks[0].Secret != "${store:events-hook}" || c.IntrusionDetection.Alerts.Webhooks[0].Secret != "${store:alerts-hook}" {
		t.Fatal("WithStoreSecrets changed the loaded config")
	}
	if !c.IsSecret("observability.security_events.webhooks[0].secret") {
		t.Fatal("a store reference is not marked secret")
	}
	_, err = c.WithStoreSecrets(func(n string) ([]byte, bool) { return nil, false })
	if err == nil || !strings.Contains(err.Error(), `observability.security_events.webhooks[0].secret: ${store:events-hook}: the store has no secret "events-hook"`) ||
		!strings.Contains(err.Error(), `intrusion_detection.alerts.webhooks[0].secret`) {
		t.Fatalf("missing secrets: %v", err)
	}
}
