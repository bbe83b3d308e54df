package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawTLSRequest writes raw bytes over a TLS connection that negotiated
// HTTP/1.1 and reads one response; Status 0 when none came.
func rawTLSRequest(t *testing.T, addr string, cfg *tls.Config, raw string) RawResponse {
	t.Helper()
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		c.Close()
		t.Fatalf("negotiated %q, want http/1.1", p)
	}
	return rawExchange(c, raw)
}

// TestTLSFramingChecked: HTTP/1.1 over TLS goes through the same framing
// check as plain HTTP/1.1. net/http alone accepts Content-Length beside
// Transfer-Encoding, and repeated identical Content-Length values; the
// gateway refuses them with a problem body and the upstream sees nothing.
// A clean request still passes and is known to be HTTPS (the TLS state
// survives the framing checker).
func TestTLSFramingChecked(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "", ""))
	cfg := f.client("a.example.test")

	smuggled := "GET /admin/smuggled HTTP/1.1\r\nHost: a.example.test\r\n\r\n"
	refused := []struct{ name, raw string }{
		{"Content-Length and Transfer-Encoding", "POST /x HTTP/1.1\r\nHost: a.example.test\r\nContent-Length: 52\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled},
		{"Transfer-Encoding and Content-Length", "POST /x HTTP/1.1\r\nHost: a.example.test\r\nTransfer-Encoding: chunked\r\n" +
			"Content-Length: 52\r\n\r\n0\r\n\r\n" + smuggled},
		{"duplicate identical Content-Length", "POST /x HTTP/1.1\r\nHost: a.example.test\r\nContent-Length: 4\r\n" +
			"Content-Length: 4\r\n\r\nabcd"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			up.Reset()
			resp := rawTLSRequest(t, gw.Addr, cfg, tc.raw)
			if resp.Status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %q", resp.Status, resp.Body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			var prob map[string]any
			if err := json.Unmarshal([]byte(resp.Body), &prob); err != nil || prob["status"] != float64(400) {
				t.Errorf("body %q is not a 400 problem", resp.Body)
			}
			if n := up.Count(); n != 0 {
				t.Errorf("upstream saw %d requests, want none: %+v", n, up.Requests())
			}
		})
	}

	t.Run("clean request passes and is HTTPS", func(t *testing.T) {
		up.Reset()
		resp := rawTLSRequest(t, gw.Addr, cfg, "POST /x HTTP/1.1\r\nHost: a.example.test\r\nContent-Length: 4\r\n\r\nabcd")
		if resp.Status != 200 {
			t.Fatalf("status %d body %q", resp.Status, resp.Body)
		}
		seen := up.Last(t)
		if string(seen.Body) != "abcd" {
			t.Errorf("upstream body %q", seen.Body)
		}
		if p := seen.Header.Get("X-Forwarded-Proto"); p != "https" {
			t.Errorf("X-Forwarded-Proto %q, want https", p)
		}
		if fwd := seen.Header.Get("Forwarded"); !strings.Contains(fwd, "proto=https") {
			t.Errorf("Forwarded %q, want proto=https", fwd)
		}
	})

	t.Run("HTTP/2 still served", func(t *testing.T) {
		up.Reset()
		resp, body := tlsGet(t, f.httpsClient("a.example.test", true), "https://"+gw.Addr+"/x")
		if resp.StatusCode != 200 || resp.ProtoMajor != 2 || body == "" {
			t.Fatalf("status %d proto %s body %q", resp.StatusCode, resp.Proto, body)
		}
		if p := up.Last(t).Header.Get("X-Forwarded-Proto"); p != "https" {
			t.Errorf("X-Forwarded-Proto %q, want https", p)
		}
	})
}

// TestTLSStalledHandshakeDoesNotBlock: a client that opens a connection and
// never sends its ClientHello must not hold up other clients' handshakes.
func TestTLSStalledHandshakeDoesNotBlock(t *testing.T) {
	f := getTLSFixture(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "", ""))
	var stalled []net.Conn
	for range 5 {
		c, err := net.DialTimeout("tcp", gw.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, c)
	}
	defer func() {
		for _, c := range stalled {
			_ = c.Close()
		}
	}()
	resp := rawTLSRequest(t, gw.Addr, f.client("a.example.test"), "GET /x HTTP/1.1\r\nHost: a.example.test\r\n\r\n")
	if resp.Status != 200 {
		t.Fatalf("status %d with stalled handshakes open", resp.Status)
	}
}
