package config

import (
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
