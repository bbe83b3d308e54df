package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/redisconn/redistest"
)

// replayComponents: what the replay tests sign (not @authority: the same
// bytes go to two gateway nodes on different ports).
var replayComponents = []string{"@method", "@path", "@query", "date"}

// replayConfig: one route /orders requiring an HMAC signature by
// partner-a (secret inline, base64) with the default replay protection;
// extra is appended to the signature policy, route to the route's
// policies, top to the top level.
func replayConfig(up *Upstream, secret []byte, extra, route, top string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
routes:
  - name: signed
    paths: [{prefix: /orders}]
    service: svc
    policies:
      - kind: signature
        keys:
          - {id: partner-a, algorithm: hmac-sha256, secret: "%s", secret_encoding: base64}
        required_components: ["@method", "@path", "@query", "date"]
        max_skew: 5m
%s%s%sops: {address: "{{ops}}"}
`, up.URL, base64.StdEncoding.EncodeToString(secret), extra, route, top))
}

// signedBytes is one signed GET, as the bytes on the wire: sending them
// twice is a replay, whatever node receives them.
func signedBytes(t *testing.T, c sigClient, host string, o sigOpts) string {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+host+"/orders?id=7", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("Connection", "close")
	o.components = replayComponents
	c.sign(t, req, o)
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func replaySecret(t *testing.T) []byte {
	t.Helper()
	s := make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// replayRefused asserts a 401 whose access line says "validate: replay".
func replayRefused(t *testing.T, desc string, g *Gateway, resp RawResponse) {
	t.Helper()
	if resp.Status != http.StatusUnauthorized || !strings.Contains(resp.Body, "The request signature is not valid.") {
		t.Errorf("%s: replay answered %d %q, want 401", desc, resp.Status, resp.Body)
		return
	}
	if !g.WaitAccessLog(`"reason":"validate: replay"`, 5*time.Second) {
		t.Errorf("%s: no access line with reason validate: replay:\n%s", desc, g.Stdout.String())
	}
}

// TestSignedRequestReplayRefusedByDefault: with no replay setting at all,
// the same signed request sent twice reaches the upstream once: the second
// is refused (401, reason replay) whether the signature carries a nonce or
// not (then the signature value itself is used once).
func TestSignedRequestReplayRefusedByDefault(t *testing.T) {
	secret := replaySecret(t)
	client := sigClient{keyID: "partner-a", secret: secret}
	for _, tc := range []struct {
		desc string
		o    sigOpts
	}{
		{desc: "no nonce: the signature value is used once", o: sigOpts{noNonce: true}},
		{desc: "with a nonce: the nonce is used once", o: sigOpts{nonce: "n-7f3a9c"}},
	} {
		up := NewUpstream(t, nil)
		g := StartGateway(t, replayConfig(up, secret, "", "", ""))
		raw := signedBytes(t, client, g.Addr, tc.o)
		if first := rawRequest(t, g.Addr, raw); first.Status != 200 || up.Count() != 1 {
			t.Fatalf("%s: first answered %d (%q), upstream saw %d", tc.desc, first.Status, first.Body, up.Count())
		}
		replayRefused(t, tc.desc, g, rawRequest(t, g.Addr, raw))
		if n := up.Count(); n != 1 {
			t.Errorf("%s: upstream saw %d requests, want 1", tc.desc, n)
		}
		g.Stop()
	}
}

// TestSignedRequestReplayRefusedAcrossNodes: two gateway processes share
// the replay store through the real Redis at 127.0.0.1:6379 when the
// route's rate limits use it, when intrusion detection shares bans through
// it, or when the policy names it: a request accepted by node A is refused
// by node B, byte for byte the same, and the upstream sees it once.
func TestSignedRequestReplayRefusedAcrossNodes(t *testing.T) {
	rlNeedRedis(t)
	tlsRedis := redistest.StartTLS(t, false)
	tlsBlock := fmt.Sprintf(`{address: "%s", username: %s, password: %q, tls: %s}`, tlsRedis.Addr, redistest.User, redistest.Password, tlsRedis.TLSBlock())
	for _, tc := range []struct {
		desc, extra, route, top string
	}{
		{desc: "the route's rate limit uses Redis", route: fmt.Sprintf(`      - kind: rate_limit
        limits: [{rate: 1000, per: 1s}]
        store: redis
        redis: {address: "127.0.0.1:6379", prefix: "%s"}
`, rlPrefix())},
		{desc: "intrusion detection shares bans through Redis", top: fmt.Sprintf(`intrusion_detection:
  rules: [{event: auth_failure, threshold: 100, window: 1m, ban: 1m}]
  store: redis
  redis: {address: "127.0.0.1:6379", prefix: "%s"}
`, rlPrefix())},
		{desc: "the policy's own redis block", extra: fmt.Sprintf(`        redis: {address: "127.0.0.1:6379", prefix: "%s"}
`, rlPrefix())},
		{desc: "the policy's own redis block, over TLS", extra: "        redis: " + tlsBlock + "\n"},
		{desc: "intrusion detection shares bans through Redis over TLS", top: `intrusion_detection:
  rules: [{event: auth_failure, threshold: 100, window: 1m, ban: 1m}]
  store: redis
  redis: ` + tlsBlock + "\n"},
	} {
		// A key per row: the replay store outlives the row (the same
		// bytes signed again in the same second would be a replay).
		secret := replaySecret(t)
		client := sigClient{keyID: "partner-a", secret: secret}
		up := NewUpstream(t, nil)
		cfg := replayConfig(up, secret, tc.extra, tc.route, tc.top)
		a, b := StartGateway(t, cfg), StartGateway(t, cfg)
		for _, o := range []sigOpts{{noNonce: true}, {}} {
			up.Reset()
			desc := tc.desc + ", nonce " + fmt.Sprint(!o.noNonce)
			raw := signedBytes(t, client, a.Addr, o)
			if first := rawRequest(t, a.Addr, raw); first.Status != 200 || up.Count() != 1 {
				t.Fatalf("%s: node A answered %d (%q), upstream saw %d", desc, first.Status, first.Body, up.Count())
			}
			replayRefused(t, desc+" (node B)", b, rawRequest(t, b.Addr, raw))
			replayRefused(t, desc+" (node A again)", a, rawRequest(t, a.Addr, raw))
			if n := up.Count(); n != 1 {
				t.Errorf("%s: upstream saw %d requests, want 1", desc, n)
			}
		}
		a.Stop()
		b.Stop()
	}
}

// TestSignedRequestReplayStoreDownRefused: when the shared replay store
// cannot answer, a genuine signed request is refused with 503 (fail
// closed: unrecorded, it could be replayed on another node), the upstream
// never sees it, the outage is logged and the failure counted.
func TestSignedRequestReplayStoreDownRefused(t *testing.T) {
	secret := replaySecret(t)
	client := sigClient{keyID: "partner-a", secret: secret}
	dead := freeAddr(t) // nothing listens here
	up := NewUpstream(t, nil)
	g := StartGateway(t, replayConfig(up, secret, fmt.Sprintf(`        redis: {address: "%s", timeout: 300ms}
`, dead), "", ""))
	resp := rawRequest(t, g.Addr, signedBytes(t, client, g.Addr, sigOpts{}))
	if resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("answered %d %q, want 503", resp.Status, resp.Body)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
	if !g.WaitAccessLog(`"reason":"validate: replay store unavailable"`, 5*time.Second) {
		t.Errorf("no access line with the reason:\n%s", g.Stdout.String())
	}
	if !g.WaitLog(`"event":"signature_replay_store_down"`, 5*time.Second) || !strings.Contains(g.Stderr.String(), `"address":"`+dead+`"`) {
		t.Errorf("the outage is not logged with its address:\n%s", g.Stderr.String())
	}
	if v := metricValue(scrape(t, g), "portcullis_redis_errors_total", map[string]string{"component": "signature"}); v != 1 {
		t.Errorf("portcullis_redis_errors_total{component=signature} = %v, want 1", v)
	}
	if strings.Contains(g.Stdout.String()+g.Stderr.String(), base64.StdEncoding.EncodeToString(secret)) {
		t.Error("the key appears in the logs")
	}
}

// TestSignatureReplayStoreInMemoryWithAClusterStoreIsRefused: admin.store
// on PostgreSQL is how several nodes share one state; a signature policy
// whose replay store would then be one node's memory accepts each
// signature once per node (the replay the test above refuses across two
// nodes). validate refuses it at the policy; a shared Redis, or replay
// protection turned off on purpose, or the one-node SQLite store, passes.
func TestSignatureReplayStoreInMemoryWithAClusterStoreIsRefused(t *testing.T) {
	up := NewUpstream(t, nil)
	const pg = "admin:\n  store: {driver: postgres, dsn: \"postgres://postgres@127.0.0.1:5432/test\"}\n"
	for _, tc := range []struct {
		desc, extra, route, top string
		refused                 bool
	}{
		{desc: "PostgreSQL store, memory replay store", top: pg, refused: true},
		{desc: "PostgreSQL store, the policy's own redis block", top: pg, extra: "        redis: {address: \"127.0.0.1:6379\"}\n"},
		{desc: "PostgreSQL store, the route's rate limit on Redis", top: pg, route: "      - kind: rate_limit\n        limits: [{rate: 10, per: 1s}]\n        store: redis\n        redis: {address: \"127.0.0.1:6379\"}\n"},
		{desc: "PostgreSQL store, replay protection off", top: pg, extra: "        replay_protection: false\n"},
		{desc: "SQLite store, memory replay store", top: "admin: {}\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			text := strings.ReplaceAll(string(replayConfig(up, replaySecret(t), tc.extra, tc.route, tc.top)), "{{public}}", "127.0.0.1:0")
			text = strings.ReplaceAll(text, "{{ops}}", "127.0.0.1:0")
			p := writeFile(t, "gw.yaml", text)
			r := runCLI(t, nil, "validate", "--config", p)
			if !tc.refused {
				if r.code != 0 {
					t.Fatalf("refused (exit %d):\n%s", r.code, r.stderr)
				}
				return
			}
			if r.code != 1 {
				t.Fatalf("exit %d, want 1:\n%s", r.code, r.stderr)
			}
			wantErrorLine(t, r.stderr, p, "routes[0].policies[0]", "admin.store is PostgreSQL (several nodes): a signature would be accepted once per node, not once")
		})
	}
}
