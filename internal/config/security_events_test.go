package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateSecurityEvents: observability.security_events is checked by
// the loader like every other block: each problem at its own field, all of
// them in one run (they used to be checked later, one at a time, at the
// block's line).
func TestValidateSecurityEvents(t *testing.T) {
	src := minimal + `observability:
  security_events:
    sample: 2
    max_per_second: -1
    webhook_batch_size: 20000
    webhook_retries: 50
    webhooks:
      - {url: "ftp://x/hook"}
      - {url: "https://user:pw@x/hook"}
      - {url: "https://events.example/hook"}
    syslog: {network: sctp, address: nohost, facility: local9}
`
	_, err := Parse("gw.yaml", []byte(src))
	if err == nil {
		t.Fatal("loaded")
	}
	got := err.Error()
	for _, want := range []struct{ desc, line string }{
		{"sample above 1", `gw.yaml:16:13: observability.security_events.sample: 2 is not in (0, 1]`},
		{"negative cap", `gw.yaml:17:21: observability.security_events.max_per_second: must not be negative`},
		{"batch too large", `gw.yaml:18:25: observability.security_events.webhook_batch_size: must be from 1 to 10000`},
		{"too many retries", `gw.yaml:19:22: observability.security_events.webhook_retries: must be from 0 to 10`},
		{"webhook not http", `gw.yaml:21:15: observability.security_events.webhooks[0].url: must be an http or https URL without credentials`},
		{"webhook with credentials", `gw.yaml:22:15: observability.security_events.webhooks[1].url: must be an http or https URL without credentials`},
		{"syslog network", `gw.yaml:24:23: observability.security_events.syslog.network: "sctp": must be udp or tcp`},
		{"syslog address", `gw.yaml:24:38: observability.security_events.syslog.address: "nohost": not a host:port address`},
		{"syslog facility", `gw.yaml:24:56: observability.security_events.syslog.facility: unknown facility "local9"`},
	} {
		if !strings.Contains(got, want.line) {
			t.Errorf("%s: no %q in:\n%s", want.desc, want.line, got)
		}
	}
	if strings.Contains(got, "webhooks[2]") || strings.Contains(got, "user:pw") {
		t.Errorf("a valid webhook refused, or a URL's password printed:\n%s", got)
	}
}

func TestValidSecurityEvents(t *testing.T) {
	c := mustParse(t, minimal+`observability:
  security_events:
    sample: 0.5
    webhooks: [{url: "http://127.0.0.1:9/hook"}]
    syslog: {network: tcp, address: "127.0.0.1:514", facility: authpriv}
`)
	ev := c.Observability.SecurityEvents
	if ev.Sample == nil || *ev.Sample != 0.5 || ev.Syslog == nil || ev.Syslog.Facility != "authpriv" {
		t.Fatalf("security_events = %+v", ev)
	}
}

