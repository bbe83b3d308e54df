package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestStrictPrefixIsNeverApplied: what was loaded is compared with the
// file once more before it goes live; a load that is the beginning of the
// file as it is now was read mid-write.
func TestStrictPrefixIsNeverApplied(t *testing.T) {
	for _, tc := range []struct {
		desc, loaded, now string
		changed           bool
		stillWriting      bool
	}{
		{desc: "unchanged", loaded: "version: 1\n", now: "version: 1\n"},
		{desc: "grew after the read: still being written", loaded: "version: 1\n", now: "version: 1\nroutes: []\n", changed: true, stillWriting: true},
		{desc: "replaced by something else", loaded: "version: 1\nroutes: []\n", now: "version: 1\n", changed: true},
		{desc: "same length, other bytes", loaded: "a: 1\n", now: "b: 1\n", changed: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.now), 0o600); err != nil {
				t.Fatal(err)
			}
			changed, err := changedSince(p, []byte(tc.loaded))
			if changed != tc.changed || errors.Is(err, errStillWriting) != tc.stillWriting {
				t.Fatalf("changed %v, err %v", changed, err)
			}
		})
	}
}

// TestAnAuthPolicyInErrorIsStillTheRoutesAuthentication: a route whose auth
// policy is refused (here for a consumer's credential it needs, or a field
// of its own) gets that error alone, not also "the route has no
// authentication policy" for the policies that need an identity: the
// second error was false and sent the operator after a policy that is
// there. A route with no auth policy at all still gets it.
func TestAnAuthPolicyInErrorIsStillTheRoutesAuthentication(t *testing.T) {
	const head = `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes:
  - name: api
    paths: [{prefix: /}]
    service: svc
    policies:
`
	const consumer = `consumers:
  - name: app
    credentials:
      jwt: [{key: app, algorithm: HS256, secret: "%s"}]
`
	good, short := "0123456789abcdef0123456789abcdef", "short"
	for _, tc := range []struct{ desc, src, want string }{
		{"a consumer's secret refused",
			head + "      - {kind: auth, methods: [{jwt: {algorithms: [HS256]}}]}\n      - {kind: scopes, require: [read]}\n" + fmt.Sprintf(consumer, short),
			`gw.yaml:14:50: consumers[0].credentials.jwt[0].secret: is shorter than 32 bytes, the minimum for HS256`},
		{"a field of the auth policy refused",
			head + "      - {kind: auth, methods: [{jwt: {algorithms: [HS256], leeway: soon}}]}\n      - {kind: scopes, require: [read]}\n" + fmt.Sprintf(consumer, good),
			`gw.yaml:9:68: routes[0].policies[0].methods[0].jwt.leeway: invalid duration "soon" (use Go syntax such as "30s" or "1m")`},
		{"no auth policy",
			head + "      - {kind: scopes, require: [read]}\n" + fmt.Sprintf(consumer, good),
			`gw.yaml:9:7: routes[0].policies: a policy needs an authenticated identity, but the route has no authentication policy`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := compileSource(t, tc.src)
			if err == nil || err.Error() != tc.want {
				t.Errorf("errors:\n%v\nwant exactly:\n%s", err, tc.want)
			}
		})
	}
}
