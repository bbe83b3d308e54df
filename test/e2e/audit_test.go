package e2e

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// The audit trail and the config history (docs/audit.md), through the
// real binary, on real SQLite files and the real PostgreSQL.

const (
	auditMasterKey  = "0101010101010101010101010101010101010101010101010101010101010101"
	auditSigningKey = "0202020202020202020202020202020202020202020202020202020202020202"
)

var auditEnv = []string{"PCL_TEST_MK=" + auditMasterKey, "PCL_TEST_AUDIT_KEY=" + auditSigningKey}

// auditOpts is an admin node whose store has a master key (so config
// versions are kept for rollback) and whose trail head is signed.
func auditOpts(store string) adminOpts {
	return adminOpts{store: store, env: auditEnv, extra: `  audit: {signing_key: "${env:PCL_TEST_AUDIT_KEY}"}`}
}

func sqliteAuditStore(t *testing.T) (store, path string) {
	path = filepath.Join(t.TempDir(), "store.db")
	return fmt.Sprintf(`{driver: sqlite, path: %q, poll_interval: 200ms, master_key: "${env:PCL_TEST_MK}"}`, path), path
}

// auditEntries reads the whole trail through the API (every page).
func auditEntries(t *testing.T, n *adminNode, query string) []map[string]any {
	t.Helper()
	var out []map[string]any
	after := ""
	for {
		q := query
		if after != "" {
			q += "&after=" + after
		}
		m := n.mustAPI(t, 200, "GET", "/admin/audit?limit=7&"+q, nil).JSON(t)
		for _, it := range m["items"].([]any) {
			out = append(out, it.(map[string]any))
		}
		next, _ := m["next"].(string)
		if next == "" {
			return out
		}
		after = next
	}
}

func findEntry(es []map[string]any, resource, action string) map[string]any {
	for _, e := range es {
		if e["resource"] == resource && e["action"] == action {
			return e
		}
	}
	return nil
}

