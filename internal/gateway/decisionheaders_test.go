package gateway

import (
	"net/http"
	"testing"
)

func TestDecisionHeadersRepeated(t *testing.T) {
	named := decisionHeaders{}
	for _, n := range []string{"x-tenant", "X-Env", "X-TENANT"} {
		named.add(n)
	}
	if len(named.names) != 2 || named.names[0] != "X-Env" || named.names[1] != "X-Tenant" {
		t.Fatalf("names %q, want canonical, sorted, once each", named.names)
	}
	all := decisionHeaders{any: true}
	all.add("X-Tenant")
	for _, tc := range []struct {
		desc     string
		d        *decisionHeaders
		h        http.Header
		wantName string
		want     bool
	}{
		{"none", &named, http.Header{}, "", false},
		{"each once", &named, http.Header{"X-Tenant": {"acme"}, "X-Env": {"prod"}}, "", false},
		{"another header repeated", &named, http.Header{"X-Tenant": {"acme"}, "Accept": {"a", "b"}}, "", false},
		{"decision header twice", &named, http.Header{"X-Tenant": {"acme", "other"}}, "X-Tenant", true},
		{"decision header twice, same value", &named, http.Header{"X-Env": {"prod", "prod"}}, "X-Env", true},
		{"decision header twice, one empty", &named, http.Header{"X-Env": {"prod", ""}}, "X-Env", true},
		{"every header read: one repeated", &all, http.Header{"Accept": {"a", "b"}}, "", true},
		{"every header read: a named one repeated", &all, http.Header{"X-Tenant": {"a", "b"}}, "X-Tenant", true},
		{"every header read: none repeated", &all, http.Header{"Accept": {"a"}, "X-Tenant": {"b"}}, "", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			name, got := tc.d.repeated(tc.h)
			if got != tc.want || name != tc.wantName {
				t.Fatalf("repeated = %q, %v; want %q, %v", name, got, tc.wantName, tc.want)
			}
		})
	}
}
