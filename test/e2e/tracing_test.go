package e2e

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is a real OTLP/HTTP trace receiver on loopback: it decodes
// each export request (protobuf, gzip or not) as a collector does.
type otlpReceiver struct {
	URL     string
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string // service.name of each span's resource
	headers []http.Header
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := &otlpReceiver{URL: "http://" + l.Addr().String()}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		rc.headers = append(rc.headers, r.Header.Clone())
		for _, rs := range req.GetResourceSpans() {
			svc := attr(rs.GetResource().GetAttributes(), "service.name")
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					rc.spans = append(rc.spans, s)
					rc.service = append(rc.service, svc)
				}
			}
		}
		rc.mu.Unlock()
		resp, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(resp)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return rc
}

// trace waits until the receiver holds want spans of the trace (hex id),
// and returns them.
func (rc *otlpReceiver) trace(t *testing.T, traceID string, want int) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // the batch exporter sends every 5s
	for {
		var got []*tracepb.Span
		rc.mu.Lock()
		for _, s := range rc.spans {
			if hex.EncodeToString(s.GetTraceId()) == traceID {
				got = append(got, s)
			}
		}
		rc.mu.Unlock()
		if len(got) >= want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s: %d spans after 30s, want %d", traceID, len(got), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			v := kv.GetValue()
			switch {
			case v.GetArrayValue() != nil:
				var parts []string
				for _, e := range v.GetArrayValue().GetValues() {
					parts = append(parts, e.GetStringValue())
				}
				return strings.Join(parts, ",")
			case v.GetStringValue() != "":
				return v.GetStringValue()
			default:
				return fmt.Sprint(v.GetIntValue())
			}
		}
	}
	return ""
}

func spanNamed(t *testing.T, spans []*tracepb.Span, name string) *tracepb.Span {
	t.Helper()
	for _, s := range spans {
		if s.GetName() == name {
			return s
		}
	}
	var names []string
	for _, s := range spans {
		names = append(names, s.GetName())
	}
	t.Fatalf("no span named %q among %v", name, names)
	return nil
}

func event(s *tracepb.Span, name string) *tracepb.Span_Event {
	for _, e := range s.GetEvents() {
		if e.GetName() == name {
			return e
		}
	}
	return nil
}

// parseTraceparent splits a W3C traceparent into its trace and parent ids.
func parseTraceparent(t *testing.T, v string) (traceID, spanID, flags string) {
	t.Helper()
	p := strings.Split(v, "-")
	if len(p) != 4 || p[0] != "00" || len(p[1]) != 32 || len(p[2]) != 16 {
		t.Fatalf("traceparent %q is not W3C version 00", v)
	}
	return p[1], p[2], p[3]
}

// TestTracingOTLPExport runs the binary with tracing exported to a real
// OTLP/HTTP receiver on loopback, trusting 127.0.0.1 as a proxy and not
// 127.0.0.2, and checks: a trusted caller's trace is continued (the server
// span's parent is the caller's span, the upstream's traceparent carries
// the same trace id and names the child span); an untrusted client's
// traceparent and tracestate are dropped and a new trace started; a refused
// request's span has the refusal event naming the phase and policy, and no
// child span; the configured export headers reach the collector.
func TestTracingOTLPExport(t *testing.T) {
	rc := newOTLPReceiver(t)
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t, "--id", "k1")
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
trusted_proxies: ["127.0.0.1"]
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
consumers:
  - name: app
    credentials:
      api_keys: [{id: k1, hash: "%s"}]
routes:
  - name: keyed
    paths: [{prefix: /keyed}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {}}]
      - kind: request_headers
        set: {X-Route: keyed}
ops:
  address: "{{ops}}"
access_log: {output: "off"}
observability:
  tracing:
    endpoint: %q
    headers: {X-Collector-Token: collector-secret}
    service_name: edge-test
