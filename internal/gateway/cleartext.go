package gateway

import (
	"fmt"
	"net"
	"net/url"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Security events and alerts name client addresses, consumers, API key
// ids, paths and the reasons of refusals; a SIEM acts on them (a ban, a
// page). Sent over plain http or syslog without TLS to another machine,
// anyone on the path reads them, and can drop or (syslog) forge them: an
// attacker who can do that hides the very events that would show the
// attack. The config does not refuse it (syslog over UDP to a collector on
// the same segment is common practice, and a webhook's secret signs each
// batch), but the gateway says so when it starts, and when a reload adds
// such a destination, as it does for an open ops listener.

// clearSinks lists, by their config path and host (never the URL: a
// webhook URL often carries its token in the path), the destinations of
// security events and intrusion alerts that leave this machine
// unencrypted.
func clearSinks(cfg *config.Config) []string {
	var out []string
	hooks := func(p string, ws []config.AlertWebhook) {
		for i, w := range ws {
			u, err := url.Parse(w.URL)
			if err != nil || u.Scheme != "http" || tlspolicy.Loopback(u.Hostname()) {
				continue
			}
			out = append(out, fmt.Sprintf("%s[%d] (plain http to %s)", p, i, u.Hostname()))
		}
	}
	ev := cfg.Observability.SecurityEvents
	hooks("observability.security_events.webhooks", ev.Webhooks)
	if sl := ev.Syslog; sl != nil && sl.TLS == nil {
		host, _, err := net.SplitHostPort(sl.Address)
		if err == nil && !tlspolicy.Loopback(host) {
			network := sl.Network
			if network == "" {
				network = "udp"
			}
			out = append(out, fmt.Sprintf("observability.security_events.syslog (%s without tls to %s)", network, host))
		}
	}
	if id := cfg.IntrusionDetection; id != nil && id.Alerts != nil {
		hooks("intrusion_detection.alerts.webhooks", id.Alerts.Webhooks)
	}
	return out
}

// warnClearSinks logs each destination of clearSinks(cfg) that is not in
// before (nil at start): once at start, and on the reload that adds it.
func (g *Gateway) warnClearSinks(before []string, cfg *config.Config) {
	for _, s := range clearSinks(cfg) {
		if slices.Contains(before, s) {
			continue
		}
		g.log.Warn("security events leave this machine unencrypted: anyone on the network path can read them (client addresses, consumers, key ids, paths) and drop them; use https, syslog over tls, or a collector on loopback (docs/observability.md)",
			"destination", s)
	}
}
