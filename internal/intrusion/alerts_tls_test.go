package intrusion

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy/tlspolicytest"
)

// TestAlertWebhookHoldsToTheTLSPolicy: the alert client's real ClientHello
// (caught by a server on loopback) offers only the gateway's TLS policy,
// not Go's defaults, which include CBC suites. The server's certificate is
// not in the system roots, so the delivery itself fails after the hello.
func TestAlertWebhookHoldsToTheTLSPolicy(t *testing.T) {
	srv := tlspolicytest.NewServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), 0)
	a, err := newAlerter(&config.IntrusionAlerts{Webhooks: []config.AlertWebhook{{URL: srv.URL + "/alerts"}}, Retries: new(1)},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	a.send(&Alert{Type: "ban", Event: "test", Client: "192.0.2.1", Time: time.Now()})
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Hellos()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	tlspolicytest.CheckHello(t, srv, "the alert webhook client")
}
