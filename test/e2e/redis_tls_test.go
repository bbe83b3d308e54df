package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/devpki"
	"github.com/portcullis/portcullis/internal/redisconn/redistest"
)

// redisTLSRateLimit is a route whose rate_limit policy counts in the
// TLS-only Redis srv, reached through the given tls block and password;
// fail: closed, so a Redis the gateway cannot reach answers 503.
func redisTLSRateLimit(srv *redistest.Server, password, tlsBlock string) string {
	return fmt.Sprintf(`    policies:
      - kind: rate_limit
        key: route
        limits: [{rate: 3, per: 1m}]
        store: redis
        redis:
          address: "%s"
          username: %s
          password: %q
          timeout: 2s
          tls: %s
        fail: closed`, srv.Addr, redistest.User, password, tlsBlock)
}

// TestRateLimitRedisOverTLS: two gateways count one limit in a Redis that
// takes TLS only, with a client certificate and an ACL user: together they
// admit exactly the limit, and the counters are in that Redis.
func TestRateLimitRedisOverTLS(t *testing.T) {
	srv := redistest.StartTLS(t, false)
	up := NewUpstream(t, nil)
	route := redisTLSRateLimit(srv, redistest.Password, srv.TLSBlock())
	a, b := StartGateway(t, simpleConfig(up, route)), StartGateway(t, simpleConfig(up, route))
	var codes []int
	for _, gw := range []*Gateway{a, b, a, b} {
		resp, err := http.Get(gw.URL("/r"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Fatalf("statuses %v, want [200 200 200 429]: the two nodes share 3 requests a minute", codes)
	}
	if up.Count() != 3 {
		t.Fatalf("upstream saw %d requests, want 3", up.Count())
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: redistest.User, Password: redistest.Password, TLSConfig: srv.ClientTLS(t)})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) == 0 {
		t.Fatal("no counter in the TLS Redis")
	}
}

// TestRateLimitRedisOverTLSRefusals: a gateway that cannot prove itself to
// Redis, or cannot verify Redis, never counts there; with fail: closed its
// requests are refused and the upstream sees none.
func TestRateLimitRedisOverTLSRefusals(t *testing.T) {
	srv := redistest.StartTLS(t, false)
	other := filepath.Join(t.TempDir(), "other")
	if _, err := devpki.Create(devpki.Options{Dir: other}); err != nil {
		t.Fatal(err)
	}
	ca, cert, key := srv.File("ca.pem"), srv.File("gateway-client.pem"), srv.File("gateway-client.key")
	for _, tc := range []struct {
		desc, password, tls string
	}{
		{desc: "Redis's certificate not signed by ca_file", password: redistest.Password,
			tls: fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", filepath.Join(other, "ca.pem"), cert, key)},
		{desc: "an identity Redis's certificate does not carry", password: redistest.Password,
			tls: srv.TLSBlock("expected_identity: redis.other.example")},
		{desc: "no client certificate", password: redistest.Password, tls: fmt.Sprintf("{ca_file: %q}", ca)},
		{desc: "a client certificate from another CA", password: redistest.Password,
			tls: fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", ca, filepath.Join(other, "gateway-client.pem"), filepath.Join(other, "gateway-client.key"))},
		{desc: "the wrong ACL password", password: "not-the-password", tls: srv.TLSBlock()},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up := NewUpstream(t, nil)
			gw := StartGateway(t, simpleConfig(up, redisTLSRateLimit(srv, tc.password, tc.tls)))
			resp, err := http.Get(gw.URL("/r"))
			if err != nil {
				t.Fatal(err)
			}
			refusedBeforeUpstream(t, up, resp, http.StatusServiceUnavailable)
			if strings.Contains(gw.Stdout.String()+gw.Stderr.String(), tc.password) {
				t.Fatal("the Redis password is in the gateway's output")
			}
		})
	}
}

