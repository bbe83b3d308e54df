package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// timeoutConfig is a gateway with short read timeouts in front of up.
func timeoutConfig(up *Upstream, listenerExtra, topExtra string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
    read_header_timeout: 1s
    read_timeout: 2s
%s
services:
  - name: svc
    targets: [{url: %s}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
%s
ops:
  address: "{{ops}}"
`, listenerExtra, up.URL, topExtra))
}

// trickle writes head, then body one byte every interval, and reads the
// gateway's answer (Status 0 when the connection closed without one).
func trickle(t *testing.T, addr, head, body string, interval time.Duration) (RawResponse, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	got := make(chan RawResponse, 1)
	br := bufio.NewReader(c)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			got <- RawResponse{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.Close {
			// ReadResponse moves "Connection: close" into resp.Close.
			resp.Header.Set("Connection", "close")
		}
		got <- RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
	}()
	for i := 0; i < len(body); i++ {
		select {
		case r := <-got:
			return r, c
		case <-time.After(interval):
		}
		if _, err := c.Write([]byte{body[i]}); err != nil {
			break
		}
	}
	return <-got, c
}

// TestSlowBodyIs408NotSuccess: a body that does not arrive within
// read_timeout is answered 408 with Connection: close, never a success, and
// the access line says 408 with the bytes that did arrive.
func TestSlowBodyIs408NotSuccess(t *testing.T) {
	const validated = `    policies:
      - kind: validate
        json: true`
	for _, tc := range []struct {
		desc, head, body, route string
	}{
		{"content-length", "POST /slow HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n", strings.Repeat("a", 100), ""},
		{"chunked", "POST /slow HTTP/1.1\r\nHost: gw.test\r\nTransfer-Encoding: chunked\r\n\r\n", "64\r\n" + strings.Repeat("a", 100) + "\r\n0\r\n\r\n", ""},
		{"read by a policy", "POST /slow HTTP/1.1\r\nHost: gw.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", `{"a":"` + strings.Repeat("a", 92) + `"}`, validated},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			up := NewUpstream(t, nil)
			gw := StartGateway(t, timeoutConfig(up, "", tc.route))
			resp, c := trickle(t, gw.Addr, tc.head, tc.body, 300*time.Millisecond)
			defer c.Close()
			if resp.Status != 0 && resp.Status != http.StatusRequestTimeout {
				t.Fatalf("a body that never fully arrived was answered %d, want 408 or a closed connection", resp.Status)
			}
			if resp.Status == http.StatusRequestTimeout && !strings.EqualFold(resp.Header.Get("Connection"), "close") {
				t.Fatalf("408 without Connection: close: %v", resp.Header)
			}
			if !gw.WaitAccessLog(`"status":408`, 5*time.Second) {
				t.Fatalf("no access line with status 408:\n%s", gw.Stdout.String())
			}
			if strings.Contains(gw.Stdout.String(), `"status":200`) || strings.Contains(gw.Stdout.String(), `"status":499`) {
				t.Fatalf("access log does not tell the truth:\n%s", gw.Stdout.String())
			}
			// The upstream may have seen the start of the request (bodies
			// stream), but never a complete one answered as a success.
			for _, s := range up.Requests() {
				if len(s.Body) == 100 {
					t.Fatalf("the upstream received the whole body of a timed-out request")
				}
			}
		})
	}
}

// TestSlowHeaderIs408AndNotMalformed: a header section that does not arrive
// within read_header_timeout gets 408 (or a close), is logged as a timeout,
// and counts toward its own intrusion category, never toward malformed.
func TestSlowHeaderIs408AndNotMalformed(t *testing.T) {
	up := NewUpstream(t, nil)
	// A malformed threshold of 1 would ban at once if timeouts counted as
	// malformed requests; the timeout rule has its own threshold.
	gw := StartGateway(t, timeoutConfig(up, "", `intrusion_detection:
  rules:
    - {event: malformed, threshold: 1, window: 1m, ban: 10m}
    - {event: timeout, threshold: 3, window: 1m, ban: 10m}`))
	for i := 0; i < 2; i++ {
		resp := slowHead(t, gw.Addr)
		if resp.Status != 0 && resp.Status != http.StatusRequestTimeout {
			t.Fatalf("slow header %d answered %d, want 408", i, resp.Status)
		}
	}
	if !gw.WaitAccessLog(`"status":408`, 5*time.Second) {
		t.Fatalf("no 408 access line:\n%s", gw.Stdout.String())
	}
	// Two timeouts: under the timeout threshold, and not malformed requests.
	resp, err := http.Get(gw.URL("/after"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a client with two slow headers was refused: %d\n%s", resp.StatusCode, gw.Stderr.String())
	}
	// The third timeout reaches the timeout threshold: banned.
	slowHead(t, gw.Addr)
	if !gw.WaitLog(`"event":"timeout"`, 5*time.Second) {
		t.Fatalf("no timeout intrusion event in the log:\n%s", gw.Stderr.String())
	}
	resp, err = http.Get(gw.URL("/after-ban"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("after three timeouts: %d, want 403 (banned by the timeout rule)", resp.StatusCode)
	}
}

func slowHead(t *testing.T, addr string) RawResponse {
	t.Helper()
	resp, c := trickle(t, addr, "GET /slow HTTP/1.1\r\n", "Host: gw.test\r\nX-Slow: "+strings.Repeat("a", 40)+"\r\n\r\n", 100*time.Millisecond)
	c.Close()
	return resp
}

// TestGatewayAnswersLogBytesOut: every answer the gateway writes itself
// (404, 405, 413, 429, 503) is logged with the bytes it sent.
func TestGatewayAnswersLogBytesOut(t *testing.T) {
	up := NewUpstream(t, nil)
	dead := freeAddr(t)
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
  - name: gone
    targets: [{url: http://%s}]
    passive_health: {consecutive_failures: 1, cool_off: 1m}
routes:
  - name: get-only
    paths: [{exact: /only-get}]
    methods: [GET]
    service: svc
  - name: small
    paths: [{exact: /small}]
    service: svc
    max_body_size: 10
  - name: limited
    paths: [{exact: /limited}]
    service: svc
    policies:
      - kind: rate_limit
        limits: [{rate: 1, per: 1m}]
  - name: gone
    paths: [{exact: /gone}]
    service: gone
ops:
  address: "{{ops}}"
`, up.URL, dead)))
	do := func(method, path, body string) {
		req, _ := http.NewRequest(method, gw.URL(path), strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	do("GET", "/nowhere", "")
	do("POST", "/only-get", "")
	do("POST", "/small", strings.Repeat("x", 100))
	do("GET", "/limited", "")
	do("GET", "/limited", "")
	do("GET", "/gone", "") // 502, ejects the target
	do("GET", "/gone", "") // 503
	for _, st := range []int{404, 405, 413, 429, 502, 503} {
		if !gw.WaitAccessLog(fmt.Sprintf(`"status":%d`, st), 5*time.Second) {
			t.Fatalf("no %d access line:\n%s", st, gw.Stdout.String())
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(gw.Stdout.String()), "\n") {
		if strings.Contains(line, `"bytes_out":0`) {
			t.Errorf("a gateway answer logged with bytes_out 0: %s", line)
		}
	}
}
