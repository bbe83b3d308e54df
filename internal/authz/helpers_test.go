package authz

import (
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

const testFile = "test.yaml"

// compileYAML compiles one policy mapping (kind included) as the gateway
// would, at routes[0].policies[0] of test.yaml.
func compileYAML(t testing.TB, src string) (pipeline.RequestPolicy, error) {
	t.Helper()
	v, err := pipelinetest.Mapping(t, testFile, src, pipelinetest.Env(testFile, nil))
	if err != nil {
		return nil, err
	}
	p, ok := v.(pipeline.RequestPolicy)
	if !ok {
		t.Fatalf("%T is not a request policy", v)
	}
	if p.Phase() != pipeline.PhaseAuthz {
		t.Fatalf("phase %v", p.Phase())
	}
	if u, ok := v.(pipeline.IdentityUser); !ok || !u.NeedsIdentity() {
		t.Fatalf("%T does not declare that it needs an identity", v)
	}
	return p, nil
}

func mustCompile(t testing.TB, src string) pipeline.RequestPolicy {
	t.Helper()
	p, err := compileYAML(t, src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// wantCompileError asserts that src fails with a message containing msg.
func wantCompileError(t *testing.T, src, msg string) error {
	t.Helper()
	_, err := compileYAML(t, src)
	if err == nil {
		t.Fatalf("compiled, want error %q:\n%s", msg, src)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %q, want it to contain %q", err, msg)
	}
	return err
}

// reqCtx is the context of a request whose target is already canonical.
func reqCtx(method, target string, id *pipeline.Identity) *pipeline.Context {
	r := httptest.NewRequest(method, target, nil)
	path := target
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return &pipeline.Context{Request: r, Path: path, Identity: id, Route: "r",
		ClientAddr: netip.MustParseAddr("192.0.2.7"), Start: time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)}
}

// wantAllowed and wantRefused check a policy's decision.
func wantAllowed(t *testing.T, name string, p pipeline.RequestPolicy, c *pipeline.Context) {
	t.Helper()
	if prob := p.Handle(c); prob != nil {
		t.Errorf("%s: refused (%d, %s), want allowed", name, prob.Status, prob.Reason)
	}
}

func wantRefused(t *testing.T, name string, p pipeline.RequestPolicy, c *pipeline.Context, status int, reason string) *pipeline.Problem {
	t.Helper()
	prob := p.Handle(c)
	if prob == nil {
		t.Errorf("%s: allowed, want %d (%s)", name, status, reason)
		return nil
	}
	if prob.Status != status || prob.Reason != reason {
		t.Errorf("%s: got %d %q, want %d %q", name, prob.Status, prob.Reason, status, reason)
	}
	return prob
}

// problemJSON renders a problem as the client sees it.
func problemJSON(t *testing.T, p *pipeline.Problem) map[string]any {
	t.Helper()
	w := httptest.NewRecorder()
	p.Write(w, "rid")
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}
