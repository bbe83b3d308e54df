package tracing

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestExporterHoldsToTheTLSPolicy: the OTLP exporter's ClientHello to an
// https:// collector offers only the gateway's TLS policy, and a
// collector that speaks only CBC or static RSA receives no span.
func TestExporterHoldsToTheTLSPolicy(t *testing.T) {
	for _, suite := range []uint16{0, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_128_GCM_SHA256} {
		got := make(chan struct{}, 16)
		srv := tlspolicytest.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			got <- struct{}{}
		}), suite)
		exportOneSpan(t, srv.URL)
		tlspolicytest.CheckHello(t, srv, "the OTLP exporter")
		// The collector's certificate is self-signed, so even the modern
		// one is not trusted: only the ClientHello is under test there.
		if len(got) != 0 {
			t.Errorf("%s: a span reached a collector the exporter must not trust", tls.CipherSuiteName(suite))
		}
	}
}

// TestPlainEndpointStillExports: an http:// collector (a sidecar on
// loopback) takes no TLS config and receives the spans.
func TestPlainEndpointStillExports(t *testing.T) {
	got := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		got <- struct{}{}
	}))
	defer srv.Close()
	exportOneSpan(t, srv.URL)
	if len(got) == 0 {
		t.Fatal("no span reached the http:// collector")
	}
}

// exportOneSpan starts a tracer exporting to endpoint, records one span and
// closes the tracer, which exports it (within the timeout).
func exportOneSpan(t *testing.T, endpoint string) {
	t.Helper()
	tr, err := New(&config.Tracing{Endpoint: endpoint, Timeout: config.Duration(2 * time.Second)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "http://x/", nil)
	_, span := tr.Start(r, false, time.Now())
	span.End()
	tr.Close()
}
