package config

import (
	"strings"
	"testing"
)

// TestAWrittenZeroDurationOrSizeIsRefused: every optional duration or size
// the file sets to zero, where the gateway would put its default in its
// place, is refused at its field; before the rule lived in the decoder,
// these passed and became the default (the tracing export timeout 10s,
// an alert webhook's timeout 2s, a health check every 10s, a Redis sync
// every second).
func TestAWrittenZeroDurationOrSizeIsRefused(t *testing.T) {
	const msg = ` here would be the default, not zero: leave it out for the default, or write a value above zero`
	for _, tc := range []struct{ desc, src, want string }{
		{"tracing timeout", minimal + "observability:\n  tracing: {endpoint: \"http://127.0.0.1:4318\", timeout: 0s}\n",
			`gw.yaml:15:57: observability.tracing.timeout: "0s"` + msg},
		{"security events webhook_timeout", minimal + "observability:\n  security_events:\n    webhooks: [{url: \"https://siem.example/h\"}]\n    webhook_timeout: 0s\n",
			`gw.yaml:17:22: observability.security_events.webhook_timeout: "0s"` + msg},
		{"alert webhooks timeout", minimal + "intrusion_detection:\n  rules: [{event: auth_failure, threshold: 5, window: 1m}]\n  alerts: {webhooks: [{url: \"https://siem.example/h\"}], timeout: 0s}\n",
			`gw.yaml:16:66: intrusion_detection.alerts.timeout: "0s"` + msg},
		{"health check interval", withService("    health_check: {path: /healthz, interval: 0s}\n"),
			`gw.yaml:9:46: services[0].health_check.interval: "0s"` + msg},
		{"circuit breaker open_duration", withService("    circuit_breaker: {open_duration: 0s}\n"),
			`gw.yaml:9:38: services[0].circuit_breaker.open_duration: "0s"` + msg},
		{"retries per_try_timeout", withService("    retries: {per_try_timeout: 0s}\n"),
			`gw.yaml:9:32: services[0].retries.per_try_timeout: "0s"` + msg},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	// Zeros that are values are kept: a listener without a write timeout
	// (streams), a rule that only alerts, an HSTS policy browsers forget.
	c := mustParse(t, strings.Replace(minimal, "    address: \":8080\"\n", "    address: \":8080\"\n    write_timeout: 0s\n", 1)+
		"intrusion_detection:\n  rules: [{event: auth_failure, threshold: 5, window: 1m, ban: 0s}]\n")
	if c.Listeners[0].WriteTimeout != 0 || c.IntrusionDetection.Rules[0].Ban != 0 {
		t.Fatalf("write_timeout %v, ban %v", c.Listeners[0].WriteTimeout, c.IntrusionDetection.Rules[0].Ban)
	}
}
