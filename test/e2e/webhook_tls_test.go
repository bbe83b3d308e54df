package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/intrusion/webhooktest"
)

// tlsHookReceiver is an HTTPS webhook receiver on loopback with the
// server side tc: it keeps the bodies whose signature verifies and the
// client certificate names it saw.
type tlsHookReceiver struct {
	URL    string
	mu     sync.Mutex
	bodies []string
	peers  []string
}

func newTLSHookReceiver(t *testing.T, secret string, tc *tls.Config) *tlsHookReceiver {
	t.Helper()
	r := &tlsHookReceiver{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if err := webhooktest.Verify([]byte(secret), req.Header, body, time.Now()); err != nil {
			w.WriteHeader(401)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.bodies = append(r.bodies, string(body))
		if pc := req.TLS.PeerCertificates; len(pc) > 0 {
			r.peers = append(r.peers, pc[0].Subject.CommonName)
		}
	}))
	srv.TLS = tc
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/hook"
	return r
}

func (r *tlsHookReceiver) got() (bodies, peers []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...), append([]string(nil), r.peers...)
}

// TestWebhooksOverTLSWithATLSBlock: a webhook's tls block (the security
// event stream's and intrusion detection's alerts') verifies a receiver
// under a private CA, which the system roots alone never reach, and
// presents the gateway's client certificate to a receiver that requires
// one. A receiver the block does not vouch for gets nothing, and the
// gateway's log says why (the TLS error, never the URL).
func TestWebhooksOverTLSWithATLSBlock(t *testing.T) {
	pki := newReceiverPKI(t)
	siemCA, gatewaysCA, rogueCA, caFile, gwCert, gwKey := pki.siemCA, pki.gatewaysCA, pki.rogueCA, pki.caFile, pki.gwCert, pki.gwKey
	serverCert := func(ca *tlsTestCA, names ...string) tls.Certificate { return pki.server(t, ca, names...) }
	const secret = "hook-secret-for-tls-tests"
	cases := []struct {
		desc      string
		receiver  func() *tls.Config
		tlsBlock  string
		delivered bool
		peer      string
		logged    string
	}{
		{desc: "a receiver under a private CA named by ca_file",
			receiver: func() *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{serverCert(siemCA, "127.0.0.1")}}
			},
			tlsBlock: fmt.Sprintf("{ca_file: %q}", caFile), delivered: true},
		{desc: "a receiver that requires the gateway's client certificate",
			receiver: func() *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{serverCert(siemCA, "127.0.0.1")},
					ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: gatewaysCA.pool}
			},
			tlsBlock: fmt.Sprintf("{ca_file: %q, cert_file: %q, key_file: %q}", caFile, gwCert, gwKey), delivered: true, peer: "portcullis-gateway"},
		{desc: "a receiver whose certificate another CA signed",
			receiver: func() *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{serverCert(rogueCA, "127.0.0.1")}}
			},
			tlsBlock: fmt.Sprintf("{ca_file: %q}", caFile), logged: "certificate signed by unknown authority"},
		{desc: "a receiver without the expected identity",
			receiver: func() *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{serverCert(siemCA, "127.0.0.1", "logs.internal")}}
			},
			tlsBlock: fmt.Sprintf("{ca_file: %q, expected_identity: siem.internal}", caFile), logged: "siem.internal"},
		{desc: "a receiver under a private CA, without a tls block",
			receiver: func() *tls.Config {
				return &tls.Config{Certificates: []tls.Certificate{serverCert(siemCA, "127.0.0.1")}}
			},
			logged: "certificate signed by unknown authority"},
	}
	for _, sink := range []string{"security events", "intrusion alerts"} {
		for _, tc := range cases {
			t.Run(sink+": "+tc.desc, func(t *testing.T) {
				rcv := newTLSHookReceiver(t, secret, tc.receiver())
				hook := fmt.Sprintf("{url: %q, secret: %q", rcv.URL, secret)
				if tc.tlsBlock != "" {
					hook += ", tls: " + tc.tlsBlock
				}
				hook += "}"
				up := NewUpstream(t, nil)
				_, hash := akGenerate(t)
				var cfg GatewayConfig
				if sink == "security events" {
					cfg = eventSinksConfig(up, hash, "    webhooks: ["+hook+"]\n    webhook_batch_interval: 50ms\n    webhook_retries: 0\n")
				} else {
					cfg = intrusionConfig(up, hash, "  rules: [{event: auth_failure, threshold: 1, window: 1m, ban: 1m}]\n  alerts: {webhooks: ["+hook+"], retries: 0}\n")
				}
				gw := StartGateway(t, cfg)
				path, header := "/keyed/x", "X-API-Key"
				if sink == "intrusion alerts" {
					path, header = "/orders", "X-Api-Key"
				}
				if resp, _ := doRequest(t, http.DefaultClient, "GET", gw.URL(path), "", header, "pcl_wrong"); resp.StatusCode != 401 {
					t.Fatalf("status %d, want 401", resp.StatusCode)
				}
				if up.Count() != 0 {
					t.Fatalf("the upstream saw %d refused requests", up.Count())
				}
				if tc.delivered {
					deadline := time.Now().Add(10 * time.Second)
					for {
						bodies, peers := rcv.got()
						if len(bodies) > 0 {
							if !strings.Contains(bodies[0], "auth") {
								t.Errorf("delivery %q", bodies[0])
							}
							if tc.peer != "" && (len(peers) == 0 || peers[0] != tc.peer) {
								t.Errorf("the receiver saw client certificates %v, want %s", peers, tc.peer)
							}
							return
						}
						if time.Now().After(deadline) {
							t.Fatalf("nothing delivered\nlog:\n%s", gw.Stderr.String())
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
				if !gw.WaitLog("not delivered", 10*time.Second) {
					t.Fatalf("no log line about the failed delivery:\n%s", gw.Stderr.String())
				}
				if !strings.Contains(gw.Stderr.String(), tc.logged) {
					t.Errorf("the log does not say %q:\n%s", tc.logged, gw.Stderr.String())
				}
				if strings.Contains(gw.Stderr.String(), "/hook") {
					t.Errorf("the log names the webhook's URL:\n%s", gw.Stderr.String())
				}
				if bodies, _ := rcv.got(); len(bodies) != 0 {
					t.Fatalf("the receiver got %d deliveries", len(bodies))
				}
			})
		}
	}
}
