package authz

import (
	"reflect"
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func TestHeaderReads(t *testing.T) {
	any := []string{pipeline.AnyHeader}
	for _, tc := range []struct {
		desc, expr string
		want       []string
	}{
		{"no header", `identity.consumer == "a" && request.path.startsWith("/v1/")`, []string{}},
		{"index", `request.headers["x-tenant"] == identity.claims.tenant`, []string{"X-Tenant"}},
		{"index, upper case key canonicalized", `request.headers["X-TENANT"] == "a"`, []string{"X-Tenant"}},
		{"optional index", `request.headers[?"x-tenant"].orValue("") == "a"`, []string{"X-Tenant"}},
		{"in", `"x-debug" in request.headers`, []string{"X-Debug"}},
		{"field select", `request.headers.authorization != ""`, []string{"Authorization"}},
		{"has", `has(request.headers.x_trace)`, []string{"X_trace"}},
		{"optional select", `request.headers.?accept.orValue("") == ""`, []string{"Accept"}},
		{"several, sorted, once each", `request.headers["x-b"] == "1" || request.headers["x-a"] == request.headers["x-b"]`, []string{"X-A", "X-B"}},
		{"inside a comprehension over something else", `identity.groups.exists(g, request.headers["x-group"] == g)`, []string{"X-Group"}},
		{"inside a list and a map", `[request.headers["x-l"]] == ["a"] && {"k": request.headers["x-m"]}["k"] == "b"`, []string{"X-L", "X-M"}},
		{"a key that is no header name reads nothing", `"not a header" in request.headers`, []string{}},
		{"computed key", `request.headers["x-" + identity.consumer] == "1"`, any},
		{"key from a claim", `request.headers[string(identity.claims.h)] == "1"`, any},
		{"comprehension over the headers", `request.headers.exists(k, k.startsWith("x-admin"))`, any},
		{"whole map", `size(request.headers) < 50`, any},
		{"computed key in", `identity.consumer in request.headers`, any},
		{"constant read and a computed one", `request.headers["x-a"] == "1" && request.headers[request.method] == "2"`, any},
		{"has on request is not a read", `has(request.headers)`, []string{}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			env, err := ruleEnv()
			if err != nil {
				t.Fatal(err)
			}
			ast, iss := env.Compile(tc.expr)
			if iss != nil && iss.Err() != nil {
				t.Fatal(iss.Err())
			}
			if got := headerReads(ast); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("headerReads(%s) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}
