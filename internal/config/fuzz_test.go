package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that no input makes the loader panic or hang, that
// every failure is an Errors of non-empty messages, and that policy
// decoding of whatever parsed is as robust.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	if b, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(withRoute("    policies: [{kind: a, x: &a [*a]}, {<<: {kind: b}}]\n")))
	f.Add([]byte("version: &v [*v, *v]\nlisteners: *v\n"))
	f.Add([]byte("{version: 1, listeners: [{name: a, address: ':1', tls: {certificates: [{}]}}]}"))
	f.Add([]byte("routes: [{paths: [{prefix: '/%zz'}, {regex: '('}], hosts: ['*.*']}]\n---\n"))
	f.Add([]byte("version: ${env:PC_FUZZ_UNSET}\nservices: [{name: '${file:}', targets: [{weight: 1e999}]}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			for _, e := range es {
				if e.Msg == "" {
					t.Fatalf("empty message in %v", es)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without error")
		}
		for _, r := range c.Routes {
			for _, p := range r.Policies {
				var v any
				_ = c.PolicyDecoder(p).Decode(&v)
				_ = c.PolicyDecoder(p).Decode(&jwtConf{})
			}
		}
	})
}
