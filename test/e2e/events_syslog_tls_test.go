package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// syslogTLSConfig is a gateway whose security events go only to the
// syslog receiver at addr over TLS, with the tls block tlsBlock (a flow
// mapping). Each request to /keyed with a wrong key is one event.
func syslogTLSConfig(up *Upstream, hash, addr, tlsBlock string) GatewayConfig {
	return eventSinksConfig(up, hash, fmt.Sprintf("    syslog: {network: tcp, address: %q, facility: authpriv, tls: %s}\n", addr, tlsBlock))
}

// eventSinksConfig is a gateway whose security events go only to the sinks
// that sinks (lines under security_events) names. Each request to /keyed
// with a wrong key is one event.
func eventSinksConfig(up *Upstream, hash, sinks string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
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
ops:
  address: "{{ops}}"
observability:
  security_events:
%s`, up.URL, hash, sinks))
}

// TestSecurityEventsSyslogOverTLS: with a tls block the events reach a
// syslog receiver over TLS (RFC 5425) only when the receiver is the one
// the block names: its certificate chains to ca_file and carries the
// expected identity. A receiver that requires a client certificate gets
// the gateway's. Every other receiver gets nothing, and the gateway says
// why in its log and counts the failed deliveries.
// receiverPKI is the PKI of the tests of receivers the gateway reaches
// over TLS (syslog, webhooks): the receivers' CA (its file at caFile), the
// gateways' CA and the gateway's client certificate it issued (gwCert,
// gwKey, common name portcullis-gateway), and a rogue CA.
type receiverPKI struct {
	siemCA, gatewaysCA, rogueCA *tlsTestCA
	caFile, gwCert, gwKey       string
}

func newReceiverPKI(t *testing.T) *receiverPKI {
	t.Helper()
	p := &receiverPKI{siemCA: ztNewCA(t, "SIEM CA"), gatewaysCA: ztNewCA(t, "gateways CA"), rogueCA: ztNewCA(t, "rogue CA")}
	dir := t.TempDir()
	p.caFile = filepath.Join(dir, "siem-ca.pem")
	tlsWriteFile(t, p.caFile, p.siemCA.pem)
	p.gwCert, p.gwKey = ztWriteCert(t, dir, "gateway", ztIssue(t, p.gatewaysCA, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "portcullis-gateway"}
	}))
	return p
}

// server issues a receiver's certificate from ca for names (DNS names or
// IP literals; the first is the common name).
func (p *receiverPKI) server(t *testing.T, ca *tlsTestCA, names ...string) tls.Certificate {
	t.Helper()
	return ztIssue(t, ca, func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: names[0]}
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				c.IPAddresses = append(c.IPAddresses, ip)
			} else {
				c.DNSNames = append(c.DNSNames, n)
			}
		}
	})
}

func TestSecurityEventsSyslogOverTLS(t *testing.T) {
	pki := newReceiverPKI(t)
	siemCA, gatewaysCA, rogueCA, caFile, gwCert, gwKey := pki.siemCA, pki.gatewaysCA, pki.rogueCA, pki.caFile, pki.gwCert, pki.gwKey
	server := func(ca *tlsTestCA, names ...string) tls.Certificate { return pki.server(t, ca, names...) }
	requireGateway := func(tc *tls.Config) *tls.Config {
		tc.ClientAuth, tc.ClientCAs = tls.RequireAndVerifyClientCert, gatewaysCA.pool
		return tc
	}
	cases := []struct {
		desc     string
		receiver *tls.Config
		tlsBlock string
		// delivered: every event reaches the receiver; otherwise none
		// does and the gateway's log names logged.
		delivered bool
		peer      string // the client certificate the receiver saw
		logged    string
	}{
		{desc: "a receiver whose certificate chains to ca_file gets every event",
			receiver: &tls.Config{Certificates: []tls.Certificate{server(siemCA, "127.0.0.1")}},
			tlsBlock: fmt.Sprintf("{ca_file: %q}", caFile), delivered: true},
		{desc: "a receiver that requires a client certificate gets the gateway's",
			receiver: requireGateway(&tls.Config{Certificates: []tls.Certificate{server(siemCA, "127.0.0.1")}}),
			tlsBlock: fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", caFile, gwCert, gwKey), delivered: true, peer: "portcullis-gateway"},
		{desc: "a receiver with the expected identity gets every event",
			receiver: &tls.Config{Certificates: []tls.Certificate{server(siemCA, "siem.internal")}},
			tlsBlock: fmt.Sprintf("{ca_file: %q, expected_identity: siem.internal}", caFile), delivered: true},
		{desc: "a receiver whose certificate another CA signed gets nothing",
			receiver: &tls.Config{Certificates: []tls.Certificate{server(rogueCA, "127.0.0.1")}},
			tlsBlock: fmt.Sprintf("{ca_file: %q}", caFile), logged: "certificate signed by unknown authority"},
		{desc: "a receiver without the expected identity gets nothing",
			receiver: &tls.Config{Certificates: []tls.Certificate{server(siemCA, "127.0.0.1", "logs.internal")}},
			tlsBlock: fmt.Sprintf("{ca_file: %q, expected_identity: siem.internal}", caFile), logged: "siem.internal"},
		{desc: "a receiver that requires a client certificate the gateway lacks gets nothing",
			receiver: requireGateway(&tls.Config{Certificates: []tls.Certificate{server(siemCA, "127.0.0.1")}}),
			tlsBlock: fmt.Sprintf("{ca_file: %q}", caFile), logged: "the receiver ended the TLS connection"},
	}
	const events = 4
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			up := NewUpstream(t, nil)
			_, hash := akGenerate(t, "--id", "k1")
			rcv := newSyslogTLSReceiver(t, tc.receiver)
			gw := StartGateway(t, syslogTLSConfig(up, hash, rcv.Addr, tc.tlsBlock))
			for i := 0; i < events; i++ {
				resp, _ := doRequest(t, http.DefaultClient, "GET", gw.URL("/keyed/x"), "", "X-API-Key", "pcl_wrong")
				if resp.StatusCode != 401 {
					t.Fatalf("request %d: %d, want 401", i, resp.StatusCode)
				}
			}
			if up.Count() != 0 {
				t.Fatalf("the upstream saw %d refused requests", up.Count())
			}
			if tc.delivered {
				deadline := time.Now().Add(10 * time.Second)
				for len(rcv.Messages()) < events {
					if time.Now().After(deadline) {
						t.Fatalf("the receiver got %d messages, want %d\nlog:\n%s", len(rcv.Messages()), events, gw.Stderr.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
				for _, m := range rcv.Messages() {
					if !rfc5424.MatchString(m) || !strings.Contains(m, `"category":"authentication"`) {
						t.Errorf("not an RFC 5424 authentication event: %q", m)
					}
				}
				peers, _ := rcv.TLS()
				if tc.peer != "" && !slices.Contains(peers, tc.peer) {
					t.Errorf("the receiver saw client certificates %v, want %s", peers, tc.peer)
				}
				if strings.Contains(gw.Stderr.String(), "cannot reach the syslog receiver") {
					t.Errorf("a delivered stream logged a failure:\n%s", gw.Stderr.String())
				}
				return
			}
			if !gw.WaitLog("cannot reach the syslog receiver", 10*time.Second) {
				t.Fatalf("no log line about the receiver:\n%s", gw.Stderr.String())
			}
			if !strings.Contains(gw.Stderr.String(), tc.logged) {
				t.Errorf("the log does not say %q:\n%s", tc.logged, gw.Stderr.String())
			}
			// The first event's three attempts have failed; the ones
			// after it are counted as they fail too.
			deadline := time.Now().Add(15 * time.Second)
			for metricValue(scrape(t, gw), "portcullis_security_event_deliveries_total", map[string]string{"sink": "syslog", "result": "failed"}) < 1 {
				if time.Now().After(deadline) {
					t.Fatal("no failed syslog delivery counted")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if n := len(rcv.Messages()); n != 0 {
				t.Fatalf("the receiver got %d messages: %q", n, rcv.Messages())
			}
			if _, refused := rcv.TLS(); len(refused) == 0 {
				t.Error("the receiver saw no refused handshake")
			}
			if metricValue(scrape(t, gw), "portcullis_security_event_deliveries_total", map[string]string{"sink": "syslog", "result": "sent"}) > 0 {
				t.Error("a delivery to a refused receiver was counted as sent")
			}
			// What is still queued for a receiver that refuses the
			// gateway does not hold its shutdown: each message gets one
			// attempt, and none once the receiver has refused it again.
			for i := 0; i < 20; i++ {
				if resp, _ := doRequest(t, http.DefaultClient, "GET", gw.URL("/keyed/x"), "", "X-API-Key", "pcl_wrong"); resp.StatusCode != 401 {
					t.Fatalf("request %d: %d, want 401", i, resp.StatusCode)
				}
			}
			start := time.Now()
			gw.Signal(syscall.SIGTERM)
			if err := gw.Wait(8 * time.Second); err != nil {
				t.Fatalf("shutdown with events queued for an unreachable receiver: %v", err)
			}
			t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestSyslogReceiverThatNeverAnswersDoesNotHoldShutdown: a receiver host
// that accepts the connection and then says nothing (a hung SIEM, a
// middlebox) makes every TLS handshake last its full timeout. Events
// queued for it are counted as failed, and SIGTERM still stops the
// gateway within seconds: once closing, each message gets one attempt,
// and none after the receiver has failed again.
func TestSyslogReceiverThatNeverAnswersDoesNotHoldShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // held open, never read
		}
	}()
	ca := ztNewCA(t, "SIEM CA")
	caFile := filepath.Join(t.TempDir(), "siem-ca.pem")
	tlsWriteFile(t, caFile, ca.pem)
	up := NewUpstream(t, nil)
	_, hash := akGenerate(t, "--id", "k1")
	gw := StartGateway(t, syslogTLSConfig(up, hash, l.Addr().String(), fmt.Sprintf("{ca_file: %q}", caFile)))
	for i := 0; i < 20; i++ {
		if resp, _ := doRequest(t, http.DefaultClient, "GET", gw.URL("/keyed/x"), "", "X-API-Key", "pcl_wrong"); resp.StatusCode != 401 {
			t.Fatalf("request %d: %d, want 401", i, resp.StatusCode)
		}
	}
	if !gw.WaitLog("cannot reach the syslog receiver", 10*time.Second) || !strings.Contains(gw.Stderr.String(), "no answer within 2s") {
		t.Fatalf("no log line about the receiver's timeout:\n%s", gw.Stderr.String())
	}
	start := time.Now()
	gw.Signal(syscall.SIGTERM)
	// One handshake under way (2 s) and one more attempt (2 s) at most.
	if err := gw.Wait(8 * time.Second); err != nil {
		t.Fatalf("shutdown with events queued for a receiver that never answers: %v", err)
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	if up.Count() != 0 {
		t.Fatalf("the upstream saw %d refused requests", up.Count())
	}
}
