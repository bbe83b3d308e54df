package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// startCluster starts n gateways on one PostgreSQL schema, all with the
// admin plane, and returns them with one admin token (bootstrapped by the
// first).
func startCluster(t *testing.T, up *Upstream, dsn string, n int, extra string) []*adminNode {
	t.Helper()
	schema := "t_e2e_" + randHex(6)
	t.Cleanup(func() { dropPGSchema(dsn, schema) })
	store := fmt.Sprintf("{driver: postgres, dsn: %q, schema: %s, poll_interval: 1s, resync_interval: 30s, usage_flush_interval: 200ms}", dsn, schema)
	var nodes []*adminNode
	for i := range n {
		nd := startAdminNode(t, up, adminOpts{store: store, extra: extra, noBootstrap: i > 0})
		if i > 0 {
			nd.Token = nodes[0].Token
		}
		nodes = append(nodes, nd)
	}
	if nodes[0].Token == "" {
		t.Fatal("no bootstrap token")
	}
	return nodes
}

// dropPGSchema removes a test schema with psql (best effort).
func dropPGSchema(dsn, schema string) {
	_ = exec.Command("psql", dsn, "-qc", "DROP SCHEMA IF EXISTS "+schema+" CASCADE").Run()
}

// waitStatus polls GET path with key on g until it answers want; it
// returns how long that took, or fails after limit.
func waitKeyStatus(t *testing.T, g *Gateway, path, key string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if keyGet(t, g, path, key) == want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s did not answer %d within %s", g.Addr, want, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestClusterKeyPropagation: three gateway processes on one PostgreSQL.
// A key created on node A is accepted on B and C within a second; revoked
// on B, it is refused on every node within a second; a consumer deleted
// on C takes its keys with it everywhere.
func TestClusterKeyPropagation(t *testing.T) {
	up := NewUpstream(t, nil)
	nodes := startCluster(t, up, pgDSN(), 3, "")
	a, b, c := nodes[0], nodes[1], nodes[2]
	a.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	key := a.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k1"}).Str(t, "api_key")
	if got := keyGet(t, a.Gateway, "/key/x", key); got != 200 {
		t.Fatalf("node A, at once: %d", got)
	}
	for _, n := range []*adminNode{b, c} {
		d := waitKeyStatus(t, n.Gateway, "/key/x", key, 200, time.Second)
		t.Logf("accepted on %s after %s", n.Addr, d)
	}
	// The other nodes show the consumer through their own API.
	c.mustAPI(t, 200, "GET", "/admin/consumers/acme", nil)

	b.mustAPI(t, 204, "DELETE", "/admin/consumers/acme/credentials/k1", nil)
	if got := keyGet(t, b.Gateway, "/key/x", key); got != 401 {
		t.Fatalf("node B, at once: %d", got)
	}
	for _, n := range []*adminNode{a, c} {
		d := waitKeyStatus(t, n.Gateway, "/key/x", key, 401, time.Second)
		t.Logf("refused on %s after %s", n.Addr, d)
	}

	key2 := a.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k2"}).Str(t, "api_key")
	waitKeyStatus(t, c.Gateway, "/key/x", key2, 200, time.Second)
	c.mustAPI(t, 204, "DELETE", "/admin/consumers/acme", nil)
	for _, n := range nodes {
		waitKeyStatus(t, n.Gateway, "/key/x", key2, 401, time.Second)
	}
}

// TestClusterPropagationLatency measures how long a change made on one
// node takes to be in force on the two others, over 100 changes: each
// change issues a key on node A and polls B and C until both accept it.
// The median and maximum are logged (run with -v); every change must be
// in force within one second.
func TestClusterPropagationLatency(t *testing.T) {
	up := NewUpstream(t, nil)
	nodes := startCluster(t, up, pgDSN(), 3, "")
	a := nodes[0]
	a.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "bulk"})
	var lat []time.Duration
	for i := range 100 {
		key := a.mustAPI(t, 201, "POST", "/admin/consumers/bulk/credentials", map[string]any{"kind": "api_key", "id": fmt.Sprintf("k%03d", i)}).Str(t, "api_key")
		start := time.Now()
		waitKeyStatus(t, nodes[1].Gateway, "/key/x", key, 200, time.Second)
		waitKeyStatus(t, nodes[2].Gateway, "/key/x", key, 200, time.Second)
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("propagation over 100 changes to 2 other nodes: median %s, p90 %s, max %s", lat[50], lat[90], lat[99])
	if lat[99] > time.Second {
		t.Fatalf("slowest change took %s", lat[99])
	}
}