// TestAuditRecordsEveryAdminWriteWithItsActor: each admin write (consumer
// create, update and delete, key issue, rotation and revocation, JWT and
// basic credentials, bans and lifts, admin tokens, named secrets, reload,
// rekey) is in
// the trail with the token that made it, the client address, the request
// id the answer carried, and before/after; the bootstrap is there as the
// CLI. No secret the test created is anywhere in the trail, in the API's
// answers or in the audit_log table of the SQLite file, or in the log.
func TestAuditRecordsEveryAdminWriteWithItsActor(t *testing.T) {
	up := NewUpstream(t, nil)
	st, dbPath := sqliteAuditStore(t)
	n := startAdminNode(t, up, auditOpts(st))
	adminID := ""
	for _, it := range n.mustAPI(t, 200, "GET", "/admin/tokens", nil).JSON(t)["items"].([]any) {
		adminID = it.(map[string]any)["id"].(string)
	}
	opTok := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "ops", "role": "operator"}).JSON(t)
	op := &adminNode{Gateway: n.Gateway, AdminAddr: n.AdminAddr, Token: opTok["token"].(string)}
	opID := opTok["id"].(string)

	var secrets []string
	secrets = append(secrets, n.Token, op.Token)
	r := op.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme", "groups": []string{"g1"}})
	reqID := r.Header.Get("X-Request-Id")
	op.mustAPI(t, 200, "PUT", "/admin/consumers/acme", map[string]any{"groups": []string{"g2"}})
	key := op.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k1"}).Str(t, "api_key")
	rot := op.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials/k1/rotate", map[string]any{"grace": "1h", "id": "k2"}).JSON(t)
	key2, _ := rot["new"].(map[string]any)["api_key"].(string)
	op.mustAPI(t, 204, "DELETE", "/admin/consumers/acme/credentials/k2", nil)
	jwtSecret := "jwt-" + randHex(24)
	op.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "jwt", "id": "j1", "key": "kid-1", "algorithm": "HS256", "secret": jwtSecret})
	password := "pw-" + randHex(12)
	op.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "basic", "id": "b1", "username": "alice", "password": password})
	op.mustAPI(t, 201, "POST", "/admin/bans", map[string]any{"address": "192.0.2.7", "duration": "1h", "reason": "audit test"})
	op.mustAPI(t, 204, "DELETE", "/admin/bans/192.0.2.7", nil)
	op.mustAPI(t, 200, "POST", "/admin/reload", nil)
	n.mustAPI(t, 200, "POST", "/admin/rekey", nil)
	op.mustAPI(t, 204, "DELETE", "/admin/consumers/acme", nil)
	genSecret := n.mustAPI(t, 201, "POST", "/admin/secrets", map[string]any{"name": "hook"}).Str(t, "value")
	setSecret := "set-" + randHex(24)
	n.mustAPI(t, 200, "PUT", "/admin/secrets/hook", map[string]any{"value": setSecret})
	n.mustAPI(t, 204, "DELETE", "/admin/secrets/hook", nil)
	if genSecret == "" {
		t.Fatal("no generated secret")
	}
	secrets = append(secrets, genSecret, setSecret)
	if key == "" || key2 == "" {
		t.Fatal("no generated keys")
	}
	for _, k := range []string{key, key2} {
		d := sha256.Sum256([]byte(k))
		secrets = append(secrets, k, hex.EncodeToString(d[:]))
	}
	for _, k := range []string{n.Token, op.Token} {
		d := sha256.Sum256([]byte(k))
		secrets = append(secrets, hex.EncodeToString(d[:]))
	}
	secrets = append(secrets, jwtSecret, password, auditMasterKey, auditSigningKey)

	es := auditEntries(t, n, "")
	want := []struct{ resource, action, actor string }{
		{"token:" + adminID, "create", "cli:bootstrap"},
		{"token:" + opID, "create", "token:" + adminID},
		{"consumer:acme", "create", "token:" + opID},
		{"consumer:acme", "update", "token:" + opID},
		{"credential:acme/k1", "create", "token:" + opID},
		{"credential:acme/k1", "update", "token:" + opID}, // the rotation marks the old key
		{"credential:acme/k2", "create", "token:" + opID}, // and issues the new one
		{"credential:acme/k2", "delete", "token:" + opID}, // revocation
		{"credential:acme/j1", "create", "token:" + opID},
		{"credential:acme/b1", "create", "token:" + opID},
		{"ban:192.0.2.7", "ban", "token:" + opID},
		{"ban:192.0.2.7", "lift", "token:" + opID},
		{"config", "reload", "token:" + opID},
		{"store:master_key", "rekey", "token:" + adminID},
		{"consumer:acme", "delete", "token:" + opID},
		{"credential:acme/j1", "delete", "token:" + opID},
		{"config", "start", "file:file"},
		{"secret:hook", "create", "token:" + adminID},
		{"secret:hook", "update", "token:" + adminID},
		{"secret:hook", "delete", "token:" + adminID},
	}
	for _, w := range want {
		e := findEntry(es, w.resource, w.action)
		if e == nil {
			t.Errorf("no %s %s in the trail", w.action, w.resource)
			continue
		}
		if e["actor"] != w.actor {
			t.Errorf("%s %s: actor %v, want %s", w.action, w.resource, e["actor"], w.actor)
		}
		if w.actor != "cli:bootstrap" && w.actor != "file:file" && e["client"] != "127.0.0.1" {
			t.Errorf("%s %s: client %v", w.action, w.resource, e["client"])
		}
	}
	c := findEntry(es, "consumer:acme", "create")
	if c["request_id"] != reqID || reqID == "" {
		t.Errorf("request id %v, the answer said %q", c["request_id"], reqID)
	}
	if c["before"] != nil || c["after"].(map[string]any)["name"] != "acme" {
		t.Errorf("create: before %v after %v", c["before"], c["after"])
	}
	u := findEntry(es, "consumer:acme", "update")
	if fmt.Sprint(u["before"].(map[string]any)["groups"]) != "[g1]" || fmt.Sprint(u["after"].(map[string]any)["groups"]) != "[g2]" {
		t.Errorf("update: before %v after %v", u["before"], u["after"])
	}
	// Filters: by actor, by resource, by action.
	for _, e := range auditEntries(t, n, "actor=token:"+opID) {
		if e["actor"] != "token:"+opID {
			t.Fatalf("actor filter let through %v", e["actor"])
		}
	}
	if got := auditEntries(t, n, "resource="+url.QueryEscape("ban:192.0.2.7")); len(got) != 2 {
		t.Errorf("resource filter: %d entries, want 2", len(got))
	}
	if got := auditEntries(t, n, "action=lift"); len(got) != 1 {
		t.Errorf("action filter: %d entries, want 1", len(got))
	}
	if got := auditEntries(t, n, "since=2999-01-01T00:00:00Z"); len(got) != 0 {
		t.Errorf("since filter: %d entries from the future", len(got))
	}
	n.mustAPI(t, 400, "GET", "/admin/audit?since=yesterday", nil)
	// Read-only: no method edits it.
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		if r := n.api(t, m, "/admin/audit", "{}"); r.Status != 405 && r.Status != 404 {
			t.Errorf("%s /admin/audit: %d", m, r.Status)
		}
	}
	// A viewer reads the trail.
	vt := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "auditor", "role": "viewer"}).Str(t, "token")
	if r := api(t, n.AdminAddr, vt, "GET", "/admin/audit", nil); r.Status != 200 {
		t.Errorf("viewer reading the trail: %d", r.Status)
	}

	// Secrets: not in the API's trail, not in the table, not in the log.
	body := string(n.mustAPI(t, 200, "GET", "/admin/audit?limit=1000", nil).Body)
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var table strings.Builder
	rows, err := db.Query(`SELECT seq, client, request_id, operation, resource, action, before_json, after_json FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var seq int64
		var a, b, c2, d, e, f, g string
		if err := rows.Scan(&seq, &a, &b, &c2, &d, &e, &f, &g); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&table, a, b, c2, d, e, f, g)
	}
	_ = rows.Close()
	if !strings.Contains(table.String(), "acme") {
		t.Fatal("the scan read nothing")
	}
	for _, s := range secrets {
		for where, text := range map[string]string{"the API's trail": body, "the audit_log table": table.String(), "the log": n.Stderr.String()} {
			if strings.Contains(text, s) {
				t.Errorf("a secret (%d bytes) is in %s", len(s), where)
			}
		}
	}
	if !strings.Contains(n.Stderr.String(), `"event":"admin_audit"`) {
		t.Error("the trail is not in the log")
	}
	// And the chain this produced verifies.
	if res := runCLI(t, auditEnv, "admin", "audit", "verify", "--config", n.ConfigPath); res.code != 0 || !strings.Contains(res.stdout, "OK") {
		t.Fatalf("verify of an intact trail: %d %s %s", res.code, res.stdout, res.stderr)
	}
}

// tamperDB opens the store's database directly, as an attacker with
// database access would.
func tamperDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// verifyAudit runs `portcullis admin audit verify` and returns its exit
// status and output.
func verifyAudit(t *testing.T, cfgPath string) (int, string) {
	t.Helper()
	res := runCLI(t, auditEnv, "admin", "audit", "verify", "--config", cfgPath)
	return res.code, res.stdout + res.stderr
}

// auditTamperCases edits, deletes, reorders and truncates the trail
// through db, checking after each that verify fails naming the entry, and
// after each repair that it passes again. ph is the placeholder style.
func auditTamperCases(t *testing.T, db *sql.DB, cfgPath string, ph func(int) string) {
	if code, out := verifyAudit(t, cfgPath); code != 0 {
		t.Fatalf("intact trail: exit %d: %s", code, out)
	}
	var n int64
	if err := db.QueryRow(`SELECT COUNT(*) FROM audit_log`).Scan(&n); err != nil || n < 6 {
		t.Fatalf("trail has %d entries (%v)", n, err)
	}
	expect := func(rule, want string) {
		t.Helper()
		code, out := verifyAudit(t, cfgPath)
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("%s: exit %d, want non-zero naming %q: %s", rule, code, want, out)
		}
	}
	intact := func(rule string) {
		t.Helper()
		if code, out := verifyAudit(t, cfgPath); code != 0 {
			t.Fatalf("after repairing %s: exit %d: %s", rule, code, out)
		}
	}
	// A copy of the intact trail, to put back after each tampering.
	cols := `seq, at, revision, actor_kind, actor_name, client, request_id, operation, resource, action, before_json, after_json, prev_hash, hash`
	mustExec(t, db, `CREATE TABLE audit_saved AS SELECT `+cols+` FROM audit_log`)
	t.Cleanup(func() { _, _ = db.Exec(`DROP TABLE IF EXISTS audit_saved`) })
	restore := func(rule string) {
		t.Helper()
		mustExec(t, db, `DELETE FROM audit_log`)
		mustExec(t, db, `INSERT INTO audit_log (`+cols+`) SELECT `+cols+` FROM audit_saved`)
		intact(rule)
	}
	// Edited: one entry's actor replaced; another's after.
	mustExec(t, db, `UPDATE audit_log SET actor_name = 'someone-else' WHERE seq = `+ph(1), 3)
	expect("an edited actor", "entry 3 edited")
	restore("the actor")
	mustExec(t, db, `UPDATE audit_log SET after_json = '{}' WHERE seq = `+ph(1), 4)
	expect("an edited after", "entry 4 edited")
	restore("the after")
	// Removed: one entry in the middle deleted.
	mustExec(t, db, `DELETE FROM audit_log WHERE seq = 3`)
	expect("a deleted entry", "entry 3 removed")
	restore("the deletion")
	// Removed and renumbered, so the sequence has no gap.
	mustExec(t, db, `DELETE FROM audit_log WHERE seq = 3`)
	mustExec(t, db, `UPDATE audit_log SET seq = -(seq - 1) WHERE seq > 3`)
	mustExec(t, db, `UPDATE audit_log SET seq = -seq WHERE seq < 0`)
	expect("a deleted and renumbered entry", "entry 3 removed")
	restore("the renumbering")
	// Reordered: entries 4 and 5 swap places.
	mustExec(t, db, `UPDATE audit_log SET seq = -1 WHERE seq = 4`)
	mustExec(t, db, `UPDATE audit_log SET seq = 4 WHERE seq = 5`)
	mustExec(t, db, `UPDATE audit_log SET seq = 5 WHERE seq = -1`)
	expect("two swapped entries", "entry 4 reordered")
	restore("the swap")
	// Truncated: the newest entry deleted; only the signed head shows it.
	mustExec(t, db, fmt.Sprintf(`DELETE FROM audit_log WHERE seq = %d`, n))
	expect("a cut tail", fmt.Sprintf("entry %d removed", n))
	// The head moved back to match: its signature no longer holds.
	var prevHash string
	if err := db.QueryRow(fmt.Sprintf(`SELECT hash FROM audit_log WHERE seq = %d`, n-1)).Scan(&prevHash); err != nil {
		t.Fatal(err)
	}
	var head struct {
		seq       int64
		hash, sig string
	}
	if err := db.QueryRow(`SELECT seq, hash, signature FROM audit_head WHERE id = 1`).Scan(&head.seq, &head.hash, &head.sig); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, `UPDATE audit_head SET seq = `+ph(1)+`, hash = `+ph(2)+` WHERE id = 1`, n-1, prevHash)
	expect("a cut tail with the head moved back", "signature does not verify")
	mustExec(t, db, `UPDATE audit_head SET seq = `+ph(1)+`, hash = `+ph(2)+` WHERE id = 1`, head.seq, head.hash)
	restore("the tail")
}

func sqlitePH(int) string     { return "?" }
func postgresPH(i int) string { return fmt.Sprintf("$%d", i) }

// auditTrailForTamper makes a gateway with a trail of several entries and
// returns it with its config path.
func auditTrailForTamper(t *testing.T, store string) *adminNode {
	up := NewUpstream(t, nil)
	n := startAdminNode(t, up, auditOpts(store))
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	n.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k1"})
	n.mustAPI(t, 201, "POST", "/admin/bans", map[string]any{"address": "192.0.2.9", "duration": "1h"})
	n.mustAPI(t, 204, "DELETE", "/admin/bans/192.0.2.9", nil)
	n.mustAPI(t, 204, "DELETE", "/admin/consumers/acme", nil)
	return n
}

// TestAuditVerifyFindsTamperingInSQLite: editing, deleting, renumbering,
// reordering or cutting rows of the SQLite file directly makes `audit
// verify` exit non-zero naming the first entry at fault; the intact and
// the repaired trail verify.
func TestAuditVerifyFindsTamperingInSQLite(t *testing.T) {
	st, path := sqliteAuditStore(t)
	n := auditTrailForTamper(t, st)
	db := tamperDB(t, "sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	auditTamperCases(t, db, n.ConfigPath, sqlitePH)
}

// TestAuditVerifyFindsTamperingInPostgres: the same on PostgreSQL, in a
// schema of its own.
func TestAuditVerifyFindsTamperingInPostgres(t *testing.T) {
	schema := "t_audit_" + randHex(6)
	t.Cleanup(func() { dropPGSchema(pgDSN(), schema) })
	st := fmt.Sprintf(`{driver: postgres, dsn: %q, schema: %s, poll_interval: 200ms, master_key: "${env:PCL_TEST_MK}"}`, pgDSN(), schema)
	n := auditTrailForTamper(t, st)
	u, _ := url.Parse(pgDSN())
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db := tamperDB(t, "pgx", u.String())
	auditTamperCases(t, db, n.ConfigPath, postgresPH)
}

// historyConfig is the admin node's config with routes.
func historyNode(t *testing.T, up *Upstream, routes, consumers string) *adminNode {
	st, _ := sqliteAuditStore(t)
	o := auditOpts(st)
	o.routes, o.consumers = routes, consumers
	return startAdminNode(t, up, o)
}

const routesOpen = `
  - name: open
    paths: [{prefix: /open}]
    service: app
    auth: none`

const routesOpenAndNew = routesOpen + `
  - name: added
    paths: [{prefix: /new}]
    service: app
    auth: none`

func plainGet(t *testing.T, g *Gateway, path string) int { return keyGet(t, g, path, "") }

// writeRoutes replaces the node's config file with other routes and
// reloads it through the API (as the operator n holds).
func (n *adminNode) writeRoutes(t *testing.T, up *Upstream, routes, consumers string) {
	t.Helper()
	cur, err := os.ReadFile(n.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(cur)
	i := strings.Index(text, "routes:")
	j := strings.Index(text, "\nadmin:")
	k := strings.Index(text, "\nconsumers:")
	if consumers == "" {
		consumers = "consumers: []"
	}
	text = text[:i] + "routes:" + routes + "\n" + consumers + text[j:]
	_ = k
	n.WriteConfig(GatewayConfig(text))
	n.mustAPI(t, 200, "POST", "/admin/reload", nil)
}

func versions(t *testing.T, n *adminNode) []map[string]any {
	var out []map[string]any
	for _, it := range n.mustAPI(t, 200, "GET", "/admin/config/versions", nil).JSON(t)["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestConfigRollbackRestoresEarlierBehaviour: a route added by a reload
// answers through the real upstream; the history has both versions with
// their authors; the diff shows the route; a dry run of the rollback says
// the route would go and changes nothing; the rollback makes it answer
// 404 again, writes the old file back, and is in the trail with its actor.
func TestConfigRollbackRestoresEarlierBehaviour(t *testing.T) {
	up := NewUpstream(t, nil)
	n := historyNode(t, up, routesOpen, "")
	if got := plainGet(t, n.Gateway, "/new/x"); got != 404 {
		t.Fatalf("before: /new %d", got)
	}
	v1, _ := os.ReadFile(n.ConfigPath)
	n.writeRoutes(t, up, routesOpenAndNew, "")
	if got := plainGet(t, n.Gateway, "/new/x"); got != 200 || up.Last(t).RequestURI != "/new/x" {
		t.Fatalf("after the reload: /new %d", got)
	}
	vs := versions(t, n)
	if len(vs) != 2 || vs[0]["version"] != float64(2) || vs[1]["author"] != "file" || !strings.HasPrefix(vs[0]["author"].(string), "token:") || vs[0]["live"] != true {
		t.Fatalf("versions: %v", vs)
	}
	d := n.mustAPI(t, 200, "GET", "/admin/config/diff?from=1&to=2", nil).Str(t, "unified")
	if !strings.Contains(d, "+  - name: added") || !strings.Contains(d, "+    paths: [{prefix: /new}]") && !strings.Contains(d, "/new") {
		t.Fatalf("diff: %s", d)
	}
	// Secrets in the kept file are shown redacted (the references stay).
	show := n.mustAPI(t, 200, "GET", "/admin/config/versions/1", nil).Str(t, "yaml")
	if !strings.Contains(show, "${env:PCL_TEST_MK}") || strings.Contains(show, auditMasterKey) {
		t.Fatalf("version 1 as shown: %s", show)
	}

	o := newOpenAPIChecker(t, n)
	dry := o.call("POST", "/admin/config/versions/{version}/rollback", "/admin/config/versions/1/rollback?dry_run=true", nil, 200).JSON(t)
	if fmt.Sprint(dry["routes"].(map[string]any)["removed"]) != "[added]" || dry["applied"] != false {
		t.Fatalf("dry run: %v", dry)
	}
	if got := plainGet(t, n.Gateway, "/new/x"); got != 200 {
		t.Fatalf("the dry run changed the live config: /new %d", got)
	}
	if len(versions(t, n)) != 2 {
		t.Fatal("the dry run recorded a version")
	}

	// An operator may not roll back; the admin token may.
	opTok := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "ops", "role": "operator"}).Str(t, "token")
	if r := api(t, n.AdminAddr, opTok, "POST", "/admin/config/versions/1/rollback", nil); r.Status != 403 {
		t.Fatalf("operator rollback: %d", r.Status)
	}
	before := up.Count()
	rb := o.call("POST", "/admin/config/versions/{version}/rollback", "/admin/config/versions/1/rollback", nil, 200).JSON(t)
	if rb["applied"] != true {
		t.Fatalf("rollback: %v", rb)
	}
	if got := plainGet(t, n.Gateway, "/new/x"); got != 404 {
		t.Fatalf("after the rollback: /new %d, want 404", got)
	}
	if up.Count() != before {
		t.Fatal("a request to the rolled-back route reached the upstream")
	}
	if got := plainGet(t, n.Gateway, "/open/x"); got != 200 {
		t.Fatalf("after the rollback: /open %d", got)
	}
	if now, _ := os.ReadFile(n.ConfigPath); string(now) != string(v1) {
		t.Fatal("the config file on disk is not the rolled-back version")
	}
	vs = versions(t, n)
	if vs[0]["source"] != "rollback" || vs[0]["sha256"] != vs[len(vs)-1]["sha256"] {
		t.Fatalf("versions after the rollback: %v", vs)
	}
	o.call("GET", "/admin/audit", "/admin/audit?action=rollback", nil, 200)
	o.call("GET", "/admin/config/versions", "/admin/config/versions?limit=1", nil, 200)
	es := auditEntries(t, n, "action=rollback")
	if len(es) < 2 || !strings.HasPrefix(es[0]["actor"].(string), "token:") {
		t.Fatalf("rollback in the trail: %v", es)
	}
	if code, out := verifyAudit(t, n.ConfigPath); code != 0 {
		t.Fatalf("verify after the rollback: %d %s", code, out)
	}
}

// TestConfigDryRunChangesNothing: a dry run of a candidate that removes
// one route, adds another and changes a service reports exactly that and
// applies nothing: the live routes answer as before, the file and the
// history are unchanged. An invalid candidate is a 422.
func TestConfigDryRunChangesNothing(t *testing.T) {
	up := NewUpstream(t, nil)
	n := historyNode(t, up, routesOpen, "")
	cur, _ := os.ReadFile(n.ConfigPath)
	cand := strings.Replace(string(cur), "name: open\n    paths: [{prefix: /open}]", "name: other\n    paths: [{prefix: /other}]", 1)
	if cand == string(cur) {
		t.Fatal("the candidate is the same")
	}
	r := n.mustAPI(t, 200, "POST", "/admin/config/dry-run", map[string]any{"yaml": cand}).JSON(t)
	routes := r["routes"].(map[string]any)
	if fmt.Sprint(routes["added"]) != "[other]" || fmt.Sprint(routes["removed"]) != "[open]" || r["applied"] != false {
		t.Fatalf("dry run: %v", r)
	}
	if got := plainGet(t, n.Gateway, "/open/x"); got != 200 {
		t.Fatalf("after the dry run: /open %d", got)
	}
	if got := plainGet(t, n.Gateway, "/other/x"); got != 404 {
		t.Fatalf("after the dry run: /other %d", got)
	}
	if now, _ := os.ReadFile(n.ConfigPath); string(now) != string(cur) {
		t.Fatal("the dry run wrote the config file")
	}
	if len(versions(t, n)) != 1 {
		t.Fatal("the dry run recorded a version")
	}
	bad := strings.Replace(string(cur), "service: app", "service: nowhere", 1)
	if r := n.api(t, "POST", "/admin/config/dry-run", map[string]any{"yaml": bad}); r.Status != 422 || !strings.Contains(string(r.Body), "nowhere") {
		t.Fatalf("invalid candidate: %d %s", r.Status, r.Body)
	}
	if r := n.api(t, "POST", "/admin/config/dry-run", map[string]any{"yaml": 3}); r.Status != 400 {
		t.Fatalf("wrong type: %d", r.Status)
	}
}

// TestConfigRollbackToAVersionThatNoLongerCompilesIsRefused: version 1
// reads an API key digest from a file; version 2 does not. With the file
// gone, a rollback to version 1 is refused (422 naming the reference),
// and nothing changes: the live routes, the file, the history.
func TestConfigRollbackToAVersionThatNoLongerCompilesIsRefused(t *testing.T) {
	up := NewUpstream(t, nil)
	hashFile := filepath.Join(t.TempDir(), "hash")
	d := sha256.Sum256([]byte("not-a-real-key"))
	if err := os.WriteFile(hashFile, []byte("sha256:"+hex.EncodeToString(d[:])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	consumers := fmt.Sprintf(`consumers: [{name: filec, credentials: {api_keys: [{id: fk, hash: "${file:%s}"}]}}]`, hashFile)
	n := historyNode(t, up, routesOpen, consumers)
	n.writeRoutes(t, up, routesOpenAndNew, "")
	if err := os.Remove(hashFile); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(n.ConfigPath)
	r := n.api(t, "POST", "/admin/config/versions/1/rollback", nil)
	if r.Status != 422 || !strings.Contains(string(r.Body), "secret reference") {
		t.Fatalf("rollback to a version whose file is gone: %d %s", r.Status, r.Body)
	}
	if got := plainGet(t, n.Gateway, "/new/x"); got != 200 {
		t.Fatalf("after the refused rollback: /new %d", got)
	}
	if now, _ := os.ReadFile(n.ConfigPath); string(now) != string(cur) {
		t.Fatal("the refused rollback changed the config file")
	}
	if vs := versions(t, n); len(vs) != 2 || vs[0]["live"] != true {
		t.Fatalf("history after the refused rollback: %v", vs)
	}
	if es := auditEntries(t, n, "action=rollback"); len(es) != 0 {
		t.Fatalf("a refused rollback is in the trail: %v", es)
	}
}

// TestAdminCLIReadsTrailAndHistory: the command line lists the trail with
// filters, the config versions and a diff, and dry-runs a rollback and a
// candidate file, through the API with the token from the environment.
func TestAdminCLIReadsTrailAndHistory(t *testing.T) {
	up := NewUpstream(t, nil)
	n := historyNode(t, up, routesOpen, "")
	n.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	n.writeRoutes(t, up, routesOpenAndNew, "")
	env := append([]string{"PORTCULLIS_ADMIN_URL=http://" + n.AdminAddr, "PORTCULLIS_ADMIN_TOKEN=" + n.Token}, auditEnv...)
	run := func(args ...string) string {
		t.Helper()
		res := runCLI(t, env, append([]string{"admin"}, args...)...)
		if res.code != 0 {
			t.Fatalf("admin %v: %d %s", args, res.code, res.stderr)
		}
		return res.stdout
	}
	if out := run("audit", "--resource", "consumer:acme"); !strings.Contains(out, `"action": "create"`) || strings.Contains(out, `"resource": "config"`) {
		t.Fatalf("audit --resource: %s", out)
	}
	if out := run("config", "versions"); !strings.Contains(out, `"version": 2`) {
		t.Fatalf("config versions: %s", out)
	}
	if out := run("config", "diff", "1", "2"); !strings.Contains(out, "name: added") {
		t.Fatalf("config diff: %s", out)
	}
	if out := run("config", "rollback", "1", "--dry-run"); !strings.Contains(out, `"applied": false`) || !strings.Contains(out, `"added"`) {
		t.Fatalf("config rollback --dry-run: %s", out)
	}
	if got := plainGet(t, n.Gateway, "/new/x"); got != 200 {
		t.Fatalf("after the CLI dry run: /new %d", got)
	}
	if out := run("config", "dry-run", n.ConfigPath); !strings.Contains(out, `"removed": []`) {
		t.Fatalf("config dry-run of the live file: %s", out)
	}
	if res := runCLI(t, env, "admin", "audit", "stray"); res.code != 2 {
		t.Fatalf("a stray argument: %d", res.code)
	}
}

// TestAuditChainStaysLinearOnACluster: two gateway nodes on one
// PostgreSQL schema take admin writes at the same time; the trail holds
// every write once, each with the token that made it, and
// `audit verify` finds the chain intact and its head signed.
func TestAuditChainStaysLinearOnACluster(t *testing.T) {
	up := NewUpstream(t, nil)
	schema := "t_audit_" + randHex(6)
	t.Cleanup(func() { dropPGSchema(pgDSN(), schema) })
	st := fmt.Sprintf(`{driver: postgres, dsn: %q, schema: %s, poll_interval: 200ms, master_key: "${env:PCL_TEST_MK}"}`, pgDSN(), schema)
	a := startAdminNode(t, up, auditOpts(st))
	ob := auditOpts(st)
	ob.noBootstrap = true
	b := startAdminNode(t, up, ob)
	tb := a.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "node-b-ops", "role": "operator"}).JSON(t)
	b.Token = tb["token"].(string)
	waitTokenOn(t, b)
	const each = 10
	done := make(chan error, 2)
	for i, n := range []*adminNode{a, b} {
		go func() {
			for j := range each {
				r := n.api(t, "POST", "/admin/consumers", map[string]any{"name": fmt.Sprintf("n%d-c%d", i, j)})
				if r.Status != 201 {
					done <- fmt.Errorf("node %d: %d %s", i, r.Status, r.Body)
					return
				}
			}
			done <- nil
		}()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	es := auditEntries(t, a, "action=create")
	byActor := map[string]int{}
	for _, e := range es {
		if strings.HasPrefix(e["resource"].(string), "consumer:") {
			byActor[e["actor"].(string)]++
		}
	}
	if byActor["token:"+tb["id"].(string)] != each || len(byActor) != 2 {
		t.Fatalf("creates by actor: %v", byActor)
	}
	if code, out := verifyAudit(t, b.ConfigPath); code != 0 || !strings.Contains(out, "head signed") {
		t.Fatalf("verify: %d %s", code, out)
	}
}

// waitTokenOn waits until node n accepts its token (it reads the store
// on its own poll).
func waitTokenOn(t *testing.T, n *adminNode) {
	t.Helper()
	for i := 0; i < 2000; i++ { // up to 20s: the node reads the store on its own poll
		if n.api(t, "GET", "/admin/status", nil).Status == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("node never accepted its token")
}

// TestConfigHistoryNeverHoldsAFileSecretInClear: a config file with an
// inline JWT secret is kept in the history sealed: the SQLite file (and
// its WAL) never holds the secret, the API shows the version with the
// secret redacted, and a diff does not show it either.
func TestConfigHistoryNeverHoldsAFileSecretInClear(t *testing.T) {
	up := NewUpstream(t, nil)
	secret := "inline-" + randHex(24)
	consumers := fmt.Sprintf(`consumers: [{name: filec, credentials: {jwt: [{key: kid-file, algorithm: HS256, secret: %q}]}}]`, secret)
	st, dbPath := sqliteAuditStore(t)
	o := auditOpts(st)
	o.routes, o.consumers = routesOpen, consumers
	n := startAdminNode(t, up, o)
	n.writeRoutes(t, up, routesOpenAndNew, consumers)
	for _, p := range []string{"/admin/config/versions/1", "/admin/config/versions/2", "/admin/config/diff?from=1&to=2", "/admin/audit?limit=1000"} {
		b := string(n.mustAPI(t, 200, "GET", p, nil).Body)
		if strings.Contains(b, secret) {
			t.Fatalf("%s shows the file's secret", p)
		}
		if strings.HasPrefix(p, "/admin/config/versions/") && !strings.Contains(b, "[redacted]") {
			t.Fatalf("%s: no redaction mark: %s", p, b)
		}
	}
	var hay []byte
	for _, suf := range []string{"", "-wal"} {
		b, _ := os.ReadFile(dbPath + suf)
		hay = append(hay, b...)
	}
	if len(hay) < 4096 || !strings.Contains(string(hay), "kid-file") {
		t.Fatalf("the store file was not read (%d bytes) or holds no redacted config", len(hay))
	}
	if strings.Contains(string(hay), secret) {
		t.Fatal("the SQLite file holds the config file's secret in clear")
	}
}

// TestAuditRecordsASessionWriteAsTheUser: a write made by an administrator
// logged in with password and second factor is in the trail as that user
// (not as the token that created the user), from the client's address,
// with the request id the answer carried; the user's own creation is there
// as the admin token that made it.
func TestAuditRecordsASessionWriteAsTheUser(t *testing.T) {
	up := NewUpstream(t, nil)
	st, _ := sqliteAuditStore(t)
	n := startAdminNode(t, up, auditOpts(st))
	adminID := ""
	for _, it := range n.mustAPI(t, 200, "GET", "/admin/tokens", nil).JSON(t)["items"].([]any) {
		adminID = it.(map[string]any)["id"].(string)
	}
	ada := createPerson(t, n, "ada", "operator")
	s := login(t, n.AdminAddr, ada)
	r := s.call(t, "POST", "/admin/consumers", map[string]any{"name": "made-by-ada"}, true)
	if r.Status != 201 {
		t.Fatalf("session write: %d %s", r.Status, r.Body)
	}
	reqID := r.Header.Get("X-Request-Id")
	es := auditEntries(t, n, "")
	created := findEntry(es, "consumer:made-by-ada", "create")
	if created == nil {
		t.Fatalf("the session's write is not in the trail: %v", es)
	}
	if created["actor"] != "user:ada" || created["client"] != "127.0.0.1" || reqID == "" || created["request_id"] != reqID {
		t.Fatalf("session write recorded as actor %v client %v request %v (answer's request id %q)", created["actor"], created["client"], created["request_id"], reqID)
	}
	user := findEntry(es, "user:ada", "create")
	if user == nil || user["actor"] != "token:"+adminID {
		t.Fatalf("the user's creation: %v", user)
	}
	// A write the CSRF check refused is not in the trail.
	if r := s.call(t, "POST", "/admin/consumers", map[string]any{"name": "refused"}, false); r.Status != 403 {
		t.Fatalf("write without the CSRF token: %d", r.Status)
	}
	if findEntry(auditEntries(t, n, ""), "consumer:refused", "create") != nil {
		t.Fatal("a refused write is in the trail")
	}
}
