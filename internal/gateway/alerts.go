package gateway

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/alerts"
	"github.com/portcullis/portcullis/internal/events"
	"github.com/portcullis/portcullis/internal/metrics"
)

// alertLoop evaluates the threshold alerts of the serving snapshot every
// evaluate_every, and sends the alerts that change state as events on the
// security event stream (and to the process log), until stop closes.
type alertLoop struct {
	g      *Gateway
	stop   chan struct{}
	once   sync.Once
	ev     *alerts.Evaluator
	firing *prometheus.GaugeVec // alert, route
}

func newAlertLoop(g *Gateway) *alertLoop {
	l := &alertLoop{g: g, stop: make(chan struct{}), firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: metrics.Namespace, Name: "alerts_firing",
		Help: "1 while a threshold alert is firing, by alert name and route (\"\" for gateway-wide alerts).",
	}, []string{"alert", "route"})}
	g.obs.reg.MustRegister(l.firing)
	return l
}

func (l *alertLoop) run() {
	defer l.g.wg.Done()
	every := func() time.Duration {
		return l.g.snap.Load().cfg.Observability.Alerts.EvaluateEvery.Or(10 * time.Second)
	}
	cur := every()
	t := time.NewTicker(cur)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case now := <-t.C:
			l.tick(now)
			if d := every(); d != cur {
				cur = d
				t.Reset(d)
			}
		}
	}
}

func (l *alertLoop) tick(now time.Time) {
	snap := l.g.snap.Load()
	if l.ev == nil || !sameRules(l.ev.Rules(), snap.alertRules) {
		l.ev = alerts.NewEvaluator(snap.alertRules, l.ev)
	}
	if len(snap.alertRules) == 0 {
		return
	}
	samples := map[string]alerts.Sample{}
	auth := l.g.obs.reg.AuthFailures()
	for _, rt := range snap.routes {
		tt := rt.metrics.Totals()
		samples[rt.name] = alerts.Sample{Requests: tt.Requests, Errors: tt.Errors, AuthFailures: auth[rt.name], Bounds: tt.Bounds, Counts: tt.Counts}
	}
	samples[""] = alerts.Sample{Bans: l.g.detTotals.total(&l.g.detector).Bans}
	for _, f := range l.ev.Evaluate(now, samples) {
		l.fire(now, f)
	}
}

func (l *alertLoop) fire(now time.Time, f alerts.Firing) {
	r := f.Rule
	v := 0.0
	if f.State == "firing" {
		v = 1
	}
	l.firing.WithLabelValues(r.Name, f.Route).Set(v)
	l.g.log.Warn("threshold alert", "alert", r.Name, "state", f.State, "metric", r.Metric, "route", f.Route,
		"value", f.Value, "above", r.Above, "below", r.Below, "window", r.Window.String())
	l.g.stream.Load().Emit(&events.Event{Time: now.UTC(), Type: "alert", Route: f.Route, Category: events.CategoryAlert,
		Reason: r.Metric + " " + f.State, Alert: &events.AlertInfo{Name: r.Name, Metric: r.Metric, State: f.State,
			Value: f.Value, Threshold: threshold(r, f.State), Window: r.Window.String()}})
}

// threshold is the one the value crossed: above when firing, below when
// resolved.
func threshold(r *alerts.Rule, state string) float64 {
	if state == "firing" {
		return r.Above
	}
	return r.Below
}

func sameRules(a, b []alerts.Rule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (l *alertLoop) close() { l.once.Do(func() { close(l.stop) }) }
