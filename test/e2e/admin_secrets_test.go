package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secretsNode starts an admin node on SQLite with a master key; routes is
// the routes block.
func secretsNode(t *testing.T, up *Upstream, routes string) (*adminNode, string) {
	t.Helper()
	dir := t.TempDir()
	mk := filepath.Join(dir, "mk")
	if err := os.WriteFile(mk, []byte(strings.Repeat("5e", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "s.db")
	n := startAdminNode(t, up, adminOpts{store: `{path: "` + db + `", master_key: "${file:` + mk + `}", poll_interval: 200ms}`, routes: routes})
	return n, db
}

// storeFileHolds reports whether the SQLite store (with its WAL) holds
// the value in any of the forms a leak would take.
func storeFileHolds(t *testing.T, db string, value []byte) bool {
	t.Helper()
	var hay []byte
	for _, suf := range []string{"", "-wal", "-shm"} {
		b, _ := os.ReadFile(db + suf)
		hay = append(hay, b...)
	}
	if len(hay) < 4096 {
		t.Fatalf("store file not found (%d bytes)", len(hay))
	}
	for _, form := range [][]byte{value, value[:len(value)/2], []byte(base64.StdEncoding.EncodeToString(value))} {
		if bytes.Contains(hay, form) {
			return true
		}
	}
	return false
}

// TestAdminSignatureKeys: a signature key created through the admin API
// (hmac-sha256, its secret generated and shown once; ed25519, a public
// key) signs requests the gateway accepts on a route whose signature
// policy lists its own file key too; the key id of the file's key cannot
// be taken by the store; bad keys get a 400 naming the field; the secret
// is sealed in the SQLite file and never read back; a revoked key is
// refused at once and the upstream never sees the request.
func TestAdminSignatureKeys(t *testing.T) {
	fileSecret := make([]byte, 32)
	_, _ = rand.Read(fileSecret)
	t.Setenv("SIG_STORE_FILE_KEY", base64.StdEncoding.EncodeToString(fileSecret))
	up := NewUpstream(t, nil)
	n, db := secretsNode(t, up, `
  - name: signed
    paths: [{prefix: /signed}]
    service: app
    auth: none
    policies:
      - kind: signature
        keys:
          - {id: file-key, algorithm: hmac-sha256, secret: "${env:SIG_STORE_FILE_KEY}", secret_encoding: base64}
        required_components: ["@method", "@path", "@query", "content-digest", "date"]
        nonce_required: true`)
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "partner"})

	created := n.mustAPI(t, 201, "POST", "/admin/consumers/partner/credentials", map[string]any{"kind": "signature_key", "id": "partner-hmac", "algorithm": "hmac-sha256"}).JSON(t)
	secret, _ := created["secret"].(string)
	if len(secret) < 32 || created["has_secret"] != true || created["key"] != "partner-hmac" {
		t.Fatalf("creation answer: %v", created)
	}
	read := n.mustAPI(t, 200, "GET", "/admin/consumers/partner/credentials/partner-hmac", nil)
	if bytes.Contains(read.Body, []byte(secret)) || read.JSON(t)["secret"] != nil {
		t.Fatalf("a read returned the secret: %s", read.Body)
	}
	if storeFileHolds(t, db, []byte(secret)) {
		t.Fatal("the SQLite file holds the signature key's plain secret")
	}

	hmacClient := sigClient{keyID: "partner-hmac", secret: []byte(secret)}
	fileClient := sigClient{keyID: "file-key", secret: fileSecret}
	accepted := func(c sigClient) {
		t.Helper()
		up.Reset()
		resp, body := sigDo(t, c.newSigned(t, n.Gateway, "POST", "/signed/orders?x=1", []byte(`{"n":1}`), sigOpts{}))
		if resp.StatusCode != 200 || up.Count() != 1 {
			t.Fatalf("key %s: status %d (upstream saw %d): %s", c.keyID, resp.StatusCode, up.Count(), body)
		}
	}
	accepted(hmacClient)
	accepted(fileClient) // the file's key still verifies beside the store's

	// A forged signature (right key id, wrong secret) is refused.
	forged := sigClient{keyID: "partner-hmac", secret: bytes.Repeat([]byte("f"), 43)}
	sigRefused(t, n.Gateway, up, forged.newSigned(t, n.Gateway, "GET", "/signed/x", nil, sigOpts{}), "bad signature")

	// Ed25519: the public key is given, no secret exists.
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	ed := n.mustAPI(t, 201, "POST", "/admin/consumers/partner/credentials", map[string]any{"kind": "signature_key", "id": "partner-ed", "algorithm": "ed25519",
		"public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}).JSON(t)
	if ed["secret"] != nil || ed["has_secret"] == true {
		t.Fatalf("ed25519 creation answer: %v", ed)
	}
	accepted(sigClient{keyID: "partner-ed", priv: priv})

	// Bad input names the field; the file's key id cannot be taken.
	for _, c := range []struct {
		desc  string
		body  map[string]any
		want  int
		field string
	}{
		{"short hmac secret", map[string]any{"kind": "signature_key", "algorithm": "hmac-sha256", "secret": "short"}, 400, "secret"},
		{"unknown algorithm", map[string]any{"kind": "signature_key", "algorithm": "rsa-pss-sha512"}, 400, "algorithm"},
		{"ed25519 without a public key", map[string]any{"kind": "signature_key", "algorithm": "ed25519"}, 400, "public_key"},
		{"ed25519 with a secret", map[string]any{"kind": "signature_key", "algorithm": "ed25519", "secret": strings.Repeat("s", 40)}, 400, "secret"},
		{"a field of another kind", map[string]any{"kind": "signature_key", "algorithm": "hmac-sha256", "username": "u"}, 400, "username"},
		{"the file policy's key id", map[string]any{"kind": "signature_key", "id": "file-key", "algorithm": "hmac-sha256"}, 409, ""},
		{"a store key id twice", map[string]any{"kind": "signature_key", "id": "other", "key": "partner-hmac", "algorithm": "hmac-sha256"}, 409, ""},
	} {
		r := n.api(t, "POST", "/admin/consumers/partner/credentials", c.body)
		if r.Status != c.want || (c.field != "" && r.Str(t, "field") != c.field) {
			t.Errorf("%s: %d %s, want %d field %q", c.desc, r.Status, r.Body, c.want, c.field)
		}
	}

	// Revoked: refused at once, and the upstream never sees the request.
	n.mustAPI(t, 204, "DELETE", "/admin/consumers/partner/credentials/partner-hmac", nil)
	sigRefused(t, n.Gateway, up, hmacClient.newSigned(t, n.Gateway, "POST", "/signed/orders", []byte(`{"n":2}`), sigOpts{}), "unknown key")
	accepted(fileClient)
}

// TestAdminWebhookSecretFromStore: a security-event webhook whose secret
// is ${store:NAME} signs its deliveries with the store's value, which a
// receiver verifies; a rotation through the API is in force without
// touching the file; a reference to a secret the store lacks fails the
// reload with the field named; a referenced secret cannot be deleted; no
// read returns a value and the SQLite file holds none.
func TestAdminWebhookSecretFromStore(t *testing.T) {
	up := NewUpstream(t, nil)
	n, db := secretsNode(t, up, "")
	base := string(mustRead(t, n.ConfigPath))

	// Referencing a secret the store does not hold: the reload fails.
	hook := newEventHookReceiver(t, "unset")
	withHook := func(name string) GatewayConfig {
		return GatewayConfig(base + `observability:
  security_events:
    webhooks: [{url: "` + hook.URL + `", secret: "${store:` + name + `}"}]
    webhook_batch_interval: 50ms
`)
	}
	n.WriteConfig(withHook("events-hook"))
	r := n.api(t, "POST", "/admin/reload", nil)
	if r.Status != 422 || !strings.Contains(string(r.Body), `observability.security_events.webhooks[0].secret`) || !strings.Contains(string(r.Body), `no secret \"events-hook\"`) {
		t.Fatalf("reload with a missing store secret: %d %s", r.Status, r.Body)
	}

	// Create it (generated, shown once), then the reload applies.
	o := newOpenAPIChecker(t, n) // every answer below is checked against the document
	created := o.call("POST", "/admin/secrets", "/admin/secrets", map[string]any{"name": "events-hook"}, 201).JSON(t)
	v1, _ := created["value"].(string)
	if len(v1) < 32 {
		t.Fatalf("creation answer: %v", created)
	}
	hook.mu.Lock()
	hook.secret = []byte(v1)
	hook.mu.Unlock()
	n.mustAPI(t, 200, "POST", "/admin/reload", nil)
	got := o.call("GET", "/admin/secrets/{name}", "/admin/secrets/events-hook", nil, 200)
	if bytes.Contains(got.Body, []byte(v1)) || !strings.Contains(string(got.Body), "observability.security_events.webhooks[0].secret") {
		t.Fatalf("secret read: %s", got.Body)
	}
	if list := o.call("GET", "/admin/secrets", "/admin/secrets", nil, 200); bytes.Contains(list.Body, []byte(v1)) {
		t.Fatalf("the list returned a value: %s", list.Body)
	}

	delivered := func(after int) int {
		t.Helper()
		if keyGet(t, n.Gateway, "/key/x", "pcl_wrong") != 401 {
			t.Fatal("a wrong key was not refused")
		}
		var count int
		if !waitFor(10*time.Second, func() bool { count = len(hook.Events(t)); return count > after }) {
			hook.mu.Lock()
			bad := hook.bad
			hook.mu.Unlock()
			t.Fatalf("no verified delivery after %d (refused signatures: %d)\n%s", after, bad, n.Stderr.String())
		}
		return count
	}
	c1 := delivered(0)
	hook.mu.Lock()
	if hook.bad != 0 {
		t.Fatalf("%d deliveries did not verify", hook.bad)
	}
	hook.mu.Unlock()

	// Rotate through the API: the receiver now accepts only the new value,
	// and deliveries keep verifying without a change to the file.
	v2 := strings.Repeat("r", 8) + randHex(20)
	o.call("PUT", "/admin/secrets/{name}", "/admin/secrets/events-hook", map[string]any{"value": v2}, 200, "If-Match", `"1"`)
	hook.mu.Lock()
	hook.secret = []byte(v2)
	hook.mu.Unlock()
	delivered(c1)

	// Stale If-Match, short value, referenced delete: refused.
	o.call("PUT", "/admin/secrets/{name}", "/admin/secrets/events-hook", map[string]any{"value": v2 + "x"}, 412, "If-Match", `"1"`)
	if r := o.call("POST", "/admin/secrets", "/admin/secrets", map[string]any{"name": "x", "value": "short"}, 400); r.Str(t, "field") != "value" {
		t.Fatalf("short value: %s", r.Body)
	}
	o.call("POST", "/admin/secrets", "/admin/secrets", map[string]any{"name": "Bad Name"}, 400)
	o.call("POST", "/admin/secrets", "/admin/secrets", map[string]any{"name": "events-hook"}, 409)
	o.call("DELETE", "/admin/secrets/{name}", "/admin/secrets/events-hook", nil, 409) // referenced
	for _, v := range []string{v1, v2} {
		if storeFileHolds(t, db, []byte(v)) {
			t.Fatal("the SQLite file holds a plain webhook secret")
		}
	}
	for _, out := range []string{n.Stdout.String(), n.Stderr.String()} {
		if strings.Contains(out, v1) || strings.Contains(out, v2) {
			t.Fatal("a webhook secret is in the gateway's output")
		}
	}

	// Unreferenced, it can be deleted.
	n.WriteConfig(GatewayConfig(base))
	n.mustAPI(t, 200, "POST", "/admin/reload", nil)
	o.call("DELETE", "/admin/secrets/{name}", "/admin/secrets/events-hook", nil, 204)
	o.call("GET", "/admin/secrets/{name}", "/admin/secrets/events-hook", nil, http.StatusNotFound)
}
