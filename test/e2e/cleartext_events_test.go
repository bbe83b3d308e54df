package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const clearWarning = "security events leave this machine unencrypted"

func clearSinksConfig(up *Upstream, observability string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %q}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc, auth: none}]
ops: {address: "{{ops}}"}
%s`, up.URL, observability))
}

// TestSecurityEventsSentInClearAreLogged: a destination of security
// events or intrusion alerts that leaves this machine without TLS (plain
// http webhooks, syslog without tls) is named in a warning at start, by its
// config path and host, never by its URL (a webhook's token is often in
// the path). https, syslog over tls and loopback are not.
func TestSecurityEventsSentInClearAreLogged(t *testing.T) {
	up := NewUpstream(t, nil)
	for _, tc := range []struct {
		desc, obs string
		want      []string // the destinations named; none: no warning
	}{
		{desc: "a plain http webhook off this machine",
			obs:  "observability:\n  security_events:\n    webhooks: [{url: \"http://192.0.2.10:9/hooks/T0KEN-IN-PATH\"}]\n",
			want: []string{"observability.security_events.webhooks[0] (plain http to 192.0.2.10)"}},
		{desc: "syslog over udp off this machine",
			obs:  "observability:\n  security_events:\n    syslog: {address: \"192.0.2.11:514\"}\n",
			want: []string{"observability.security_events.syslog (udp without tls to 192.0.2.11)"}},
		{desc: "an intrusion alert webhook over plain http",
			obs:  "intrusion_detection:\n  rules: [{event: auth_failure, threshold: 5, window: 1m}]\n  alerts: {webhooks: [{url: \"http://alerts.example.net/hook\"}]}\n",
			want: []string{"intrusion_detection.alerts.webhooks[0] (plain http to alerts.example.net)"}},
		{desc: "https and loopback",
			obs: "observability:\n  security_events:\n    webhooks: [{url: \"https://siem.example.net/hook\"}, {url: \"http://127.0.0.1:9/hook\"}]\n    syslog: {address: \"127.0.0.1:514\"}\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			gw := StartGateway(t, clearSinksConfig(up, tc.obs))
			if !gw.WaitLog(`"msg":"ops listening"`, 5*time.Second) {
				t.Fatalf("not started:\n%s", gw.Stderr.String())
			}
			wait := 300 * time.Millisecond
			if len(tc.want) > 0 {
				wait = 5 * time.Second
			}
			if got := gw.WaitLog(clearWarning, wait); got != (len(tc.want) > 0) {
				t.Fatalf("warning logged: %v, want %v\n%s", got, len(tc.want) > 0, gw.Stderr.String())
			}
			out := gw.Stderr.String()
			for _, d := range tc.want {
				if !strings.Contains(out, `"destination":"`+d+`"`) {
					t.Errorf("no warning naming %s:\n%s", d, out)
				}
			}
			if n := strings.Count(out, clearWarning); n != len(tc.want) {
				t.Errorf("%d warnings, want %d", n, len(tc.want))
			}
			if strings.Contains(out, "T0KEN-IN-PATH") {
				t.Errorf("the webhook URL's path was logged:\n%s", out)
			}
		})
	}
}

// TestSecurityEventsSentInClearByAReloadAreLogged: the reload that adds such
// a destination logs it, once; a later reload that keeps it says nothing.
func TestSecurityEventsSentInClearByAReloadAreLogged(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, clearSinksConfig(up, ""))
	if !gw.WaitLog(`"msg":"ops listening"`, 5*time.Second) {
		t.Fatalf("not started:\n%s", gw.Stderr.String())
	}
	clear := string(clearSinksConfig(up, "observability:\n  security_events:\n    syslog: {address: \"192.0.2.11:514\"}\n"))
	gw.WriteConfig(GatewayConfig(clear))
	if !gw.WaitLog(clearWarning, 10*time.Second) {
		t.Fatalf("the reload that added syslog in clear was not logged:\n%s", gw.Stderr.String())
	}
	gw.WriteConfig(GatewayConfig(clear + "# again\n"))
	gw.WaitReloads(t, 2)
	if n := strings.Count(gw.Stderr.String(), clearWarning); n != 1 {
		t.Errorf("warning logged %d times, want once:\n%s", n, gw.Stderr.String())
	}
}
