// Package alerts evaluates threshold alerts over sliding windows: error
// rate, p99 latency and authentication failures per route, and bans.
// An alert fires when its value rises above a threshold and resolves only
// when it falls below a lower one (hysteresis): a value that hovers around
// one threshold sends one alert, not one per evaluation. Alerts travel as
// events on the security event stream's sinks.
package alerts

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

// Metrics an alert rule can watch.
const (
	MetricErrorRate    = "error_rate"    // 5xx / requests over the window
	MetricLatencyP99   = "latency_p99"   // seconds, from the duration histogram
	MetricAuthFailures = "auth_failures" // authentication failures in the window
	MetricBans         = "bans"          // clients banned in the window (all routes)
)

// Sample is the cumulative state of one route (or, for bans, the gateway)
// at one time.
type Sample struct {
	Requests, Errors, AuthFailures, Bans uint64
	Bounds                               []float64
	Counts                               []uint64
}

// Rule is a compiled alert rule.
type Rule struct {
	Name        string
	Metric      string
	Route       string // "" for every route (bans: ignored)
	Window      time.Duration
	Above       float64
	Below       float64
	MinRequests uint64
}

// Compile checks and compiles the alerts config.
func Compile(cfg config.Alerts) ([]Rule, error) {
	var out []Rule
	var errs []error
	names := map[string]bool{}
	for i, rc := range cfg.Rules {
		bad := func(field, format string, args ...any) {
			errs = append(errs, config.FieldErrorf(fmt.Sprintf("rules[%d].%s", i, field), format, args...))
		}
		r := Rule{Name: rc.Name, Metric: rc.Metric, Route: rc.Route, Window: rc.Window.Or(time.Minute), Above: rc.Above}
		switch {
		case rc.Name == "":
			bad("name", "is required")
		case names[rc.Name]:
			bad("name", "%q is used twice", rc.Name)
		}
		names[rc.Name] = true
		switch rc.Metric {
		case MetricErrorRate, MetricLatencyP99, MetricAuthFailures, MetricBans:
		default:
			bad("metric", "%q (want error_rate, latency_p99, auth_failures or bans)", rc.Metric)
		}
		switch {
		case rc.Above <= 0 || math.IsNaN(rc.Above) || math.IsInf(rc.Above, 0):
			bad("above", "a positive threshold is required")
		case rc.Metric == MetricErrorRate && rc.Above > 1:
			bad("above", "an error rate is a fraction (0.05 is 5%%)")
		}
		r.Below = r.Above * 0.8
		if rc.Below != nil {
			r.Below = *rc.Below
			if r.Below < 0 || r.Below > r.Above {
				bad("below", "%v must be from 0 to above (%v)", r.Below, r.Above)
			}
		}
		if r.Window < time.Second || r.Window > 24*time.Hour {
			bad("window", "must be from 1s to 24h")
		}
		if rc.MinRequests < 0 {
			bad("min_requests", "must not be negative")
		}
		r.MinRequests = uint64(max(rc.MinRequests, 0)) // #nosec G115 -- not negative
		if r.MinRequests == 0 && (r.Metric == MetricErrorRate || r.Metric == MetricLatencyP99) {
			r.MinRequests = 10
		}
		out = append(out, r)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Firing is an alert's state change, as the evaluator reports it.
type Firing struct {
	Rule  *Rule
	Route string
	State string // "firing" or "resolved"
	Value float64
}

// Evaluator keeps each rule's window of samples and its state.
type Evaluator struct {
	rules   []Rule
	history map[key][]point
	firing  map[key]bool
}

type key struct{ rule, route string }

type point struct {
	t time.Time
	s Sample
}

// NewEvaluator returns an evaluator for rules; prev (or nil), the one of
// the config being replaced, hands over the windows and states of the
// rules that did not change, so a reload neither re-sends nor forgets an
// alert.
func NewEvaluator(rules []Rule, prev *Evaluator) *Evaluator {
	e := &Evaluator{rules: rules, history: map[key][]point{}, firing: map[key]bool{}}
	if prev != nil {
		for _, r := range rules {
			for _, pr := range prev.rules {
				if pr == r {
					for k, h := range prev.history {
						if k.rule == r.Name {
							e.history[k], e.firing[k] = h, prev.firing[k]
						}
					}
				}
			}
		}
	}
	return e
}

// Rules returns the evaluator's rules.
func (e *Evaluator) Rules() []Rule { return e.rules }

// Evaluate records the samples taken at now (by route; the gateway's under
// "") and returns the alerts whose state changed, in a stable order.
func (e *Evaluator) Evaluate(now time.Time, samples map[string]Sample) []Firing {
	var out []Firing
	for i := range e.rules {
		r := &e.rules[i]
		var routes []string
		switch {
		case r.Metric == MetricBans:
			routes = []string{""}
		case r.Route != "":
			routes = []string{r.Route}
		default:
			for rt := range samples {
				if rt != "" {
					routes = append(routes, rt)
				}
			}
			sort.Strings(routes)
		}
		for _, rt := range routes {
			s, ok := samples[rt]
			if !ok {
				continue
			}
			k := key{r.Name, rt}
			h := append(e.history[k], point{now, s})
			// Keep one point at or before the window's start: the base.
			for len(h) > 1 && !h[1].t.After(now.Add(-r.Window)) {
				h = h[1:]
			}
			e.history[k] = h
			v, ok := value(r, h[0].s, s)
			if !ok {
				continue
			}
			switch {
			case !e.firing[k] && v > r.Above:
				e.firing[k] = true
				out = append(out, Firing{Rule: r, Route: rt, State: "firing", Value: v})
			case e.firing[k] && v < r.Below:
				e.firing[k] = false
				out = append(out, Firing{Rule: r, Route: rt, State: "resolved", Value: v})
			}
		}
	}
	return out
}

// value is the rule's metric between two samples; ok is false when there
// is too little traffic to judge.
func value(r *Rule, base, cur Sample) (float64, bool) {
	reqs := sub(cur.Requests, base.Requests)
	switch r.Metric {
	case MetricErrorRate:
		if reqs < r.MinRequests || reqs == 0 {
			return 0, false
		}
		return float64(sub(cur.Errors, base.Errors)) / float64(reqs), true
	case MetricLatencyP99:
		if reqs < r.MinRequests || reqs == 0 || len(cur.Bounds) == 0 || len(base.Counts) != len(cur.Counts) && len(base.Counts) != 0 {
			return 0, false
		}
		return quantile(0.99, base, cur), true
	case MetricAuthFailures:
		return float64(sub(cur.AuthFailures, base.AuthFailures)), true
	case MetricBans:
		return float64(sub(cur.Bans, base.Bans)), true
	}
	return 0, false
}

func sub(a, b uint64) uint64 {
	if a < b {
		return 0 // a counter that went back (never: they live across reloads)
	}
	return a - b
}

// quantile estimates the q-quantile of the observations between base and
// cur from cumulative bucket counts, interpolating linearly inside the
// bucket as Prometheus's histogram_quantile does.
func quantile(q float64, base, cur Sample) float64 {
	n := len(cur.Counts)
	delta := make([]uint64, n)
	for i := range cur.Counts {
		var b uint64
		if len(base.Counts) == n {
			b = base.Counts[i]
		}
		delta[i] = sub(cur.Counts[i], b)
	}
	total := float64(sub(cur.Requests, base.Requests))
	if n == 0 || total == 0 {
		return 0
	}
	rank := q * total
	lower, prev := 0.0, 0.0
	for i := range delta {
		c := float64(delta[i])
		if c >= rank {
			if c == prev {
				return cur.Bounds[i]
			}
			return lower + (cur.Bounds[i]-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = cur.Bounds[i], c
	}
	// Above the last bucket: the last bound is all that is known.
	return cur.Bounds[n-1]
}
