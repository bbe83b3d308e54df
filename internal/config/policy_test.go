package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type jwksConf struct {
	URL     string        `yaml:"url"`
	Refresh time.Duration `yaml:"refresh"`
}

type jwtConf struct {
	Issuer    string            `yaml:"issuer"`
	Audiences []string          `yaml:"audiences"`
	Leeway    Duration          `yaml:"leeway,omitempty"`
	Secret    string            `yaml:"secret"`
	Claims    map[string]string `yaml:"claims,omitempty"`
	JWKS      *jwksConf         `yaml:"jwks"`
	Optional  bool              `yaml:"optional,omitempty"`
}

// policySrc has one route with policies starting on line 15.
func policySrc(policies string) string { return withRoute("    policies:\n" + policies) }

func TestPolicyDecoderDecodes(t *testing.T) {
	t.Setenv("PC_TEST_JWT_SECRET", "s3cret")
	c := mustParse(t, policySrc(`      - kind: jwt
        issuer: https://auth.example.com/
        audiences: [orders, billing]
        leeway: 30s
        secret: ${env:PC_TEST_JWT_SECRET}
        claims: {tenant: acme}
        jwks:
          url: https://auth.example.com/jwks
          refresh: 5m
      - kind: cors
        origins: ["https://app.example.com"]
        max_age: 600
`))
	ps := c.Routes[0].Policies
	if len(ps) != 2 || ps[0].Kind != "jwt" || ps[0].Path != "routes[0].policies[0]" || ps[0].Node.Line != 15 {
		t.Fatalf("policies = %+v", ps)
	}
	var jc jwtConf
	if err := c.PolicyDecoder(ps[0]).Decode(&jc); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if jc.Issuer != "https://auth.example.com/" || len(jc.Audiences) != 2 || jc.Leeway.D() != 30*time.Second ||
		jc.Secret != "s3cret" || jc.Claims["tenant"] != "acme" || jc.JWKS == nil || jc.JWKS.Refresh != 5*time.Minute {
		t.Errorf("decoded = %+v", jc)
	}

	// Decoding into a generic map keeps the YAML types and drops kind.
	var m map[string]any
	if err := (NodeDecoder{File: c.File, Node: ps[1].Node}).Decode(&m); err != nil {
		t.Fatalf("Decode map: %v", err)
	}
	if len(m) != 2 || m["max_age"] != 600 || fmt.Sprint(m["origins"]) != "[https://app.example.com]" {
		t.Errorf("map = %#v", m)
	}
	var anyV any
	if err := c.PolicyDecoder(ps[0]).Decode(&anyV); err != nil {
		t.Fatalf("Decode any: %v", err)
	}
	if am := anyV.(map[string]any); am["secret"] != "s3cret" || am["kind"] != nil {
		t.Errorf("any = %#v", anyV)
	}
}

func TestPolicyDecoderIsStrict(t *testing.T) {
	c := mustParse(t, policySrc(`      - kind: jwt
        issuer: https://auth.example.com/
        audience: [orders]
        leeway: soon
        secret: ${env:PC_TEST_UNSET_SECRET}
        jwks:
          url: https://auth.example.com/jwks
          refrsh: 5m
        optional: maybe
        issuer: again
`))
	err := c.PolicyDecoder(c.Routes[0].Policies[0]).Decode(&jwtConf{})
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Decode = %v, want Errors", err)
	}
	want := []string{
		`gw.yaml:17:9: routes[0].policies[0].audience: unknown field "audience" (did you mean "audiences"?)`,
		`gw.yaml:18:17: routes[0].policies[0].leeway: invalid duration "soon" (use Go syntax such as "30s" or "1m")`,
		`gw.yaml:19:17: routes[0].policies[0].secret: environment variable PC_TEST_UNSET_SECRET (from ${env:PC_TEST_UNSET_SECRET}) is not set`,
		`gw.yaml:22:11: routes[0].policies[0].jwks.refrsh: unknown field "refrsh" (did you mean "refresh"?)`,
		`gw.yaml:23:19: routes[0].policies[0].optional: expected true or false, got "maybe"`,
		`gw.yaml:24:9: routes[0].policies[0].issuer: "issuer" is set twice (first on line 16)`,
	}
	if got := es.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}

	// Without a Path, errors are still positioned in the file.
	err = NodeDecoder{File: "gw.yaml", Node: c.Routes[0].Policies[0].Node}.Decode(&jwtConf{})
	if err == nil || !strings.HasPrefix(err.Error(), `gw.yaml:17:9: audience: unknown field`) {
		t.Errorf("Decode without path = %v", err)
	}
	if err := (NodeDecoder{}).Decode(jwtConf{}); err == nil {
		t.Errorf("Decode into a non-pointer must fail")
	}
}

