package waf

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/normalize"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
	"github.com/portcullis/portcullis/internal/waf/rx"
)

// testState is shared by every test of the package, so each distinct
// configuration's rule set is built once for the whole run.
var testState = pipeline.NewSharedValues()

// parseConfig parses a config whose only route has the given waf policy
// body (indented YAML lines under "- kind: waf").
func parseConfig(t testing.TB, policyYAML string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:1"}]}]
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: waf
%s
`, policyYAML)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return cfg
}

func compileYAML(t testing.TB, policyYAML string, state *pipeline.SharedValues) (*policy, error) {
	t.Helper()
	cfg := parseConfig(t, policyYAML)
	v, err := pipelinetest.Policy(t, cfg, 0, 0, pipeline.CompileEnv{Config: cfg, Snapshot: pipeline.NewSharedValues(), State: state})
	if err != nil {
		return nil, err
	}
	return v.(*policy), nil
}

// mustPolicy compiles a policy on the shared state; logs go to the
// returned buffer.
func mustPolicy(t testing.TB, policyYAML string) (*policy, *syncBuf) {
	t.Helper()
	p, err := compileYAML(t, policyYAML, testState)
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuf{}
	p.log = slog.New(slog.NewJSONHandler(buf, nil))
	return p, buf
}

type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// request builds a server-side request and its pipeline context the way
// the gateway does: canonical path, client address, request id.
func request(t testing.TB, method, target string, header http.Header, body string) *pipeline.Context {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Host = "api.example.com"
	for k, vs := range header {
		r.Header[k] = vs
	}
	if _, ok := r.Header["User-Agent"]; !ok {
		r.Header.Set("User-Agent", "example-client/1.2")
	}
	if _, ok := r.Header["Accept"]; !ok {
		r.Header.Set("Accept", "application/json")
	}
	raw := r.URL.EscapedPath()
	np, err := normalize.Canonicalize(raw)
	if err != nil {
		t.Fatalf("canonicalize %q: %v", raw, err)
	}
	return &pipeline.Context{
		Request:    r,
		RequestID:  "req-1",
		ClientAddr: netip.MustParseAddr("203.0.113.9"),
		Path:       np.Canonical,
		Route:      "r",
		Start:      time.Now(),
	}
}

const jsonCT = "application/json"

func jsonHeader() http.Header { return http.Header{"Content-Type": {jsonCT}} }

// buildWithoutScreen compiles s with @rx unscreened: Go's regexp on every
// value, as Coraza's own operator does. Tests that call it must not run in
// parallel with other builds.
func buildWithoutScreen(t testing.TB, s settings) coraza.WAF {
	t.Helper()
	plugins.RegisterOperator("rx", rx.NewUnscreened)
	defer plugins.RegisterOperator("rx", rx.New)
	w, _, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	return w.waf
}
