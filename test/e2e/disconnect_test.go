package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClientDisconnectCancelsUpstreamRequest: a client that closes its
// connection while the upstream is still working gets its upstream request
// cancelled (the gateway's request context ends, the upstream connection is
// closed, and the upstream's own request context ends), and the access line
// records 499 (the client went away), never a 502 or a 200. The request
// body, when there is one, has been read whole before the client leaves:
// the engine watches the connection only once the request is read, so a
// body being read is never mistaken for the next request or for a close.
func TestClientDisconnectCancelsUpstreamRequest(t *testing.T) {
	type event struct {
		path string
		body string
	}
	started := make(chan event, 4)
	cancelled := make(chan string, 4)
	release := make(chan struct{})
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/slow") {
			_, _ = io.WriteString(w, "ok")
			return
		}
		b, _ := io.ReadAll(r.Body) // the harness has read it already; this is its copy
		started <- event{r.URL.Path, string(b)}
		select {
		case <-r.Context().Done():
			cancelled <- r.URL.Path
		case <-release:
		}
	})
	// Runs before the upstream's own cleanup (cleanups run last first): a
	// handler that was never cancelled is let go so the upstream can stop.
	t.Cleanup(func() { close(release) })
	gw := StartGateway(t, simpleConfig(up, ""))

	cases := []struct {
		desc, path, raw, body string
	}{
		{desc: "GET without a body", path: "/slow-get",
			raw: "GET /slow-get HTTP/1.1\r\nHost: e2e.test\r\n\r\n"},
		{desc: "POST whose Content-Length body was read first", path: "/slow-post",
			raw:  "POST /slow-post HTTP/1.1\r\nHost: e2e.test\r\nContent-Length: 5\r\n\r\nhello",
			body: "hello"},
		{desc: "POST whose chunked body was read first", path: "/slow-chunked",
			raw:  "POST /slow-chunked HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			body: "hello"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			c := sendRaw(t, gw.Addr, tc.raw)
			// The upstream has the request (with its whole body) and is
			// holding it: the client leaves now.
			select {
			case ev := <-started:
				if ev.path != tc.path || ev.body != tc.body {
					t.Fatalf("upstream got %q with body %q, want %q with %q", ev.path, ev.body, tc.path, tc.body)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the request never reached the upstream")
			}
			_ = c.Close()

			// The gateway's response timeout is 60 s: only the client's
			// leaving can end the upstream request within this bound.
			select {
			case p := <-cancelled:
				if p != tc.path {
					t.Fatalf("cancelled %q, want %q", p, tc.path)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the upstream request was not cancelled after the client closed its connection")
			}

			var line map[string]any
			deadline := time.Now().Add(10 * time.Second)
			for line == nil && time.Now().Before(deadline) {
				for _, l := range accessLines(t, gw) {
					if l["path"] == tc.path {
						line = l
					}
				}
				if line == nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if line == nil {
				t.Fatalf("no access line for %s:\n%s", tc.path, gw.Stdout.String())
			}
			if st, _ := line["status"].(float64); st != 499 {
				t.Fatalf("access line status %v, want 499 (client went away): %v", line["status"], line)
			}
		})
	}

	// The gateway is still serving (keep-alive connections included).
	resp, err := http.Get(gw.URL("/after"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Fatalf("after the disconnects: %d %q", resp.StatusCode, b)
	}
}