func TestPolicyDecoderAliases(t *testing.T) {
	// A self-containing alias is an error, not a hang.
	c := mustParse(t, policySrc("      - kind: x\n        loop: &l [*l]\n"))
	var m map[string]any
	err := c.PolicyDecoder(c.Routes[0].Policies[0]).Decode(&m)
	if err == nil || !strings.Contains(err.Error(), "gw.yaml:16:19: routes[0].policies[0].loop[0][0]: alias *l refers to a value that contains it") {
		t.Errorf("Decode = %v", err)
	}

	// Exponential alias expansion stops at the budget.
	var b strings.Builder
	b.WriteString("      - kind: x\n        l0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "        l%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	c = mustParse(t, policySrc(b.String()))
	start := time.Now()
	var anyV any
	err = c.PolicyDecoder(c.Routes[0].Policies[0]).Decode(&anyV)
	if err == nil || !strings.Contains(err.Error(), "expands too many aliases") {
		t.Errorf("Decode = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("alias bomb took %v", d)
	}

	// Shared anchors with merge keys work.
	c = mustParse(t, policySrc("      - &base {kind: jwt, issuer: a, audiences: [x]}\n      - <<: *base\n        issuer: b\n"))
	var j0, j1 jwtConf
	if err := c.PolicyDecoder(c.Routes[0].Policies[0]).Decode(&j0); err != nil {
		t.Fatal(err)
	}
	if err := c.PolicyDecoder(c.Routes[0].Policies[1]).Decode(&j1); err != nil {
		t.Fatal(err)
	}
	if j0.Issuer != "a" || j1.Issuer != "b" || len(j1.Audiences) != 1 {
		t.Errorf("merged: %+v %+v", j0, j1)
	}
}

func TestErrorAt(t *testing.T) {
	c := mustParse(t, policySrc("      - kind: jwt\n        issuer: x\n"))
	ps := c.Routes[0].Policies[0]
	fe := c.ErrorAt(ps.Node, ps.Path, errors.New(`unknown policy kind "jwt"`))
	if fe.Error() != `gw.yaml:15:9: routes[0].policies[0]: unknown policy kind "jwt"` {
		t.Errorf("ErrorAt = %v", fe)
	}
	// Errors that already carry a position keep it.
	decErr := c.PolicyDecoder(ps).Decode(&struct{}{})
	wrapped := fmt.Errorf("jwt: %w", decErr)
	if got := c.ErrorAt(ps.Node, ps.Path, wrapped); got.Line != 16 || got.Path != "routes[0].policies[0].issuer" {
		t.Errorf("ErrorAt(positioned) = %v", got)
	}
	if es := c.ErrorsAt(ps.Node, ps.Path, wrapped); len(es) != 1 {
		t.Errorf("ErrorsAt = %v", es)
	}
	if c.ErrorAt(ps.Node, ps.Path, nil) != nil {
		t.Errorf("ErrorAt(nil) must be nil")
	}
	if n := c.Node("routes[0].policies[0]"); n != ps.Node {
		t.Errorf("Node(path) = %v", n)
	}
	if e := c.ErrorAtPath("routes[0].hosts", "m"); e.Line != 10 || e.Column != 5 {
		t.Errorf("ErrorAtPath falls back to the route: %v", e)
	}
}

func TestPolicySpecThroughYAMLUnmarshal(t *testing.T) {
	var ps []PolicySpec
	if err := yaml.Unmarshal([]byte("- {kind: jwt, a: 1}\n"), &ps); err != nil || ps[0].Kind != "jwt" {
		t.Errorf("Unmarshal = %v %+v", err, ps)
	}
	out, err := yaml.Marshal(ps)
	if err != nil || !strings.Contains(string(out), "kind: jwt") {
		t.Errorf("Marshal = %q %v", out, err)
	}
}
