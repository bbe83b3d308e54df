package config

import (
	"strings"
	"testing"
)

func TestValidateTracing(t *testing.T) {
	t.Setenv("PORTCULLIS_TEST_EMPTY_TOKEN", "") // set, but empty
	tr := func(body string) string { return minimal + "observability:\n  tracing:\n" + body }
	cases := []struct{ desc, src, want string }{
		{"endpoint missing", tr("    sample: 0.5\n"),
			`observability.tracing.endpoint: is required (the collector's OTLP/HTTP URL, e.g. http://127.0.0.1:4318)`},
		{"endpoint scheme", tr("    endpoint: \"grpc://c:4317\"\n"),
			`observability.tracing.endpoint: "grpc://c:4317" must be an http or https URL without credentials, query or fragment`},
		{"endpoint credentials", tr("    endpoint: \"http://u:p@c:4318\"\n"),
			`must be an http or https URL without credentials, query or fragment`},
		{"endpoint query", tr("    endpoint: \"http://c:4318/?k=v\"\n"),
			`must be an http or https URL without credentials, query or fragment`},
		{"sample above 1", tr("    endpoint: \"http://c:4318\"\n    sample: 1.5\n"),
			`observability.tracing.sample: must be from 0 to 1`},
		{"sample negative", tr("    endpoint: \"http://c:4318\"\n    sample: -0.1\n"),
			`observability.tracing.sample: must be from 0 to 1`},
		{"timeout", tr("    endpoint: \"http://c:4318\"\n    timeout: 2m\n"),
			`observability.tracing.timeout: must be at most 1m (default 10s)`},
		{"header name", tr("    endpoint: \"http://c:4318\"\n    headers: {\"bad name\": x}\n"),
			`is not a valid header name`},
		{"header value empty", tr("    endpoint: \"https://c:4318\"\n    headers: {Authorization: \"${env:PORTCULLIS_TEST_EMPTY_TOKEN}\"}\n"),
			`observability.tracing.headers.Authorization: the value is empty: write the header's value, or leave the header out`},
		{"unknown field", tr("    endpoint: \"http://c:4318\"\n    sampler: always\n"),
			`sampler`},
		{"headers over plain http off this machine", tr("    endpoint: \"http://collector.observability:4318\"\n    headers: {Authorization: \"Bearer t0ken\"}\n"),
			`observability.tracing.endpoint: "http://collector.observability:4318" is plain http to a host off this machine, and tracing.headers (the collector's credentials) would cross the network in clear`},
		{"headers over plain http to a name that is not loopback", tr("    endpoint: \"http://127.0.0.1.nip.io:4318\"\n    headers: {X-Api-Key: k}\n"),
			`is plain http to a host off this machine`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Parse("gw.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "gw.yaml:") {
				t.Fatalf("error has no position: %v", err)
			}
		})
	}
}

func TestValidTracing(t *testing.T) {
	t.Setenv("OTLP_TOKEN", "Bearer s3cret")
	c := mustParse(t, minimal+`observability:
  tracing:
    endpoint: "https://collector.example:4318"
    headers: {Authorization: "${env:OTLP_TOKEN}"}
    sample: 0
    service_name: edge
`)
	tr := c.Observability.Tracing
	if tr == nil || tr.Headers["Authorization"] != "Bearer s3cret" || tr.Sample == nil || *tr.Sample != 0 || tr.ServiceName != "edge" {
		t.Fatalf("tracing = %+v", tr)
	}
}

// TestTracingHeadersOverPlainHTTP: plain http carries the collector's
// credentials (tracing.headers) only to loopback; without headers a plain
// http collector anywhere is accepted (spans carry no secret).
func TestTracingHeadersOverPlainHTTP(t *testing.T) {
	for _, tc := range []struct{ desc, endpoint, headers string }{
		{desc: "loopback address with headers", endpoint: "http://127.0.0.1:4318", headers: "{Authorization: x}"},
		{desc: "IPv6 loopback with headers", endpoint: "http://[::1]:4318", headers: "{Authorization: x}"},
		{desc: "localhost with headers", endpoint: "http://localhost:4318", headers: "{Authorization: x}"},
		{desc: "https off this machine with headers", endpoint: "https://collector.example:4318", headers: "{Authorization: x}"},
		{desc: "plain http off this machine without headers", endpoint: "http://collector.observability:4318", headers: "{}"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			mustParse(t, minimal+"observability:\n  tracing:\n    endpoint: \""+tc.endpoint+"\"\n    headers: "+tc.headers+"\n")
		})
	}
}
