package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/internal/pipeline"
)

func TestMethodIndexFixedSet(t *testing.T) {
	for _, tc := range []struct {
		desc, method, want string
	}{
		{"a known method", "GET", "GET"},
		{"PATCH (RFC 5789)", "PATCH", "PATCH"},
		{"lower case is another token", "get", "OTHER"},
		{"an extension method", "PROPFIND", "OTHER"},
		{"anything a client sends", "X-\x00\xff", "OTHER"},
		{"empty", "", "OTHER"},
	} {
		if got := Methods[MethodIndex(tc.method)]; got != tc.want {
			t.Errorf("%s: %q -> %s, want %s", tc.desc, tc.method, got, tc.want)
		}
	}
}

func TestStatusClass(t *testing.T) {
	for _, tc := range []struct {
		desc string
		code int
		want string
	}{
		{"success", 200, "2xx"},
		{"client went away", 499, "4xx"},
		{"bad gateway", 502, "5xx"},
		{"informational", 101, "1xx"},
		{"out of range", 999, "5xx"},
		{"zero", 0, "5xx"},
	} {
		if got := StatusClasses[statusClass(tc.code)]; got != tc.want {
			t.Errorf("%s: %d -> %s, want %s", tc.desc, tc.code, got, tc.want)
		}
	}
}

func TestBoundedFoldsNewValuesPastTheLimit(t *testing.T) {
	b := NewBounded(3)
	for i := range 3 {
		if v := b.Value(fmt.Sprint(i)); v != fmt.Sprint(i) {
			t.Fatalf("value %d folded early: %s", i, v)
		}
	}
	if v := b.Value("new"); v != Other {
		t.Errorf("past the limit: %q, want %q", v, Other)
	}
	if v := b.Value("1"); v != "1" {
		t.Errorf("an admitted value changed: %q", v)
	}
}

func TestAuthReasonsAreBounded(t *testing.T) {
	r := New()
	for i := range 500 {
		r.AuthCounter("api", "jwt", "failure", fmt.Sprintf("reason %d", i)).Inc()
	}
	if n := testutil.CollectAndCount(r.Auth); n != maxReasons+1 {
		t.Errorf("%d auth series for 500 reasons, want %d", n, maxReasons+1)
	}
}

// TestAuthFailuresPerRoute reads the counters back through
// CounterSamples: failures summed per route over methods and reasons,
// successes left out.
func TestAuthFailuresPerRoute(t *testing.T) {
	r := New()
	r.AuthCounter("api", "jwt", "failure", "expired").Add(2)
	r.AuthCounter("api", "key", "failure", "unknown key").Inc()
	r.AuthCounter("api", "jwt", "success", "").Add(5)
	r.AuthCounter("admin", "basic", "failure", "bad password").Inc()
	got := r.AuthFailures()
	if len(got) != 2 || got["api"] != 3 || got["admin"] != 1 {
		t.Fatalf("AuthFailures() = %v, want api 3 and admin 1", got)
	}
	n := 0
	for _, s := range CounterSamples(r.Auth) {
		if s.Labels["route"] == "api" && s.Labels["method"] == "jwt" && s.Labels["outcome"] == "success" {
			n++
			if s.Value != 5 {
				t.Fatalf("api/jwt/success = %d, want 5", s.Value)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d samples for api/jwt/success, want 1", n)
	}
}

func TestRouteObserve(t *testing.T) {
	r := New()
	kinds := [pipeline.NumPhases][]string{}
	kinds[pipeline.PhaseLimit] = []string{"rate_limit"}
	kinds[pipeline.PhaseValidate] = []string{"validate", "waf"}
	rm := r.Route("api", "svc", &kinds)
	rm.Observe(&Request{Method: "GET", Status: 200, Duration: 3 * time.Millisecond, Upstream: 2 * time.Millisecond, BytesIn: 10, BytesOut: 20, Phase: -1})
	rm.Observe(&Request{Method: "BREW", Status: 429, Duration: time.Millisecond, Phase: int(pipeline.PhaseLimit), Policy: 0})
	rm.Observe(&Request{Method: "POST", Status: 403, Duration: time.Millisecond, Phase: int(pipeline.PhaseValidate), Policy: 1, WAF: true, Rule: "942100"})
	for _, tc := range []struct {
		desc string
		got  float64
		want float64
	}{
		{"GET 2xx", testutil.ToFloat64(r.requests.WithLabelValues("api", "GET", "2xx")), 1},
		{"unknown method as OTHER", testutil.ToFloat64(r.requests.WithLabelValues("api", "OTHER", "4xx")), 1},
		{"rate limit refusal", testutil.ToFloat64(r.rateLimited.WithLabelValues("api")), 1},
		{"policy refusal", testutil.ToFloat64(r.refusals.WithLabelValues("api", "limit", "rate_limit")), 1},
		{"waf by group", testutil.ToFloat64(r.wafBlocks.WithLabelValues("api", "sqli")), 1},
		{"request bytes", testutil.ToFloat64(r.reqBytes.WithLabelValues("api")), 10},
		{"response bytes", testutil.ToFloat64(r.respBytes.WithLabelValues("api")), 20},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.desc, tc.got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(r.upstreamDur); n != 1 {
		t.Errorf("upstream histogram series: %d", n)
	}
}

func TestWAFGroup(t *testing.T) {
	for _, tc := range []struct{ desc, rule, want string }{
		{"sql injection", "942100", "sqli"},
		{"xss", "941110", "xss"},
		{"anomaly score", "949110", "anomaly_score"},
		{"custom rule", "1234", "other"},
		{"no rule", "", "other"},
	} {
		if got := WAFGroup(tc.rule); got != tc.want {
			t.Errorf("%s: %s -> %s, want %s", tc.desc, tc.rule, got, tc.want)
		}
	}
}

// BenchmarkRouteObserve is the per-request cost of metrics: one counter,
// three histograms and two byte counters, on resolved handles.
func BenchmarkRouteObserve(b *testing.B) {
	r := New()
	rm := r.Route("api", "svc", &[pipeline.NumPhases][]string{})
	q := Request{Method: "GET", Status: 200, Duration: 3 * time.Millisecond, Upstream: 2 * time.Millisecond, BytesIn: 10, BytesOut: 20, Phase: -1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rm.Observe(&q)
		}
	})
}

// BenchmarkRouteObserveSerial is the same on one goroutine (no contention).
func BenchmarkRouteObserveSerial(b *testing.B) {
	r := New()
	rm := r.Route("api", "svc", &[pipeline.NumPhases][]string{})
	q := Request{Method: "GET", Status: 200, Duration: 3 * time.Millisecond, Upstream: 2 * time.Millisecond, BytesIn: 10, BytesOut: 20, Phase: -1}
	b.ReportAllocs()
	for b.Loop() {
		rm.Observe(&q)
	}
}
