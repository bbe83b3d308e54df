package config

import "testing"

func TestValidateIntrusionDetection(t *testing.T) {
	ids := func(body string) string { return minimal + "intrusion_detection:\n" + body }
	rule := "  rules: [{event: auth_failure, threshold: 10, window: 1m, ban: 10m}]\n"
	cases := []struct{ name, src, want string }{
		{"no rules", ids("  allow: [10.0.0.0/8]\n"),
			`gw.yaml:15:3: intrusion_detection.rules: at least one rule is required`},
		{"unknown event", ids("  rules: [{event: login, threshold: 10, window: 1m}]\n"),
			`gw.yaml:15:19: intrusion_detection.rules[0].event: unknown event "login" (one of auth_failure, forbidden, not_found, rate_limited, malformed, waf, timeout)`},
		{"threshold", ids("  rules: [{event: waf, threshold: 0, window: 1m}]\n"),
			`gw.yaml:15:35: intrusion_detection.rules[0].threshold: must be from 1 to 10000`},
		{"window", ids("  rules: [{event: waf, threshold: 3, window: 0s}]\n"),
			`gw.yaml:15:46: intrusion_detection.rules[0].window: must be more than 0 and at most 24h`},
		{"ban", ids("  rules: [{event: waf, threshold: 3, window: 1s, ban: 1000h}]\n"),
			`gw.yaml:15:55: intrusion_detection.rules[0].ban: must be from 0 (alert only) to 720h`},
		{"allow", ids(rule + "  allow: [10.0.0.0/33]\n"),
			`gw.yaml:16:11: intrusion_detection.allow[0]: "10.0.0.0/33" is not a CIDR or IP address`},
		{"allow with host bits set", ids(rule + "  allow: [10.9.8.7/16]\n"),
			`gw.yaml:16:11: intrusion_detection.allow[0]: CIDR "10.9.8.7/16" has host bits set: write 10.9.0.0/16 for the network, or 10.9.8.7 for the one address`},
		{"allow every address", ids(rule + "  allow: [10.0.0.0/8, \"::/0\"]\n"),
			`gw.yaml:16:23: intrusion_detection.allow[1]: "::/0" exempts a share of the whole Internet from bans: the rules' bans would not apply to those clients; list your monitoring and your own networks (at most a /7)`},
		{"store", ids(rule + "  store: memcached\n"),
			`gw.yaml:16:10: intrusion_detection.store: must be local or redis, not "memcached"`},
		{"redis missing", ids(rule + "  store: redis\n"),
			`gw.yaml:15:3: intrusion_detection.redis: is required with store: redis`},
		{"redis address", ids(rule + "  store: redis\n  redis: {address: localhost}\n"),
			`gw.yaml:17:20: intrusion_detection.redis.address: "localhost": not a host:port address`},
		{"redis tls cert without key", ids(rule + "  store: redis\n  redis: {address: \"127.0.0.1:6379\", tls: {cert_file: /etc/hostname}}\n"),
			`gw.yaml:17:43: intrusion_detection.redis.tls.key_file: is required with cert_file`},
		{"redis tls below 1.2", ids(rule + "  store: redis\n  redis: {address: \"127.0.0.1:6379\", tls: {min_version: \"1.1\"}}\n"),
			`gw.yaml:17:57: intrusion_detection.redis.tls.min_version: must be "1.2" or "1.3", not "1.1"`},
		{"redis tls SPIFFE without its bundle", ids(rule + "  store: redis\n  redis: {address: \"127.0.0.1:6379\", tls: {expected_identity: \"spiffe://prod.example/redis\"}}\n"),
			`gw.yaml:17:43: intrusion_detection.redis.tls.ca_file: is required with a SPIFFE expected_identity (the trust domain's bundle)`},
		{"redis password in clear off this machine", ids(rule + "  store: redis\n  redis: {address: \"10.0.0.9:6379\", password: \"redis-pass\"}\n"),
			`gw.yaml:17:47: intrusion_detection.redis.password: would cross the network in clear: "10.0.0.9:6379" is off this machine and reached over plain TCP (Redis AUTH is plain text); add a tls block, or use a Redis on loopback`},
		{"redis password in clear to a name", ids(rule + "  store: redis\n  redis: {address: \"redis.internal:6379\", username: portcullis, password: \"redis-pass\"}\n"),
			`gw.yaml:17:75: intrusion_detection.redis.password: would cross the network in clear: "redis.internal:6379" is off this machine and reached over plain TCP (Redis AUTH is plain text); add a tls block, or use a Redis on loopback`},
		{"redis without store", ids(rule + "  redis: {address: \"127.0.0.1:6379\"}\n"),
			`gw.yaml:16:10: intrusion_detection.redis: is only used with store: redis`},
		{"webhook url", ids(rule + "  alerts: {webhooks: [{url: \"ftp://x\"}]}\n"),
			`gw.yaml:16:29: intrusion_detection.alerts.webhooks[0].url: must be an http or https URL without credentials`},
		{"webhook userinfo", ids(rule + "  alerts: {webhooks: [{url: \"https://u:p@x\"}]}\n"),
			`gw.yaml:16:29: intrusion_detection.alerts.webhooks[0].url: must be an http or https URL without credentials`},
		{"retries", ids(rule + "  alerts: {webhooks: [{url: \"http://x\"}], retries: 11}\n"),
			`gw.yaml:16:52: intrusion_detection.alerts.retries: must be from 0 to 10 (default 3)`},
		{"no webhooks", ids(rule + "  alerts: {webhooks: []}\n"),
			`gw.yaml:16:22: intrusion_detection.alerts.webhooks: at least one webhook is required`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

func TestValidIntrusionDetection(t *testing.T) {
	t.Setenv("IDS_HOOK_SECRET", "s3cret")
	c := mustParse(t, minimal+`intrusion_detection:
  rules:
    - {event: auth_failure, threshold: 10, window: 1m, ban: 10m}
    - {event: not_found, threshold: 50, window: 10s}
  allow: [10.0.0.0/8, "::1"]
  store: redis
  redis: {address: "127.0.0.1:6379", prefix: "t:", timeout: 200ms, sync_interval: 500ms}
  alerts:
    webhooks: [{url: "https://hooks.example/ids", secret: "${env:IDS_HOOK_SECRET}"}]
    retries: 2
`)
	d := c.IntrusionDetection
	if d == nil || len(d.Rules) != 2 || d.Rules[1].Ban != 0 || d.Redis.Prefix != "t:" || d.Alerts.Webhooks[0].Secret != "s3cret" {
		t.Fatalf("intrusion_detection = %+v", d)
	}
}

func TestValidateConnectionLimits(t *testing.T) {
	lst := func(extra string) string {
		return "version: 1\nlisteners:\n  - name: public\n    address: \":8080\"\n" + extra + minimal[len("version: 1\nlisteners:\n  - name: public\n    address: \":8080\"\n"):]
	}
	wantOnly(t, lst("    max_connections: -1\n"),
		`gw.yaml:5:22: listeners[0].max_connections: must not be negative (0: unlimited)`)
	wantOnly(t, lst("    max_connections: 10\n    max_connections_per_client: 20\n"),
		`gw.yaml:6:33: listeners[0].max_connections_per_client: must not exceed max_connections`)
	c := mustParse(t, lst("    max_connections: 1000\n    max_connections_per_client: 20\n"))
	if l := c.Listeners[0]; l.MaxConnections != 1000 || l.MaxConnectionsPerClient != 20 {
		t.Fatalf("listener = %+v", l)
	}
}

// TestRedisPasswordInClearOnlyOnLoopback: a Redis password goes over
// plain TCP only to loopback; off this machine it needs a tls block. A
// Redis without a password may be reached in plain TCP (nothing secret
// crosses; the operator's network is the guard).
func TestRedisPasswordInClearOnlyOnLoopback(t *testing.T) {
	ids := func(redis string) string {
		return minimal + "intrusion_detection:\n  rules: [{event: auth_failure, threshold: 10, window: 1m, ban: 10m}]\n  store: redis\n  redis: " + redis + "\n"
	}
	for _, tc := range []struct{ desc, redis string }{
		{desc: "loopback address", redis: `{address: "127.0.0.1:6379", password: p}`},
		{desc: "IPv6 loopback", redis: `{address: "[::1]:6379", password: p}`},
		{desc: "localhost", redis: `{address: "localhost:6379", password: p}`},
		{desc: "off this machine over TLS", redis: `{address: "10.0.0.9:6380", password: p, tls: {}}`},
		{desc: "off this machine without a password", redis: `{address: "10.0.0.9:6379"}`},
	} {
		t.Run(tc.desc, func(t *testing.T) { mustParse(t, ids(tc.redis)) })
	}
}
