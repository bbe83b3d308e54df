package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestClientAddrSeveralForwardedForLines: a trusted proxy that adds its
// own X-Forwarded-For line below the one the client wrote. The lines are
// one list read right to left, so the proxy's line decides the client
// address: what the global ip_filter judges and the access log records.
func TestClientAddrSeveralForwardedForLines(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
trusted_proxies: [127.0.0.1/32]
ip_filter: {deny: [203.0.113.66]}
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: "%s"}]}]
routes: [{name: api, paths: [{prefix: /api/}], service: svc}]
ops: {address: "{{ops}}"}
`, up.URL)))

	for _, tc := range []struct {
		desc         string
		clientLine   string // the first line, written by the client
		proxyLine    string // the second line, appended by the trusted proxy
		status       int
		wantClient   string
		reachesUp    bool
		wantUpstream string // X-Forwarded-For the upstream gets: both lines, in order, and the proxy
	}{
		{desc: "a denied client cannot pass by writing an allowed address on a line of its own",
			clientLine: "198.51.100.1", proxyLine: "203.0.113.66",
			status: http.StatusForbidden, wantClient: "203.0.113.66"},
		{desc: "an allowed client that writes a denied address on a line of its own is judged by its own",
			clientLine: "203.0.113.66", proxyLine: "198.51.100.1",
			status: http.StatusOK, wantClient: "198.51.100.1", reachesUp: true,
			wantUpstream: "203.0.113.66, 198.51.100.1, 127.0.0.1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up.Reset()
			resp, body := fwdDo(t, gw.URL("/api/who"), "X-Forwarded-For", tc.clientLine, "X-Forwarded-For", tc.proxyLine)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if got := up.Count(); tc.reachesUp != (got == 1) || got > 1 {
				t.Fatalf("the upstream received %d requests, want reached=%v", got, tc.reachesUp)
			}
			if tc.reachesUp {
				if got := up.Last(t).Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != tc.wantUpstream {
					t.Errorf("upstream X-Forwarded-For %q, want one line %q", got, tc.wantUpstream)
				}
			}
			rid := resp.Header.Get("X-Request-Id")
			if rid == "" || !gw.WaitAccessLog(`"request_id":"`+rid+`"`, 5*time.Second) {
				t.Fatalf("no access line for request %q", rid)
			}
			for _, l := range accessLines(t, gw) {
				if l["request_id"] == rid {
					if l["client"] != tc.wantClient {
						t.Fatalf("access line client %v, want %s", l["client"], tc.wantClient)
					}
					if l["status"] != float64(tc.status) {
						t.Fatalf("access line status %v, want %d", l["status"], tc.status)
					}
					return
				}
			}
			t.Fatalf("no access line for request %q", rid)
		})
	}
}
