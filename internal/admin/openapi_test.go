package admin

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes: the document describes exactly the endpoints
// the server registers, each with the role the server enforces and every
// path parameter; the e2e test TestAdminAnswersMatchOpenAPI checks real
// answers against its schemas.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Role       string `json:"x-role"`
			Parameters []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			Responses map[string]any `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}
	s := New(Options{})
	inTable := map[string]bool{}
	param := regexp.MustCompile(`\{([a-z]+)\}`)
	for _, r := range s.routes {
		key := r.method + " " + r.path
		inTable[key] = true
		ops, ok := doc.Paths[r.path]
		if !ok {
			t.Errorf("%s: path missing from openapi.json", key)
			continue
		}
		op, ok := ops[strings.ToLower(r.method)]
		if !ok {
			t.Errorf("%s: operation missing from openapi.json", key)
			continue
		}
		if op.Role != r.role {
			t.Errorf("%s: x-role %q, the server enforces %q", key, op.Role, r.role)
		}
		for _, m := range param.FindAllStringSubmatch(r.path, -1) {
			found := false
			for _, p := range op.Parameters {
				found = found || (p.In == "path" && p.Name == m[1])
			}
			if !found {
				t.Errorf("%s: path parameter %s not described", key, m[1])
			}
		}
		if _, ok := op.Responses["401"]; !ok {
			t.Errorf("%s: the 401 answer is not described", key)
		}
	}
	var extra []string
	for path, ops := range doc.Paths {
		for m := range ops {
			if !inTable[strings.ToUpper(m)+" "+path] {
				extra = append(extra, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("openapi.json describes endpoints the server does not have: %v", extra)
	}
}
