package ratelimit

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/pipeline/pipelinetest"
)

// compileYAML compiles one rate_limit mapping as the gateway would, with
// consumers (for plans) and a state shared across calls when state is set.
func compileYAML(t testing.TB, src string, consumers []config.Consumer, state *pipeline.SharedValues) (*Policy, error) {
	t.Helper()
	env := pipelinetest.Env("t.yaml", state)
	env.Config.Consumers = consumers
	v, err := pipelinetest.Kind(t, "rate_limit", "t.yaml", src, env)
	if err != nil {
		return nil, err
	}
	return v.(*Policy), nil
}

func mustPolicy(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := compileYAML(t, src, nil, nil)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

// fakeClock is a settable clock for the local store, in microseconds.
type fakeClock struct{ now int64 }

func (f *fakeClock) advance(d time.Duration) { f.now += d.Microseconds() }

// withClock makes p's local store use a fake clock starting at a fixed time.
func withClock(p *Policy) *fakeClock {
	fc := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()}
	p.now = func() int64 { return fc.now }
	return fc
}

// reqCtx is a pipeline context from client, optionally authenticated.
func reqCtx(client string, id *pipeline.Identity) *pipeline.Context {
	r := httptest.NewRequest("GET", "/x", nil)
	return &pipeline.Context{Request: r, RequestID: "rid", Route: "r", ClientAddr: netip.MustParseAddr(client), Identity: id}
}

// count sends n requests and returns how many were admitted.
func count(p *Policy, n int, mk func() *pipeline.Context) int {
	ok := 0
	for range n {
		if p.Handle(mk()) == nil {
			ok++
		}
	}
	return ok
}
