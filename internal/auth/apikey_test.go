package auth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// akConfig parses a gateway config with the given consumers block and one
// route "r" whose auth policy lists the given methods.
func akConfig(t testing.TB, consumers, methods string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`version: 1
listeners: [{name: public, address: "127.0.0.1:0"}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:1"}]}]
consumers:
%s
routes:
  - name: r
    paths: [{prefix: /}]
    service: svc
    policies:
      - kind: auth
        methods:
%s
`, consumers, methods)
	cfg, err := config.Parse("test.yaml", []byte(y))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y)
	}
	return cfg
}

// akCompile compiles route 0's first policy with fresh snapshot values and
// the given long-lived state.
func akCompile(t testing.TB, cfg *config.Config, state *pipeline.SharedValues) (*policy, error) {
	t.Helper()
	v, err := pipelinetest.Policy(t, cfg, 0, 0, pipeline.CompileEnv{Route: "r", Config: cfg, Snapshot: pipeline.NewSharedValues(), State: state})
	if err != nil {
		return nil, err
	}
	return v.(*policy), nil
}

func akMustCompile(t testing.TB, cfg *config.Config, state *pipeline.SharedValues) *policy {
	t.Helper()
	p, err := akCompile(t, cfg, state)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// akKey makes a key and its config hash.
func akKey(t testing.TB, prefix string) (key, hash string) {
	t.Helper()
	k, err := apikey.Generate(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return k, apikey.Hash(k).String()
}

func akContext(r *http.Request) *pipeline.Context {
	return &pipeline.Context{Request: r, ClientAddr: netip.MustParseAddr("192.0.2.7"), Start: time.Now()}
}

// akReason runs the policy and returns "" for success or the refusal reason.
func akReason(p *policy, r *http.Request) (string, *pipeline.Context) {
	c := akContext(r)
	if prob := p.Handle(c); prob != nil {
		return prob.Reason, c
	}
	return "", c
}

type akFixture struct {
	alice, aliceOld, bob, expired, rotated, legacy string
	consumers                                      string
}

func newAKFixture(t testing.TB) akFixture {
	var f akFixture
	var h [5]string
	f.alice, h[0] = akKey(t, "")
	f.aliceOld, h[1] = akKey(t, "")
	f.bob, h[2] = akKey(t, "pk_live")
	f.expired, h[3] = akKey(t, "")
	f.rotated, h[4] = akKey(t, "")
	f.legacy = "legacy-0123456789abcdefghijklmnop"
	f.consumers = fmt.Sprintf(`  - name: alice
    groups: [admins, ops]
    credentials:
      api_keys:
        - {id: alice-2026, hash: "%s"}
        - {id: alice-2025, hash: "%s", not_after: "2999-01-01T00:00:00Z"}
        - {id: alice-expired, hash: "%s", expires_at: "2001-01-01T00:00:00Z"}
        - {id: alice-rotated, hash: "%s", not_after: "2001-01-01T00:00:00Z"}
        - {id: alice-legacy, hash: "%s"}
  - name: bob
    credentials:
      api_keys:
        - {id: bob-1, hash: "%s"}
`, h[0], h[1], h[3], h[4], apikey.Hash(f.legacy).String(), h[2])
	return f
}

func TestAPIKeyAcceptsFromEachSource(t *testing.T) {
	f := newAKFixture(t)
	p := akMustCompile(t, akConfig(t, f.consumers, "          - api_key: {query: api_key}"), pipeline.NewSharedValues())

	cases := []struct {
		name string
		req  func() *http.Request
	}{
		{"header", func() *http.Request {
			r := httptest.NewRequest("GET", "/x?a=1", nil)
			r.Header.Set("X-API-Key", f.alice)
			return r
		}},
		{"authorization", func() *http.Request {
			r := httptest.NewRequest("GET", "/x?a=1", nil)
			r.Header.Set("Authorization", "apikey  "+f.alice)
			return r
		}},
		{"query", func() *http.Request {
			return httptest.NewRequest("GET", "/x?a=1&api_key="+f.alice, nil)
		}},
		{"same key twice", func() *http.Request {
			r := httptest.NewRequest("GET", "/x?a=1", nil)
			r.Header.Set("X-API-Key", f.alice)
			r.Header.Set("Authorization", "ApiKey "+f.alice)
			return r
		}},
	}
	for _, tc := range cases {
		r := tc.req()
		reason, c := akReason(p, r)
		if reason != "" {
			t.Fatalf("%s: refused: %s", tc.name, reason)
		}
		id := c.Identity
		if id.Consumer != "alice" || id.CredentialID != "alice-2026" || id.Method != "api_key" || strings.Join(id.Groups, ",") != "admins,ops" {
			t.Errorf("%s: identity %+v", tc.name, id)
		}
		// The key never goes upstream.
		if r.Header.Get("X-Api-Key") != "" || r.Header.Get("Authorization") != "" || r.URL.RawQuery != "a=1" {
			t.Errorf("%s: key left in the request: %v %q", tc.name, r.Header, r.URL.RawQuery)
		}
	}

	// Another consumer with another prefix.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", f.bob)
	if reason, c := akReason(p, r); reason != "" || c.Identity.Consumer != "bob" || c.Identity.CredentialID != "bob-1" {
		t.Fatalf("bob: %q %+v", reason, c.Identity)
	}
}

func TestAPIKeyRefusals(t *testing.T) {
	f := newAKFixture(t)
	unknown, _ := akKey(t, "")
	typo := f.alice[:len(f.alice)-1] + string("01"[0+boolInt(f.alice[len(f.alice)-1] == '0')])
	p := akMustCompile(t, akConfig(t, f.consumers, "          - api_key: {}"), pipeline.NewSharedValues())
	cases := []struct {
		name, header, auth, query, want string
	}{
		{"no key", "", "", "", "missing credentials"},
		{"bearer is not a key", "", "Bearer " + f.alice, "", "missing credentials"},
		{"query is off", "", "", "api_key=" + f.alice, "missing credentials"},
		{"bad checksum", typo, "", "", "api_key: malformed key"},
		{"garbage", "hello", "", "", "api_key: malformed key"},
		{"too long", strings.Repeat("a", 300), "", "", "api_key: malformed key"},
		{"legacy key while off", f.legacy, "", "", "api_key: malformed key"},
		{"unknown", unknown, "", "", "api_key: unknown key"},
		{"expired", f.expired, "", "", "api_key: expired key"},
		{"rotated out", f.rotated, "", "", "api_key: rotated-out key"},
		{"two keys", f.alice, "ApiKey " + f.bob, "", "api_key: multiple keys"},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/?"+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("X-API-Key", tc.header)
		}
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		reason, c := akReason(p, r)
		if reason != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, reason, tc.want)
		}
		if c.Identity != nil {
			t.Errorf("%s: identity set on refusal", tc.name)
		}
		prob := p.Handle(akContext(r))
		if prob == nil || prob.Status != 401 || prob.Header["Www-Authenticate"][0] != `ApiKey realm="portcullis"` {
			t.Errorf("%s: problem %+v", tc.name, prob)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAPIKeyRotationByClock(t *testing.T) {
	oldKey, oldHash := akKey(t, "")
	newKey, newHash := akKey(t, "")
	deadline := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	cfg := akConfig(t, fmt.Sprintf(`  - name: app
    credentials:
      api_keys:
        - {id: old, hash: "%s", not_after: "%s"}
        - {id: new, hash: "%s", expires_at: "2031-01-01T00:00:00Z"}
`, oldHash, deadline.Format(time.RFC3339), newHash), "          - api_key: {}")
	p := akMustCompile(t, cfg, pipeline.NewSharedValues())
	m := p.methods[0].(*apiKeyMethod)
	var now time.Time
	m.now = func() time.Time { return now }
	try := func(k string) string {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-API-Key", k)
		reason, _ := akReason(p, r)
		return reason
	}
	now = deadline.Add(-time.Second)
	if try(oldKey) != "" || try(newKey) != "" {
		t.Fatal("both keys must work before the deadline")
	}
	now = deadline
	if got := try(oldKey); got != "api_key: rotated-out key" {
		t.Fatalf("old key at the deadline: %q", got)
	}
	if try(newKey) != "" {
		t.Fatal("new key after the old one's deadline")
	}
	now = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := try(newKey); got != "api_key: expired key" {
		t.Fatalf("new key at its expiry: %q", got)
	}
}

func TestAPIKeyOptions(t *testing.T) {
	f := newAKFixture(t)
	// Custom header, scheme off, key forwarded, legacy keys on.
	p := akMustCompile(t, akConfig(t, f.consumers, `          - api_key: {header: X-Key, authorization_scheme: "", forward_key: true, legacy_keys: true}`), pipeline.NewSharedValues())
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Key", f.alice)
	if reason, _ := akReason(p, r); reason != "" || r.Header.Get("X-Key") != f.alice {
		t.Fatalf("custom header: %q, forwarded %q", reason, r.Header.Get("X-Key"))
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "ApiKey "+f.alice)
	if reason, _ := akReason(p, r); reason != "missing credentials" {
		t.Fatalf("scheme off: %q", reason)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Key", f.legacy)
	if reason, c := akReason(p, r); reason != "" || c.Identity.CredentialID != "alice-legacy" {
		t.Fatalf("legacy key: %q", reason)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Key", "short-legacy")
	if reason, _ := akReason(p, r); reason != "api_key: malformed key" {
		t.Fatalf("short legacy key: %q", reason)
	}
	// A Portcullis-shaped key with a bad checksum stays malformed even
	// with legacy keys on.
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Key", f.alice[:10]+"0"+f.alice[11:])
	if f.alice[10] != '0' {
		if reason, _ := akReason(p, r); reason != "api_key: malformed key" {
			t.Fatalf("bad checksum with legacy on: %q", reason)
		}
	}
}

func TestAPIKeyCompileErrors(t *testing.T) {
	_, h := akKey(t, "")
	base := func(keys string) string {
		return "  - name: a\n    credentials:\n      api_keys:\n" + keys
	}
	okKeys := base(fmt.Sprintf("        - {id: k1, hash: %q}\n", h))
	cases := []struct {
		name, consumers, method, want string
		mutate                        func(*config.Config)
	}{
		{"all sources off", okKeys, `          - api_key: {header: "", authorization_scheme: ""}`, "could never read a key", nil},
		{"bad header", okKeys, `          - api_key: {header: "X Key"}`, "not a valid header name", nil},
		{"authorization header", okKeys, `          - api_key: {header: Authorization}`, "authorization_scheme", nil},
		{"bearer scheme", okKeys, `          - api_key: {authorization_scheme: bearer}`, "another method", nil},
		{"bad query name", okKeys, `          - api_key: {query: "a&b"}`, "plain parameter name", nil},
		{"unknown field", okKeys, `          - api_key: {headr: X}`, "headr", nil},
		{"bad hash", okKeys, "          - api_key: {}", "consumers[0].credentials.api_keys[0].hash", func(c *config.Config) {
			c.Consumers[0].Credentials.APIKeys[0].Hash = "md5:abc"
		}},
		{"duplicate id", okKeys, "          - api_key: {}", "used twice", func(c *config.Config) {
			k := c.Consumers[0].Credentials.APIKeys[0]
			k.Hash = apikey.Hash("other").String()
			c.Consumers[0].Credentials.APIKeys = append(c.Consumers[0].Credentials.APIKeys, k)
		}},
		{"duplicate key", okKeys, "          - api_key: {}", "configured twice", func(c *config.Config) {
			k := c.Consumers[0].Credentials.APIKeys[0]
			k.ID = "k2"
			c.Consumers[0].Credentials.APIKeys = append(c.Consumers[0].Credentials.APIKeys, k)
		}},
		{"bad time", okKeys, "          - api_key: {}", "api_keys[0].not_after", func(c *config.Config) {
			c.Consumers[0].Credentials.APIKeys[0].NotAfter = "tomorrow"
		}},
		{"missing id", okKeys, "          - api_key: {}", "needs an id", func(c *config.Config) {
			c.Consumers[0].Credentials.APIKeys[0].ID = ""
		}},
	}
	for _, tc := range cases {
		cfg := akConfig(t, tc.consumers, tc.method)
		if tc.mutate != nil {
			tc.mutate(cfg)
		}
		_, err := akCompile(t, cfg, pipeline.NewSharedValues())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), h[7:]) {
			t.Errorf("%s: the error prints the hash", tc.name)
		}
	}
}

func TestAPIKeyIndexErrorReportedOnce(t *testing.T) {
	_, h := akKey(t, "")
	cfg := akConfig(t, fmt.Sprintf("  - name: a\n    credentials:\n      api_keys:\n        - {id: k1, hash: %q}\n", h), "          - api_key: {}")
	cfg.Consumers[0].Credentials.APIKeys[0].Hash = "sha256:zz"
	env := pipeline.CompileEnv{Route: "r", Config: cfg, Snapshot: pipeline.NewSharedValues(), State: pipeline.NewSharedValues()}
	if _, err := pipelinetest.Policy(t, cfg, 0, 0, env); err == nil {
		t.Fatal("first route: no error")
	}
	// A second route of the same snapshot compiles (the snapshot fails
	// anyway) instead of repeating the same error.
	if _, err := pipelinetest.Policy(t, cfg, 0, 0, env); err != nil {
		t.Fatalf("second route repeats the error: %v", err)
	}
}

// TestAPIKeyUsageThroughLoopback serves the compiled policy over real
// loopback HTTP and reads the counters with UsageOf, across a recompile
// that keeps the gateway's state (a reload).
func TestAPIKeyUsageThroughLoopback(t *testing.T) {
	f := newAKFixture(t)
	cfg := akConfig(t, f.consumers, "          - api_key: {}")
	state := pipeline.NewSharedValues()
	var mu sync.Mutex
	p := akMustCompile(t, cfg, state)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cur := p
		mu.Unlock()
		host, _, _ := strings.Cut(r.RemoteAddr, ":")
		c := &pipeline.Context{Request: r, ClientAddr: netip.MustParseAddr(host), Start: time.Now()}
		if prob := cur.Handle(c); prob != nil {
			w.WriteHeader(prob.Status)
			return
		}
		w.WriteHeader(200)
	}))
	defer srv.Close()
	send := func(key string) int {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("X-API-Key", key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	before := time.Now().Add(-time.Second)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if s := send(f.alice); s != 200 {
					t.Errorf("status %d", s)
				}
			}
		}()
	}
	wg.Wait()
	if s := send(f.rotated); s != 401 {
		t.Fatalf("rotated key: %d", s)
	}
	// Reload: a new snapshot, the same state.
	mu.Lock()
	p = akMustCompile(t, cfg, state)
	mu.Unlock()
	send(f.alice)

	byID := map[string]KeyUsage{}
	for _, u := range UsageOf(state) {
		byID[u.ID] = u
	}
	a := byID["alice-2026"]
	if a.Requests != 21 || a.Refused != 0 || a.Consumer != "alice" {
		t.Errorf("alice-2026 usage %+v, want 21 requests", a)
	}
	if a.LastClient != netip.MustParseAddr("127.0.0.1") || a.LastUsed.Before(before.Truncate(time.Second)) || a.LastUsed.After(time.Now()) {
		t.Errorf("alice-2026 last use %v from %v", a.LastUsed, a.LastClient)
	}
	if r := byID["alice-rotated"]; r.Requests != 0 || r.Refused != 1 {
		t.Errorf("alice-rotated usage %+v", r)
	}
	if b := byID["bob-1"]; b.Requests != 0 || !b.LastUsed.IsZero() || b.LastClient.IsValid() {
		t.Errorf("unused key usage %+v", b)
	}
	if len(byID) != 6 {
		t.Errorf("%d keys in usage, want 6", len(byID))
	}
}

