package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// httpsService is minimal with an https target and a tls block whose
// fields are given (flow style); the tls mapping starts on line 9.
func httpsService(tls string) string {
	return strings.Replace(minimal, "      - url: http://127.0.0.1:9000\n",
		"      - url: https://127.0.0.1:9443\n    tls: {"+tls+"}\n", 1)
}

func TestUpstreamTLSRules(t *testing.T) {
	dir := tlsFiles(t)
	crt, key, ca := filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key"), filepath.Join(dir, "internal-ca.pem")
	for _, tc := range []struct{ desc, src, want string }{
		{"cert_file needs key_file", httpsService("cert_file: " + crt),
			`gw.yaml:9:10: services[0].tls.key_file: is required with cert_file`},
		{"key_file needs cert_file", httpsService("key_file: " + key),
			`gw.yaml:9:10: services[0].tls.cert_file: is required with key_file`},
		{"cert_file must be readable", httpsService("cert_file: /nonexistent/c.pem, key_file: " + key),
			`gw.yaml:9:22: services[0].tls.cert_file: cannot read "/nonexistent/c.pem": no such file or directory`},
		{"min_version 1.1 refused", httpsService(`min_version: "1.1"`),
			`gw.yaml:9:24: services[0].tls.min_version: must be "1.2" or "1.3", not "1.1"`},
		{"expected_identity other scheme", httpsService("expected_identity: \"https://billing\""),
			`gw.yaml:9:30: services[0].tls.expected_identity: "https://billing" is neither a DNS name nor a SPIFFE ID (spiffe://trust-domain/path)`},
		{"expected_identity bad SPIFFE ID", httpsService("expected_identity: \"spiffe://Example.org/x\", ca_file: " + ca),
			`gw.yaml:9:30: services[0].tls.expected_identity: "spiffe://Example.org/x" is not a valid SPIFFE ID: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`},
		{"SPIFFE identity needs ca_file", httpsService("expected_identity: \"spiffe://example.org/ns/a/sa/b\""),
			`gw.yaml:9:10: services[0].tls.ca_file: is required with a SPIFFE expected_identity (the trust domain's bundle)`},
		{"expected_identity wildcard", httpsService("expected_identity: \"*.example.org\""),
			`gw.yaml:9:30: services[0].tls.expected_identity: "*.example.org" is not a DNS name (lower-case, no wildcard, no port)`},
		{"client certificate on a plain target", strings.Replace(minimal, "      - url: http://127.0.0.1:9000\n",
			"      - url: http://127.0.0.1:9000\n    tls: {cert_file: "+crt+", key_file: "+key+"}\n", 1),
			`gw.yaml:9:10: services[0].tls: applies to https:// targets only, and target "http://127.0.0.1:9000" is not one (write https:// to verify it, or remove tls)`},
		{"a CA on a plain target", strings.Replace(minimal, "      - url: http://127.0.0.1:9000\n",
			"      - url: http://127.0.0.1:9000\n    tls: {ca_file: "+ca+"}\n", 1),
			`gw.yaml:9:10: services[0].tls: applies to https:// targets only, and target "http://127.0.0.1:9000" is not one (write https:// to verify it, or remove tls)`},
		{"server_name and min_version on a plain target", strings.Replace(minimal, "      - url: http://127.0.0.1:9000\n",
			"      - url: http://127.0.0.1:9000\n    tls: {server_name: billing.internal, min_version: \"1.3\"}\n", 1),
			`gw.yaml:9:10: services[0].tls: applies to https:// targets only, and target "http://127.0.0.1:9000" is not one (write https:// to verify it, or remove tls)`},
		{"an empty block on a plain target", strings.Replace(minimal, "      - url: http://127.0.0.1:9000\n",
			"      - url: http://127.0.0.1:9000\n    tls: {}\n", 1),
			`gw.yaml:9:10: services[0].tls: applies to https:// targets only, and target "http://127.0.0.1:9000" is not one (write https:// to verify it, or remove tls)`},
		{"one plain target among https ones", strings.Replace(httpsService("ca_file: "+ca), "    tls:",
			"      - url: http://127.0.0.1:9001\n    tls:", 1),
			`gw.yaml:10:10: services[0].tls: applies to https:// targets only, and target "http://127.0.0.1:9001" is not one (write https:// to verify it, or remove tls)`},
	} {
		t.Run(tc.desc, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	mustParse(t, httpsService("cert_file: "+crt+", key_file: "+key+", ca_file: "+ca+", expected_identity: \"spiffe://example.org/ns/a/sa/b\", min_version: \"1.2\""))
}
