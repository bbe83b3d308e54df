package e2e

import (
	"strings"
	"testing"
)

// TestAdminBadInput: bad input to every endpoint that reads input (wrong
// types, unknown fields, oversized or malformed bodies, invalid names,
// bad query parameters and headers) gets a 400 problem body that names
// the field, and changes nothing.
func TestAdminBadInput(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{store: sqliteKeyStore(t)}) // a master key: users hold secrets
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k1"})
	n.mustAPI(t, 201, "POST", "/admin/users", map[string]any{"name": "carol", "role": "viewer", "password": "long enough password"})
	big := `{"name":"a","metadata":{"k":"` + strings.Repeat("x", 70<<10) + `"}}`
	const creds = "/admin/consumers/acme/credentials"
	for _, tc := range []struct {
		desc, method, path, body, field string
		hdr                             []string
	}{
		{"name of the wrong type", "POST", "/admin/consumers", `{"name": 5}`, "name", nil},
		{"groups not a list", "POST", "/admin/consumers", `{"name":"a","groups":"x"}`, "groups", nil},
		{"unknown field", "POST", "/admin/consumers", `{"name":"a","bogus":1}`, "bogus", nil},
		{"invalid name", "POST", "/admin/consumers", `{"name":"../etc"}`, "name", nil},
		{"name too long", "POST", "/admin/consumers", `{"name":"` + strings.Repeat("a", 65) + `"}`, "name", nil},
		{"missing name", "POST", "/admin/consumers", `{"groups":[]}`, "name", nil},
		{"metadata value of the wrong type", "POST", "/admin/consumers", `{"name":"a","metadata":{"k":1}}`, "metadata", nil},
		{"oversized body", "POST", "/admin/consumers", big, "body", nil},
		{"not JSON", "POST", "/admin/consumers", `name=a`, "body", nil},
		{"a list, not an object", "POST", "/admin/consumers", `[]`, "body", nil},
		{"two objects", "POST", "/admin/consumers", `{"name":"a"}{"name":"b"}`, "body", nil},
		{"empty body", "POST", "/admin/consumers", ``, "body", nil},
		{"group with a comma", "POST", "/admin/consumers", `{"name":"a","groups":["a,b"]}`, "groups", nil},
		{"scope with a space", "POST", "/admin/consumers", `{"name":"a","scopes":["bad scope"]}`, "scopes", nil},
		{"not JSON content type", "POST", "/admin/consumers", `{"name":"a"}`, "header.Content-Type", []string{"Content-Type", "text/plain"}},
		{"rename through PUT", "PUT", "/admin/consumers/acme", `{"name":"other"}`, "name", nil},
		{"malformed If-Match", "PUT", "/admin/consumers/acme", `{}`, "header.If-Match", []string{"If-Match", "3"}},
		{"unknown kind", "POST", creds, `{"kind":"nope"}`, "kind", nil},
		{"missing kind", "POST", creds, `{"id":"x"}`, "kind", nil},
		{"field of another kind", "POST", creds, `{"kind":"api_key","algorithm":"HS256"}`, "algorithm", nil},
		{"invalid credential id", "POST", creds, `{"kind":"api_key","id":"bad id"}`, "id", nil},
		{"malformed key hash", "POST", creds, `{"kind":"api_key","hash":"sha256:xyz"}`, "hash", nil},
		{"bad expiry", "POST", creds, `{"kind":"api_key","expires_at":"tomorrow"}`, "expires_at", nil},
		{"bad key prefix", "POST", creds, `{"kind":"api_key","prefix":"9-x"}`, "prefix", nil},
		{"jwt alg none", "POST", creds, `{"kind":"jwt","algorithm":"none"}`, "algorithm", nil},
		{"short HMAC secret", "POST", creds, `{"kind":"jwt","algorithm":"HS256","secret":"short"}`, "secret", nil},
		{"public key that is not PEM", "POST", creds, `{"kind":"jwt","algorithm":"RS256","public_key":"not pem"}`, "public_key", nil},
		{"username with a colon", "POST", creds, `{"kind":"basic","username":"a:b","password":"correct horse battery"}`, "username", nil},
		{"plaintext in password_hash", "POST", creds, `{"kind":"basic","username":"u","password_hash":"hunter2"}`, "password_hash", nil},
		{"short password", "POST", creds, `{"kind":"basic","username":"u","password":"short"}`, "password", nil},
		{"malformed fingerprint", "POST", creds, `{"kind":"mtls","fingerprint_sha256":"zz"}`, "fingerprint_sha256", nil},
		{"secret of the wrong type", "POST", creds, `{"kind":"jwt","algorithm":"HS256","secret":123}`, "secret", nil},
		{"grace not a duration", "POST", creds + "/k1/rotate", `{"grace":"forever"}`, "grace", nil},
		{"grace of the wrong type", "POST", creds + "/k1/rotate", `{"grace":5}`, "grace", nil},
		{"grace too long", "POST", creds + "/k1/rotate", `{"grace":"10000h"}`, "grace", nil},
		{"ban of no address", "POST", "/admin/bans", `{"address":"999.1.1.1","duration":"1h"}`, "address", nil},
		{"ban of a network", "POST", "/admin/bans", `{"address":"10.0.0.0/8","duration":"1h"}`, "address", nil},
		{"ban too long", "POST", "/admin/bans", `{"address":"10.0.0.1","duration":"10000h"}`, "duration", nil},
		{"lift of no address", "DELETE", "/admin/bans/not-an-ip", ``, "path.address", nil},
		{"unknown role", "POST", "/admin/tokens", `{"name":"x","role":"root"}`, "role", nil},
		{"invalid token name", "POST", "/admin/tokens", `{"name":"x y","role":"viewer"}`, "name", nil},
		{"unknown user role", "POST", "/admin/users", `{"name":"u1","role":"root","password":"long enough password"}`, "role", nil},
		{"invalid user name", "POST", "/admin/users", `{"name":"u 1","role":"viewer","password":"long enough password"}`, "name", nil},
		{"missing user name", "POST", "/admin/users", `{"role":"viewer","password":"long enough password"}`, "name", nil},
		{"user role changed to an unknown one", "PUT", "/admin/users/carol", `{"role":"root"}`, "role", nil},
		{"token lifetime too short", "POST", "/admin/tokens", `{"name":"x","role":"viewer","expires_in":"1s"}`, "expires_in", nil},
		{"limit not a number", "GET", "/admin/consumers?limit=abc", ``, "query.limit", nil},
		{"limit too large", "GET", "/admin/usage/keys?limit=5000", ``, "query.limit", nil},
		{"unknown query parameter", "GET", "/admin/consumers?bogus=1", ``, "query.bogus", nil},
		{"unknown credential kind filter", "GET", creds + "?kind=x", ``, "query.kind", nil},
		{"unknown source filter", "GET", "/admin/consumers?source=x", ``, "query.source", nil},
	} {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		r := n.api(t, tc.method, tc.path, body, tc.hdr...)
		if r.Status != 400 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", tc.desc, r.Status, r.Body)
			continue
		}
		if got := r.Str(t, "field"); got != tc.field {
			t.Errorf("%s: field %q, want %q (%s)", tc.desc, got, tc.field, r.Body)
		}
	}
	// Nothing was created by any of it.
	items := n.mustAPI(t, 200, "GET", "/admin/consumers", nil).JSON(t)["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("consumers after bad input: %v", items)
	}
	if c := n.mustAPI(t, 200, "GET", creds, nil).JSON(t)["items"].([]any); len(c) != 1 {
		t.Fatalf("credentials after bad input: %v", c)
	}
}

// TestAdminMissingRecordIsNotFoundAtItsPath: a change to a record that
// does not exist is a 404 problem whose field names the path parameter,
// for every kind of record the API deletes by name or id.
func TestAdminMissingRecordIsNotFoundAtItsPath(t *testing.T) {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, adminOpts{})
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	for _, tc := range []struct {
		desc, method, path, field string
	}{
		{"consumer", "DELETE", "/admin/consumers/nobody", "path.name"},
		{"credential", "DELETE", "/admin/consumers/acme/credentials/nope", "path.id"},
		{"token", "DELETE", "/admin/tokens/nope", "path.id"},
		{"secret", "DELETE", "/admin/secrets/nope", "path.name"},
		{"user", "DELETE", "/admin/users/nobody", "path.name"},
	} {
		r := n.api(t, tc.method, tc.path, nil)
		if r.Status != 404 || r.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s", tc.desc, r.Status, r.Body)
			continue
		}
		if got := r.Str(t, "field"); got != tc.field {
			t.Errorf("%s: field %q, want %q (%s)", tc.desc, got, tc.field, r.Body)
		}
	}
}