func TestAPIKeyQueryHelpers(t *testing.T) {
	var got []string
	scanKeyQuery("a=1&api_key=x&api%5Fkey=y%2Bz&api_key&b=api_key", "api_key", func(v string) { got = append(got, v) })
	if strings.Join(got, ",") != "x,y+z," {
		t.Fatalf("scan: %q", got)
	}
	if d := dropQueryParams("a=1&api_key=x&b=2&api%5Fkey=y", []string{"api_key"}); d != "a=1&b=2" {
		t.Fatalf("drop: %q", d)
	}
}

// FuzzAPIKeyQuery: its seed corpus is in testdata/fuzz/FuzzAPIKeyQuery.
func FuzzAPIKeyQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw, name string) {
		if !validKeyQueryName(name) {
			return
		}
		dropped := dropQueryParams(raw, []string{name})
		scanKeyQuery(dropped, name, func(string) { t.Fatalf("%q still has %q after drop: %q", raw, name, dropped) })
		if len(dropped) > len(raw) {
			t.Fatal("drop grew the query")
		}
	})
}

func BenchmarkAPIKeyAuthenticate(b *testing.B) {
	f := newAKFixture(b)
	p := akMustCompile(b, akConfig(b, f.consumers, "          - api_key: {forward_key: true}"), pipeline.NewSharedValues())
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", f.alice)
	c := akContext(r)
	b.ReportAllocs()
	for b.Loop() {
		c.Identity = nil
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
}

func BenchmarkAPIKeyRefuseMalformed(b *testing.B) {
	f := newAKFixture(b)
	p := akMustCompile(b, akConfig(b, f.consumers, "          - api_key: {}"), pipeline.NewSharedValues())
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-API-Key", f.alice[:len(f.alice)-3]+"zzz")
	c := akContext(r)
	b.ReportAllocs()
	for b.Loop() {
		if prob := p.Handle(c); prob == nil {
			b.Fatal("accepted")
		}
	}
}
