package config

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

func TestResilienceDefaults(t *testing.T) {
	c := mustParse(t, withService("    health_check: {path: /healthz}\n    passive_health: {}\n    circuit_breaker: {}\n    retries: {}\n"))
	s := c.Services[0]
	h := s.HealthCheck
	if h.Interval.D() != DefaultHealthInterval || h.Timeout.D() != DefaultHealthTimeout || h.HealthyThreshold != 2 || h.UnhealthyThreshold != 3 {
		t.Errorf("health_check = %+v", h)
	}
	p := s.Passive
	if p.ConsecutiveFailures != 5 || p.FailureRatio != 0 || p.Window.D() != 10*time.Second || p.MinRequests != 10 || p.CoolOff.D() != 30*time.Second {
		t.Errorf("passive_health = %+v", p)
	}
	b := s.CircuitBreaker
	if b.FailureThreshold != 5 || b.OpenDuration.D() != 30*time.Second || b.HalfOpenRequests != 1 {
		t.Errorf("circuit_breaker = %+v", b)
	}
	r := s.Retries
	if r.Attempts != 2 || *r.BudgetRatio != 0.2 || *r.MinRetriesPerSecond != 3 || !slices.Equal(r.RetryOn, DefaultRetryOn) {
		t.Errorf("retries = %+v", r)
	}
	// Blocks left out stay nil: no checks, no breaker, no retries.
	c = mustParse(t, minimal)
	if s := c.Services[0]; s.HealthCheck != nil || s.Passive != nil || s.CircuitBreaker != nil || s.Retries != nil {
		t.Errorf("resilience blocks set without config: %+v", s)
	}
}

func TestResilienceValues(t *testing.T) {
	c := mustParse(t, withService(`    health_check:
      path: /status
      interval: 5s
      timeout: 1s
      healthy_threshold: 1
      unhealthy_threshold: 2
      expected_statuses: [200, 204]
    passive_health: {consecutive_failures: 3, failure_ratio: 0.5, window: 30s, min_requests: 20, cool_off: 1m}
    circuit_breaker: {failure_threshold: 10, open_duration: 5s, half_open_requests: 3}
    retries: {attempts: 3, per_try_timeout: 2s, timeout: 5s, budget_ratio: 0.1, min_retries_per_second: 1, retry_on: [connect_failure, timeout, 503]}
`))
	s := c.Services[0]
	if !slices.Equal(s.HealthCheck.ExpectedStatuses, []int{200, 204}) || s.HealthCheck.Path != "/status" {
		t.Errorf("health_check = %+v", s.HealthCheck)
	}
	if s.Passive.FailureRatio != 0.5 || s.Passive.CoolOff.D() != time.Minute {
		t.Errorf("passive_health = %+v", s.Passive)
	}
	if s.CircuitBreaker.HalfOpenRequests != 3 {
		t.Errorf("circuit_breaker = %+v", s.CircuitBreaker)
	}
	if r := s.Retries; r.Attempts != 3 || r.PerTryTimeout.D() != 2*time.Second || *r.BudgetRatio != 0.1 || !slices.Equal(r.RetryOn, []string{"connect_failure", "timeout", "503"}) {
		t.Errorf("retries = %+v", r)
	}
}

