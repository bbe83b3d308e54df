package intrusion

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/intrusion/webhooktest"
)

// TestSignKnownAnswer pins the signature format with a vector computed
// outside Go (openssl dgst -sha256 -hmac): a change of format fails here
// before it breaks every receiver.
func TestSignKnownAnswer(t *testing.T) {
	got := Sign([]byte("hook-secret"), "1700000000", []byte(`{"type":"ban","event":"auth_failure"}`))
	if want := "sha256=38a2e8b7592104dcf8ddcb2cd2483ed1c7bceb624999c90039e587f36f1ea62e"; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// TestWebhookWithoutSecretIsUnsigned: a webhook without a secret gets the
// timestamp and no signature header at all (not an empty or keyless one
// a receiver might accept).
func TestWebhookWithoutSecretIsUnsigned(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	d := newDet(t, &config.IntrusionDetection{Rules: rules(1, time.Minute, time.Minute),
		Alerts: &config.IntrusionAlerts{Webhooks: []config.AlertWebhook{{URL: srv.URL}}}})
	d.Record(EventAuthFailure, Info{Client: attacker})
	var h http.Header
	select {
	case h = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no alert delivered")
	}
	if v, ok := h["X-Portcullis-Signature"]; ok {
		t.Fatalf("unsigned webhook got X-Portcullis-Signature %q", v)
	}
	ts, err := strconv.ParseInt(h.Get("X-Portcullis-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > webhooktest.MaxAge {
		t.Fatalf("X-Portcullis-Timestamp %q is not the delivery time in unix seconds", h.Get("X-Portcullis-Timestamp"))
	}
}
