package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics from the gateway's ops listener and parses it as
// Prometheus does.
func scrape(t testing.TB, gw *Gateway) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + gw.OpsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// metricValue is the value of the series of name whose labels include
// want (a counter's or gauge's value, a histogram's sample count); -1 when
// there is no such series.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	total, found := 0.0, false
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return total
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func metricsConfig(t *testing.T, up *Upstream, hash, extra string) GatewayConfig {
	dead := freeAddr(t) // nothing listens here: the upstream is down
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
  - name: down
    targets: [{url: "http://%s"}]
    timeouts: {connect: 500ms}
consumers:
  - name: app
    credentials:
      api_keys: [{id: k1, hash: "%s"}]
routes:
  - name: open
    paths: [{prefix: /open}]
    service: svc
  - name: keyed
    paths: [{prefix: /keyed}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {}}]
  - name: limited
    paths: [{prefix: /limited}]
    service: svc
    policies:
      - kind: rate_limit
        key: route
        limits: [{rate: 1, per: 1h, burst: 2}]
  - name: broken
    paths: [{prefix: /broken}]
    service: down
ops:
  address: "{{ops}}"
access_log: {output: "off"}
%s`, up.URL, dead, hash, extra))
}

// TestMetricsAfterRealTraffic sends allowed, refused (authentication), rate
// limited and upstream-down requests through the binary, then scrapes
// /metrics and checks each counter and histogram, and that /stats/auth
// reads the same counters.
func TestMetricsAfterRealTraffic(t *testing.T) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t, "--id", "k1")
	gw := StartGateway(t, metricsConfig(t, up, hash, ""))

	get := func(path string, hdr ...string) int {
		req, _ := http.NewRequest("GET", gw.URL(path), nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 3 {
		if s := get("/open/x"); s != 200 {
			t.Fatalf("open: %d", s)
		}
	}
	if s := get("/keyed/x", "X-API-Key", key); s != 200 {
		t.Fatalf("keyed with key: %d", s)
	}
	for range 2 {
		if s := get("/keyed/x"); s != 401 {
			t.Fatalf("keyed without key: %d", s)
		}
	}
	if s := get("/keyed/x", "X-API-Key", "pcl_wrong"); s != 401 {
		t.Fatalf("keyed with a wrong key: %d", s)
	}
	limited := map[int]int{}
	for range 4 {
		limited[get("/limited/x")]++
	}
	if limited[200] != 2 || limited[429] != 2 {
		t.Fatalf("limited: %v", limited)
	}
	if s := get("/broken/x"); s != 502 {
		t.Fatalf("broken: %d", s)
	}
	if s := get("/nowhere"); s != 404 {
		t.Fatalf("nowhere: %d", s)
	}
	upSeen := len(up.Requests())

	fams := scrape(t, gw)
	checks := []struct {
		desc   string
		name   string
		labels map[string]string
		want   float64
	}{
		{"allowed requests", "portcullis_requests_total", labels("route", "open", "method", "GET", "status_class", "2xx"), 3},
		{"authenticated request", "portcullis_requests_total", labels("route", "keyed", "status_class", "2xx"), 1},
		{"refused by authentication", "portcullis_requests_total", labels("route", "keyed", "status_class", "4xx"), 3},
		{"rate limited allowed", "portcullis_requests_total", labels("route", "limited", "status_class", "2xx"), 2},
		{"rate limited refused", "portcullis_requests_total", labels("route", "limited", "status_class", "4xx"), 2},
		{"upstream down", "portcullis_requests_total", labels("route", "broken", "status_class", "5xx"), 1},
		{"no route", "portcullis_requests_total", labels("route", "", "status_class", "4xx"), 1},
		{"auth success", "portcullis_auth_total", labels("route", "keyed", "method", "api_key", "outcome", "success"), 1},
		{"auth missing", "portcullis_auth_total", labels("route", "keyed", "method", "none", "outcome", "failure", "reason", "missing credentials"), 2},
		{"auth wrong key", "portcullis_auth_total", labels("route", "keyed", "method", "api_key", "outcome", "failure"), 1},
		{"authn refusals by policy", "portcullis_policy_refusals_total", labels("route", "keyed", "phase", "authn", "policy", "auth"), 3},
		{"rate limit refusals", "portcullis_rate_limit_refusals_total", labels("route", "limited"), 2},
		{"limit refusals by policy", "portcullis_policy_refusals_total", labels("route", "limited", "phase", "limit", "policy", "rate_limit"), 2},
		{"security events: auth failures", "portcullis_security_events_total", labels("event", "auth_failure"), 3},
		{"security events: rate limited", "portcullis_security_events_total", labels("event", "rate_limited"), 2},
		{"security events: not found", "portcullis_security_events_total", labels("event", "not_found"), 1},
		{"latency histogram: every request", "portcullis_request_duration_seconds", nil, 13},
		{"gateway time histogram", "portcullis_gateway_duration_seconds", labels("route", "open"), 3},
		{"upstream time histogram", "portcullis_upstream_duration_seconds", labels("route", "open", "service", "svc"), 3},
		{"upstream time of the down service", "portcullis_upstream_duration_seconds", labels("route", "broken", "service", "down"), 1},
		{"response bytes", "portcullis_response_bytes_total", labels("route", "open"), 6}, // "ok" x3
		{"target health", "portcullis_upstream_target_healthy", labels("service", "svc", "target", up.URL), 1},
		{"pool: idle connection kept", "portcullis_upstream_connections", labels("service", "svc", "target", up.URL, "state", "idle"), 1},
		{"reloads", "portcullis_config_reloads_total", labels("result", "success"), 0},
	}
	for _, c := range checks {
		if got := metricValue(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s: %s%v = %v, want %v", c.desc, c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "portcullis_bans_total", "portcullis_redis_errors_total"} {
		if fams[name] == nil {
			t.Errorf("%s is missing", name)
		}
	}
	if upSeen != 6 {
		t.Errorf("upstream saw %d requests, want 6 (3 open, 1 keyed, 2 limited)", upSeen)
	}

	// /stats/auth reads the same counters.
	resp, err := http.Get("http://" + gw.OpsAddr + "/stats/auth")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Authentication []struct {
			Route, Method, Outcome, Reason string
			Value                          uint64
		}
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range stats.Authentication {
		want := metricValue(fams, "portcullis_auth_total", labels("route", c.Route, "method", c.Method, "outcome", c.Outcome, "reason", c.Reason))
		if float64(c.Value) != want {
			t.Errorf("/stats/auth %+v, /metrics says %v", c, want)
		}
	}
	if len(stats.Authentication) != 3 {
		t.Errorf("/stats/auth: %+v, want 3 counters (success, missing, wrong key)", stats.Authentication)
	}

	// A reload keeps the counters (they live beside the snapshots).
	gw.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(scrape(t, gw), "portcullis_config_reloads_total", labels("result", "success")) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("reload not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := metricValue(scrape(t, gw), "portcullis_requests_total", labels("route", "open")); got != 3 {
		t.Errorf("after reload: open requests %v, want 3", got)
	}
}

// TestMetricsCardinalityIsBounded sends requests with random methods,
// paths, hosts, query strings and credentials: the number of series must not
// grow with them, only with the config.
func TestMetricsCardinalityIsBounded(t *testing.T) {
	up := NewUpstream(t, nil)
	_, hash := akGenerate(t, "--id", "k1")
	gw := StartGateway(t, metricsConfig(t, up, hash, ""))
	series := func() (int, []string) {
		n := 0
		var names []string
		for name, f := range scrape(t, gw) {
			if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
				continue
			}
			n += len(f.GetMetric())
			names = append(names, fmt.Sprintf("%s=%d", name, len(f.GetMetric())))
		}
		sort.Strings(names)
		return n, names
	}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		b := make([]byte, 3+rng.IntN(10))
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	send := func(n int) {
		for range n {
			method := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", word(), strings.ToUpper(word())}[rng.IntN(9)]
			prefix := []string{"/open/", "/keyed/", "/limited/", "/", "/" + word() + "/"}[rng.IntN(5)]
			conn, err := net.Dial("tcp", gw.Addr)
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "%s %s%s?%s=%s HTTP/1.1\r\nHost: %s.example\r\nX-API-Key: pcl_%s\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
				method, prefix, word(), word(), word(), word(), word(), word())
			_, _ = io.Copy(io.Discard, conn)
			conn.Close()
		}
	}
	send(300)
	n1, names1 := series()
	send(300)
	n2, names2 := series()
	if n1 != n2 {
		t.Errorf("series grew from %d to %d with random requests:\n%v\n%v", n1, n2, names1, names2)
	}
	// The whole space is bounded: routes x 10 methods x 5 classes for the
	// request counter, whatever was sent.
	if got := len(scrape(t, gw)["portcullis_requests_total"].GetMetric()); got > 5*10*5 {
		t.Errorf("%d request series for 4 routes and the unmatched", got)
	}
	if metricValue(scrape(t, gw), "portcullis_requests_total", labels("method", "OTHER")) <= 0 {
		t.Errorf("random methods are not counted as OTHER")
	}
}

// TestMetricsOff: with metrics disabled, /metrics answers 404 and traffic
// still flows.
func TestMetricsOff(t *testing.T) {
	up := NewUpstream(t, nil)
	_, hash := akGenerate(t, "--id", "k1")
	gw := StartGateway(t, metricsConfig(t, up, hash, "observability: {metrics: {disable: true}}\n"))
	resp, err := http.Get(gw.URL("/open/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + gw.OpsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("/metrics with metrics off: %d, want 404", resp.StatusCode)
	}
}
