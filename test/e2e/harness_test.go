// Package e2e starts the real portcullis binary in front of real upstreams
// on loopback and drives it with real HTTP. Every test here goes through
// the process a user runs.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the gateway binary built once for all tests (with -race when
// the tests run with -race).
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "portcullis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "portcullis")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/portcullis/portcullis/cmd/portcullis")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building portcullis:", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	// A port is free once its listener closes, so the kernel may hand the
	// same one out again: a gateway's admin address and its listener came
	// out equal once (the config then refuses to start). Each address is
	// therefore handed out once per test process.
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		handedMu.Lock()
		seen := handedAddrs[addr]
		handedAddrs[addr] = true
		handedMu.Unlock()
		if !seen {
			return addr
		}
	}
	t.Fatal("no free loopback port that was not handed out before")
	return ""
}

var (
	handedMu    sync.Mutex
	handedAddrs = map[string]bool{}
)

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Gateway is a running portcullis process.
type Gateway struct {
	t          testing.TB
	cmd        *exec.Cmd
	ConfigPath string
	Addr       string // the first public listener, host:port
	OpsAddr    string
	Stdout     *syncBuffer // access log
	Stderr     *syncBuffer // process log
	done       chan struct{}
	exitErr    error
}

// GatewayConfig is a config template: %[1]s is the public listener
// address, %[2]s the ops address. Extra listeners use their own freeAddr.
type GatewayConfig string

// StartGateway writes the config, starts the binary and waits until
// /readyz answers 200.
func StartGateway(t testing.TB, yaml GatewayConfig) *Gateway {
	t.Helper()
	return StartGatewayArgs(t, yaml)
}

// StartGatewayArgs is StartGateway with extra arguments for `portcullis run`.
func StartGatewayArgs(t testing.TB, yaml GatewayConfig, args ...string) *Gateway {
	t.Helper()
	// freeAddr's ports were free a moment ago; another process (a test's
	// own PostgreSQL, an outgoing connection's ephemeral port) may take one
	// before the gateway binds it. Only that race is retried, with new
	// ports: any other exit before ready fails the test.
	for attempt := 1; ; attempt++ {
		g, raced := startGatewayOnce(t, yaml, attempt < 3, args...)
		if !raced {
			return g
		}
		t.Logf("gateway lost a port race (attempt %d), retrying with new ports", attempt)
	}
}

// startGatewayOnce is one attempt of StartGatewayArgs. raced is true (and
// g nil) when the process exited because one of the two harness-chosen
// addresses was taken and mayRetry is set.
func startGatewayOnce(t testing.TB, yaml GatewayConfig, mayRetry bool, args ...string) (g *Gateway, raced bool) {
	t.Helper()
	g = &Gateway{t: t, Addr: freeAddr(t), OpsAddr: freeAddr(t), Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, done: make(chan struct{})}
	g.ConfigPath = filepath.Join(t.TempDir(), "portcullis.yaml")
	g.WriteConfig(yaml)
	g.cmd = exec.Command(binPath, append([]string{"run", "--config", g.ConfigPath, "--log-level", "debug"}, args...)...) // #nosec G204 -- the test's own binary
	g.cmd.Stdout, g.cmd.Stderr = g.Stdout, g.Stderr
	// A -race binary otherwise sleeps a second before exiting.
	g.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.exitErr = g.cmd.Wait(); close(g.done) }()
	t.Cleanup(g.Stop)
	// A WAF route compiles the CRS before the gateway is ready: a second
	// in a release build, 4-18 s in a race build on a slow machine busy
	// with the other tests (seen on 2026-12-05). The deadline bounds a
	// gateway that never comes up; a ready one returns at once.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-g.done:
			stderr := g.Stderr.String()
			if mayRetry && strings.Contains(stderr, "address already in use") &&
				(strings.Contains(stderr, g.Addr+": bind") || strings.Contains(stderr, g.OpsAddr+": bind")) {
				return nil, true
			}
			t.Fatalf("gateway exited before ready: %v\nstderr:\n%s", g.exitErr, stderr)
		default:
		}
		resp, err := http.Get("http://" + g.OpsAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return g, false
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready after 60s\nstderr:\n%s", g.Stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WriteConfig writes a new config file (atomically, by rename).
func (g *Gateway) WriteConfig(yaml GatewayConfig) {
	g.t.Helper()
	text := strings.ReplaceAll(string(yaml), "{{public}}", g.Addr)
	text = strings.ReplaceAll(text, "{{ops}}", g.OpsAddr)
	// {{opsport}}: the ops address's port alone, for a test that binds the
	// ops listener to another host (0.0.0.0) on the port the harness
	// checks readiness on.
	text = strings.ReplaceAll(text, "{{opsport}}", g.OpsAddr[strings.LastIndexByte(g.OpsAddr, ':')+1:])
	tmp := g.ConfigPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		g.t.Fatal(err)
	}
	if err := os.Rename(tmp, g.ConfigPath); err != nil {
		g.t.Fatal(err)
	}
}

// Signal sends sig to the gateway process.
func (g *Gateway) Signal(sig syscall.Signal) {
	g.t.Helper()
	if err := g.cmd.Process.Signal(sig); err != nil {
		g.t.Fatal(err)
	}
}

// Wait waits for the process to exit and returns its error.
func (g *Gateway) Wait(timeout time.Duration) error {
	select {
	case <-g.done:
		return g.exitErr
	case <-time.After(timeout):
		return fmt.Errorf("gateway did not exit within %s", timeout)
	}
}

// Stop terminates the gateway (SIGTERM, then SIGKILL).
func (g *Gateway) Stop() {
	select {
	case <-g.done:
		return
	default:
	}
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}

