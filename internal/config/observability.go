package config

// Observability configures what the gateway tells operators: Prometheus
// metrics on the operations listener, OpenTelemetry traces, the security
// event stream and threshold alerts. See docs/observability.md.
type Observability struct {
	Metrics Metrics `yaml:"metrics,omitempty"`
}

// Metrics configures the Prometheus metrics served at /metrics on the
// operations listener.
type Metrics struct {
	// Disable stops recording per-request metrics and serving /metrics.
	Disable bool `yaml:"disable,omitempty"`
}
