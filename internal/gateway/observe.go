package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/metrics"
	"github.com/portcullis/portcullis/internal/pipeline"
)

// policyRef names the request policy that refused a request: its phase
// and its index within the phase.
type policyRef struct {
	ok           bool
	phase, index int
}

// observer is what the gateway records of each finished request, beside
// the access log: metrics now; traces and security events hook in here.
type observer struct {
	reg *metrics.Registry
	// events are the security_events_total counters by intrusion.Event.
	events []prometheus.Counter
}

func newObserver(reg *metrics.Registry) *observer {
	o := &observer{reg: reg}
	for ev := intrusion.EventNone; ; ev++ {
		name := ev.String()
		if name == "unknown" {
			break
		}
		if ev == intrusion.EventNone {
			o.events = append(o.events, nil)
			continue
		}
		o.events = append(o.events, reg.Event(name))
	}
	return o
}

// observe records one finished request. It is the only per-request hook of
// the observability features; proxy.go calls it once, after the access log.
func (g *Gateway) observe(snap *Snapshot, method string, c *pipeline.Context, out *outcome, dur time.Duration, bytesIn int64) {
	if out.status >= 400 {
		g.emitRefusal(method, c, out)
	}
	if !snap.metricsOn {
		return
	}
	o := g.obs
	rm := o.reg.Unmatched()
	q := metrics.Request{Method: method, Status: out.status, Duration: dur, BytesIn: bytesIn, BytesOut: out.bytesOut, Phase: -1, Rule: out.rule}
	if rt := out.rt; rt != nil {
		rm = rt.metrics
		if out.by.ok {
			q.Phase, q.Policy = out.by.phase, out.by.index
			q.WAF = rt.kinds[out.by.phase][out.by.index] == "waf"
		}
	}
	if out.upstream != "" {
		q.Upstream = out.upLatency
	}
	rm.Observe(&q)
	if out.status >= 400 {
		if ev := intrusion.Classify(out.status, out.reason, out.upstream == ""); int(ev) < len(o.events) && o.events[ev] != nil {
			o.events[ev].Inc()
		}
	}
}
