package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// restrictedAdminConfig is a config whose /admin/ route is closed to every client
// (ip_filter allows only an address no test client has). With extra, a
// /new/ route comes before it. The admin route's policy is the last thing
// in the file, so the file cut just before it is still a valid config, one
// where /admin/ is open.
func restrictedAdminConfig(upURL string, extra bool) string {
	newRoute := ""
	if extra {
		newRoute = `  - name: new
    paths: [{prefix: /new/}]
    service: svc
    policies: [{kind: request_headers, set: {X-Generation: "2"}}]
`
	}
	return fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
ops: {address: "{{ops}}"}
services: [{name: svc, targets: [{url: "%s"}]}]
routes:
  - name: all
    paths: [{prefix: /}]
    service: svc
%s  - name: admin
    paths: [{prefix: /admin/}]
    service: svc
    policies:
      - kind: ip_filter
        allow: [192.0.2.1]
`, upURL, newRoute)
}

// cutBeforePolicy is the beginning of a config up to (not including) the
// admin route's policies: what a reader sees of the file between two
// writes.
func cutBeforePolicy(t *testing.T, full string) string {
	t.Helper()
	i := strings.LastIndex(full, "    policies:\n      - kind: ip_filter")
	if i < 0 {
		t.Fatal("no admin policy in the config")
	}
	return full[:i]
}

// adminProbe polls /admin/x until stop is closed and records any answer
// that is not the admin route's 403.
type adminProbe struct {
	gw      *Gateway
	stop    chan struct{}
	done    chan struct{}
	n       atomic.Int64
	mu      sync.Mutex
	leaks   []string
	started time.Time
}

func startAdminProbe(gw *Gateway) *adminProbe {
	p := &adminProbe{gw: gw, stop: make(chan struct{}), done: make(chan struct{}), started: time.Now()}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			resp, err := client.Get(gw.URL("/admin/x"))
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			p.n.Add(1)
			if resp.StatusCode != http.StatusForbidden {
				p.mu.Lock()
				p.leaks = append(p.leaks, fmt.Sprintf("%d at +%s", resp.StatusCode, time.Since(p.started).Round(time.Millisecond)))
				p.mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return p
}

func (p *adminProbe) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	<-p.done
	if p.n.Load() < 20 {
		t.Fatalf("only %d probes of /admin/", p.n.Load())
	}
	if len(p.leaks) > 0 {
		t.Fatalf("/admin/ answered without its restriction %d times (of %d): %v", len(p.leaks), p.n.Load(), p.leaks)
	}
}

// writeInTwoSteps rewrites path in place (same file, truncated) with
// first, waits pause, then appends rest: a slow writer, or two writes of a
// deploy tool.
func writeInTwoSteps(t *testing.T, path, first, rest string, pause time.Duration) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(first); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pause)
	if _, err := f.WriteString(rest); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHalfWrittenConfigNeverServes: the config file is rewritten in place
// in two writes, 1.5s apart; the first part alone is a valid config without
// the /admin/ restriction. By default the gateway never reloads a file
// written in place: /admin/ stays refused throughout, the upstream never
// sees it, the log says the change was not applied, and SIGHUP applies the
// complete file.
func TestHalfWrittenConfigNeverServes(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(restrictedAdminConfig(up.URL, false)))
	probe := startAdminProbe(gw)
	full := strings.NewReplacer("{{public}}", gw.Addr, "{{ops}}", gw.OpsAddr).Replace(restrictedAdminConfig(up.URL, true))
	first := cutBeforePolicy(t, full)
	writeInTwoSteps(t, gw.ConfigPath, first, full[len(first):], 1500*time.Millisecond)
	// The gateway looks at each write (a check after each settles) and says
	// so: once it has logged its decision about the second write too, the
	// probe has covered every moment it could have reloaded.
	reported := waitFor(5*time.Second, func() bool {
		return strings.Count(gw.Stderr.String(), `"event":"config_changed_in_place"`) >= 2
	})
	probe.finish(t)
	if !reported {
		t.Fatalf("the gateway did not report both in-place writes:\n%s", gw.Stderr.String())
	}
	for _, s := range up.Requests() {
		if strings.HasPrefix(s.RequestURI, "/admin/") {
			t.Fatalf("the upstream saw %s", s.RequestURI)
		}
	}
	if !gw.WaitLog(`"event":"config_changed_in_place"`, 2*time.Second) {
		t.Fatalf("no log line says the in-place change was not applied:\n%s", gw.Stderr.String())
	}
	if reloads, _ := readyCounters(t, gw); reloads != 0 {
		t.Fatalf("%d reloads from an in-place write", reloads)
	}

	// The writer is done: SIGHUP applies the whole file.
	gw.Signal(syscall.SIGHUP)
	if !waitFor(5*time.Second, func() bool { r, _ := readyCounters(t, gw); return r == 1 }) {
		t.Fatalf("SIGHUP did not reload:\n%s", gw.Stderr.String())
	}
	resp, err := http.Get(gw.URL("/new/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || up.Last(t).Header.Get("X-Generation") != "2" {
		t.Fatalf("after SIGHUP: %d, upstream saw %v", resp.StatusCode, up.Last(t).Header)
	}
	resp, err = http.Get(gw.URL("/admin/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("/admin/ after SIGHUP: %d", resp.StatusCode)
	}
}

// TestConfigReplacedAtomicallyReloads: a file renamed over the config is
// complete by construction and reloads by itself; /readyz then shows the
// live content's SHA-256.
func TestConfigReplacedAtomicallyReloads(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGateway(t, GatewayConfig(restrictedAdminConfig(up.URL, false)))
	before := readySHA(t, gw)
	gw.WriteConfig(GatewayConfig(restrictedAdminConfig(up.URL, true))) // write a temporary file, rename it over
	if !waitFor(5*time.Second, func() bool { r, _ := readyCounters(t, gw); return r == 1 }) {
		t.Fatalf("an atomic replacement did not reload:\n%s", gw.Stderr.String())
	}
	data, err := os.ReadFile(gw.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	after := readySHA(t, gw)
	if after == before || after != sha256Hex(data) {
		t.Fatalf("config_sha256 %s -> %s, the file's is %s", before, after, sha256Hex(data))
	}
	resp, err := http.Get(gw.URL("/new/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || up.Last(t).Header.Get("X-Generation") != "2" {
		t.Fatalf("after the replacement: %d", resp.StatusCode)
	}
}

// TestWatchContentWaitsForTheWriter: with --watch content, a file written
// in place reloads once the writes have stopped, never in between.
func TestWatchContentWaitsForTheWriter(t *testing.T) {
	up := NewUpstream(t, nil)
	gw := StartGatewayArgs(t, GatewayConfig(restrictedAdminConfig(up.URL, false)), "--watch", "content")
	probe := startAdminProbe(gw)
	full := strings.NewReplacer("{{public}}", gw.Addr, "{{ops}}", gw.OpsAddr).Replace(restrictedAdminConfig(up.URL, true))
	first := cutBeforePolicy(t, full)
	writeInTwoSteps(t, gw.ConfigPath, first, full[len(first):], 600*time.Millisecond)
	if !waitFor(5*time.Second, func() bool { r, _ := readyCounters(t, gw); return r == 1 }) {
		t.Fatalf("the in-place write did not reload with --watch content:\n%s", gw.Stderr.String())
	}
	probe.finish(t)
	if got := readySHA(t, gw); got != sha256Hex([]byte(full)) {
		t.Fatalf("live config %s is not the complete file %s", got, sha256Hex([]byte(full)))
	}
}

func readySHA(t *testing.T, gw *Gateway) string {
	t.Helper()
	_, body := gw.Readyz()
	var r struct {
		SHA string `json:"config_sha256"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.SHA) != 64 {
		t.Fatalf("/readyz has no config_sha256: %s", body)
	}
	return r.SHA
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
