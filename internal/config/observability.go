package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Observability configures what the gateway tells operators: Prometheus
// metrics on the operations listener, OpenTelemetry traces, the security
// event stream and threshold alerts. See docs/observability.md.
type Observability struct {
	Metrics Metrics `yaml:"metrics,omitempty"`
	// SecurityEvents is the security event stream.
	SecurityEvents SecurityEvents `yaml:"security_events,omitempty"`
	// Alerts are threshold alerts sent on the event stream's sinks.
	Alerts Alerts `yaml:"alerts,omitempty"`
	// Tracing exports OpenTelemetry traces (nil: no tracing).
	Tracing *Tracing `yaml:"tracing,omitempty"`
}

// Tracing configures OpenTelemetry tracing: one span per request, the
// upstream call as its child, exported over OTLP/HTTP.
type Tracing struct {
	// Disable keeps the block but traces nothing (and propagates nothing).
	Disable bool `yaml:"disable,omitempty"`
	// Endpoint is the collector's OTLP/HTTP URL; spans are POSTed to
	// <endpoint>/v1/traces unless it has a path of its own.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (an Authorization header, say);
	// values are usually ${env:NAME} references.
	Headers map[string]string `yaml:"headers,omitempty"`
	// Sample is the fraction of new traces recorded, in [0, 1] (default 1);
	// a trusted caller's sampling decision is followed.
	Sample *float64 `yaml:"sample,omitempty"`
	// ServiceName is the service.name resource attribute (default portcullis).
	ServiceName string `yaml:"service_name,omitempty"`
	// Timeout bounds each export (default 10s).
	Timeout Duration `yaml:"timeout,omitempty"`
}

// Alerts configures threshold alerts.
type Alerts struct {
	// EvaluateEvery is how often the rules are evaluated (default 10s).
	EvaluateEvery Duration    `yaml:"evaluate_every,omitempty"`
	Rules         []AlertRule `yaml:"rules,omitempty"`
}

// AlertRule fires when Metric rises above Above over Window, and resolves
// when it falls below Below.
type AlertRule struct {
	Name string `yaml:"name"`
	// Metric: error_rate, latency_p99, auth_failures or bans.
	Metric string `yaml:"metric"`
	// Route limits the rule to one route ("" evaluates every route).
	Route  string   `yaml:"route,omitempty"`
	Window Duration `yaml:"window,omitempty"` // default 1m
	Above  float64  `yaml:"above"`
	// Below resolves the alert (default 0.8 x above).
	Below *float64 `yaml:"below,omitempty"`
	// MinRequests: with fewer requests in the window, error_rate and
	// latency_p99 are not judged (default 10).
	MinRequests int `yaml:"min_requests,omitempty"`
}

// Metrics configures the Prometheus metrics served at /metrics on the
// operations listener.
type Metrics struct {
	// Disable stops recording per-request metrics and serving /metrics.
	Disable bool `yaml:"disable,omitempty"`
}

// SecurityEvents configures the security event stream: one JSON event per
// refusal with a security reason (and per threshold alert), to its own
// output and to webhooks and syslog.
type SecurityEvents struct {
	// Output: off (default), stdout, stderr, or a file path.
	Output string `yaml:"output,omitempty"`
	// Sample is the fraction of refusal events kept, in (0, 1] (default 1).
	Sample *float64 `yaml:"sample,omitempty"`
	// MaxPerSecond caps the events of each category per second (default 100).
	MaxPerSecond int `yaml:"max_per_second,omitempty"`
	// Webhooks receive events in signed batches (a JSON array).
	Webhooks []AlertWebhook `yaml:"webhooks,omitempty"`
	// WebhookBatchSize is the most events in one delivery (default 100).
	WebhookBatchSize int `yaml:"webhook_batch_size,omitempty"`
	// WebhookBatchInterval is how long a batch waits to fill (default 1s).
	WebhookBatchInterval Duration `yaml:"webhook_batch_interval,omitempty"`
	// WebhookTimeout bounds each delivery attempt (default 2s).
	WebhookTimeout Duration `yaml:"webhook_timeout,omitempty"`
	// WebhookRetries are the attempts after the first (default 3).
	WebhookRetries int `yaml:"webhook_retries,omitempty"`
	// Syslog sends each event as an RFC 5424 message.
	Syslog *Syslog `yaml:"syslog,omitempty"`
}

// Syslog is an RFC 5424 syslog receiver.
type Syslog struct {
	// Network: udp (default) or tcp (octet-counted framing, RFC 6587).
	Network string `yaml:"network,omitempty"`
	// Address is host:port.
	Address string `yaml:"address"`
	// Facility: local0 (default) to local7, auth, authpriv, daemon, user, ...
	Facility string `yaml:"facility,omitempty"`
	// AppName is the APP-NAME field (default portcullis).
	AppName string `yaml:"app_name,omitempty"`
}

// tracing checks observability.tracing.
func (v *validator) tracing() {
	t := v.c.Observability.Tracing
	if t == nil {
		return
	}
	const p = "observability.tracing"
	if u, err := url.Parse(t.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		if t.Endpoint == "" {
			v.add(p+".endpoint", "is required (the collector's OTLP/HTTP URL, e.g. http://127.0.0.1:4318)")
		} else {
			v.add(p+".endpoint", "%s must be an http or https URL without credentials, query or fragment", v.q(p+".endpoint", t.Endpoint))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) {
		val := t.Headers[name]
		hp := p + ".headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			v.add(hp, "is not a valid header name")
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			v.add(hp, "the value holds a line break or NUL")
		}
	}
	if s := t.Sample; s != nil && (*s < 0 || *s > 1 || *s != *s) {
		v.add(p+".sample", "must be from 0 to 1")
	}
	if t.Timeout.D() < 0 || t.Timeout.D() > time.Minute {
		v.add(p+".timeout", "must be from 0 (default 10s) to 1m")
	}
}
