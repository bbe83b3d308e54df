package alerts

import (
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

func compileOne(t *testing.T, rc config.AlertRule) []Rule {
	t.Helper()
	rules, err := Compile(config.Alerts{Rules: []config.AlertRule{rc}})
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// errorSample returns a cumulative sample after reqs requests of which errs
// failed.
func errorSample(reqs, errs uint64) map[string]Sample {
	return map[string]Sample{"orders": {Requests: reqs, Errors: errs}}
}

// TestFlappingValueAlertsOnce: the error rate alternates above and below
// the firing threshold but never below the resolving one: one alert, not
// one per evaluation.
func TestFlappingValueAlertsOnce(t *testing.T) {
	below := 0.02
	e := NewEvaluator(compileOne(t, config.AlertRule{Name: "errors", Metric: MetricErrorRate, Window: config.Duration(10 * time.Second), Above: 0.05, Below: &below}), nil)
	now := time.Unix(1_700_000_000, 0)
	var reqs, errs uint64
	var got []Firing
	for i := range 40 {
		// 100 requests per tick (one tick = the window); 6% then 4% errors.
		reqs += 100
		if i%2 == 0 {
			errs += 6
		} else {
			errs += 4
		}
		now = now.Add(10 * time.Second)
		got = append(got, e.Evaluate(now, errorSample(reqs, errs))...)
	}
	if len(got) != 1 || got[0].State != "firing" {
		t.Fatalf("flapping between 4%% and 6%%: %+v, want one firing alert", got)
	}
	// Recovery below the lower threshold resolves it once.
	for range 3 {
		reqs += 100
		now = now.Add(10 * time.Second)
		got = append(got, e.Evaluate(now, errorSample(reqs, errs))...)
	}
	if len(got) != 2 || got[1].State != "resolved" {
		t.Fatalf("after recovery: %+v, want firing then resolved", got)
	}
}

// TestWithoutHysteresisWouldLoop is the counter-example the band prevents:
// with below equal to above, the same flapping values alert every time.
func TestWithoutHysteresisWouldLoop(t *testing.T) {
	same := 0.05
	e := NewEvaluator(compileOne(t, config.AlertRule{Name: "errors", Metric: MetricErrorRate, Window: config.Duration(10 * time.Second), Above: 0.05, Below: &same}), nil)
	now := time.Unix(1_700_000_000, 0)
	var reqs, errs uint64
	n := 0
	for i := range 10 {
		reqs += 100
		errs += uint64(6 - 2*(i%2))
		now = now.Add(10 * time.Second)
		n += len(e.Evaluate(now, errorSample(reqs, errs)))
	}
	if n < 8 {
		t.Errorf("%d state changes without a band, want one per evaluation", n)
	}
}

func TestTooFewRequestsAreNotJudged(t *testing.T) {
	e := NewEvaluator(compileOne(t, config.AlertRule{Name: "errors", Metric: MetricErrorRate, Above: 0.05, MinRequests: 50}), nil)
	now := time.Unix(1_700_000_000, 0)
	e.Evaluate(now, errorSample(0, 0))
	if got := e.Evaluate(now.Add(time.Second), errorSample(10, 10)); len(got) != 0 {
		t.Errorf("10 requests, all failed, min_requests 50: %+v", got)
	}
}

func TestWindowSlides(t *testing.T) {
	e := NewEvaluator(compileOne(t, config.AlertRule{Name: "auth", Metric: MetricAuthFailures, Window: config.Duration(30 * time.Second), Above: 20}), nil)
	now := time.Unix(1_700_000_000, 0)
	var fails uint64
	var got []Firing
	// 5 failures every 10s: 15 per window, never above 20.
	for range 20 {
		fails += 5
		now = now.Add(10 * time.Second)
		got = append(got, e.Evaluate(now, map[string]Sample{"login": {AuthFailures: fails}})...)
	}
	if len(got) != 0 {
		t.Fatalf("steady 15 per window fired: %+v", got)
	}
	// A burst of 30 in one tick.
	fails += 30
	now = now.Add(10 * time.Second)
	got = e.Evaluate(now, map[string]Sample{"login": {AuthFailures: fails}})
	if len(got) != 1 || got[0].Route != "login" || got[0].Value < 30 {
		t.Fatalf("burst: %+v", got)
	}
}

func TestLatencyP99(t *testing.T) {
	bounds := []float64{0.01, 0.1, 1}
	base := Sample{Requests: 0, Bounds: bounds, Counts: []uint64{0, 0, 0}}
	// 100 requests: 98 under 10ms, 2 between 100ms and 1s.
	cur := Sample{Requests: 100, Bounds: bounds, Counts: []uint64{98, 98, 100}}
	if q := quantile(0.99, base, cur); q < 0.1 || q > 1 {
		t.Errorf("p99 = %v, want in (0.1, 1]", q)
	}
	cur = Sample{Requests: 100, Bounds: bounds, Counts: []uint64{100, 100, 100}}
	if q := quantile(0.99, base, cur); q > 0.01 {
		t.Errorf("p99 = %v, want <= 0.01", q)
	}
}

func TestReloadKeepsState(t *testing.T) {
	rules := compileOne(t, config.AlertRule{Name: "errors", Metric: MetricErrorRate, Above: 0.05, Window: config.Duration(10 * time.Second)})
	e := NewEvaluator(rules, nil)
	now := time.Unix(1_700_000_000, 0)
	e.Evaluate(now, errorSample(0, 0))
	if got := e.Evaluate(now.Add(10*time.Second), errorSample(100, 50)); len(got) != 1 {
		t.Fatalf("%+v", got)
	}
	e2 := NewEvaluator(rules, e)
	if got := e2.Evaluate(now.Add(20*time.Second), errorSample(200, 100)); len(got) != 0 {
		t.Errorf("after a reload the same alert fired again: %+v", got)
	}
}

func TestCompileErrors(t *testing.T) {
	neg, high := -1.0, 2.0
	for _, tc := range []struct {
		desc string
		rc   config.AlertRule
	}{
		{"no name", config.AlertRule{Metric: MetricBans, Above: 1}},
		{"unknown metric", config.AlertRule{Name: "a", Metric: "cpu", Above: 1}},
		{"no threshold", config.AlertRule{Name: "a", Metric: MetricBans}},
		{"error rate above 1", config.AlertRule{Name: "a", Metric: MetricErrorRate, Above: 5}},
		{"below negative", config.AlertRule{Name: "a", Metric: MetricBans, Above: 1, Below: &neg}},
		{"below above above", config.AlertRule{Name: "a", Metric: MetricBans, Above: 1, Below: &high}},
		{"window too long", config.AlertRule{Name: "a", Metric: MetricBans, Above: 1, Window: config.Duration(48 * time.Hour)}},
	} {
		if _, err := Compile(config.Alerts{Rules: []config.AlertRule{tc.rc}}); err == nil {
			t.Errorf("%s: no error", tc.desc)
		}
	}
}
