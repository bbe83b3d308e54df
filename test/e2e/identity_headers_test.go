package e2e

import (
	"fmt"
	"net/textproto"
	"strings"
	"testing"
)

// The four identity headers renamed by identity_headers, and the default
// names they replace.
var (
	customIdentity  = []string{"X-Acme-User", "X-Acme-Roles", "X-Acme-Key-Id", "X-Acme-Auth"}
	defaultIdentity = []string{"X-Consumer-Name", "X-Consumer-Groups", "X-Credential-Id", "X-Auth-Method"}
)

// forgedCustomIdentity is what a client sends to pose as someone else
// under the custom names: each name as configured, in another case, and
// as an underscore alias (which nginx, CGI, WSGI and PHP read as the
// same header).
const forgedCustomIdentity = "X-Acme-User: mallory\r\nx-acme-user: mallory-lower\r\nX_Acme_User: mallory-underscore\r\n" +
	"X-Acme-Roles: root\r\nX_ACME_ROLES: root-underscore\r\n" +
	"X-Acme-Key-Id: forged-key\r\nx_acme_key_id: forged-key-underscore\r\n" +
	"X-Acme-Auth: mtls\r\nX_Acme_Auth: mtls-underscore\r\n"

// TestIdentityHeadersCustomNames: a config that renames all four identity
// headers. The upstream gets the gateway's values under the custom names
// only; whatever a client sends under a custom name or an alias of one
// never reaches the upstream, on an authenticated route or an open one;
// the default names are not set.
func TestIdentityHeadersCustomNames(t *testing.T) {
	aliceKey, aliceHash := akGenerate(t)
	bobKey, bobHash := akGenerate(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
identity_headers:
  consumer: X-Acme-User
  groups: x-acme-roles
  credential: X-Acme-Key-Id
  method: X-ACME-AUTH
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
consumers:
  - name: alice
    groups: [admins, staff]
    credentials: {api_keys: [{id: alice-1, hash: "%s"}]}
  - name: bob
    credentials: {api_keys: [{id: bob-1, hash: "%s"}]}
routes:
  - name: api
    paths: [{prefix: /api/}]
    service: svc
    policies: [{kind: auth, methods: [{api_key: {header: X-Api-Key}}]}]
  - name: open
    paths: [{prefix: /open/}]
    service: svc
    auth: none
ops: {address: "{{ops}}"}
`, up.URL, aliceHash, bobHash)))

	for _, tc := range []struct {
		desc string
		path string
		key  string
		want map[string]string // custom name -> the one value the upstream must see ("" = absent)
	}{
		{desc: "an authenticated consumer: the gateway's values under the custom names replace the forged ones",
			path: "/api/orders", key: aliceKey,
			want: map[string]string{"X-Acme-User": "alice", "X-Acme-Roles": "admins,staff", "X-Acme-Key-Id": "alice-1", "X-Acme-Auth": "api_key"}},
		{desc: "a consumer without groups: a forged groups header is removed, not kept for want of a value",
			path: "/api/orders", key: bobKey,
			want: map[string]string{"X-Acme-User": "bob", "X-Acme-Roles": "", "X-Acme-Key-Id": "bob-1", "X-Acme-Auth": "api_key"}},
		{desc: "an open route: every forged identity header is removed",
			path: "/open/page",
			want: map[string]string{"X-Acme-User": "", "X-Acme-Roles": "", "X-Acme-Key-Id": "", "X-Acme-Auth": ""}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up.Reset()
			raw := "GET " + tc.path + " HTTP/1.1\r\nHost: api.example\r\nConnection: close\r\n" + forgedCustomIdentity
			if tc.key != "" {
				raw += "X-Api-Key: " + tc.key + "\r\n"
			}
			resp := rawRequest(t, gw.Addr, raw+"\r\n")
			if resp.Status != 200 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			h := up.Last(t).Header
			for name, want := range tc.want {
				got := h.Values(name)
				if want == "" && len(got) != 0 || want != "" && (len(got) != 1 || got[0] != want) {
					t.Errorf("upstream %s = %q, want %q", name, got, want)
				}
			}
			for k, v := range h {
				alias := textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(k, "_", "-"))
				for _, name := range customIdentity {
					if alias == name && k != name {
						t.Errorf("upstream received %s: %q, an alias of %s", k, v, name)
					}
				}
				for _, name := range defaultIdentity {
					if alias == name {
						t.Errorf("upstream received the default name %s: %q, though identity_headers renames it", k, v)
					}
				}
			}
		})
	}
}
