// Package pipelinetest compiles policies from YAML for the policy
// packages' unit tests, exactly as the gateway compiles them: through the
// kind's registered compiler (pipeline.Lookup) and a config.NodeDecoder,
// so errors carry the file, line and column the gateway would print.
//
// Two shapes cover the tests: Mapping compiles one policy mapping (its
// kind included) standing alone at routes[0].policies[0]; Policy compiles
// a policy of a config the test parsed (config.Parse), where the compiler
// sees the whole config (consumers, routes).
//
// Compile and MustRequestPolicy are Mapping with a fresh Env in file
// "t.yaml"; Request and Context build what a request policy's Handle is
// given; WriteFile writes a file a policy reads (a list, a schema).
package pipelinetest

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// Path is the field path a mapping compiled by Mapping stands at.
const Path = "routes[0].policies[0]"

// Env is a compile environment for a policy of route "r" with an empty
// config of file and fresh shared values (state nil: a fresh one; pass the same
// state to compile again as a reload does).
func Env(file string, state *pipeline.SharedValues) pipeline.CompileEnv {
	if state == nil {
		state = pipeline.NewSharedValues()
	}
	return pipeline.CompileEnv{Route: "r", Path: Path, Config: &config.Config{File: file},
		Snapshot: pipeline.NewSharedValues(), State: state}
}

// File is the file name Compile and MustRequestPolicy compile in, as
// their errors name it.
const File = "t.yaml"

// Compile compiles src, one policy mapping with its kind, at Path of File
// with a fresh Env(File, nil).
func Compile(t testing.TB, src string) (any, error) {
	t.Helper()
	return Mapping(t, File, src, Env(File, nil))
}

// MustRequestPolicy is Compile for a request policy: an error, or a value
// that is not a pipeline.RequestPolicy, fails the test.
func MustRequestPolicy(t testing.TB, src string) pipeline.RequestPolicy {
	t.Helper()
	v, err := Compile(t, src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	p, ok := v.(pipeline.RequestPolicy)
	if !ok {
		t.Fatalf("compile: %T is not a pipeline.RequestPolicy", v)
	}
	return p
}

// Request is a server request for target with body (none when "").
func Request(method, target, body string) *http.Request {
	if body == "" {
		return httptest.NewRequest(method, target, nil)
	}
	return httptest.NewRequest(method, target, strings.NewReader(body))
}

// Context is the pipeline context of r, request id "rid", from the client
// address client (none when "").
func Context(r *http.Request, client string) *pipeline.Context {
	c := &pipeline.Context{Request: r, RequestID: "rid"}
	if client != "" {
		c.ClientAddr = netip.MustParseAddr(client)
	}
	return c
}

// WriteFile writes content to a file name in a new test directory and
// returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Mapping compiles src, one policy mapping with its kind, as the policy at
// routes[0].policies[0] of file. env is passed to the compiler as given,
// but for an empty Route ("r") or Path (Path). A kind that is not
// registered, or src that is not YAML, fails the test.
func Mapping(t testing.TB, file, src string, env pipeline.CompileEnv) (any, error) {
	t.Helper()
	n := mapping(t, src)
	kind := ""
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "kind" {
			kind = n.Content[i+1].Value
		}
	}
	return Kind(t, kind, file, src, env)
}

// Kind is Mapping for a mapping compiled as a policy of kind, whether or
// not it names its kind.
func Kind(t testing.TB, kind, file, src string, env pipeline.CompileEnv) (any, error) {
	t.Helper()
	n := mapping(t, src)
	if env.Route == "" {
		env.Route = "r"
	}
	if env.Path == "" {
		env.Path = Path
	}
	return compile(t, kind, config.NodeDecoder{File: file, Node: n, Path: env.Path}, env)
}

// Policy compiles the policy at routes[route].policies[index] of cfg, a
// parsed config. env is passed as given, but for an empty Route (the
// route's name), RouteConfig (the route, when Config is cfg, as the
// gateway passes it) or Path (the policy's path); set Config to cfg when
// the compiler should see it.
func Policy(t testing.TB, cfg *config.Config, route, index int, env pipeline.CompileEnv) (any, error) {
	t.Helper()
	spec := cfg.Routes[route].Policies[index]
	if env.Route == "" {
		env.Route = cfg.Routes[route].Name
	}
	if env.RouteConfig == nil && env.Config == cfg {
		env.RouteConfig = &cfg.Routes[route]
	}
	if env.Path == "" {
		env.Path = spec.Path
	}
	return compile(t, spec.Kind, cfg.PolicyDecoder(spec), env)
}

func mapping(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("pipelinetest: yaml: %v", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		t.Fatalf("pipelinetest: %q is not a policy mapping", src)
	}
	return doc.Content[0]
}

func compile(t testing.TB, kind string, d pipeline.Decoder, env pipeline.CompileEnv) (any, error) {
	t.Helper()
	c, ok := pipeline.Lookup(kind)
	if !ok {
		t.Fatalf("pipelinetest: policy kind %q is not registered", kind)
	}
	return c(d, env)
}
