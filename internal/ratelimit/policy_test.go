package ratelimit

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
)

func TestPolicy429AndHeaders(t *testing.T) {
	p := mustPolicy(t, `
kind: rate_limit
limits:
  - {name: burst, rate: 10, per: 1s, burst: 3}
  - {name: daily, rate: 10000, per: 24h}
`)
	fc := withClock(p)
	const policyHdr = `"burst";q=10;w=1, "daily";q=10000;w=86400`
	for i := range 3 {
		c := reqCtx("192.0.2.1", nil)
		if prob := p.Handle(c); prob != nil {
			t.Fatalf("request %d refused: %+v", i, prob)
		}
		h := http.Header{}
		p.Respond(c, 200, h)
		if h.Get("RateLimit-Policy") != policyHdr {
			t.Fatalf("RateLimit-Policy %q", h.Get("RateLimit-Policy"))
		}
		want := []string{`"burst";r=2;t=1, "daily";r=9999;t=9`, `"burst";r=1;t=1, "daily";r=9998;t=18`, `"burst";r=0;t=1, "daily";r=9997;t=26`}[i]
		if got := h.Get("RateLimit"); got != want {
			t.Fatalf("request %d: RateLimit %q, want %q", i, got, want)
		}
	}
	c := reqCtx("192.0.2.1", nil)
	prob := p.Handle(c)
	if prob == nil || prob.Status != 429 || prob.Reason != ReasonExceeded || strings.Contains(prob.Detail, "192.0.2.1") {
		t.Fatalf("4th: %+v", prob)
	}
	if prob.Header.Get("Retry-After") != "1" || prob.Header.Get("RateLimit-Policy") != policyHdr ||
		prob.Header.Get("RateLimit") != `"burst";r=0;t=1, "daily";r=9997;t=26` {
		t.Fatalf("429 headers %v", prob.Header)
	}
	// Respond does nothing for a request it did not admit.
	h := http.Header{}
	p.Respond(c, 429, h)
	if len(h) != 0 {
		t.Fatalf("headers on a refused request: %v", h)
	}
	// Another address has its own bucket; after 100ms the first one has one more.
	if p.Handle(reqCtx("192.0.2.2", nil)) != nil {
		t.Fatal("other address refused")
	}
	fc.advance(100 * time.Millisecond)
	if p.Handle(reqCtx("192.0.2.1", nil)) != nil {
		t.Fatal("refused after the interval")
	}
}

// The RateLimit value is written into the request's decision: a second
// Respond for the same request (the first header map still holding the
// first value) gets a value of its own, and names longer than the
// decision's buffer still give the whole value.
func TestPolicyRateLimitHeaderStable(t *testing.T) {
	long := strings.Repeat("l", 32)
	p := mustPolicy(t, `
kind: rate_limit
limits:
  - {name: burst, rate: 10, per: 1s, burst: 3}
  - {name: `+long+`, rate: 10000, per: 24h}
  - {name: m`+long[1:]+`, rate: 20000, per: 24h}
`)
	withClock(p)
	c := reqCtx("192.0.2.1", nil)
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("refused: %+v", prob)
	}
	want := `"burst";r=2;t=1, "` + long + `";r=9999;t=9, "m` + long[1:] + `";r=19999;t=5`
	h1, h2 := http.Header{}, http.Header{}
	p.Respond(c, 200, h1)
	first := h1.Get("RateLimit")
	p.Respond(c, 200, h2)
	if first != want || h1.Get("RateLimit") != want || h2.Get("RateLimit") != want {
		t.Fatalf("RateLimit %q, then %q and %q; want %q", first, h1.Get("RateLimit"), h2.Get("RateLimit"), want)
	}
	// Respond itself allocates nothing: the value's bytes are the
	// decision's (made by Handle) and the map's keys exist already.
	short := mustPolicy(t, "kind: rate_limit\nlimits: [{rate: 1000000, per: 1s}]\n")
	h := http.Header{"Ratelimit": nil, "Ratelimit-Policy": nil}
	handle := func() *pipeline.Context {
		c := reqCtx("192.0.2.1", nil)
		if prob := short.Handle(c); prob != nil {
			t.Fatalf("refused: %+v", prob)
		}
		return c
	}
	base := testing.AllocsPerRun(20, func() { handle() })
	allocs := testing.AllocsPerRun(20, func() { short.Respond(handle(), 200, h) })
	if allocs != base {
		t.Errorf("Respond: %v allocations", allocs-base)
	}
}

