package gateway

import (
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/upstream"
)

// TestPolicyCompiledWithItsOwnRoute: the compile hands each policy the
// route it belongs to (CompileEnv.RouteConfig). A cors policy on a route
// whose methods leave out OPTIONS is refused at that policy; the same
// policy on a route that lists OPTIONS, beside it in the same config,
// compiles.
func TestPolicyCompiledWithItsOwnRoute(t *testing.T) {
	const cors = "    policies: [{kind: cors, origins: [\"https://a.example\"]}]\n"
	src := `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
ops: {disable: true}
routes:
  - name: with-options
    paths: [{prefix: /a/}]
    methods: [GET, OPTIONS]
    service: svc
` + cors + `  - name: get-only
    paths: [{prefix: /b/}]
    methods: [GET]
    service: svc
` + cors
	compile := func(src string) error {
		t.Helper()
		cfg, err := config.Parse("routes.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		reg := upstream.NewRegistry()
		t.Cleanup(reg.Close)
		_, err = Compile(cfg, reg)
		return err
	}
	err := compile(src)
	if err == nil || !strings.Contains(err.Error(), `route "get-only" lists methods without OPTIONS`) {
		t.Fatalf("error %v, want the get-only route's cors policy refused", err)
	}
	if strings.Contains(err.Error(), `"with-options"`) {
		t.Errorf("the route that lists OPTIONS was refused too: %v", err)
	}
	if err := compile(strings.Replace(src, "methods: [GET]\n", "methods: [GET, OPTIONS]\n", 1)); err != nil {
		t.Errorf("both routes list OPTIONS: %v", err)
	}
}