`, up.URL, hash, rc.URL)))

	send := func(c *http.Client, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", gw.URL("/keyed/x"), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Request-Id")
	}
	trusted, untrusted := keepAliveClient("127.0.0.1"), keepAliveClient("127.0.0.2")

	// 1. A trusted proxy's trace is continued.
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if s, _ := send(trusted, "X-Api-Key", key, "Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01", "Tracestate", "vendor=trusted"); s != 200 {
		t.Fatalf("trusted: %d", s)
	}
	seen := up.Last(t)
	tid, childID, flags := parseTraceparent(t, seen.Header.Get("Traceparent"))
	if tid != callerTrace || childID == callerSpan || flags != "01" {
		t.Fatalf("upstream traceparent %q: want trace %s, a new parent id, sampled", seen.Header.Get("Traceparent"), callerTrace)
	}
	if ts := seen.Header.Get("Tracestate"); ts != "vendor=trusted" {
		t.Errorf("upstream tracestate %q, want the trusted caller's", ts)
	}
	spans := rc.trace(t, callerTrace, 2)
	server := spanNamed(t, spans, "GET keyed")
	client := spanNamed(t, spans, "upstream svc")
	if hex.EncodeToString(server.GetParentSpanId()) != callerSpan {
		t.Errorf("server span's parent %x, want the caller's span %s", server.GetParentSpanId(), callerSpan)
	}
	if server.GetKind() != tracepb.Span_SPAN_KIND_SERVER || client.GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
		t.Errorf("kinds: server %v, client %v", server.GetKind(), client.GetKind())
	}
	if !bytes.Equal(client.GetParentSpanId(), server.GetSpanId()) {
		t.Errorf("upstream span's parent %x, want the server span %x", client.GetParentSpanId(), server.GetSpanId())
	}
	if hex.EncodeToString(client.GetSpanId()) != childID {
		t.Errorf("the upstream saw parent id %s, the upstream span is %x", childID, client.GetSpanId())
	}
	for _, want := range []struct{ event, policies string }{{"phase authn", "auth"}, {"phase rewrite", "request_headers"}} {
		e := event(server, want.event)
		if e == nil || attr(e.GetAttributes(), "portcullis.policies") != want.policies {
			t.Errorf("server span event %q: %v", want.event, e)
		}
	}
	if event(server, "refused") != nil {
		t.Errorf("an allowed request's span has a refusal event")
	}
	for k, v := range map[string]string{"portcullis.route": "keyed", "portcullis.service": "svc", "http.response.status_code": "200",
		"url.path": "/keyed/x", "portcullis.consumer": "app", "http.request.method": "GET"} {
		if got := attr(server.GetAttributes(), k); got != v {
			t.Errorf("server span %s = %q, want %q", k, got, v)
		}
	}
	if got := attr(client.GetAttributes(), "http.response.status_code"); got != "200" {
		t.Errorf("upstream span status %q", got)
	}

	// 2. An untrusted client's trace context is dropped: a new trace.
	const forgedTrace, forgedSpan = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	if s, _ := send(untrusted, "X-Api-Key", key, "Traceparent", "00-"+forgedTrace+"-"+forgedSpan+"-01", "Tracestate", "vendor=forged"); s != 200 {
		t.Fatalf("untrusted: %d", s)
	}
	seen = up.Last(t)
	tid2, child2, _ := parseTraceparent(t, seen.Header.Get("Traceparent"))
	if tid2 == forgedTrace || tid2 == callerTrace {
		t.Fatalf("the untrusted client's trace %s was continued", forgedTrace)
	}
	if ts := seen.Header.Values("Tracestate"); len(ts) != 0 {
		t.Errorf("the untrusted client's tracestate reached the upstream: %q", ts)
	}
	spans = rc.trace(t, tid2, 2)
	server2 := spanNamed(t, spans, "GET keyed")
	if len(server2.GetParentSpanId()) != 0 {
		t.Errorf("the new trace's server span has a parent %x", server2.GetParentSpanId())
	}
	if hex.EncodeToString(spanNamed(t, spans, "upstream svc").GetSpanId()) != child2 {
		t.Errorf("the upstream's parent id is not the upstream span")
	}
	if attr(server2.GetAttributes(), "client.address") != "127.0.0.2" {
		t.Errorf("client.address = %q", attr(server2.GetAttributes(), "client.address"))
	}

	// 3. A refused request: the refusal event, no upstream span, and the
	// upstream never sees it. The trusted caller names the trace.
	const refusedTrace = "5bf92f3577b34da6a3ce929d0e0e4737"
	before := up.Count()
	if s, _ := send(trusted, "Traceparent", "00-"+refusedTrace+"-"+callerSpan+"-01"); s != 401 {
		t.Fatalf("without a key: %d", s)
	}
	spans = rc.trace(t, refusedTrace, 1)
	server3 := spanNamed(t, spans, "GET keyed")
	ref := event(server3, "refused")
	if ref == nil {
		t.Fatalf("refused span has no refusal event: %v", server3.GetEvents())
	}
	for k, v := range map[string]string{"portcullis.phase": "authn", "portcullis.policy": "auth", "http.response.status_code": "401"} {
		if got := attr(ref.GetAttributes(), k); got != v {
			t.Errorf("refusal event %s = %q, want %q", k, got, v)
		}
	}
	if r := attr(ref.GetAttributes(), "portcullis.reason"); !strings.Contains(r, "credentials") {
		t.Errorf("refusal reason %q", r)
	}
	if event(server3, "phase authn") != nil || event(server3, "phase rewrite") != nil {
		t.Errorf("phases after the refusal are recorded as passed: %v", server3.GetEvents())
	}
	if up.Count() != before {
		t.Errorf("the refused request reached the upstream")
	}

	// A request refused before routing (a path the normaliser refuses)
	// has its span and refusal event too.
	raw := rawRequest(t, gw.Addr, "GET /keyed/%2e%2e/x HTTP/1.1\r\nHost: a\r\nTraceparent: 00-6bf92f3577b34da6a3ce929d0e0e4738-"+callerSpan+"-01\r\nConnection: close\r\n\r\n")
	if raw.Status != 400 {
		t.Fatalf("encoded dot segment: %d", raw.Status)
	}
	spans = rc.trace(t, "6bf92f3577b34da6a3ce929d0e0e4738", 1)
	if e := event(spanNamed(t, spans, "GET"), "refused"); e == nil || !strings.HasPrefix(attr(e.GetAttributes(), "portcullis.reason"), "path") {
		t.Errorf("normalisation refusal event: %v", e)
	}

	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, svc := range rc.service {
		if svc != "edge-test" {
			t.Errorf("span %d: service.name %q", i, svc)
		}
	}
	for _, h := range rc.headers {
		if h.Get("X-Collector-Token") != "collector-secret" {
			t.Errorf("export without the configured header: %v", h)
		}
	}
}

// TestTraceHeadersWithoutTracing: with no tracing block, an untrusted
// client's traceparent and tracestate never reach the upstream, and a
// trusted proxy's pass through unchanged (the gateway takes no part in the
// trace).
func TestTraceHeadersWithoutTracing(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
trusted_proxies: ["127.0.0.1"]
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %s}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
ops: {address: "{{ops}}"}
access_log: {output: "off"}
`, up.URL)))
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		desc, src string
		kept      bool
	}{{"untrusted client", "127.0.0.2", false}, {"trusted proxy", "127.0.0.1", true}} {
		req, _ := http.NewRequest("GET", gw.URL("/x"), nil)
		req.Header.Set("Traceparent", tp)
		req.Header.Set("Tracestate", "k=v")
		resp, err := keepAliveClient(tc.src).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", tc.desc, resp.StatusCode)
		}
		h := up.Last(t).Header
		if tc.kept && (h.Get("Traceparent") != tp || h.Get("Tracestate") != "k=v") {
			t.Errorf("%s: the upstream saw %q %q, want them unchanged", tc.desc, h.Get("Traceparent"), h.Get("Tracestate"))
		}
		if !tc.kept && (len(h.Values("Traceparent")) != 0 || len(h.Values("Tracestate")) != 0) {
			t.Errorf("%s: the upstream saw %q %q", tc.desc, h.Values("Traceparent"), h.Values("Tracestate"))
		}
	}
}

