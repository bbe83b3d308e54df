package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// accessLogConfig is a one-route gateway logging every request to output.
func accessLogConfig(upURL, output string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %q}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
access_log: {output: %q}
ops: {address: "{{ops}}"}
`, upURL, output))
}

// sighupReload sends SIGHUP and waits until /readyz counts one more
// successful reload.
func sighupReload(t *testing.T, gw *Gateway) {
	t.Helper()
	before, _ := readyCounters(t, gw)
	gw.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { n, _ := readyCounters(t, gw); return n > before }) {
		t.Fatalf("no reload; stderr:\n%s", gw.Stderr.String())
	}
}

// TestAccessLogFollowsReloads: the access log is what the live config says.
// A reload that moves it to another file writes the next lines there (it
// used to keep the log of the start and say nothing); a reload after the
// file was renamed away (log rotation) writes the next lines to a new file
// under the configured name, and the renamed file keeps every line written
// before. No line is lost or written twice.
func TestAccessLogFollowsReloads(t *testing.T) {
	up := NewUpstream(t, nil)
	dir := t.TempDir()
	first, second := filepath.Join(dir, "first.log"), filepath.Join(dir, "second.log")
	gw := StartGateway(t, accessLogConfig(up.URL, first))

	get := func(path string) {
		t.Helper()
		resp, err := http.Get(gw.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
	}
	read := func(file string) string {
		b, _ := os.ReadFile(file) // #nosec G304 -- the test's own files
		return string(b)
	}
	waitLine := func(file, path string) {
		t.Helper()
		if !waitFor(5*time.Second, func() bool { return strings.Contains(read(file), `"path":"`+path+`"`) }) {
			t.Fatalf("%s has no line for %s:\n%s", file, path, read(file))
		}
	}

	get("/one")
	waitLine(first, "/one")

	// The config moves the log: the next request is logged in the new file.
	gw.WriteConfig(accessLogConfig(up.URL, second))
	sighupReload(t, gw)
	get("/two")
	waitLine(second, "/two")
	if strings.Contains(read(first), `"/two"`) {
		t.Errorf("the moved log's line also went to the old file:\n%s", read(first))
	}

	// Rotation: the file is renamed away, then the gateway reloads.
	rotated := second + ".1"
	if err := os.Rename(second, rotated); err != nil {
		t.Fatal(err)
	}
	sighupReload(t, gw)
	get("/three")
	waitLine(second, "/three")
	if strings.Contains(read(rotated), `"/three"`) {
		t.Errorf("a line after the rotation went to the renamed file:\n%s", read(rotated))
	}
	for file, want := range map[string][]string{first: {"/one"}, rotated: {"/two"}, second: {"/three"}} {
		got := read(file)
		for _, p := range want {
			if n := strings.Count(got, `"path":"`+p+`"`); n != 1 {
				t.Errorf("%s holds %d lines for %s, want 1:\n%s", file, n, p, got)
			}
		}
		if n := strings.Count(got, "\n"); n != len(want) {
			t.Errorf("%s holds %d lines, want %d:\n%s", file, n, len(want), got)
		}
	}
}

// TestAccessLogOutputCheckedAtLoad: an access log or security event file
// the gateway could not open is refused by validate and by a reload (the
// old config keeps serving and logging), not found at start or never.
func TestAccessLogOutputCheckedAtLoad(t *testing.T) {
	up := NewUpstream(t, nil)
	dir := t.TempDir()
	good := filepath.Join(dir, "access.log")
	missing := filepath.Join(dir, "no-such-dir", "access.log")

	r := runCLI(t, nil, "validate", "--config", writeFile(t, "gw.yaml", strings.NewReplacer("{{public}}", "127.0.0.1:0", "{{ops}}", "127.0.0.1:0").Replace(string(accessLogConfig(up.URL, missing)))+
		"observability: {security_events: {output: \""+dir+"\"}}\n"))
	if r.code != 1 || !strings.Contains(r.stderr, "access_log.output: ") || !strings.Contains(r.stderr, "does not exist") ||
		!strings.Contains(r.stderr, "observability.security_events.output: ") || !strings.Contains(r.stderr, "is a directory, not a file") {
		t.Fatalf("validate: exit %d, want 1 naming both outputs; stderr:\n%s", r.code, r.stderr)
	}

	gw := StartGateway(t, accessLogConfig(up.URL, good))
	_, fails := readyCounters(t, gw)
	gw.WriteConfig(accessLogConfig(up.URL, missing))
	gw.Signal(syscall.SIGHUP)
	if !waitFor(10*time.Second, func() bool { _, f := readyCounters(t, gw); return f > fails }) {
		t.Fatalf("the reload to a missing directory did not fail; stderr:\n%s", gw.Stderr.String())
	}
	if _, body := gw.Readyz(); !strings.Contains(body, "does not exist") {
		t.Errorf("/readyz does not say why: %s", body)
	}
	resp, err := http.Get(gw.URL("/after"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !waitFor(5*time.Second, func() bool {
		b, _ := os.ReadFile(good) // #nosec G304 -- the test's own file
		return strings.Contains(string(b), `"path":"/after"`)
	}) {
		t.Error("after the refused reload the old log no longer receives lines")
	}
}

// TestAccessLogLosesNoLineAcrossReloads: requests keep coming while the
// gateway reloads (each reload opens the log file again); once it has
// stopped, the file holds exactly one line per answered request.
func TestAccessLogLosesNoLineAcrossReloads(t *testing.T) {
	up := NewUpstream(t, nil)
	file := filepath.Join(t.TempDir(), "access.log")
	gw := StartGateway(t, accessLogConfig(up.URL, file))
	stop := make(chan struct{})
	answered := make(chan int, 4)
	for w := 0; w < 4; w++ {
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					answered <- n
					return
				default:
				}
				resp, err := http.Get(gw.URL("/load"))
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n++
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		time.Sleep(150 * time.Millisecond)
		sighupReload(t, gw)
	}
	close(stop)
	total := 0
	for w := 0; w < 4; w++ {
		total += <-answered
	}
	gw.Stop()                   // drains and closes every log, the replaced ones too
	b, err := os.ReadFile(file) // #nosec G304 -- the test's own file
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), `"path":"/load"`); lines != total || total == 0 {
		t.Errorf("%d access lines for %d answered requests", lines, total)
	}
}

// TestSecurityEventsFileFollowsRotation: the security event file is opened
// again at a reload too, so a rotation by rename is followed: the refusal
// before it stays in the renamed file, the one after goes to the new file.
func TestSecurityEventsFileFollowsRotation(t *testing.T) {
	up := NewUpstream(t, nil)
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	gw := StartGateway(t, GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %q}]}]
routes: [{name: all, paths: [{prefix: /}], service: svc}]
access_log: {output: "off"}
ops: {address: "{{ops}}"}
observability: {security_events: {output: %q}}
`, up.URL, events)))
	refuse := func() {
		t.Helper()
		c := sendRaw(t, gw.Addr, "GET /a/%2e%2e/secret HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		defer c.Close()
		_, _ = io.ReadAll(c)
	}
	count := func(file string) int {
		b, _ := os.ReadFile(file) // #nosec G304 -- the test's own file
		return strings.Count(string(b), `"type":"refusal"`)
	}
	refuse()
	if !waitFor(5*time.Second, func() bool { return count(events) == 1 }) {
		t.Fatalf("no event for the first refusal: %d", count(events))
	}
	rotated := events + ".1"
	if err := os.Rename(events, rotated); err != nil {
		t.Fatal(err)
	}
	sighupReload(t, gw)
	refuse()
	if !waitFor(5*time.Second, func() bool { return count(events) == 1 }) {
		t.Fatalf("the refusal after the rotation is not in the new file (%d events there, %d in the renamed one)", count(events), count(rotated))
	}
	if n := count(rotated); n != 1 {
		t.Errorf("the renamed file holds %d events, want 1", n)
	}
}
