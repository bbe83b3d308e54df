package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// Methods are the method label's values besides "OTHER": the methods of
// RFC 9110 section 9 and PATCH (RFC 5789). A client can send any token as
// a method; every other one is counted as OTHER.
var Methods = [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "OTHER"}

const numMethods = len(Methods)

// MethodIndex maps a request method to its label's index in Methods.
func MethodIndex(m string) int {
	switch m {
	case "GET":
		return 0
	case "HEAD":
		return 1
	case "POST":
		return 2
	case "PUT":
		return 3
	case "DELETE":
		return 4
	case "CONNECT":
		return 5
	case "OPTIONS":
		return 6
	case "TRACE":
		return 7
	case "PATCH":
		return 8
	}
	return numMethods - 1
}

// StatusClasses are the status_class label's values.
var StatusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClass maps a status code to its index in StatusClasses. 499 (the
// client went away) is a 4xx; anything outside 100-599 cannot be sent and
// is counted as a 5xx.
func statusClass(code int) int {
	c := code/100 - 1
	if c < 0 || c >= len(StatusClasses) {
		return len(StatusClasses) - 1
	}
	return c
}

// Route holds the handles of one route (or of the requests no route
// matched), resolved when the route is compiled. Counters for a method and
// status class are created at their first request, so a route shows only
// the series it has served, and looked up with one atomic load after that.
type Route struct {
	r        *Registry
	name     string
	requests [numMethods][len(StatusClasses)]atomic.Pointer[counterBox]

	duration    prometheus.Observer
	gatewayTime prometheus.Observer
	upstream    prometheus.Observer // nil: the route has no service
	reqBytes    prometheus.Counter
	respBytes   prometheus.Counter
	// refusals, per phase and policy index, are the counters a refusal by
	// that policy increments.
	refusals [pipeline.NumPhases][][]prometheus.Counter
	// waf is the route's WAF block counters by rule group, resolved at
	// the first block of each group.
	waf [len(wafGroups)]atomic.Pointer[counterBox]
}

type counterBox struct{ c prometheus.Counter }

// Route resolves the handles of a route. kinds lists, per phase, the
// policy kinds in the order they run.
func (r *Registry) Route(name, service string, kinds *[pipeline.NumPhases][]string) *Route {
	rm := &Route{
		r:           r,
		name:        name,
		duration:    r.duration.WithLabelValues(name),
		gatewayTime: r.gatewayTime.WithLabelValues(name),
		reqBytes:    r.reqBytes.WithLabelValues(name),
		respBytes:   r.respBytes.WithLabelValues(name),
	}
	if service != "" {
		rm.upstream = r.upstreamDur.WithLabelValues(name, service)
	}
	if kinds != nil {
		for ph := range kinds {
			for _, kind := range kinds[ph] {
				cs := []prometheus.Counter{r.refusals.WithLabelValues(name, pipeline.Phase(ph).String(), kind)}
				switch kind {
				case "rate_limit":
					cs = append(cs, r.rateLimited.WithLabelValues(name))
				case "concurrency":
					cs = append(cs, r.concurrency.WithLabelValues(name))
				}
				rm.refusals[ph] = append(rm.refusals[ph], cs)
			}
		}
	}
	return rm
}

// Request is what the gateway knows of a finished request.
type Request struct {
	Method   string
	Status   int
	Duration time.Duration
	// Upstream is the time spent on the upstream call (0: none made).
	Upstream time.Duration
	BytesIn  int64
	BytesOut int64
	// Refused names the policy that refused the request, when one did:
	// its phase and its index in that phase (Phase -1: none).
	Phase, Policy int
	// WAF is set when the refusing policy is a WAF; Rule is the rule
	// that refused (pipeline.Problem.Rule).
	WAF  bool
	Rule string
}

// Observe records one finished request. It allocates nothing once the
// route's method and status series exist.
func (m *Route) Observe(q *Request) {
	mi, si := MethodIndex(q.Method), statusClass(q.Status)
	b := m.requests[mi][si].Load()
	if b == nil {
		b = &counterBox{m.r.requests.WithLabelValues(m.name, Methods[mi], StatusClasses[si])}
		m.requests[mi][si].Store(b)
	}
	b.c.Inc()
	total := q.Duration.Seconds()
	m.duration.Observe(total)
	if q.Upstream > 0 && m.upstream != nil {
		up := q.Upstream.Seconds()
		m.upstream.Observe(up)
		total -= up
	}
	m.gatewayTime.Observe(total)
	if q.BytesIn > 0 {
		m.reqBytes.Add(float64(q.BytesIn))
	}
	if q.BytesOut > 0 {
		m.respBytes.Add(float64(q.BytesOut))
	}
	if q.Phase >= 0 && q.Phase < len(m.refusals) && q.Policy >= 0 && q.Policy < len(m.refusals[q.Phase]) {
		for _, c := range m.refusals[q.Phase][q.Policy] {
			c.Inc()
		}
		if q.WAF {
			m.wafBlock(q.Rule)
		}
	}
}

func (m *Route) wafBlock(rule string) {
	g := wafGroupIndex(rule)
	b := m.waf[g].Load()
	if b == nil {
		b = &counterBox{m.r.wafBlocks.WithLabelValues(m.name, wafGroups[g].name)}
		m.waf[g].Store(b)
	}
	b.c.Inc()
}

// Totals are a route's cumulative counts since the process started, read
// by the threshold alerts (never on the request path).
type Totals struct {
	Requests, Errors uint64 // every request; those answered 5xx
	// Bounds and Counts are the duration histogram's bucket upper bounds
	// and cumulative counts.
	Bounds []float64
	Counts []uint64
}

// Totals reads the route's counters and duration histogram.
func (m *Route) Totals() Totals {
	var t Totals
	for mi := range m.requests {
		for si := range m.requests[mi] {
			b := m.requests[mi][si].Load()
			if b == nil {
				continue
			}
			var d dto.Metric
			if b.c.Write(&d) == nil {
				n := uint64(d.GetCounter().GetValue())
				t.Requests += n
				if StatusClasses[si] == "5xx" {
					t.Errors += n
				}
			}
		}
	}
	var d dto.Metric
	if h, ok := m.duration.(prometheus.Metric); ok && h.Write(&d) == nil {
		for _, b := range d.GetHistogram().GetBucket() {
			t.Bounds = append(t.Bounds, b.GetUpperBound())
			t.Counts = append(t.Counts, b.GetCumulativeCount())
		}
	}
	return t
}

// AuthFailures returns the authentication failures per route since the
// process started.
func (r *Registry) AuthFailures() map[string]uint64 {
	out := map[string]uint64{}
	for _, s := range CounterSamples(r.Auth) {
		if s.Labels["outcome"] == "failure" {
			out[s.Labels["route"]] += s.Value
		}
	}
	return out
}

// Sample is one counter of a labelled vector: its labels and its value.
type Sample struct {
	Labels map[string]string
	Value  uint64
}

// CounterSamples reads every counter that c (a CounterVec) collects, for
// the stats endpoints and tests; the order is the collector's.
func CounterSamples(c prometheus.Collector) []Sample {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var out []Sample
	for pm := range ch {
		var d dto.Metric
		if pm.Write(&d) != nil {
			continue
		}
		s := Sample{Labels: make(map[string]string, len(d.GetLabel())), Value: uint64(d.GetCounter().GetValue())}
		for _, l := range d.GetLabel() {
			s.Labels[l.GetName()] = l.GetValue()
		}
		out = append(out, s)
	}
	return out
}
