package config

import (
	"strings"
	"testing"
)

// TestAWrittenZeroIsRefusedWhereItWouldBeTheDefault: every optional
// number (duration, size, integer, float) the file sets to zero, where the
// gateway would put its default in its place, is refused at its field;
// before the rule lived in the decoder, these passed and became the
// default (the tracing export timeout 10s, an alert webhook's timeout 2s,
// a health check every 10s, a Redis sync every second; "attempts: 0", no
// retry meant, three attempts; "consecutive_failures: 0", the ratio alone
// meant, ejection after five; a redirect to port 443 for "port: 0").
func TestAWrittenZeroIsRefusedWhereItWouldBeTheDefault(t *testing.T) {
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
		{"retries attempts", withService("    retries: {attempts: 0}\n"),
			`gw.yaml:9:25: services[0].retries.attempts: "0"` + msg},
		{"health check healthy_threshold", withService("    health_check: {path: /healthz, healthy_threshold: 0}\n"),
			`gw.yaml:9:55: services[0].health_check.healthy_threshold: "0"` + msg},
		{"health check unhealthy_threshold", withService("    health_check: {path: /healthz, unhealthy_threshold: 0}\n"),
			`gw.yaml:9:57: services[0].health_check.unhealthy_threshold: "0"` + msg},
		{"passive consecutive_failures", withService("    passive_health: {consecutive_failures: 0, failure_ratio: 0.5}\n"),
			`gw.yaml:9:44: services[0].passive_health.consecutive_failures: "0"` + msg},
		{"passive min_requests", withService("    passive_health: {failure_ratio: 0.5, min_requests: 0}\n"),
			`gw.yaml:9:56: services[0].passive_health.min_requests: "0"` + msg},
		{"circuit breaker failure_threshold", withService("    circuit_breaker: {failure_threshold: 0}\n"),
			`gw.yaml:9:42: services[0].circuit_breaker.failure_threshold: "0"` + msg},
		{"circuit breaker half_open_requests", withService("    circuit_breaker: {half_open_requests: 0}\n"),
			`gw.yaml:9:43: services[0].circuit_breaker.half_open_requests: "0"` + msg},
		{"redirect port", withListener("    redirect_to_https: {port: 0}\n"),
			`gw.yaml:5:31: listeners[0].redirect_to_https.port: "0"` + msg},
		{"alert min_requests", minimal + "observability:\n  alerts:\n    rules: [{name: e, metric: error_rate, above: 0.05, min_requests: 0}]\n",
			`gw.yaml:16:70: observability.alerts.rules[0].min_requests: "0"` + msg},
		{"security events max_per_second", minimal + "observability:\n  security_events: {output: stderr, max_per_second: 0}\n",
			`gw.yaml:15:53: observability.security_events.max_per_second: "0"` + msg},
		{"security events webhook_batch_size", minimal + "observability:\n  security_events:\n    webhooks: [{url: \"https://siem.example/h\"}]\n    webhook_batch_size: 0\n",
			`gw.yaml:17:25: observability.security_events.webhook_batch_size: "0"` + msg},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	// Zeros that are values are kept: a listener without a write timeout
	// (streams) or a connection limit, a rule that only alerts, a service
	// without a connection limit or a failure ratio, a route of priority
	// 0, Redis database 0.
	src := strings.Replace(minimal, "    address: \":8080\"\n", "    address: \":8080\"\n    write_timeout: 0s\n    max_connections: 0\n    max_connections_per_client: 0\n", 1)
	src = strings.Replace(src, "      - url: http://127.0.0.1:9000\n", "      - url: http://127.0.0.1:9000\n    max_conns_per_target: 0\n    passive_health: {failure_ratio: 0}\n", 1)
	src = strings.Replace(src, "    service: orders\n", "    service: orders\n    priority: 0\n", 1)
	c := mustParse(t, src+"intrusion_detection:\n  rules: [{event: auth_failure, threshold: 5, window: 1m, ban: 0s}]\n"+
		"  store: redis\n  redis: {address: \"127.0.0.1:6379\", db: 0}\n")
	if l := c.Listeners[0]; l.WriteTimeout != 0 || l.MaxConnections != 0 || l.MaxConnectionsPerClient != 0 || c.IntrusionDetection.Rules[0].Ban != 0 {
		t.Fatalf("write_timeout %v, max_connections %d/%d, ban %v", l.WriteTimeout, l.MaxConnections, l.MaxConnectionsPerClient, c.IntrusionDetection.Rules[0].Ban)
	}
	if s := c.Services[0]; s.MaxConnsPerTarget != 0 || s.Passive.FailureRatio != 0 || c.Routes[0].Priority != 0 || c.IntrusionDetection.Redis.DB != 0 {
		t.Fatalf("max_conns_per_target %d, failure_ratio %v, priority %d, db %d", s.MaxConnsPerTarget, s.Passive.FailureRatio, c.Routes[0].Priority, c.IntrusionDetection.Redis.DB)
	}
}

