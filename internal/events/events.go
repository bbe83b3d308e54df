// Package events is the security event stream: every request the gateway
// refuses for a security reason (authentication, authorization, signature,
// WAF, normalization, framing, limits, bans) becomes one structured Event,
// written to its own log output and fanned out to sinks (signed, batched
// webhooks and RFC 5424 syslog). Threshold alerts travel the same way.
//
// The threats it answers:
//
//   - An attacker floods the gateway with refusals to flood the sinks (a
//     SIEM bill, a syslog server on its knees, a webhook receiver rate
//     limiting the gateway's real alerts away). Events are sampled and
//     capped per category and second; a sink that is slow or down loses
//     events from its own bounded queue, counted, and never makes a
//     request wait.
//   - A credential leaks into a log. An event carries only what the
//     gateway decided (route, consumer and rule names from the config, the
//     gateway's fixed reason text, the client address, the request id):
//     never a header, a query, a body, a path or a token. The end-to-end
//     redaction test sends credentials in every place a request can carry
//     them and searches every log and sink for them.
//   - A forged event reaches a receiver. Webhook deliveries are signed like
//     intrusion alerts: HMAC-SHA256 over timestamp "." body.
package events

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/metrics"
)

// Categories of refusal events.
const (
	CategoryAuthentication = "authentication"
	CategoryAuthorization  = "authorization"
	CategorySignature      = "signature"
	CategoryWAF            = "waf"
	CategoryNormalization  = "normalization"
	CategoryFraming        = "framing"
	CategoryValidation     = "validation"
	CategoryLimits         = "limits"
	CategoryBan            = "ban"
	CategoryIPFilter       = "ip_filter"
	CategoryTimeout        = "timeout"
	CategoryTLS            = "tls"
	// CategoryAlert is a threshold alert (alerts.go).
	CategoryAlert = "alert"
)

// Categories lists every category (a fixed set: metric label values).
var Categories = []string{CategoryAuthentication, CategoryAuthorization, CategorySignature, CategoryWAF,
	CategoryNormalization, CategoryFraming, CategoryValidation, CategoryLimits, CategoryBan, CategoryIPFilter,
	CategoryTimeout, CategoryTLS, CategoryAlert}

// Event is one security event. Every field is the gateway's own decision
// or a configured name; nothing is copied from the request but its method
// (a fixed label), the client address and the request id.
type Event struct {
	Time      time.Time `json:"time"`
	Type      string    `json:"type"` // "refusal" or "alert"
	RequestID string    `json:"request_id,omitempty"`
	Route     string    `json:"route,omitempty"`
	Client    string    `json:"client,omitempty"`
	Consumer  string    `json:"consumer,omitempty"`
	Category  string    `json:"category"`
	Reason    string    `json:"reason"`
	Rule      string    `json:"rule,omitempty"`
	Status    int       `json:"status,omitempty"`
	Method    string    `json:"method,omitempty"`
	// Alert fields (Type "alert").
	Alert *AlertInfo `json:"alert,omitempty"`
}

// AlertInfo describes a threshold alert.
type AlertInfo struct {
	Name      string  `json:"name"`
	Metric    string  `json:"metric"`
	State     string  `json:"state"` // "firing" or "resolved"
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Window    string  `json:"window"`
}

// maxReason bounds a reason's length in an event.
const maxReason = 200

// sink receives events; Send must not block.
type sink interface {
	name() string
	send(ev *Event, line []byte)
	close()
}

// Stream samples, caps and fans events out to its sinks.
type Stream struct {
	cfg    config.SecurityEvents
	sinks  []sink
	sample float64
	perSec int64
	caps   map[string]*capBucket
	log    *slog.Logger

	emitted    *prometheus.CounterVec // category
	suppressed *prometheus.CounterVec // category, cause
	dropped    *prometheus.CounterVec // sink
	delivered  *prometheus.CounterVec // sink, result
	// mu orders Emit against Close: no event is handed to a closed sink.
	mu     sync.RWMutex
	closed bool
}

type capBucket struct {
	sec atomic.Int64
	n   atomic.Int64
}

// defaultPerSecond is the per-category cap when none is configured.
const defaultPerSecond = 100

// Families are the stream's metric families, registered once per process
// (a reload builds a new Stream on the same counters).
type Families struct {
	emitted, suppressed, dropped, delivered *prometheus.CounterVec
}

