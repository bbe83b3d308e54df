package events

import (
	"net/http"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestEventWebhookHoldsToTheTLSPolicy: the event stream's webhook client's
// real ClientHello offers only the gateway's TLS policy (see the alert
// webhook's test in package intrusion); the delivery fails on the
// certificate, which the system roots do not hold.
func TestEventWebhookHoldsToTheTLSPolicy(t *testing.T) {
	srv := tlspolicytest.NewServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 0)
	w, err := newWebhookSink(config.SecurityEvents{Webhooks: []config.AlertWebhook{{URL: srv.URL + "/events"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	if err := w.post(w.hooks[0], []byte(`[]`)); err == nil {
		t.Fatal("a delivery to a certificate outside the system roots succeeded")
	}
	tlspolicytest.CheckHello(t, srv, "the event webhook client")
}
