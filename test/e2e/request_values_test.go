package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentRequestsKeepTheirOwnValues sends many requests at once from
// several clients, half of them refused, over HTTP/1.1 on kept-alive
// connections and over HTTP/2 (streams of one connection, whose headers
// the server writes after the handler returns), and checks that every
// request's values stay its own from end to end: the X-Request-Id the
// client gets is the one the upstream saw and the one on the request's
// access line, with the request's own path, client address and status.
// The request's small strings (its id, the forwarding values) are carved
// from an arena in its exchange and are never copied: they must live as
// long as anything that holds them. An arena reused for another request
// before that shows here (an HTTP/2 client then gets an empty or foreign
// X-Request-Id), and as a data race in this -race binary.
func TestConcurrentRequestsKeepTheirOwnValues(t *testing.T) {
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s", r.Header.Get("X-Request-Id"), r.RequestURI, r.Header.Get("X-Forwarded-For"))
	})
	t.Run("HTTP/1.1", func(t *testing.T) {
		gw := StartGateway(t, simpleConfig(up, ""))
		checkRequestsKeepTheirOwnValues(t, gw, "http://"+gw.Addr, func(c int) (*http.Client, string) {
			src := fmt.Sprintf("127.0.0.%d", 20+c)
			return keepAliveClient(src), src
		})
	})
	t.Run("HTTP/2", func(t *testing.T) {
		f := getTLSFixture(t)
		gw := StartGateway(t, tlsGatewayConfig(up.URL, f.listenerCerts(t), "", "", ""))
		hc := f.httpsClient("a.example.test", true)
		resp, _ := tlsGet(t, hc, "https://"+gw.Addr+"/")
		if resp.ProtoMajor != 2 {
			t.Fatalf("the client speaks %s, want HTTP/2", resp.Proto)
		}
		checkRequestsKeepTheirOwnValues(t, gw, "https://"+gw.Addr, func(int) (*http.Client, string) {
			return hc, "127.0.0.1"
		})
	})
}

// checkRequestsKeepTheirOwnValues is TestConcurrentRequestsKeepTheirOwnValues
// on one gateway: clientFor gives client c and its address.
func checkRequestsKeepTheirOwnValues(t *testing.T, gw *Gateway, base string, clientFor func(c int) (*http.Client, string)) {
	const clients, perClient = 8, 60
	type sent struct {
		path, client string
		status       int
	}
	var (
		mu   sync.Mutex
		byID = map[string]sent{}
		wg   sync.WaitGroup
	)
	errs := make(chan error, clients)
	for c := range clients {
		hc, src := clientFor(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				path, want := fmt.Sprintf("/reuse/%d/%d?q=%d", c, i, c*1000+i), http.StatusOK
				if i%2 == 1 {
					// A NUL in the path: refused before routing.
					path, want = fmt.Sprintf("/reuse/%d/%d%%00", c, i), http.StatusBadRequest
				}
				resp, err := hc.Get(base + path)
				if err != nil {
					errs <- err
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				rid := resp.Header.Get("X-Request-Id")
				switch {
				case resp.StatusCode != want:
					errs <- fmt.Errorf("%s from %s: status %d, want %d (%s)", path, src, resp.StatusCode, want, body)
					return
				case want == http.StatusOK && string(body) != rid+" "+path+" "+src:
					errs <- fmt.Errorf("%s from %s: the upstream saw %q, want %q", path, src, body, rid+" "+path+" "+src)
					return
				case want != http.StatusOK && !strings.Contains(string(body), rid):
					errs <- fmt.Errorf("%s from %s: the refusal %s does not carry the request id %q", path, src, body, rid)
					return
				}
				mu.Lock()
				if _, dup := byID[rid]; dup || rid == "" {
					mu.Unlock()
					errs <- fmt.Errorf("request id %q given twice or empty", rid)
					return
				}
				byID[rid] = sent{path: path, client: src, status: want}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		lines := accessLines(t, gw)
		if len(lines) >= clients*perClient || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	seen := 0
	for _, l := range accessLines(t, gw) {
		rid, _ := l["request_id"].(string)
		s, ok := byID[rid]
		if p, _ := l["path"].(string); !ok && !strings.HasPrefix(p, "/reuse/") {
			continue // a request sent before the check's
		}
		if !ok {
			t.Fatalf("access line with a request id no client got: %v", l)
		}
		seen++
		wantPath, _, _ := strings.Cut(s.path, "?")
		if s.status == http.StatusOK && l["path"] != wantPath {
			t.Errorf("request %s: access line path %v, want %s", rid, l["path"], wantPath)
		}
		if l["client"] != s.client || l["status"] != float64(s.status) {
			t.Errorf("request %s: access line client %v status %v, want %s %d", rid, l["client"], l["status"], s.client, s.status)
		}
	}
	if seen != clients*perClient {
		t.Fatalf("%d access lines for the %d requests", seen, clients*perClient)
	}
}