// TestRedisTLSBlockCheckedAtLoad: a Redis tls block whose files do not load
// fails validation at its field, before anything is live.
func TestRedisTLSBlockCheckedAtLoad(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing-ca.pem")
	for _, tc := range []struct {
		desc, block, want string
	}{
		{desc: "rate_limit", want: "redis.tls.ca_file", block: fmt.Sprintf(`routes:
  - name: r
    paths: [{prefix: /}]
    service: s
    policies:
      - kind: rate_limit
        limits: [{rate: 3, per: 1m}]
        store: redis
        redis: {address: "127.0.0.1:6380", tls: {ca_file: %q}}
`, missing)},
		{desc: "intrusion_detection", want: "intrusion_detection.redis.tls.ca_file", block: fmt.Sprintf(`routes:
  - name: r
    paths: [{prefix: /}]
    service: s
intrusion_detection:
  rules: [{event: auth_failure, threshold: 2, window: 1m, ban: 1m}]
  store: redis
  redis: {address: "127.0.0.1:6380", tls: {ca_file: %q}}
`, missing)},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := writeFile(t, "gw.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: s, targets: [{url: "http://127.0.0.1:9"}]}]
`+tc.block)
			r := runCLI(t, nil, "validate", "--config", p)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "missing-ca.pem") {
				t.Fatalf("exit %d, want 1 and an error at %s naming the file; stderr:\n%s", r.code, tc.want, r.stderr)
			}
		})
	}
}

// TestEveryRedisBlockCheckedAlike: a Redis block is checked by one rule
// wherever it stands (a rate_limit policy, a signature policy's replay
// store, intrusion detection's shared bans): `portcullis validate` lists
// every problem of the same broken block, each at its own line and column
// with the same words (a password that would cross the network in clear
// among them), and never prints the password.
func TestEveryRedisBlockCheckedAlike(t *testing.T) {
	const broken = `{address: nohost, password: "redis-password-never-printed", db: 16, tls: {cert_file: /etc/hostname, min_version: "1.0", expected_identity: "http://x"}}`
	const secret = "0123456789abcdef0123456789abcdef"
	blocksOf := func(redis string) []struct{ desc, prefix, block string } {
		return []struct{ desc, prefix, block string }{
			{"rate_limit", "routes[0].policies[0].redis", `routes:
  - name: r
    paths: [{prefix: /}]
    service: s
    policies:
      - kind: rate_limit
        limits: [{rate: 3, per: 1m}]
        store: redis
        redis: ` + redis + "\n"},
			{"signature", "routes[0].policies[0].redis", `routes:
  - name: r
    paths: [{prefix: /}]
    service: s
    policies:
      - kind: signature
        keys: [{id: a, algorithm: hmac-sha256, secret: "` + secret + `"}]
        required_components: ["@method"]
        redis: ` + redis + "\n"},
			{"intrusion_detection", "intrusion_detection.redis", `routes:
  - name: r
    paths: [{prefix: /}]
    service: s
intrusion_detection:
  rules: [{event: auth_failure, threshold: 2, window: 1m, ban: 1m}]
  store: redis
  redis: ` + redis + "\n"},
		}
	}
	// The second block has no tls: its password would cross the network
	// in clear to a Redis off this machine.
	const plain = `{address: "10.0.0.9:6379", password: "redis-password-never-printed"}`
	for _, variant := range []struct {
		broken string
		fields []string
	}{
		{broken, []string{"address", "db", "tls.key_file", "tls.min_version", "tls.expected_identity"}},
		{plain, []string{"password"}},
	} {
		checkRedisBlocksAlike(t, blocksOf(variant.broken), variant.fields)
	}
}

// checkRedisBlocksAlike runs validate on each block and wants an error at
// each field, each at its own line and column, with the same words in
// every block, and the password never printed.
func checkRedisBlocksAlike(t *testing.T, blocks []struct{ desc, prefix, block string }, fields []string) {
	t.Helper()
	want := map[string]string{} // field -> message, from the first block
	for _, b := range blocks {
		at := map[string]string{} // line:column -> field: each problem at its own field
		p := writeFile(t, "gw.yaml", `version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: s, targets: [{url: "http://127.0.0.1:9"}]}]
`+b.block)
		r := runCLI(t, nil, "validate", "--config", p)
		if r.code != 1 || strings.Contains(r.stderr+r.stdout, "redis-password-never-printed") {
			t.Fatalf("%s: exit %d (want 1), output:\n%s%s", b.desc, r.code, r.stdout, r.stderr)
		}
		for _, f := range fields {
			re := regexp.MustCompile(`gw\.yaml:(\d+):(\d+): ` + regexp.QuoteMeta(b.prefix+"."+f) + `: (.+)`)
			m := re.FindStringSubmatch(r.stderr)
			if m == nil {
				t.Errorf("%s: no error at %s.%s; stderr:\n%s", b.desc, b.prefix, f, r.stderr)
				continue
			}
			if other, ok := at[m[1]+":"+m[2]]; ok {
				t.Errorf("%s: %s and %s both at %s:%s: not each at its own field", b.desc, other, f, m[1], m[2])
			}
			at[m[1]+":"+m[2]] = f
			if w, ok := want[f]; ok && m[3] != w {
				t.Errorf("%s: %s: %q, but %s said %q", b.desc, f, m[3], blocks[0].desc, w)
			} else if !ok {
				want[f] = m[3]
			}
		}
	}
}