// TestTracingSampling runs with sample: 0. Requests still carry a
// traceparent upstream, flagged not sampled, and export nothing; a trusted
// caller's sampled flag is followed (parent-based sampling), so its trace
// is exported, and since spans are exported in the order they end, the
// unsampled requests before it are known to have exported nothing once it
// arrives.
func TestTracingSampling(t *testing.T) {
	rc := newOTLPReceiver(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
trusted_proxies: ["127.0.0.1"]
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %s}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
ops: {address: "{{ops}}"}
access_log: {output: "off"}
observability:
  tracing: {endpoint: %q, sample: 0}
`, up.URL, rc.URL)))
	send := func(src, traceparent string) (traceID, flags string) {
		t.Helper()
		req, _ := http.NewRequest("GET", gw.URL("/x"), nil)
		if traceparent != "" {
			req.Header.Set("Traceparent", traceparent)
		}
		resp, err := keepAliveClient(src).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		tid, _, fl := parseTraceparent(t, up.Last(t).Header.Get("Traceparent"))
		return tid, fl
	}
	// An untrusted client asking for sampling: a new trace, not sampled.
	const forged = "0af7651916cd43dd8448eb211c80319c"
	untrustedTrace, fl := send("127.0.0.2", "00-"+forged+"-b7ad6b7169203331-01")
	if untrustedTrace == forged || fl != "00" {
		t.Fatalf("untrusted: upstream trace %s flags %s, want a new unsampled trace", untrustedTrace, fl)
	}
	// A trusted caller that did not sample: its trace, not sampled.
	const unsampled = "1bf92f3577b34da6a3ce929d0e0e4731"
	if tid, fl := send("127.0.0.1", "00-"+unsampled+"-00f067aa0ba902b7-00"); tid != unsampled || fl != "00" {
		t.Fatalf("trusted unsampled: upstream trace %s flags %s", tid, fl)
	}
	// A trusted caller that sampled: followed despite sample: 0.
	const sampled = "2bf92f3577b34da6a3ce929d0e0e4732"
	if tid, fl := send("127.0.0.1", "00-"+sampled+"-00f067aa0ba902b7-01"); tid != sampled || fl != "01" {
		t.Fatalf("trusted sampled: upstream trace %s flags %s", tid, fl)
	}
	rc.trace(t, sampled, 2)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, s := range rc.spans {
		if id := hex.EncodeToString(s.GetTraceId()); id != sampled {
			t.Errorf("an unsampled trace was exported: %s (%s)", id, s.GetName())
		}
	}
}
