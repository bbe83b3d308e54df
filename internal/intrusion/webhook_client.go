package intrusion

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/portcullis/portcullis/internal/clienttls"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// EventWebhookTLSReloaded and EventWebhookTLSReloadFailed are the "event"
// values of the log lines about a webhook's tls block's files.
const (
	EventWebhookTLSReloaded     = "webhook_tls_reloaded"
	EventWebhookTLSReloadFailed = "webhook_tls_reload_failed"
)

// WebhookClient is the HTTP client of one webhook (a security alert's or
// the security event stream's): the gateway's TLS policy, a timeout per
// attempt, and redirects not followed (the signed body goes only where the
// config says).
//
// Threat: with the system roots only, a receiver behind a private CA (the
// usual SIEM) can only be reached by plain http, where anyone on the path
// reads the events and anyone who can answer at its address swallows them.
// A tls block verifies the receiver as a service's https:// targets are
// (internal/clienttls: ca_file, server_name, expected_identity), presents
// the gateway's client certificate to a receiver that requires one, and
// reads the files again when they change, before each new connection. Such
// a webhook is dialed directly, never through HTTPS_PROXY: a proxy's
// tunnel is opened by the transport's own TLS, which the block's checks
// would not reach.
func WebhookClient(w config.AlertWebhook, timeout time.Duration, log *slog.Logger) (*http.Client, error) {
	tr := tlspolicy.Transport()
	if w.TLS != nil {
		m, err := clienttls.New(w.TLS)
		if err != nil {
			return nil, fmt.Errorf("webhook %w", err)
		}
		if log == nil {
			log = slog.Default()
		}
		report := func(err error) {
			if err != nil {
				log.Error("webhook TLS files failed to reload; new connections keep the previous ones", "event", EventWebhookTLSReloadFailed, "files", m.Files(), "error", err)
				return
			}
			log.Info("webhook TLS files reloaded", "event", EventWebhookTLSReloaded, "files", m.Files())
		}
		tr.Proxy = nil
		tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return m.Dial(ctx, network, addr, report)
		}
	}
	return &http.Client{
		Timeout:       timeout,
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}
