package tracing

import (
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
)

func TestExportURL(t *testing.T) {
	cases := []struct{ desc, in, want string }{
		{"no path gets /v1/traces", "http://c:4318", "http://c:4318/v1/traces"},
		{"root path gets /v1/traces", "https://c:4318/", "https://c:4318/v1/traces"},
		{"an own path is kept", "https://api.vendor.example/otlp/v1/traces", "https://api.vendor.example/otlp/v1/traces"},
	}
	for _, tc := range cases {
		got, err := ExportURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%s: ExportURL(%q) = %q, %v; want %q", tc.desc, tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "grpc://c:4317", "c:4318", "http://"} {
		if _, err := ExportURL(bad); err == nil {
			t.Errorf("ExportURL(%q) accepted", bad)
		}
	}
}

// TestOffIsNil: no block, or disable, is a nil Tracer, whose Close is safe.
func TestOffIsNil(t *testing.T) {
	for _, cfg := range []*config.Tracing{nil, {Disable: true, Endpoint: "http://c:4318"}} {
		tr, err := New(cfg, nil)
		if tr != nil || err != nil {
			t.Fatalf("New(%+v) = %v, %v", cfg, tr, err)
		}
		tr.Close()
	}
}

// TestUntrustedContextIgnored: Start continues the caller's trace only when
// told the caller is trusted, and StartUpstream replaces the trace headers.
func TestUntrustedContextIgnored(t *testing.T) {
	tr, err := New(&config.Tracing{Endpoint: "http://127.0.0.1:1", Timeout: config.Duration(time.Millisecond)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		desc    string
		trusted bool
		same    bool
	}{{"trusted caller continued", true, true}, {"untrusted caller replaced", false, false}} {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		r.Header.Set("Traceparent", parent)
		r.Header.Set("Tracestate", "k=v")
		ctx, span := tr.Start(r, tc.trusted, time.Now())
		got := span.SpanContext().TraceID().String() == "4bf92f3577b34da6a3ce929d0e0e4736"
		if got != tc.same {
			t.Errorf("%s: trace id %s", tc.desc, span.SpanContext().TraceID())
		}
		h := r.Header.Clone()
		child := tr.StartUpstream(ctx, "svc", h)
		want := "00-" + span.SpanContext().TraceID().String() + "-" + child.SpanContext().SpanID().String() + "-01"
		if h.Get("Traceparent") != want {
			t.Errorf("%s: outgoing traceparent %q, want %q", tc.desc, h.Get("Traceparent"), want)
		}
		if ts := h.Get("Tracestate"); (ts == "k=v") != tc.trusted {
			t.Errorf("%s: outgoing tracestate %q", tc.desc, ts)
		}
		child.End()
		span.End()
	}
}
