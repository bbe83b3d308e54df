package validate

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// compile compiles one policy mapping (YAML with its kind) as the gateway
// would.
func compile(t testing.TB, src string) (any, error) {
	t.Helper()
	return pipelinetest.Mapping(t, "t.yaml", src, pipelinetest.Env("t.yaml", nil))
}

func mustCompile(t testing.TB, src string) pipeline.RequestPolicy {
	t.Helper()
	v, err := compile(t, src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return v.(pipeline.RequestPolicy)
}

// ctx is a pipeline context for r from client.
func ctx(r *http.Request, client string) *pipeline.Context {
	c := &pipeline.Context{Request: r, RequestID: "rid"}
	if client != "" {
		c.ClientAddr = netip.MustParseAddr(client)
	}
	return c
}

func newReq(method, target string, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, stringsReader(body))
	}
	return r
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// writeFile writes content to a new file name in a test directory and
// returns its path.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