// URL is the public URL of path.
func (g *Gateway) URL(path string) string { return "http://" + g.Addr + path }

// Ready reports the ops listener's readiness body.
func (g *Gateway) Readyz() (int, string) {
	resp, err := http.Get("http://" + g.OpsAddr + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// WaitLog waits until the process log contains s.
func (g *Gateway) WaitLog(s string, timeout time.Duration) bool {
	return waitContains(g.Stderr, s, timeout)
}

// WaitReloads waits until the process log has logged n reloads and fails
// the test when it has not after 10 seconds.
func (g *Gateway) WaitReloads(t testing.TB, n int) {
	t.Helper()
	const reloaded = `"event":"config_reloaded"`
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(g.Stderr.String(), reloaded) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := strings.Count(g.Stderr.String(), reloaded); got != n {
		t.Fatalf("%d reloads logged, want %d:\n%s", got, n, g.Stderr.String())
	}
}

// WaitAccessLog waits until the access log contains s. A background writer
// writes access lines, so a line can appear just after the client has its
// response: read the access log only after waiting for a line that must be
// there.
func (g *Gateway) WaitAccessLog(s string, timeout time.Duration) bool {
	return waitContains(g.Stdout, s, timeout)
}

func waitContains(b *syncBuffer, s string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(b.String(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Seen is one request as an upstream received it.
type Seen struct {
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	Body       []byte
}

// Upstream is a real HTTP server on loopback that records what it receives.
type Upstream struct {
	Addr    string
	URL     string
	srv     *http.Server
	mu      sync.Mutex
	seen    []Seen
	handler http.HandlerFunc
}

// NewUpstream starts a recording upstream; h answers after recording (nil: 200 "ok").
func NewUpstream(t testing.TB, h http.HandlerFunc) *Upstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &Upstream{Addr: l.Addr().String(), handler: h}
	u.URL = "http://" + u.Addr
	u.srv = &http.Server{Handler: u, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = u.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = u.srv.Shutdown(ctx)
		_ = u.srv.Close()
	})
	return u
}

func (u *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, Seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(), Body: body})
	u.mu.Unlock()
	if u.handler != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.handler(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

// Requests returns a copy of what the upstream received.
func (u *Upstream) Requests() []Seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Seen(nil), u.seen...)
}

// Count is the number of requests received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.seen)
}

// Reset forgets what was received.
func (u *Upstream) Reset() {
	u.mu.Lock()
	u.seen = nil
	u.mu.Unlock()
}

// Last returns the last request received; it fails the test when there is none.
func (u *Upstream) Last(t testing.TB) Seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		t.Fatal("upstream received nothing")
	}
	return u.seen[len(u.seen)-1]
}

// RawResponse is a response read off a raw connection.
type RawResponse struct {
	Status int
	Header http.Header
	Body   string
}

// rawRequest writes raw bytes to addr and reads one response. A closed
// connection with no response gives Status 0.
func rawRequest(t testing.TB, addr, raw string) RawResponse {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return rawExchange(c, raw)
}

// sendRaw dials addr, gives the connection a 10 s deadline and writes raw
// on it; a failure to dial or write fails the test. The caller reads the
// answer and closes the connection.
func sendRaw(t testing.TB, addr, raw string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		c.Close()
		t.Fatal(err)
	}
	return c
}

// dialerFrom is a dialer whose connections come from the loopback address
// src (127.0.0.0/8 is all local on Linux), so a test can play several
// clients.
func dialerFrom(src string, timeout time.Duration) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout}
}

// rawExchange writes raw on c, reads one response and closes c.
func rawExchange(c net.Conn, raw string) RawResponse {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		return RawResponse{}
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return RawResponse{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return RawResponse{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}
}

// simpleConfig is a gateway with one prefix route to up (serviceConfig
// is in errors_test.go).
func simpleConfig(up *Upstream, routeExtra string) GatewayConfig {
	return serviceConfig(up.URL, "", routeExtra)
}

// keepAliveClient is an HTTP client whose connections come from a given
// loopback address and are kept alive (up to 4 idle), so tests can play
// several clients.
func keepAliveClient(src string) *http.Client {
	d := dialerFrom(src, 5*time.Second)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
}

// getWithAPIKey GETs url with c, sending key as X-Api-Key unless it is
// empty, and returns the status and the body.
func getWithAPIKey(t *testing.T, c *http.Client, url, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// clientFrom is an HTTP client whose connections come from the
// loopback address src (127.0.0.0/8 is all local on Linux).
func clientFrom(t *testing.T, src string) *http.Client {
	t.Helper()
	d := dialerFrom(src, 5*time.Second)
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// doRequest sends method url with body (none when ""), header pairs, and
// returns the response with its body read.
func doRequest(t *testing.T, c *http.Client, method, url, body string, kv ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Add(kv[i], kv[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	resp.Body = io.NopCloser(strings.NewReader(string(b)))
	return resp, string(b)
}

// refusedBeforeUpstream asserts a problem answer with status and that the
// upstream received nothing; it returns the problem body.
func refusedBeforeUpstream(t *testing.T, up *Upstream, resp *http.Response, status int) string {
	t.Helper()
	body := readProblem(t, resp, status)
	if n := up.Count(); n != 0 {
		t.Fatalf("upstream received %d request(s) for a refused one: %+v", n, up.Requests())
	}
	return body
}

// passedToUpstream asserts a 200 from the upstream and returns what it saw.
func passedToUpstream(t *testing.T, up *Upstream, resp *http.Response, body string) Seen {
	t.Helper()
	if resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("status %d body %q, want the upstream's 200 ok", resp.StatusCode, body)
	}
	s := up.Last(t)
	up.Reset()
	return s
}