// TestClusterBansAndUsage: a ban added on one node holds on every node
// and is lifted everywhere; key usage from every node is summed.
func TestClusterBansAndUsage(t *testing.T) {
	up := NewUpstream(t, nil)
	nodes := startCluster(t, up, pgDSN(), 2, "")
	a, b := nodes[0], nodes[1]
	a.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	key := a.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k1"}).Str(t, "api_key")
	waitKeyStatus(t, b.Gateway, "/key/x", key, 200, time.Second)
	for range 3 {
		keyGet(t, a.Gateway, "/key/x", key)
	}
	for range 2 {
		keyGet(t, b.Gateway, "/key/x", key)
	}
	// Node B flushes every 200ms; node A flushes before it answers.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := a.mustAPI(t, 200, "GET", "/admin/usage/keys?consumer=acme", nil)
		items := r.JSON(t)["items"].([]any)
		if len(items) == 1 {
			u := items[0].(map[string]any)
			// 3 + 2, plus the one waitStatus request that succeeded on B.
			if u["requests"].(float64) == 6 && u["last_client"] == "127.0.0.1" && u["key_id"] == "k1" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("usage not summed over nodes: %s", r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cu := a.mustAPI(t, 200, "GET", "/admin/usage/consumers", nil).JSON(t)["items"].([]any)
	if len(cu) != 1 || cu[0].(map[string]any)["requests"].(float64) != 6 {
		t.Fatalf("consumer usage: %v", cu)
	}

	a.mustAPI(t, 201, "POST", "/admin/bans", map[string]any{"address": "127.0.0.1", "duration": "1h", "reason": "test"})
	if got := keyGet(t, a.Gateway, "/open/x", ""); got != 403 {
		t.Fatalf("banned client on node A: %d", got)
	}
	waitKeyStatus(t, b.Gateway, "/open/x", "", 403, time.Second)
	bans := b.mustAPI(t, 200, "GET", "/admin/bans", nil).JSON(t)["items"].([]any)
	if len(bans) != 1 || bans[0].(map[string]any)["source"] != "manual" || bans[0].(map[string]any)["reason"] != "test" {
		t.Fatalf("bans on B: %v", bans)
	}
	b.mustAPI(t, 204, "DELETE", "/admin/bans/127.0.0.1", nil)
	if got := keyGet(t, b.Gateway, "/open/x", ""); got != 200 {
		t.Fatalf("lifted on B, at once: %d", got)
	}
	waitKeyStatus(t, a.Gateway, "/open/x", "", 200, time.Second)
}

// ownPostgres is a PostgreSQL server started for one test, so that the
// test can stop it without touching the machine's shared server.
type ownPostgres struct {
	bin, dir, port string
}

// startOwnPostgres runs initdb and pg_ctl from the machine's PostgreSQL
// binaries (as the postgres user when the test runs as root).
func startOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are needed: apt-get install postgresql")
	}
	p := &ownPostgres{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "portcullis-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	_, p.port, _ = net.SplitHostPort(freeAddr(t))
	if os.Geteuid() == 0 {
		if err := exec.Command("chown", "postgres:postgres", dir).Run(); err != nil {
			t.Fatal(err)
		}
	}
	p.run(t, "initdb", "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	p.start(t)
	t.Cleanup(func() {
		_ = p.cmd("pg_ctl", "-D", filepath.Join(p.dir, "data"), "-m", "immediate", "stop").Run()
		_ = os.RemoveAll(dir)
	})
	return p
}

func (p *ownPostgres) cmd(name string, args ...string) *exec.Cmd {
	bin := filepath.Join(p.bin, name)
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	return exec.Command(bin, args...)
}

func (p *ownPostgres) run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := p.cmd(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func (p *ownPostgres) start(t *testing.T) {
	t.Helper()
	p.run(t, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-w", "-l", filepath.Join(p.dir, "log"),
		"-o", "-p "+p.port+" -k "+p.dir+" -c listen_addresses=127.0.0.1 -c fsync=off", "start")
}

func (p *ownPostgres) stop(t *testing.T) {
	t.Helper()
	p.run(t, "pg_ctl", "-D", filepath.Join(p.dir, "data"), "-w", "-m", "fast", "stop")
}

func (p *ownPostgres) dsn() string {
	return "postgres://postgres@127.0.0.1:" + p.port + "/postgres?sslmode=disable&connect_timeout=2"
}

// TestStoreOutageKeepsTraffic: with PostgreSQL stopped mid-traffic,
// proxied requests with store-made keys keep flowing, admin writes get
// 503, /readyz says the store is unavailable (and the node stays ready);
// when PostgreSQL returns, writes work again and propagate.
func TestStoreOutageKeepsTraffic(t *testing.T) {
	pg := startOwnPostgres(t)
	up := NewUpstream(t, nil)
	nodes := startCluster(t, up, pg.dsn(), 2, "")
	a, b := nodes[0], nodes[1]
	a.mustAPI(t, 201, "POST", "/admin/consumers", map[string]any{"name": "acme"})
	key := a.mustAPI(t, 201, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k1"}).Str(t, "api_key")
	waitKeyStatus(t, b.Gateway, "/key/x", key, 200, time.Second)

	pg.stop(t)
	stopped := time.Now()
	for time.Since(stopped) < 3*time.Second {
		for _, n := range nodes {
			if got := keyGet(t, n.Gateway, "/key/x", key); got != 200 {
				t.Fatalf("traffic stopped with the store: %d", got)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := a.api(t, "POST", "/admin/consumers", map[string]any{"name": "during-outage"})
	if r.Status != 503 || r.Header.Get("Content-Type") != "application/problem+json" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("write during the outage: %d %s", r.Status, r.Body)
	}
	code, body := b.Readyz()
	if code != 200 || !strings.Contains(body, `"status":"unavailable"`) {
		t.Fatalf("readyz during the outage: %d %s", code, body)
	}
	if !b.WaitLog("store unavailable", 3*time.Second) {
		t.Fatal("the outage was not logged")
	}
	// Reads of what the node holds still answer.
	a.mustAPI(t, 200, "GET", "/admin/consumers/acme", nil)

	pg.start(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body = b.Readyz()
		if strings.Contains(body, `"status":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not come back: %s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var key2 string
	for {
		r := a.api(t, "POST", "/admin/consumers/acme/credentials", map[string]any{"kind": "api_key", "id": "k2"})
		if r.Status == 201 {
			key2 = r.Str(t, "api_key")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not come back: %d %s", r.Status, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitKeyStatus(t, b.Gateway, "/key/x", key2, 200, 2*time.Second)
}
