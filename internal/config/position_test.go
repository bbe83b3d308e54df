package config

import "testing"

// TestPositionInsidePolicies: a policy is decoded by its kind after the
// loader, so the loader knows only the policy's own node; an error a
// compiler names by its path below it (ErrorAtPath) still points at the
// field in the file, or at the closest part of it the file has.
func TestPositionInsidePolicies(t *testing.T) {
	c := mustParse(t, `version: 1
listeners: [{name: public, address: ":8080"}]
services: [{name: s, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: r
    paths: [{prefix: /}]
    service: s
    policies:
      - kind: auth
        methods:
          - api_key: {}
          - introspection:
              url: https://idp.example/introspect
              client_id: gw
`)
	for _, tc := range []struct {
		desc, path string
		line, col  int
	}{
		{"a field in a method", "routes[0].policies[0].methods[1].introspection.url", 13, 20},
		{"a method", "routes[0].policies[0].methods[1]", 12, 13},
		{"a field the file leaves out: its mapping", "routes[0].policies[0].methods[1].introspection.timeout", 13, 15},
		{"an index past the list: the list", "routes[0].policies[0].methods[5].jwt", 11, 11},
		{"the policy itself", "routes[0].policies[0]", 9, 9},
		{"a field the loader decoded", "routes[0].service", 7, 14},
	} {
		line, col, ok := c.Position(tc.path)
		if !ok || line != tc.line || col != tc.col {
			t.Errorf("%s: Position(%s) = %d:%d %v, want %d:%d", tc.desc, tc.path, line, col, ok, tc.line, tc.col)
		}
	}
}