// TestAnEmptyStringIsRefusedWhereItWouldBeTheDefault: an optional string
// written empty, most often an environment variable set but empty, is
// refused at its field; before, "expires_at: ${env:KEY_EXPIRY}" with the
// variable empty gave a key that never expires, and an empty redis prefix
// the default one. The error names the reference, never a value.
func TestAnEmptyStringIsRefusedWhereItWouldBeTheDefault(t *testing.T) {
	const msg = ` is empty, and empty here would be the default: leave it out for the default, or write a value`
	const key = `consumers:
  - name: app
    credentials:
      api_keys:
        - id: k1
          hash: "sha256:18856c489a858fd28f22a0658726fb7c5b63cd7e0706a98e174d944fabfd94cc"
`
	t.Setenv("PORTCULLIS_TEST_EMPTY", "")
	for _, tc := range []struct{ desc, src, want string }{
		{"api key expires_at", minimal + key + "          expires_at: \"\"\n",
			`gw.yaml:20:23: consumers[0].credentials.api_keys[0].expires_at: ""` + msg},
		{"api key expires_at from an empty variable", minimal + key + "          expires_at: ${env:PORTCULLIS_TEST_EMPTY}\n",
			`gw.yaml:20:23: consumers[0].credentials.api_keys[0].expires_at: "${env:PORTCULLIS_TEST_EMPTY}"` + msg},
		{"api key not_after", minimal + key + "          not_after: ''\n",
			`gw.yaml:20:22: consumers[0].credentials.api_keys[0].not_after: ""` + msg},
		{"ops address", minimal + "ops: {address: \"\"}\n",
			`gw.yaml:14:16: ops.address: ""` + msg},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

// TestAWrittenEmptyListIsRefusedWhereItMeansEverything: a list written
// empty where an empty list means what leaving it out means, the opposite
// of "none" (every method, every host, every address not denied, every
// peer of the operations listener, the default retry conditions or health
// statuses), is refused at its field; before, "methods: []" (a template
// whose list came out empty, or "none" meant) opened the route to every
// method without a word.
func TestAWrittenEmptyListIsRefusedWhereItMeansEverything(t *testing.T) {
	const msg = `, as if it were left out: leave it out for that, or list at least one`
	for _, tc := range []struct{ desc, src, want string }{
		{"route methods", withRoute("    methods: []\n"),
			`gw.yaml:14:14: routes[0].methods: [] here would mean every method` + msg},
		{"route hosts", withRoute("    hosts: []\n"),
			`gw.yaml:14:12: routes[0].hosts: [] here would mean every host` + msg},
		{"ip_filter allow", minimal + "ip_filter: {allow: [], deny: [10.0.0.1]}\n",
			`gw.yaml:14:20: ip_filter.allow: [] here would mean every address not denied` + msg},
		{"ops allow", minimal + "ops: {allow: []}\n",
			`gw.yaml:14:14: ops.allow: [] here would mean every peer that can reach the listener` + msg},
		{"retry_on", withService("    retries: {retry_on: []}\n"),
			`gw.yaml:9:25: services[0].retries.retry_on: [] here would mean the default, connect_failure, 502, 503 and 504` + msg},
		{"expected_statuses", withService("    health_check: {path: /h, expected_statuses: []}\n"),
			`gw.yaml:9:49: services[0].health_check.expected_statuses: [] here would mean the default, 200-399` + msg},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	// Lists whose empty value is "none", which is what [] says: no trusted
	// proxy, no consumer, no deny entry, no header condition, no policy.
	c := mustParse(t, withRoute("    headers: []\n    policies: []\n")+"trusted_proxies: []\nconsumers: []\nip_filter: {allow: [10.0.0.0/8], deny: []}\n")
	if len(c.TrustedProxies)+len(c.Consumers)+len(c.IPFilter.Deny)+len(c.Routes[0].Headers)+len(c.Routes[0].Policies) != 0 || len(c.IPFilter.Allow) != 1 {
		t.Fatalf("parsed %+v", c)
	}
}