// TestSyslogTLSRules: a syslog tls block is checked as every client tls
// block is, and needs network tcp (RFC 5425); with udp, written or the
// default, the block would protect nothing, so it is refused.
func TestSyslogTLSRules(t *testing.T) {
	dir := tlsFiles(t)
	crt, key, ca := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key"), filepath.Join(dir, "internal-ca.pem")
	syslog := func(block string) string {
		return minimal + "observability:\n  security_events:\n    syslog: " + block + "\n"
	}
	for _, tc := range []struct{ desc, src, want string }{
		{"tls with the default network (udp)", syslog(`{address: "10.0.0.9:6514", tls: {ca_file: ` + ca + `}}`),
			`gw.yaml:16:13: observability.security_events.syslog.network: must be tcp with a tls block (syslog over TLS, RFC 5425, is TCP; the default is udp)`},
		{"tls with network udp", syslog(`{network: udp, address: "10.0.0.9:6514", tls: {ca_file: ` + ca + `}}`),
			`gw.yaml:16:23: observability.security_events.syslog.network: must be tcp with a tls block (syslog over TLS, RFC 5425, is TCP; the default is udp)`},
		{"an unknown network is one error, not two", syslog(`{network: sctp, address: "10.0.0.9:6514", tls: {ca_file: ` + ca + `}}`),
			`gw.yaml:16:23: observability.security_events.syslog.network: "sctp": must be udp or tcp`},
		{"ca_file must be readable", syslog(`{network: tcp, address: "10.0.0.9:6514", tls: {ca_file: /nonexistent/ca.pem}}`),
			`gw.yaml:16:69: observability.security_events.syslog.tls.ca_file: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{"cert_file needs key_file", syslog(`{network: tcp, address: "10.0.0.9:6514", tls: {cert_file: ` + crt + `}}`),
			`gw.yaml:16:59: observability.security_events.syslog.tls.key_file: is required with cert_file`},
		{"min_version 1.1 refused", syslog(`{network: tcp, address: "10.0.0.9:6514", tls: {min_version: "1.1"}}`),
			`gw.yaml:16:73: observability.security_events.syslog.tls.min_version: must be "1.2" or "1.3", not "1.1"`},
		{"expected_identity not a name", syslog(`{network: tcp, address: "10.0.0.9:6514", tls: {expected_identity: "*.siem.internal"}}`),
			`gw.yaml:16:79: observability.security_events.syslog.tls.expected_identity: "*.siem.internal" is not a DNS name (lower-case, no wildcard, no port)`},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	c := mustParse(t, syslog(`{network: tcp, address: "10.0.0.9:6514", tls: {ca_file: `+ca+`, cert_file: `+crt+`, key_file: `+key+`, expected_identity: siem.internal}}`))
	if tl := c.Observability.SecurityEvents.Syslog.TLS; tl == nil || tl.CAFile != ca || tl.ExpectedIdentity != "siem.internal" {
		t.Fatalf("syslog tls = %+v", tl)
	}
}

// TestWebhookTLSRules: a webhook's tls block (security events, intrusion
// alerts) needs an https URL, where it has something to verify, and is
// checked as every client tls block is.
func TestWebhookTLSRules(t *testing.T) {
	dir := tlsFiles(t)
	crt, ca := filepath.Join(dir, "api.crt"), filepath.Join(dir, "internal-ca.pem")
	events := func(hook string) string {
		return minimal + "observability:\n  security_events:\n    webhooks: [" + hook + "]\n"
	}
	alerts := func(hook string) string {
		return minimal + "intrusion_detection:\n  rules: [{event: auth_failure, threshold: 5, window: 1m, ban: 10m}]\n  alerts: {webhooks: [" + hook + "]}\n"
	}
	for _, tc := range []struct{ desc, src, want string }{
		{"events: tls on an http URL", events(`{url: "http://siem.internal/h", tls: {ca_file: ` + ca + `}}`),
			`gw.yaml:16:53: observability.security_events.webhooks[0].tls: applies to https:// URLs only, and the url is http:// (write https:// to verify the receiver, or remove tls)`},
		{"events: ca_file unreadable", events(`{url: "https://siem.internal/h", tls: {ca_file: /nonexistent/ca.pem}}`),
			`gw.yaml:16:64: observability.security_events.webhooks[0].tls.ca_file: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{"alerts: cert_file without key_file", alerts(`{url: "https://siem.internal/h", tls: {cert_file: ` + crt + `}}`),
			`gw.yaml:16:61: intrusion_detection.alerts.webhooks[0].tls.key_file: is required with cert_file`},
		{"alerts: tls on an http URL", alerts(`{url: "http://siem.internal/h", tls: {}}`),
			`gw.yaml:16:60: intrusion_detection.alerts.webhooks[0].tls: applies to https:// URLs only, and the url is http:// (write https:// to verify the receiver, or remove tls)`},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	c := mustParse(t, events(`{url: "https://siem.internal/h", tls: {ca_file: `+ca+`, expected_identity: siem.internal}}`))
	if tl := c.Observability.SecurityEvents.Webhooks[0].TLS; tl == nil || tl.CAFile != ca {
		t.Fatalf("webhook tls = %+v", tl)
	}
}