// NewFamilies registers the stream's metrics in reg.
func NewFamilies(reg *metrics.Registry) *Families {
	f := &Families{
		emitted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "security_events_emitted_total",
			Help: "Security events written to the event stream, by category."}, []string{"category"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "security_events_suppressed_total",
			Help: "Security events not written, by category and cause (sampled, rate_capped)."}, []string{"category", "cause"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "security_events_dropped_total",
			Help: "Security events a sink could not take (its queue was full), by sink."}, []string{"sink"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: metrics.Namespace, Name: "security_event_deliveries_total",
			Help: "Deliveries to event sinks by sink and result (sent, failed after retries).", ConstLabels: nil}, []string{"sink", "result"}),
	}
	reg.MustRegister(f.emitted, f.suppressed, f.dropped, f.delivered)
	return f
}

// New builds the stream of cfg, a block config.Load has checked
// (config's securityEvents). It returns nil when the stream is off (output
// off and no sinks).
func New(cfg config.SecurityEvents, fam *Families, log *slog.Logger) (*Stream, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Stream{cfg: cfg, log: log, sample: 1, perSec: defaultPerSecond, caps: map[string]*capBucket{},
		emitted: fam.emitted, suppressed: fam.suppressed, dropped: fam.dropped, delivered: fam.delivered}
	if cfg.Sample != nil {
		s.sample = *cfg.Sample
	}
	if cfg.MaxPerSecond > 0 {
		s.perSec = int64(cfg.MaxPerSecond)
	}
	for _, c := range Categories {
		s.caps[c] = &capBucket{}
	}
	if out := cfg.Output; out != "" && out != "off" {
		ls, err := newLogSink(cfg.Output, s)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.sinks = append(s.sinks, ls)
	}
	if len(cfg.Webhooks) > 0 {
		ws, err := newWebhookSink(cfg, s)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.sinks = append(s.sinks, ws)
	}
	if sc := cfg.Syslog; sc != nil {
		ss, err := newSyslogSink(sc, s)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.sinks = append(s.sinks, ss)
	}
	if len(s.sinks) == 0 {
		return nil, nil
	}
	return s, nil
}

// Reopen opens the stream's log file again under its name, for a reload:
// a file rotated by renaming is then written anew. The other sinks are
// untouched (their queues keep what they hold).
func (s *Stream) Reopen() error {
	if s == nil {
		return nil
	}
	for _, sk := range s.sinks {
		if ls, ok := sk.(*logSink); ok {
			if err := ls.reopen(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Emit writes ev to every sink unless sampling or the category's cap
// suppresses it. It never blocks: each sink has its own bounded queue.
func (s *Stream) Emit(ev *Event) {
	if s == nil {
		return
	}
	if len(ev.Reason) > maxReason {
		ev.Reason = ev.Reason[:maxReason]
	}
	if ev.Category != CategoryAlert {
		// Alerts are rare by construction and always go out.
		if s.sample < 1 && rand.Float64() >= s.sample { // #nosec G404 -- sampling, not a secret
			s.suppressed.WithLabelValues(ev.Category, "sampled").Inc()
			return
		}
		if b := s.caps[ev.Category]; b != nil && !b.take(ev.Time.Unix(), s.perSec) {
			s.suppressed.WithLabelValues(ev.Category, "rate_capped").Inc()
			return
		}
	}
	line, err := jsonLine(ev)
	if err != nil {
		return
	}
	line = append(line, '\n')
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	s.emitted.WithLabelValues(ev.Category).Inc()
	for _, sk := range s.sinks {
		sk.send(ev, line)
	}
}

func jsonLine(ev *Event) ([]byte, error) { return json.Marshal(ev) }

// take admits one event in second sec when fewer than max were admitted.
func (b *capBucket) take(sec, max int64) bool {
	if cur := b.sec.Load(); cur != sec && b.sec.CompareAndSwap(cur, sec) {
		b.n.Store(0)
	}
	return b.n.Add(1) <= max
}

// Close flushes what the sinks hold (best effort, bounded) and stops them.
func (s *Stream) Close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	for _, sk := range s.sinks {
		sk.close()
	}
}

// Config returns the configuration the stream was built from.
func (s *Stream) Config() config.SecurityEvents { return s.cfg }
