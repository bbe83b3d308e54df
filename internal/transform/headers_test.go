package transform

import (
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// policyFrom compiles one policy entry from YAML through the real strict decoder.
func policyFrom(t *testing.T, kind, body string) (any, error) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(`version: 1
listeners: [{name: l, address: "127.0.0.1:0"}]
services: [{name: s, targets: [{url: "http://127.0.0.1:1"}]}]
routes:
  - name: r
    paths: [{prefix: /}]
    service: s
    policies:
      - kind: `+kind+`
`+body))
	if err != nil {
		t.Fatal(err)
	}
	return pipelinetest.Policy(t, cfg, 0, 0, pipeline.CompileEnv{})
}

func TestRequestHeadersEdits(t *testing.T) {
	v, err := policyFrom(t, "request_headers", `        set: {x-api-version: "2"}
        add: {X-Tag: b}
        remove: [X-Debug]
`)
	if err != nil {
		t.Fatal(err)
	}
	p := v.(pipeline.RequestPolicy)
	if p.Phase() != pipeline.PhaseRewrite {
		t.Fatalf("phase %v", p.Phase())
	}
	r, _ := http.NewRequest("GET", "/", nil)
	r.Header.Set("X-Api-Version", "1")
	r.Header.Set("X-Tag", "a")
	r.Header.Set("X-Debug", "on")
	if prob := p.Handle(&pipeline.Context{Request: r}); prob != nil {
		t.Fatalf("refused: %+v", prob)
	}
	if got := r.Header.Get("X-Api-Version"); got != "2" {
		t.Errorf("set: %q", got)
	}
	if got := r.Header.Values("X-Tag"); strings.Join(got, ",") != "a,b" {
		t.Errorf("add: %q", got)
	}
	if r.Header.Get("X-Debug") != "" {
		t.Error("remove did not remove")
	}
}

func TestResponseHeadersEdits(t *testing.T) {
	v, err := policyFrom(t, "response_headers", `        remove: [X-Internal-Trace]
`)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"X-Internal-Trace": {"abc"}, "Content-Type": {"text/plain"}}
	v.(pipeline.ResponsePolicy).Respond(&pipeline.Context{}, 200, h)
	if h.Get("X-Internal-Trace") != "" || h.Get("Content-Type") != "text/plain" {
		t.Errorf("headers after: %v", h)
	}
}

func TestHeaderPoliciesCannotTouchGatewayHeaders(t *testing.T) {
	for _, body := range []string{
		"        set: {X-Forwarded-For: 1.2.3.4}\n",
		"        remove: [x-request-id]\n",
		"        add: {Forwarded: for=1.2.3.4}\n",
		"        set: {Host: evil}\n",
		"        set: {\"Bad Name\": x}\n",
		"        set: {X-Ok: \"a\\r\\nInjected: 1\"}\n",
		"        set: {}\n",
	} {
		if _, err := policyFrom(t, "request_headers", body); err == nil {
			t.Errorf("compiled: %q", body)
		}
	}
}

func TestHeaderPolicyUnknownFieldHasPosition(t *testing.T) {
	_, err := policyFrom(t, "request_headers", "        sett: {A: b}\n")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:10:") || !strings.Contains(err.Error(), "sett") {
		t.Fatalf("error %v", err)
	}
}
