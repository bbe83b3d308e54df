package gateway

import (
	"reflect"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/tracing"
)

// The request's spans (internal/tracing says whose trace a request joins
// and what a span holds). Every hook below starts with x.span == nil: with
// tracing off that test is all a request pays.

// startSpan starts the request's server span, continuing a trusted peer's
// trace.
func (x *exchange) startSpan() {
	t := x.h.gw.tracer.Load()
	if t == nil {
		return
	}
	x.tracer = t
	x.spanCtx, x.span = t.Start(x.r, x.peerTrusted, x.c.Start)
	if x.span.IsRecording() {
		x.span.SetAttributes(attribute.String("portcullis.request_id", x.c.RequestID))
	}
}

// phaseEvent records that a phase ran its policies and let the request on.
func (x *exchange) phaseEvent(ph int) {
	if x.span == nil || !x.span.IsRecording() {
		return
	}
	x.span.AddEvent("phase "+pipeline.Phase(ph).String(), trace.WithAttributes(attribute.StringSlice("portcullis.policies", x.rt.kinds[ph])))
}

// refusalEvent records why the request was refused: the phase and policy
// when a policy refused, the gateway's own reason otherwise (as the
// security event stream states it, nothing the client sent).
func (x *exchange) refusalEvent(status int, reason string) {
	if x.span == nil || !x.span.IsRecording() {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", status),
		attribute.String("portcullis.reason", eventReason(reason)),
	}
	if by := x.out.by; by.ok && x.rt != nil {
		attrs = append(attrs,
			attribute.String("portcullis.phase", pipeline.Phase(by.phase).String()),
			attribute.String("portcullis.policy", x.rt.kinds[by.phase][by.index]),
			attribute.Int("portcullis.policy_index", by.index))
		if x.out.rule != "" {
			attrs = append(attrs, attribute.String("portcullis.rule", x.out.rule))
		}
	}
	x.span.AddEvent("refused", trace.WithAttributes(attrs...))
}

// startUpstreamSpan starts the upstream call's child span and puts its
// context in the outgoing headers; nil when tracing is off.
func (x *exchange) startUpstreamSpan() trace.Span {
	if x.span == nil {
		return nil
	}
	return x.tracer.StartUpstream(x.spanCtx, x.rt.service.Name(), x.r.Header)
}

// endUpstreamSpan ends the child span with the upstream's answer.
func (x *exchange) endUpstreamSpan(s trace.Span, status int, err error) {
	if s == nil {
		return
	}
	if s.IsRecording() {
		if x.out.upstream != "" {
			s.SetAttributes(attribute.String("server.address", x.out.upstream))
		}
		if err != nil {
			// The error text names the target and the failure, never
			// anything the client sent.
			s.SetStatus(codes.Error, err.Error())
		} else {
			s.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= 500 {
				s.SetStatus(codes.Error, "")
			}
		}
	}
	s.End()
}

// endSpan ends the server span with the request's outcome.
func (x *exchange) endSpan() {
	if x.span == nil {
		return
	}
	s, out := x.span, &x.out
	if s.IsRecording() {
		method := x.r.Method
		if out.route != "" {
			s.SetName(method + " " + out.route)
			s.SetAttributes(attribute.String("portcullis.route", out.route), attribute.String("portcullis.service", out.service))
		} else {
			s.SetName(method)
		}
		s.SetAttributes(attribute.String("http.request.method", method), attribute.Int("http.response.status_code", out.status))
		if x.c.Path != "" {
			s.SetAttributes(attribute.String("url.path", x.c.Path))
		}
		if x.c.ClientAddr.IsValid() {
			s.SetAttributes(attribute.String("client.address", x.c.ClientAddr.String()))
		}
		if x.c.Identity != nil && x.c.Identity.Consumer != "" {
			s.SetAttributes(attribute.String("portcullis.consumer", x.c.Identity.Consumer))
		}
		// OpenTelemetry's HTTP conventions: a server span is an error for
		// a 5xx only; a 4xx is the client's.
		if out.status >= 500 {
			s.SetStatus(codes.Error, eventReason(out.reason))
		}
	}
	s.End()
}

// swapTracer builds the tracer of cfg when its tracing block changed, and
// retires the old one (flushing its spans in the background, so a reload
// does not wait for a collector).
func (g *Gateway) swapTracer(cfg *config.Config) error {
	old := g.tracer.Load()
	want := cfg.Observability.Tracing
	if (want == nil || want.Disable) && old == nil {
		return nil
	}
	if old != nil && want != nil && reflect.DeepEqual(old.Config(), *want) {
		return nil
	}
	t, err := tracing.New(want, g.log)
	if err != nil {
		return err
	}
	g.tracer.Store(t)
	if old != nil {
		go old.Close()
	}
	return nil
}
