package config

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/portcullis/portcullis/internal/tlspolicy"
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
	// WebhookRetries are the attempts after the first (default 3; 0:
	// none). A pointer: a written 0 is the operator's, not the default.
	WebhookRetries *int `yaml:"webhook_retries,omitempty"`
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
	// TLS sends the messages over TLS (RFC 5425; network tcp), the
	// receiver verified as a service's https:// targets are.
	TLS *ClientTLS `yaml:"tls,omitempty"`
}

// SyslogFacilities are the RFC 5424 section 6.2.1 facility codes an
// operator may name in observability.security_events.syslog.facility.
var SyslogFacilities = map[string]int{"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23}

// securityEvents checks observability.security_events, every problem at
// its field.
func (v *validator) securityEvents() {
	ev := v.c.Observability.SecurityEvents
	const p = "observability.security_events"
	if ev.Sample != nil && (*ev.Sample <= 0 || *ev.Sample > 1) {
		v.add(p+".sample", "%v is not in (0, 1] (the fraction of refusal events kept)", *ev.Sample)
	}
	if ev.MaxPerSecond < 0 {
		v.add(p+".max_per_second", "must not be negative (0: the default 100)")
	}
	if ev.WebhookBatchSize < 0 || ev.WebhookBatchSize > 10000 {
		v.add(p+".webhook_batch_size", "must be from 1 to 10000 (0: the default 100)")
	}
	if r := ev.WebhookRetries; r != nil && (*r < 0 || *r > 10) {
		v.add(p+".webhook_retries", "must be from 0 to 10")
	}
	for i, w := range ev.Webhooks {
		v.webhook(indexPath(p+".webhooks", i), w)
	}
	if sc := ev.Syslog; sc != nil {
		if sc.Network != "" && sc.Network != "udp" && sc.Network != "tcp" {
			v.add(p+".syslog.network", "%s: must be udp or tcp", v.q(p+".syslog.network", sc.Network))
		}
		if err := checkHostPort(sc.Address); err != nil {
			v.add(p+".syslog.address", "%s: %v", v.q(p+".syslog.address", sc.Address), err)
		}
		if _, ok := SyslogFacilities[sc.Facility]; sc.Facility != "" && !ok {
			v.add(p+".syslog.facility", "unknown facility %s (local0 to local7, auth, authpriv, daemon, user, kern, syslog)", v.q(p+".syslog.facility", sc.Facility))
		}
		if sc.TLS != nil {
			// RFC 5425 carries syslog over TLS on TCP; DTLS (RFC 6012)
			// is not spoken, and a udp network would silently drop the
			// block's protection.
			if sc.Network == "" || sc.Network == "udp" {
				v.add(p+".syslog.network", "must be tcp with a tls block (syslog over TLS, RFC 5425, is TCP; the default is udp)")
			}
			v.clientTLS(p+".syslog.tls", sc.TLS)
		}
	}
}

// webhook is the one check of a webhook (security events, intrusion
// alerts), p its path: the URL is http or https, with a host and no
// credentials (the batches are signed with the webhook's secret; a
// password in the URL would be logged with it); a tls block needs an
// https URL (it would verify nothing on plain http) and is checked as
// every client tls block is.
func (v *validator) webhook(p string, w AlertWebhook) {
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		v.add(p+".url", "must be an http or https URL without credentials")
		return
	}
	if w.TLS != nil {
		if u.Scheme != "https" {
			v.add(p+".tls", "applies to https:// URLs only, and the url is http:// (write https:// to verify the receiver, or remove tls)")
			return
		}
		v.clientTLS(p+".tls", w.TLS)
	}
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
	} else if u.Scheme == "http" && len(t.Headers) > 0 && !tlspolicy.Loopback(u.Hostname()) {
		// The headers are the collector's credentials (an API key, a
		// bearer token): plain http off this machine sends them in clear
		// with every export, as the introspection and JWKS clients refuse.
		v.add(p+".endpoint", "%s is plain http to a host off this machine, and tracing.headers (the collector's credentials) would cross the network in clear with every export: use https, or a collector on loopback", v.q(p+".endpoint", t.Endpoint))
	}
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) {
		val := t.Headers[name]
		hp := p + ".headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			v.add(hp, "is not a valid header name")
		}
		if strings.ContainsAny(val, "\r\n\x00") {
			v.add(hp, "the value holds a line break or NUL")
		} else if val == "" {
			// Most often ${env:...} set but empty: every export would
			// carry an empty credential and be refused by the collector.
			v.add(hp, "the value is empty: write the header's value, or leave the header out")
		}
	}
	if s := t.Sample; s != nil && (*s < 0 || *s > 1 || *s != *s) {
		v.add(p+".sample", "must be from 0 to 1")
	}
	if t.Timeout.D() < 0 || t.Timeout.D() > time.Minute {
		v.add(p+".timeout", "must be at most 1m (default 10s)")
	}
}