func TestResilienceValidation(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"health path missing", withService("    health_check: {interval: 5s}\n"),
			`gw.yaml:9:19: services[0].health_check.path: is required (for example /healthz)`},
		{"health path relative", withService("    health_check: {path: healthz}\n"),
			`gw.yaml:9:26: services[0].health_check.path: "healthz": must start with "/"`},
		{"health timeout above interval", withService("    health_check: {path: /h, interval: 1s, timeout: 2s}\n"),
			`gw.yaml:9:53: services[0].health_check.timeout: must be positive and at most the interval`},
		{"health interval tiny", withService("    health_check: {path: /h, interval: 1ms, timeout: 1ms}\n"),
			`gw.yaml:9:40: services[0].health_check.interval: must be at least 10ms`},
		{"health threshold", withService("    health_check: {path: /h, healthy_threshold: -1}\n"),
			`gw.yaml:9:49: services[0].health_check.healthy_threshold: must be between 1 and 1000`},
		{"health status", withService("    health_check: {path: /h, expected_statuses: [200, 700]}\n"),
			`gw.yaml:9:55: services[0].health_check.expected_statuses[1]: must be between 100 and 599`},
		{"passive ratio", withService("    passive_health: {failure_ratio: 1.5}\n"),
			`gw.yaml:9:37: services[0].passive_health.failure_ratio: must be between 0 (off) and 1`},
		{"passive failures", withService("    passive_health: {consecutive_failures: -2}\n"),
			`gw.yaml:9:44: services[0].passive_health.consecutive_failures: must be between 1 and 1000`},
		{"breaker half open", withService("    circuit_breaker: {half_open_requests: 1000}\n"),
			`gw.yaml:9:43: services[0].circuit_breaker.half_open_requests: must be between 1 and 100`},
		{"breaker threshold", withService("    circuit_breaker: {failure_threshold: -1}\n"),
			`gw.yaml:9:42: services[0].circuit_breaker.failure_threshold: must be between 1 and 1000`},
		{"retry attempts", withService("    retries: {attempts: 11}\n"),
			`gw.yaml:9:25: services[0].retries.attempts: must be between 1 and 10`},
		{"retry ratio", withService("    retries: {budget_ratio: 2}\n"),
			`gw.yaml:9:29: services[0].retries.budget_ratio: must be between 0 and 1`},
		{"retry on unknown", withService("    retries: {retry_on: [connect_failure, 500]}\n"),
			`gw.yaml:9:43: services[0].retries.retry_on[1]: must be one of connect_failure, timeout, 502, 503, 504, not "500"`},
		{"retry on twice", withService("    retries: {retry_on: [503, 503]}\n"),
			`gw.yaml:9:31: services[0].retries.retry_on[1]: "503" is listed twice`},
		{"per try above total", withService("    retries: {per_try_timeout: 5s, timeout: 2s}\n"),
			`gw.yaml:9:32: services[0].retries.per_try_timeout: must not exceed retries.timeout`},
		{"per try above the response timeout", withService("    timeouts: {response: 1s}\n    retries: {per_try_timeout: 10s}\n"),
			`gw.yaml:10:32: services[0].retries.per_try_timeout: must not exceed timeouts.response (1s), which ends every try first; raise timeouts.response too`},
		{"per try a millisecond above the response timeout", withService("    timeouts: {response: 1s}\n    retries: {per_try_timeout: 1001ms}\n"),
			`gw.yaml:10:32: services[0].retries.per_try_timeout: must not exceed timeouts.response (1s), which ends every try first; raise timeouts.response too`},
		{"per try above the default response timeout", withService("    retries: {per_try_timeout: 90s}\n"),
			`gw.yaml:9:32: services[0].retries.per_try_timeout: must not exceed timeouts.response (1m0s), which ends every try first; raise timeouts.response too`},
		{"no room for any retry", withService("    retries: {attempts: 3, budget_ratio: 0, min_retries_per_second: 0}\n"),
			`gw.yaml:9:42: services[0].retries.budget_ratio: 0 with min_retries_per_second 0 allows no retry at all: raise one of them, or remove retries`},
		{"unknown field", withService("    retries: {attempt: 3}\n"),
			`gw.yaml:9:15: services[0].retries.attempt: unknown field "attempt" (did you mean "attempts"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { wantOnly(t, tc.src, tc.want) })
	}
	// A try bounded exactly by the response timeout is what the default does.
	mustParse(t, withService("    timeouts: {response: 2s}\n    retries: {per_try_timeout: 2s}\n"))
	// One attempt needs no budget.
	mustParse(t, withService("    retries: {attempts: 1, budget_ratio: 0, min_retries_per_second: 0}\n"))
}

// TestWrittenZerosAreTheOperators: a 0 written for a retry budget or a
// webhook's retries is kept, not replaced by the default as a left-out
// field is (budget_ratio: 0 became 0.2, min_retries_per_second: 0 became
// 3, webhook_retries: 0 and alerts.retries: 0 became 3).
func TestWrittenZerosAreTheOperators(t *testing.T) {
	c := mustParse(t, withService("    retries: {budget_ratio: 0, min_retries_per_second: 5}\n"))
	if ratio, minPerSecond := c.Services[0].Retries.Budget(); ratio != 0 || minPerSecond != 5 {
		t.Errorf("budget_ratio 0: budget = %v, %d; want 0, 5", ratio, minPerSecond)
	}
	c = mustParse(t, withService("    retries: {budget_ratio: 0.5, min_retries_per_second: 0}\n"))
	if ratio, minPerSecond := c.Services[0].Retries.Budget(); ratio != 0.5 || minPerSecond != 0 {
		t.Errorf("min_retries_per_second 0: budget = %v, %d; want 0.5, 0", ratio, minPerSecond)
	}
	c = mustParse(t, minimal+"observability:\n  security_events:\n    webhooks: [{url: \"https://siem.example/h\"}]\n    webhook_retries: 0\n")
	if r := c.Observability.SecurityEvents.WebhookRetries; r == nil || *r != 0 {
		t.Errorf("webhook_retries: 0 parsed as %v", r)
	}
	c = mustParse(t, minimal+"observability:\n  security_events:\n    webhooks: [{url: \"https://siem.example/h\"}]\n")
	if r := c.Observability.SecurityEvents.WebhookRetries; r != nil {
		t.Errorf("webhook_retries left out parsed as %d", *r)
	}
	c = mustParse(t, minimal+"intrusion_detection:\n  rules: [{event: auth_failure, threshold: 5, window: 1m, ban: 10m}]\n  alerts: {webhooks: [{url: \"https://siem.example/h\"}], retries: 0}\n")
	if r := c.IntrusionDetection.Alerts.Retries; r == nil || *r != 0 {
		t.Errorf("alerts.retries: 0 parsed as %v", r)
	}
}

// TestSchemaResilience runs the JSON schema on the resilience blocks: it
// must accept what Parse accepts and refuse out-of-range values.
func TestSchemaResilience(t *testing.T) {
	b, err := os.ReadFile(schemaPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("config.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	validate := func(src string) error {
		var v any
		if err := yaml.Unmarshal([]byte(src), &v); err != nil {
			t.Fatal(err)
		}
		j, _ := json.Marshal(v)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		if err != nil {
			t.Fatal(err)
		}
		return sch.Validate(inst)
	}
	good := withService("    health_check: {path: /healthz, expected_statuses: [200]}\n    passive_health: {failure_ratio: 0.5}\n" +
		"    circuit_breaker: {open_duration: 5s}\n    retries: {retry_on: [connect_failure, 503, \"504\"], budget_ratio: 0.1}\n")
	if err := validate(good); err != nil {
		t.Errorf("schema rejects a valid config: %v", err)
	}
	mustParse(t, good)
	for name, src := range map[string]string{
		"no path":     withService("    health_check: {interval: 5s}\n"),
		"ratio":       withService("    passive_health: {failure_ratio: 2}\n"),
		"attempts":    withService("    retries: {attempts: 11}\n"),
		"retry on":    withService("    retries: {retry_on: [500]}\n"),
		"half open":   withService("    circuit_breaker: {half_open_requests: 0}\n"),
		"bad field":   withService("    circuit_breaker: {threshold: 3}\n"),
		"bad timeout": withService("    retries: {per_try_timeout: 5}\n"),
	} {
		if err := validate(src); err == nil {
			t.Errorf("%s: schema accepts an invalid config", name)
		}
	}
}