func TestPolicyKeys(t *testing.T) {
	alice := &pipeline.Identity{Consumer: "alice", CredentialID: "a1"}
	alice2 := &pipeline.Identity{Consumer: "alice", CredentialID: "a2"}
	cases := []struct {
		key        string
		same, diff [2]*pipeline.Context
	}{
		// default: the consumer when authenticated, whatever the address
		{"", [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.9", alice2)}, [2]*pipeline.Context{reqCtx("192.0.2.1", nil), reqCtx("192.0.2.2", nil)}},
		{"consumer", [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.9", alice2)}, [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.1", &pipeline.Identity{Consumer: "bob"})}},
		{"credential", [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.9", alice)}, [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.1", alice2)}},
		{"client_address", [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.1", nil)}, [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("2001:db8::1", alice)}},
		{"route", [2]*pipeline.Context{reqCtx("192.0.2.1", alice), reqCtx("192.0.2.7", nil)}, [2]*pipeline.Context{reqCtx("192.0.2.1", nil), withRoute(reqCtx("192.0.2.1", nil), "other")}},
		{"header:x-tenant", [2]*pipeline.Context{withHeader(reqCtx("192.0.2.1", nil), "t1"), withHeader(reqCtx("192.0.2.2", alice), "t1")}, [2]*pipeline.Context{withHeader(reqCtx("192.0.2.1", nil), "t1"), withHeader(reqCtx("192.0.2.1", nil), "t2")}},
	}
	for _, tc := range cases {
		src := "kind: rate_limit\nlimits: [{rate: 1, per: 1h}]\n"
		if tc.key != "" {
			src += "key: " + tc.key + "\n"
		}
		k := func(c *pipeline.Context) string { p := mustPolicy(t, src); return string(p.appendKey(nil, c, p.def)) }
		if a, b := k(tc.same[0]), k(tc.same[1]); a != b {
			t.Errorf("key %q: %q and %q should share a bucket", tc.key, a, b)
		}
		if a, b := k(tc.diff[0]), k(tc.diff[1]); a == b {
			t.Errorf("key %q: both %q", tc.key, a)
		}
	}
	// A huge header value is hashed, never stored whole.
	p := mustPolicy(t, "kind: rate_limit\nlimits: [{rate: 1, per: 1h}]\nkey: header:X-Tenant\n")
	big := withHeader(reqCtx("192.0.2.1", nil), strings.Repeat("x", 10_000))
	if k := p.appendKey(nil, big, p.def); len(k) > 100 {
		t.Fatalf("key of %d bytes", len(k))
	}
	if !mustPolicy(t, "kind: rate_limit\nlimits: [{rate: 1, per: 1h}]\nkey: consumer\n").NeedsIdentity() {
		t.Error("key consumer does not need an identity")
	}
}

func withRoute(c *pipeline.Context, r string) *pipeline.Context { c.Route = r; return c }

func withHeader(c *pipeline.Context, v string) *pipeline.Context {
	c.Request.Header.Set("X-Tenant", v)
	return c
}

func TestPolicyPlansOverride(t *testing.T) {
	consumers := []config.Consumer{
		{Name: "gold-user", Metadata: map[string]string{"plan": "gold"}},
		{Name: "free-user"},
		{Name: "typo-user", Metadata: map[string]string{"plan": "platinum"}},
	}
	p, err := compileYAML(t, `
kind: rate_limit
limits: [{rate: 2, per: 1m}]
plans:
  gold: [{rate: 5, per: 1m}]
`, consumers, nil)
	if err != nil {
		t.Fatal(err)
	}
	withClock(p)
	for name, want := range map[string]int{"gold-user": 5, "free-user": 2, "typo-user": 2} {
		id := &pipeline.Identity{Consumer: name}
		if got := count(p, 10, func() *pipeline.Context { return reqCtx("192.0.2.1", id) }); got != want {
			t.Errorf("%s: admitted %d, want %d", name, got, want)
		}
	}
	c := reqCtx("192.0.2.50", &pipeline.Identity{Consumer: "gold-user"})
	if p.Handle(c) == nil {
		t.Fatal("gold user not limited")
	}
}

func TestPolicyStateSurvivesReload(t *testing.T) {
	state := pipeline.NewSharedValues()
	src := "kind: rate_limit\nlimits: [{rate: 1, per: 1h}]\n"
	p1, _ := compileYAML(t, src, nil, state)
	if p1.Handle(reqCtx("192.0.2.1", nil)) != nil {
		t.Fatal("first refused")
	}
	p2, _ := compileYAML(t, src, nil, state)
	if p2.Handle(reqCtx("192.0.2.1", nil)) == nil {
		t.Fatal("a reload reset the limit")
	}
}

func TestPolicyConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		"limits: []":                                        "at least one limit",
		"limits: [{rate: 1, per: 1s, burst: 0}]":            "burst must be at least 1",
		"limits: [{rate: 1, per: 100ms}]":                   "whole number of seconds",
		"limits: [{rate: 1, per: 1s}, {rate: 1, per: 1s}]":  "two limits named",
		"limits: [{name: 'A b', rate: 1, per: 1s}]":         "name",
		"limits: [{rate: 1, per: 1s}]\nkey: cookie":         "key \"cookie\"",
		"limits: [{rate: 1, per: 1s}]\nkey: 'header:'":      "invalid header name",
		"limits: [{rate: 1, per: 1s}]\nstore: memcached":    "store",
		"limits: [{rate: 1, per: 1s}]\nstore: redis":        "redis.address",
		"limits: [{rate: 1, per: 1s}]\nfail: maybe":         "fail",
		"limits: [{rate: 1, per: 1s}]\nredis: {address: x}": "store is not redis",
		"limits: [{rate: 1, per: 1s}]\nplans: {gold: []}":   "plans.gold",
		"limits: [{rate: 1, per: 1s}]\nrate: 5":             "rate",
		"limits: [{rate: 1, per: 1s}]\nbucket: 'no spaces'": "bucket",
		"limits: [{rate: 1, per: 1s}, {rate: 2, per: 1s}, {rate: 3, per: 1s}, {rate: 4, per: 1s}, {rate: 5, per: 1s}]": "at most 4",
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: 'x:1', timeout: 1m}":                             "under 5s",
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: nohost}":                                         `redis.address: "nohost": not a host:port address`,
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: 'x:1', db: 16}":                                  "redis.db: must be from 0 to 15",
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: 'x:1', db: -1}":                                  "redis.db: must be from 0 to 15",
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: 'x:1', probe: -1s}":                              `redis.probe: duration "-1s" must not be negative`,
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: 'x:1', tls: {min_version: '1.1'}}":               `redis.tls.min_version: must be "1.2" or "1.3"`,
		"limits: [{rate: 1, per: 1s}]\nstore: redis\nredis: {address: 'x:1', tls: {expected_identity: 'http://x'}}":    "redis.tls.expected_identity",
	} {
		_, err := compileYAML(t, "kind: rate_limit\n"+src+"\n", nil, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", src, err, want)
		}
	}
}
