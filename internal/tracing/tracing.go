// Package tracing is the gateway's OpenTelemetry tracing: one server span
// per request, the upstream call as its client child span, exported to a
// collector over OTLP/HTTP (protobuf).
//
// # Whose trace a request joins
//
// W3C Trace Context (traceparent, tracestate) is taken only from a trusted
// peer, the same trusted_proxies that decide X-Request-Id and the client
// address: a trusted proxy's trace is continued, and its sampling decision
// followed (a parent-based sampler). From any other peer the gateway starts
// a new trace, sampled at the configured ratio; the client's headers never
// reach the upstream (the gateway deletes them, see gateway.dropClientHeaders,
// whether tracing is on or not), so a client can neither force sampling on
// the services behind nor splice its requests into their traces.
//
// # What a span holds
//
// The server span is named "<METHOD> <route>" (only "<METHOD>" when no
// route matched) and carries the request id, the route, the service, the
// canonical path (never the query) and the status. Each request phase that
// ran is an event ("phase authn", with the kinds of its policies); a
// refusal is a "refused" event naming the phase, the policy kind and the
// reason (as the security event stream states it: nothing the client sent).
// The upstream call is a child span of kind client, named "upstream
// <service>", whose context is what the upstream receives in traceparent.
//
// # Cost
//
// Without a tracing block, or with disable: true, the request path holds a
// nil Tracer and does nothing else: no span, no allocation (measured by
// BenchmarkProxyTracing in internal/gateway).
package tracing

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Defaults of the tracing block.
const (
	DefaultServiceName = "portcullis"
	DefaultTimeout     = 10 * time.Second
	// tracesPath is OTLP/HTTP's path for traces, appended to an endpoint
	// given without a path.
	tracesPath = "/v1/traces"
)

// Tracer starts the gateway's spans. A nil *Tracer is tracing off.
type Tracer struct {
	cfg  config.Tracing
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TraceContext
}

// New builds the tracer of cfg; nil (and no error) when cfg is nil or
// disabled. Nothing is dialled until the first export.
func New(cfg *config.Tracing, log *slog.Logger) (*Tracer, error) {
	if cfg == nil || cfg.Disable {
		return nil, nil
	}
	endpoint, err := ExportURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout.Or(DefaultTimeout)
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(timeout),
		// Explicit, so that OTEL_EXPORTER_OTLP_* variables cannot add to
		// or change what the config says.
		otlptracehttp.WithHeaders(cfg.Headers),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: time.Second, MaxInterval: 5 * time.Second, MaxElapsedTime: timeout}),
	}
	if strings.HasPrefix(endpoint, "https://") {
		// An https:// collector is reached by the gateway's TLS policy
		// (the exporter's default is Go's, which offers CBC suites): the
		// spans name routes, consumers and paths, and the headers often
		// carry the vendor's API key. (The exporter refuses a TLS config
		// with an http:// endpoint.)
		opts = append(opts, otlptracehttp.WithTLSClientConfig(tlspolicy.Client(nil)))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	ratio := 1.0
	if cfg.Sample != nil {
		ratio = *cfg.Sample
	}
	name := cfg.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
	)
	setErrorHandler(log)
	return &Tracer{cfg: *cfg, tp: tp, tr: tp.Tracer("github.com/portcullis/portcullis/internal/gateway")}, nil
}

// ExportURL is the URL spans are POSTed to: the endpoint, with
// /v1/traces when it has no path of its own.
func ExportURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("tracing endpoint must be an http or https URL")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = tracesPath
	}
	return u.String(), nil
}

// errorLog is the process log the OpenTelemetry SDK's errors (failed
// exports) and its internal messages go to: the latest tracer's logger.
var errorLog atomic.Pointer[slog.Logger]

func setErrorHandler(log *slog.Logger) {
	if log == nil {
		return
	}
	if errorLog.Swap(log) != nil {
		return // the handlers below are installed once and read errorLog
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		errorLog.Load().Warn("tracing", "component", "tracing", "err", err.Error())
	}))
	// The SDK's own log lines join the process log (JSON) instead of
	// going to stderr through the standard logger.
	otel.SetLogger(logr.FromSlogHandler(slogHandler{}))
}

// slogHandler passes records to the current errorLog's handler, with the
// attributes logr added.
type slogHandler struct{ attrs []slog.Attr }

func (slogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return errorLog.Load().Handler().Enabled(ctx, l)
}

func (h slogHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("component", "tracing"))
	return errorLog.Load().Handler().WithAttrs(h.attrs).Handle(ctx, r)
}

func (h slogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return slogHandler{attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}

func (h slogHandler) WithGroup(string) slog.Handler { return h }

// Config is the configuration the tracer was built from.
func (t *Tracer) Config() config.Tracing {
	if t == nil {
		return config.Tracing{}
	}
	return t.cfg
}

// Start starts the server span of a request. The caller's trace context is
// continued only when trusted (the peer is a trusted proxy).
func (t *Tracer) Start(r *http.Request, trusted bool, start time.Time) (context.Context, trace.Span) {
	ctx := context.Background()
	if trusted {
		ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	return t.tr.Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
}

// StartUpstream starts the upstream call's child span and writes its
// context into h (the outgoing request's headers), replacing whatever
// trace headers h held.
func (t *Tracer) StartUpstream(ctx context.Context, service string, h http.Header) trace.Span {
	ctx, span := t.tr.Start(ctx, "upstream "+service, trace.WithSpanKind(trace.SpanKindClient))
	delete(h, "Traceparent")
	delete(h, "Tracestate")
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	return span
}

// Close flushes the spans not yet exported (within the export timeout) and
// stops the exporter. A nil Tracer closes to nothing.
func (t *Tracer) Close() {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout.Or(DefaultTimeout))
	defer cancel()
	_ = t.tp.Shutdown(ctx)
}
