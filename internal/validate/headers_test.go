package validate

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

func TestRequireHeaders(t *testing.T) {
	p := pipelinetest.MustRequestPolicy(t, `kind: require_headers
headers:
  - {name: x-tenant, pattern: "[a-z]{3,8}"}
  - {name: X-Api-Version}
  - {name: X-Trace, pattern: "[0-9a-f]{32}", required: false}
`)
	type hdr [][2]string
	ok := hdr{{"X-Tenant", "acme"}, {"X-Api-Version", "2"}}
	cases := []struct {
		name   string
		h      hdr
		status int
		reason string
	}{
		{"all good", ok, 0, ""},
		{"optional present and good", append(ok, [2]string{"X-Trace", strings.Repeat("a", 32)}), 0, ""},
		{"missing", hdr{{"X-Api-Version", "2"}}, 400, "require_headers: missing X-Tenant"},
		{"second required missing", hdr{{"X-Tenant", "acme"}}, 400, "require_headers: missing X-Api-Version"},
		{"partial match is no match", hdr{{"X-Tenant", "acme!"}, {"X-Api-Version", "2"}}, 400, "require_headers: X-Tenant does not match"},
		{"newline trick", hdr{{"X-Tenant", "acme\nevil"}, {"X-Api-Version", "2"}}, 400, "require_headers: X-Tenant does not match"},
		{"second value must match too", append(ok, [2]string{"X-Tenant", "<script>"}), 400, "require_headers: X-Tenant does not match"},
		{"optional present and bad", append(ok, [2]string{"X-Trace", "zz"}), 400, "require_headers: X-Trace does not match"},
		{"empty value does not match", hdr{{"X-Tenant", ""}, {"X-Api-Version", "2"}}, 400, "require_headers: X-Tenant does not match"},
	}
	for _, tc := range cases {
		r := pipelinetest.Request("GET", "/", "")
		for _, kv := range tc.h {
			r.Header[kv[0]] = append(r.Header[kv[0]], kv[1])
		}
		prob := p.Handle(pipelinetest.Context(r, "192.0.2.1"))
		switch {
		case tc.status == 0 && prob != nil:
			t.Errorf("%s: refused: %+v", tc.name, prob)
		case tc.status != 0 && (prob == nil || prob.Status != tc.status || prob.Reason != tc.reason):
			t.Errorf("%s: got %+v, want %d %q", tc.name, prob, tc.status, tc.reason)
		case prob != nil && (strings.Contains(prob.Detail, "acme") || strings.Contains(prob.Detail, "script") || strings.Contains(prob.Detail, "Tenant")):
			t.Errorf("%s: detail echoes the request: %q", tc.name, prob.Detail)
		}
	}
}

func TestRequireHeadersConfigErrors(t *testing.T) {
	cases := map[string]string{
		"kind: require_headers\nheaders: []\n":                             "at least one header is required",
		"kind: require_headers\nheaders: [{name: \"bad name\"}]\n":         `headers[0].name: "bad name" is not a valid header name`,
		"kind: require_headers\nheaders: [{name: X-A, pattern: \"(\"}]\n":  "headers[0].pattern: error parsing regexp",
		"kind: require_headers\nheaders: [{name: X-A}, {name: x-a}]\n":     `headers[1].name: "x-a" is listed twice`,
		"kind: require_headers\nheaders: [{name: X-Forwarded-For}]\n":      "set or removed by the gateway",
		"kind: require_headers\nheaders: [{name: X-A, required: false}]\n": "an optional header needs a pattern",
		"kind: require_headers\nheaders: [{name: X-A, patern: x}]\n":       `unknown field "patern"`,
		"kind: require_headers\nheaders: [{name: X-A, required: maybe}]\n": "t.yaml:2:",
	}
	for src, want := range cases {
		if _, err := pipelinetest.Compile(t, src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error = %v, want %q", src, err, want)
		}
	}
}

func BenchmarkRequireHeaders(b *testing.B) {
	p := pipelinetest.MustRequestPolicy(b, "kind: require_headers\nheaders: [{name: X-Tenant, pattern: \"[a-z]{3,8}\"}, {name: X-Api-Version, pattern: \"[0-9]+\"}]\n")
	r := pipelinetest.Request("GET", "/", "")
	r.Header.Set("X-Tenant", "acme")
	r.Header.Set("X-Api-Version", "2")
	c := pipelinetest.Context(r, "192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		if p.Handle(c) != nil {
			b.Fatal("refused")
		}
	}
}
