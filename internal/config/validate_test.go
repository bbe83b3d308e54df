package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// withListener inserts lines after the first listener's address (line 4);
// they start on line 5.
func withListener(lines string) string {
	return strings.Replace(minimal, "    address: \":8080\"\n", "    address: \":8080\"\n"+lines, 1)
}

// withService inserts lines after the first service's target (line 8);
// they start on line 9.
func withService(lines string) string {
	return strings.Replace(minimal, "      - url: http://127.0.0.1:9000\n", "      - url: http://127.0.0.1:9000\n"+lines, 1)
}

// withPath inserts path entries after the first route's prefix (line 13);
// they start on line 14.
func withPath(lines string) string { return minimal + lines }

func TestValidationRules(t *testing.T) {
	dir := tlsFiles(t)
	tls := "    tls:\n      certificates:\n        - cert_file: " + dir + "/api.crt\n          key_file: " + dir + "/api.key\n" // lines 5-8
	// A CERTIFICATE block whose bytes are not a certificate: crypto/x509's
	// AppendCertsFromPEM would skip it and trust nothing.
	mangled := filepath.Join(dir, "mangled-ca.pem")
	if err := os.WriteFile(mangled, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pair := func(cert, key string) string {
		return withListener("    tls:\n      certificates:\n        - {cert_file: " + dir + "/api.crt, key_file: " + dir + "/api.key}\n        - cert_file: " + cert + "\n          key_file: " + key + "\n")
	}
	cases := []struct{ name, src, want string }{
		// version
		{"version 2", strings.Replace(minimal, "version: 1", "version: 2", 1),
			`gw.yaml:1:10: version: unsupported version 2 (must be 1)`},
		{"version missing", strings.TrimPrefix(minimal, "version: 1\n"),
			`gw.yaml:1:1: version: is required (must be 1)`},

		// listeners
		{"no listeners", strings.Replace(minimal, "listeners:\n  - name: public\n    address: \":8080\"\n", "listeners: []\n", 1),
			`gw.yaml:2:12: listeners: at least one listener is required`},
		{"listener name taken", withListener("  - name: public\n    address: \":8081\"\n"),
			`gw.yaml:5:11: listeners[1].name: listener name "public" is already used by listeners[0]`},
		{"listener name pattern", strings.Replace(minimal, "name: public", "name: _public", 1),
			`gw.yaml:3:11: listeners[0].name: listener name "_public" must start with a letter or digit and use only letters, digits, '_', '.' and '-' (at most 64 characters)`},
		{"listener name missing", withListener("  - address: \":8081\"\n"),
			`gw.yaml:5:5: listeners[1].name: is required`},
		{"listener address taken", withListener("  - name: second\n    address: \":8080\"\n"),
			`gw.yaml:6:14: listeners[1].address: address ":8080" is already used by listeners[0] (":8080")`},
		{"listener address on a wildcard taken", withListener("  - name: second\n    address: \"127.0.0.1:8080\"\n"),
			`gw.yaml:6:14: listeners[1].address: address "127.0.0.1:8080" is already used by listeners[0] (":8080")`},
		{"ops on a listener's address", minimal + "ops: {address: \"0.0.0.0:8080\"}\n",
			`gw.yaml:14:16: ops.address: address "0.0.0.0:8080" is also listeners[0]: the ops listener never answers on a proxy listener`},
		{"listener address not host:port", strings.Replace(minimal, `":8080"`, "localhost", 1),
			`gw.yaml:4:14: listeners[0].address: "localhost": not a host:port address`},
		{"listener address bad port", strings.Replace(minimal, `":8080"`, "localhost:70000", 1),
			`gw.yaml:4:14: listeners[0].address: "localhost:70000": port must be a number from 0 to 65535`},
		{"tls without certificates", withListener("    tls: {certificates: []}\n"),
			`gw.yaml:5:25: listeners[0].tls.certificates: at least one certificate is required`},
		{"tls key missing", withListener("    tls:\n      certificates:\n        - cert_file: " + dir + "/api.crt\n          key_file: /nonexistent/x.key\n"),
			`gw.yaml:8:21: listeners[0].tls.certificates[0].key_file: cannot read "/nonexistent/x.key": no such file or directory`},
		{"tls key not set", withListener("    tls:\n      certificates:\n        - cert_file: " + dir + "/api.crt\n"),
			`gw.yaml:7:11: listeners[0].tls.certificates[0].key_file: is required`},
		{"tls cert is a directory", withListener("    tls:\n      certificates:\n        - key_file: " + dir + "/api.key\n          cert_file: " + dir + "\n"),
			`gw.yaml:8:22: listeners[0].tls.certificates[0].cert_file: cannot read "` + dir + `": not a regular file`},
		{"tls key of another certificate", pair(dir+"/api.crt", dir+"/redis-client.key"),
			`gw.yaml:8:11: listeners[0].tls.certificates[1]: cert_file and key_file do not load as a key pair: tls: private key does not match public key`},
		{"tls key and certificate swapped", pair(dir+"/api.key", dir+"/api.crt"),
			`gw.yaml:8:11: listeners[0].tls.certificates[1]: cert_file and key_file do not load as a key pair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched`},
		{"tls certificate not PEM", pair(dir+"/acme-jwt.pem", dir+"/api.key"),
			`gw.yaml:8:11: listeners[0].tls.certificates[1]: cert_file and key_file do not load as a key pair: tls: failed to find any PEM data in certificate input`},
		{"tls min version", withListener(tls + "      min_version: \"1.1\"\n"),
			`gw.yaml:9:20: listeners[0].tls.min_version: must be "1.2" or "1.3", not "1.1"`},
		{"hsts without max_age", withListener(tls + "      hsts: {preload: true}\n"),
			`gw.yaml:9:13: listeners[0].tls.hsts.max_age: is required`},
		{"redirect on tls listener", withListener(tls + "    redirect_to_https: {}\n"),
			`gw.yaml:9:24: listeners[0].redirect_to_https: a listener with tls cannot redirect to https`},
		{"redirect port", withListener("    redirect_to_https: {port: 70000}\n"),
			`gw.yaml:5:31: listeners[0].redirect_to_https.port: must be a port from 1 to 65535 (0 means 443)`},
		{"max header bytes small", withListener("    max_header_bytes: 512\n"),
			`gw.yaml:5:23: listeners[0].max_header_bytes: must be between 1KiB and 1MiB`},
		{"max header bytes large", withListener("    max_header_bytes: 2MiB\n"),
			`gw.yaml:5:23: listeners[0].max_header_bytes: must be between 1KiB and 1MiB`},
		{"max header bytes zero", withListener("    max_header_bytes: 0\n"),
			`gw.yaml:5:23: listeners[0].max_header_bytes: "0" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"read timeout zero", withListener("    read_timeout: 0s\n"),
			`gw.yaml:5:19: listeners[0].read_timeout: "0s" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"read header timeout negative", withListener("    read_header_timeout: -1s\n"),
			`gw.yaml:5:26: listeners[0].read_header_timeout: duration "-1s" must not be negative`},
		{"http2 streams zero", withListener("    http2: {max_concurrent_streams: 0}\n"),
			`gw.yaml:5:37: listeners[0].http2.max_concurrent_streams: "0" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"http2 frame size", withListener("    http2: {max_read_frame_size: 1024}\n"),
			`gw.yaml:5:34: listeners[0].http2.max_read_frame_size: must be between 16KiB and 16MiB-1 (RFC 9113)`},

		// services
		{"service name taken", withService("  - name: orders\n    targets: [{url: \"http://127.0.0.1:9001\"}]\n"),
			`gw.yaml:9:11: services[1].name: service name "orders" is already used by services[0]`},
		{"service without targets", withService("  - name: empty\n    targets: []\n"),
			`gw.yaml:10:14: services[1].targets: at least one target is required`},
		{"target scheme", withService("      - url: ftp://127.0.0.1:21\n"),
			`gw.yaml:9:14: services[0].targets[1].url: scheme must be http or https`},
		{"target without port", withService("      - url: http://backend\n"),
			`gw.yaml:9:14: services[0].targets[1].url: must name a host and a port (http://host:port)`},
		{"target port zero", withService("      - url: http://backend:0\n"),
			`gw.yaml:9:14: services[0].targets[1].url: port must be a number from 1 to 65535`},
		{"target with path", withService("      - url: http://backend:80/api\n"),
			`gw.yaml:9:14: services[0].targets[1].url: must not have a path (use the route's rewrite)`},
		{"target with slash path", withService("      - url: http://backend:80/\n"),
			`gw.yaml:9:14: services[0].targets[1].url: must not have a path (use the route's rewrite)`},
		{"target with query", withService("      - url: http://backend:80?x=1\n"),
			`gw.yaml:9:14: services[0].targets[1].url: must not have a query`},
		{"target with userinfo", withService("      - url: http://admin:hunter2@backend:80\n"),
			`gw.yaml:9:14: services[0].targets[1].url: must not contain user information`},
		{"target twice", withService("      - url: http://127.0.0.1:9000\n"),
			`gw.yaml:9:14: services[0].targets[1].url: the same target as targets[0]`},
		{"weight zero", withService("        weight: 0\n"),
			`gw.yaml:9:17: services[0].targets[0].weight: "0" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"weight too high", withService("        weight: 1001\n"),
			`gw.yaml:9:17: services[0].targets[0].weight: must be between 1 and 1000`},
		{"weight negative", withService("        weight: -2\n"),
			`gw.yaml:9:17: services[0].targets[0].weight: must be between 1 and 1000`},
		{"algorithm", withService("    load_balancing: {algorithm: random}\n"),
			`gw.yaml:9:33: services[0].load_balancing.algorithm: must be one of round_robin, least_connections, consistent_hash, not "random"`},
		{"hash_on", withService("    load_balancing: {algorithm: consistent_hash, hash_on: cookie}\n"),
			`gw.yaml:9:59: services[0].load_balancing.hash_on: must be client_address or header, not "cookie"`},
		{"hash_header required", withService("    load_balancing: {algorithm: consistent_hash, hash_on: header}\n"),
			`gw.yaml:9:21: services[0].load_balancing.hash_header: is required when hash_on is header`},
		{"hash_header token", withService("    load_balancing: {hash_on: header, hash_header: \"X Tenant\"}\n"),
			`gw.yaml:9:52: services[0].load_balancing.hash_header: "X Tenant" is not a valid header name`},
		{"connect timeout zero", withService("    timeouts: {connect: 0s}\n"),
			`gw.yaml:9:25: services[0].timeouts.connect: "0s" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"idle conns zero", withService("    max_idle_conns_per_target: 0\n"),
			`gw.yaml:9:32: services[0].max_idle_conns_per_target: "0" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"idle conns negative", withService("    max_idle_conns_per_target: -1\n"),
			`gw.yaml:9:32: services[0].max_idle_conns_per_target: must be at least 1`},
		{"max conns negative", withService("    max_conns_per_target: -1\n"),
			`gw.yaml:9:27: services[0].max_conns_per_target: must not be negative (0 means unlimited)`},
		{"upstream ca missing", httpsService("ca_file: /nonexistent/ca.pem"),
			`gw.yaml:9:20: services[0].tls.ca_file: cannot read "/nonexistent/ca.pem": no such file or directory`},
		{"upstream ca is a key", httpsService("ca_file: " + dir + "/api.key"),
			`gw.yaml:9:20: services[0].tls.ca_file: "` + dir + `/api.key" holds no PEM certificate`},
		{"upstream ca mangled", httpsService("ca_file: " + mangled),
			`gw.yaml:9:20: services[0].tls.ca_file: "` + mangled + `" holds a certificate that does not parse (certificate 1): x509: malformed certificate`},
		{"upstream client key of another certificate", strings.Replace(withService("    tls: {cert_file: "+dir+"/redis-client.crt, key_file: "+dir+"/api.key}\n"), "http://127.0.0.1:9000", "https://127.0.0.1:9000", 1),
			`gw.yaml:9:10: services[0].tls: cert_file and key_file do not load as a key pair: tls: private key does not match public key`},

		// routes
		{"route service undefined", strings.Replace(minimal, "    service: orders", "    service: payments", 1),
			`gw.yaml:11:14: routes[0].service: service "payments" is not defined`},
		{"route service missing", minimal + "  - name: other\n    paths: [{prefix: /}]\n",
			`gw.yaml:14:5: routes[1].service: is required`},
		{"route name missing", minimal + "  - service: orders\n    paths: [{prefix: /}]\n",
			`gw.yaml:14:5: routes[1].name: is required`},
		{"route name taken", minimal + "  - name: orders\n    service: orders\n    paths: [{prefix: /}]\n",
			`gw.yaml:14:11: routes[1].name: route name "orders" is already used by routes[0]`},
		{"route name pattern", strings.Replace(minimal, "  - name: orders\n    service", "  - name: my route\n    service", 1),
			`gw.yaml:10:11: routes[0].name: route name "my route" must start with a letter or digit and use only letters, digits, '_', '.' and '-' (at most 64 characters)`},
		{"route name too long", strings.Replace(minimal, "  - name: orders\n    service", "  - name: "+strings.Repeat("a", 65)+"\n    service", 1),
			`gw.yaml:10:11: routes[0].name: route name "` + strings.Repeat("a", 65) + `" must start with a letter or digit and use only letters, digits, '_', '.' and '-' (at most 64 characters)`},
		{"route without paths", minimal + "  - name: other\n    service: orders\n    paths: []\n",
			`gw.yaml:16:12: routes[1].paths: at least one path is required (use prefix: / to match every path)`},
		{"path with two kinds", withPath("      - {exact: /a, prefix: /b}\n"),
			`gw.yaml:14:9: routes[0].paths[1]: set exactly one of exact, prefix or regex`},
		{"path with no kind", withPath("      - {}\n"),
			`gw.yaml:14:9: routes[0].paths[1]: set exactly one of exact, prefix or regex`},
		{"path listed twice", withPath("      - prefix: /orders\n"),
			`gw.yaml:14:9: routes[0].paths[1]: is listed twice (paths[0])`},
		{"path listed twice, in flow style", withPath("      - {exact: /a}\n      - {exact: /a}\n"),
			`gw.yaml:15:9: routes[0].paths[2]: is listed twice (paths[1])`},
		{"regex does not compile", withPath("      - regex: \"/a(\"\n"),
			`gw.yaml:14:16: routes[0].paths[1].regex: invalid regular expression: missing closing )`},
		{"regex that only compiles once anchored", withPath("      - regex: \"/admin)|(.*\"\n"),
			`gw.yaml:14:16: routes[0].paths[1].regex: invalid regular expression: unexpected )`},
		{"strip_prefix with regex", withPath("      - regex: /x.*\n    strip_prefix: true\n"),
			`gw.yaml:15:19: routes[0].strip_prefix: needs every path of the route to be exact or prefix (paths[1] is a regex)`},
		{"rewrite with regex", withPath("      - regex: /x.*\n    rewrite: /internal\n"),
			`gw.yaml:15:14: routes[0].rewrite: needs every path of the route to be exact or prefix (paths[1] is a regex)`},
		{"rewrite not canonical", withRoute("    rewrite: /internal/../admin\n"),
			`gw.yaml:14:14: routes[0].rewrite: "/internal/../admin" must not contain "." or ".." segments`},
		{"rewrite relative", withRoute("    rewrite: internal\n"),
			`gw.yaml:14:14: routes[0].rewrite: "internal" must start with "/"`},
		{"method lower-case", withRoute("    methods: [get]\n"),
			`gw.yaml:14:15: routes[0].methods[0]: method "get" must be upper-case`},
		{"method twice", withRoute("    methods: [GET, GET]\n"),
			`gw.yaml:14:20: routes[0].methods[1]: method "GET" is listed twice`},
		{"method not a token", withRoute("    methods: [\"GE T\"]\n"),
			`gw.yaml:14:15: routes[0].methods[0]: "GE T" is not a valid method token`},
		{"header without name", withRoute("    headers: [{value: x}]\n"),
			`gw.yaml:14:15: routes[0].headers[0].name: is required`},
		{"header name not a token", withRoute("    headers: [{name: \"X Y\"}]\n"),
			`gw.yaml:14:22: routes[0].headers[0].name: "X Y" is not a valid header name`},
		{"header value and regex", withRoute("    headers: [{name: X, value: a, regex: b}]\n"),
			`gw.yaml:14:15: routes[0].headers[0]: set at most one of value and regex`},
		{"header regex", withRoute("    headers: [{name: X, regex: \"a[\"}]\n"),
			`gw.yaml:14:32: routes[0].headers[0].regex: invalid regular expression: missing closing ]`},
		{"header regex that only compiles once anchored", withRoute("    headers: [{name: X, regex: \"a)|(.*\"}]\n"),
			`gw.yaml:14:32: routes[0].headers[0].regex: invalid regular expression: unexpected )`},
		{"host upper-case", withRoute("    hosts: [API.example.com]\n"),
			`gw.yaml:14:13: routes[0].hosts[0]: host "API.example.com" must be lower-case`},
		{"host with port", withRoute("    hosts: [\"api.example.com:443\"]\n"),
			`gw.yaml:14:13: routes[0].hosts[0]: host "api.example.com:443" must not have a port`},
		{"host inner wildcard", withRoute("    hosts: [\"api.*.com\"]\n"),
			`gw.yaml:14:13: routes[0].hosts[0]: host "api.*.com" may only have a wildcard as a leading "*."`},
		{"host bare wildcard", withRoute("    hosts: [\"*\"]\n"),
			`gw.yaml:14:13: routes[0].hosts[0]: host "*" may only have a wildcard as a leading "*."`},
		{"host wildcard tld", withRoute("    hosts: [\"*.com\"]\n"),
			`gw.yaml:14:13: routes[0].hosts[0]: host "*.com" wildcard must cover a name with at least two labels (*.example.com)`},
		{"host bad label", withRoute("    hosts: [api_v1.example.com]\n"),
			`gw.yaml:14:13: routes[0].hosts[0]: host "api_v1.example.com" is not a DNS name (labels are 1-63 of a-z, 0-9 and '-', not starting or ending with '-')`},
		{"host twice", withRoute("    hosts: [a.example.com, a.example.com]\n"),
			`gw.yaml:14:28: routes[0].hosts[1]: host "a.example.com" is listed twice`},
		{"max body size", withRoute("    max_body_size: 2GiB\n"),
			`gw.yaml:14:20: routes[0].max_body_size: must not exceed 1GiB`},
		{"max body size zero", withRoute("    max_body_size: 0\n"),
			`gw.yaml:14:20: routes[0].max_body_size: "0" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"policy not a mapping", withRoute("    policies: [jwt]\n"),
			`gw.yaml:14:16: routes[0].policies[0]: a policy must be a mapping with a "kind"`},
		{"policy without kind", withRoute("    policies: [{issuer: x}]\n"),
			`gw.yaml:14:16: routes[0].policies[0].kind: a policy needs a "kind"`},
		{"policy kind empty", withRoute("    policies: [{kind: \"\"}]\n"),
			`gw.yaml:14:23: routes[0].policies[0].kind: kind must be a non-empty string`},

		// top level
		{"trusted proxy", minimal + "trusted_proxies: [10.0.0.0/8, 10.0.0.0/33]\n",
			`gw.yaml:14:31: trusted_proxies[1]: "10.0.0.0/33" is not a CIDR or IP address`},
		{"client IPv6 prefix too short", minimal + "client_ipv6_prefix: 16\n",
			`gw.yaml:14:21: client_ipv6_prefix: must be from 32 to 128 (the leading bits of an IPv6 address that name one client)`},
		{"client IPv6 prefix too long", minimal + "client_ipv6_prefix: 129\n",
			`gw.yaml:14:21: client_ipv6_prefix: must be from 32 to 128 (the leading bits of an IPv6 address that name one client)`},
		{"client IPv6 prefix zero", minimal + "client_ipv6_prefix: 0\n",
			`gw.yaml:14:21: client_ipv6_prefix: "0" here would be the default, not zero: leave it out for the default, or write a value above zero`},
		{"trusted proxy with host bits set", minimal + "trusted_proxies: [10.0.0.1/8]\n",
			`gw.yaml:14:19: trusted_proxies[0]: CIDR "10.0.0.1/8" has host bits set: write 10.0.0.0/8 for the network, or 10.0.0.1 for the one address`},
		{"ops allow with host bits set", minimal + "ops:\n  allow: [192.168.1.10/24]\n",
			`gw.yaml:15:11: ops.allow[0]: CIDR "192.168.1.10/24" has host bits set: write 192.168.1.0/24 for the network, or 192.168.1.10 for the one address`},
		{"client address header without trusted proxies", minimal + "client_address_header: x-forwarded-for\n",
			`gw.yaml:14:24: client_address_header: "x-forwarded-for" is read only from trusted_proxies, and none is listed: every request's client would be the peer that connected (the proxy in front); list the proxies in trusted_proxies`},
		{"client address header unknown", minimal + "client_address_header: x-real-ip\n",
			`gw.yaml:14:24: client_address_header: "x-real-ip" is not one of auto, x-forwarded-for, forwarded`},
		{"trusted proxy: every IPv4 address", minimal + "trusted_proxies: [10.0.0.0/8, 0.0.0.0/0]\n",
			`gw.yaml:14:31: trusted_proxies[1]: "0.0.0.0/0" trusts a share of the whole Internet to set the client address: every peer in it could claim any address with X-Forwarded-For, and ip_filter, bans and per-client limits would read what it wrote; list the proxies in front of the gateway (at most a /8)`},
		{"trusted proxy: a /7", minimal + "trusted_proxies: [\"8.0.0.0/7\"]\n",
			`gw.yaml:14:19: trusted_proxies[0]: "8.0.0.0/7" trusts a share of the whole Internet to set the client address: every peer in it could claim any address with X-Forwarded-For, and ip_filter, bans and per-client limits would read what it wrote; list the proxies in front of the gateway (at most a /8)`},
		{"trusted proxy: every IPv6 address", minimal + "trusted_proxies: [\"::/0\"]\n",
			`gw.yaml:14:19: trusted_proxies[0]: "::/0" trusts a share of the whole Internet to set the client address: every peer in it could claim any address with X-Forwarded-For, and ip_filter, bans and per-client limits would read what it wrote; list the proxies in front of the gateway (at most a /7)`},
		{"trusted proxy: every IPv4 address written as IPv6", minimal + "trusted_proxies: [\"::ffff:0:0/96\"]\n",
			`gw.yaml:14:19: trusted_proxies[0]: "::ffff:0:0/96" trusts a share of the whole Internet to set the client address: every peer in it could claim any address with X-Forwarded-For, and ip_filter, bans and per-client limits would read what it wrote; list the proxies in front of the gateway (at most a /8)`},
		{"ops address", minimal + "ops: {address: \"9901\"}\n",
			`gw.yaml:14:16: ops.address: "9901": not a host:port address`},
		{"ops allow", minimal + "ops: {allow: [10.0.0.0/33]}\n",
			`gw.yaml:14:15: ops.allow[0]: "10.0.0.0/33" is not a CIDR or IP address`},
		{"access log blank", minimal + "access_log: {output: \" \"}\n",
			`gw.yaml:14:22: access_log.output: must not be empty (stdout, stderr, off or a file path)`},
		{"drain timeout zero", minimal + "shutdown: {drain_timeout: 0s}\n",
			`gw.yaml:14:27: shutdown.drain_timeout: "0s" here would be the default, not zero: leave it out for the default, or write a value above zero`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
}

func TestCanonicalPaths(t *testing.T) {
	for _, tc := range []struct{ path, msg string }{
		{"orders", `must start with "/"`},
		{"/a//b", `must not contain empty segments ("//")`},
		{"/a/./b", `must not contain "." or ".." segments`},
		{"/a/..", `must not contain "." or ".." segments`},
		{"/a%2Fb", `must not contain %2F (an encoded slash)`},
		{"/a%2fb", `percent escapes must use upper-case hex (%2F, not %2f)`},
		{"/a%c3%a9", `percent escapes must use upper-case hex (%C3, not %c3)`},
		{"/a%zz", `has an invalid percent escape`},
		{"/a%4", `has an invalid percent escape`},
		{"/%2E%2E/admin", `must write '.' as is, not as %2E`},
		{"/%41", `must write 'A' as is, not as %41`},
		{`/a\b`, `must not contain a backslash`},
		{"/a;b", `must not contain ';'`},
		{"/a?b", `must not contain '?'`},
		{"/a#b", `must not contain '#'`},
		{"/a b", `must percent-encode ' '`},
		{"/café", `must percent-encode non-ASCII characters`},
	} {
		// Through the whole loader, as a prefix, so position and path are checked too.
		src := withPath("      - prefix: '" + tc.path + "'\n")
		want := `gw.yaml:14:17: routes[0].paths[1].prefix: "` + strings.ReplaceAll(tc.path, `\`, `\\`) + `" ` + tc.msg
		t.Run(tc.path, func(t *testing.T) { wantOnly(t, src, want) })
	}
	if err := CheckPath("/a\x01"); err == nil || err.Error() != `must percent-encode '\x01'` {
		t.Errorf("CheckPath(control) = %v", err)
	}
	for _, ok := range []string{"/", "/orders", "/orders/", "/a/b.c/d~e_f-g", "/caf%C3%A9", "/a%20b", "/v1/x:y@z", "/a/.../b", "/a/.b"} {
		if err := CheckPath(ok); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", ok, err)
		}
	}
}

func TestValidConfigsThatLookOdd(t *testing.T) {
	dir := tlsFiles(t)
	for name, src := range map[string]string{
		"a port on two interfaces": withListener("  - name: second\n    address: \"127.0.0.1:8081\"\n  - name: third\n    address: \"127.0.0.2:8081\"\n"),
		"port 0 twice":             withListener("  - name: second\n    address: \"127.0.0.1:0\"\n  - name: third\n    address: \"127.0.0.1:0\"\n"),
		"write timeout 0":          withListener("    write_timeout: 0s\n"),
		"custom method":            withRoute("    methods: [PURGE, GET]\n"),
		"wildcard host":            withRoute("    hosts: [\"*.example.com\", example.com, \"127.0.0.1\"]\n"),
		"header regex":             withRoute("    headers: [{name: Accept, regex: \"application/.*\"}]\n"),
		"strip with exact":         withPath("      - exact: /status\n    strip_prefix: true\n    rewrite: /internal\n"),
		"ops disabled":             minimal + "ops: {disable: true, address: nope}\n",
		"tls 1.3 and hsts":         withListener("    tls:\n      certificates: [{cert_file: " + dir + "/api.crt, key_file: " + dir + "/api.key}]\n      min_version: \"1.3\"\n      hsts: {max_age: 0s}\n"),
		"ipv6 listener":            strings.Replace(minimal, `":8080"`, `"[::1]:8080"`, 1),
		"ipv6 target":              withService("      - url: http://[::1]:9001\n"),
		"escaped dollar":           minimal + "access_log: {output: \"$${env:NOT_A_REF}\"}\n",
		"empty policy list":        withRoute("    policies: []\n"),
		"null optional":            withRoute("    hosts: ~\n    policies:\n"),
		"trusted single ip6":       minimal + "trusted_proxies: [\"::1\", \"fd00::/8\"]\n",
		"trusted widest ranges":    minimal + "trusted_proxies: [10.0.0.0/8, \"fc00::/7\"]\n",
		"client address header":    minimal + "trusted_proxies: [10.0.0.0/8]\nclient_address_header: forwarded\n",
		"client address auto":      minimal + "client_address_header: auto\n",
	} {
		t.Run(name, func(t *testing.T) { mustParse(t, src) })
	}
	c := mustParse(t, minimal+"access_log: {output: \"$${env:NOT_A_REF}\"}\n")
	if c.AccessLog.Output != "${env:NOT_A_REF}" {
		t.Errorf("escaped literal = %q", c.AccessLog.Output)
	}
}

func TestAllErrorsAreCollectedAndSorted(t *testing.T) {
	src := `version: 3
listeners:
  - name: public
    address: nope
services:
  - name: orders
    targets:
      - url: ftp://x:1
routes:
  - name: orders
    service: orders
    paths:
      - prefix: orders
    unknown: 1
`
	es := parseErrors(t, src)
	want := []string{
		`gw.yaml:1:10: version: unsupported version 3 (must be 1)`,
		`gw.yaml:4:14: listeners[0].address: "nope": not a host:port address`,
		`gw.yaml:8:14: services[0].targets[0].url: scheme must be http or https`,
		`gw.yaml:13:17: routes[0].paths[0].prefix: "orders" must start with "/"`,
		`gw.yaml:14:5: routes[0].unknown: unknown field "unknown"`,
	}
	if got := es.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
