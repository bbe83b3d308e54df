package protect

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// compile compiles one policy mapping (YAML with its kind) as the gateway
// would.
func compile(t testing.TB, src string) (any, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Content[0]
	var kind string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			kind = n.Content[i+1].Value
		}
	}
	comp, ok := pipeline.Lookup(kind)
	if !ok {
		t.Fatalf("kind %q not registered", kind)
	}
	cfg := &config.Config{File: "t.yaml"}
	env := pipeline.CompileEnv{Route: "r", Path: "routes[0].policies[0]", Config: cfg, Snapshot: pipeline.NewMemo(), State: pipeline.NewMemo()}
	return comp(config.NodeDecoder{File: "t.yaml", Node: n, Path: env.Path}, env)
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
