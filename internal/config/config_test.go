package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestLoadFullConfig(t *testing.T) {
	t.Setenv("ORDERS_APP_JWT_SECRET", strings.Repeat("s", 32))
	t.Setenv("REDIS_PASSWORD", "redis-pass")
	t.Setenv("ALERT_WEBHOOK_SECRET", "hook-secret")
	dir := tlsFiles(t)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(fullConfig(t, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.File != path || c.Version != 1 {
		t.Errorf("File=%q Version=%d", c.File, c.Version)
	}
	if got := c.TrustedProxies; len(got) != 2 || got[1] != "192.0.2.7" {
		t.Errorf("trusted_proxies = %v", got)
	}
	https := c.Listeners[0]
	if https.TLS == nil || https.TLS.MinVersion != "1.3" || https.TLS.Certificates[0].KeyFile != filepath.Join(dir, "api.key") {
		t.Errorf("tls = %+v", https.TLS)
	}
	if https.TLS.HSTS == nil || https.TLS.HSTS.MaxAge.D() != 8760*time.Hour || !https.TLS.HSTS.IncludeSubdomains {
		t.Errorf("hsts = %+v", https.TLS.HSTS)
	}
	if https.ReadHeaderTimeout.D() != 5*time.Second || https.IdleTimeout.D() != 2*time.Minute || https.WriteTimeout != 0 {
		t.Errorf("timeouts = %v %v %v", https.ReadHeaderTimeout.D(), https.IdleTimeout.D(), https.WriteTimeout.D())
	}
	if https.MaxHeaderBytes != 32<<10 || https.HTTP2.MaxConcurrentStreams != 100 || https.HTTP2.MaxReadFrameSize != 64<<10 {
		t.Errorf("limits = %d %+v", https.MaxHeaderBytes, https.HTTP2)
	}
	if r := c.Listeners[1].RedirectToHTTPS; r == nil || r.Port != 443 {
		t.Errorf("redirect = %+v", r)
	}
	orders := c.Services[0]
	if orders.Targets[0].Weight != 3 || orders.Targets[1].Weight != 1 {
		t.Errorf("weights = %+v", orders.Targets)
	}
	if lb := orders.LoadBalancing; lb.Algorithm != ConsistentHash || lb.HashOn != HashOnHeader || lb.HashHeader != "X-Tenant-Id" {
		t.Errorf("lb = %+v", lb)
	}
	if orders.Timeouts.Connect.D() != 2*time.Second || orders.MaxIdleConnsPerTarget != 64 || orders.MaxConnsPerTarget != 512 {
		t.Errorf("service = %+v", orders)
	}
	if tls := c.Services[1].TLS; tls == nil || tls.ServerName != "billing.internal" {
		t.Errorf("upstream tls = %+v", tls)
	}
	r := c.Routes[0]
	if len(r.Hosts) != 2 || r.Paths[1].Exact != "/v1/order-status" || r.Methods[1] != "POST" || r.Priority != 10 {
		t.Errorf("route = %+v", r)
	}
	if r.Headers[1].Name != "X-Debug" || r.Rewrite != "/internal/7f3a9c/orders-svc" || r.MaxBodySize != 2<<20 {
		t.Errorf("route = %+v", r)
	}
	if len(r.Policies) != 2 || r.Policies[1].Kind != "rate_limit" || r.Policies[1].Path != "routes[0].policies[1]" {
		t.Fatalf("policies = %+v", r.Policies)
	}
	if n := r.Policies[0].Node; n == nil || n.Line != 86 || n.Column != 9 || n.Kind != yaml.MappingNode {
		t.Errorf("policy node = %+v", n)
	}
	if re, err := CompileWholeMatch(c.Routes[1].Paths[0].Regex); err != nil || !re.MatchString("/v1/billing/42/report") || re.MatchString("/v1/billing/42/report/x") {
		t.Errorf("path regex %q does not match the whole path: %v", c.Routes[1].Paths[0].Regex, err)
	}
	if c.Shutdown.DrainTimeout.D() != 45*time.Second || c.AccessLog.Output != "stdout" || c.Ops.Address != "127.0.0.1:9901" {
		t.Errorf("ops/log/shutdown = %+v %+v %+v", c.Ops, c.AccessLog, c.Shutdown)
	}
	if ca := https.TLS.ClientAuth; ca == nil || ca.Mode != ClientAuthRequest || ca.CAFile != filepath.Join(dir, "clients-ca.pem") || len(ca.Hosts) != 1 {
		t.Errorf("client_auth = %+v", ca)
	}
	if c.Routes[1].Auth != RouteAuthNone || c.Routes[0].Auth != "" {
		t.Errorf("route auth = %q %q", c.Routes[0].Auth, c.Routes[1].Auth)
	}
	if len(c.Consumers) != 2 {
		t.Fatalf("consumers = %+v", c.Consumers)
	}
	app, acme := c.Consumers[0], c.Consumers[1]
	if app.Name != "orders-app" || app.Groups[1] != "orders-writers" || app.Metadata["team"] != "commerce" {
		t.Errorf("consumer = %+v", app)
	}
	if j := app.Credentials.JWT[0]; j.Algorithm != "HS256" || j.Secret != strings.Repeat("s", 32) || !c.IsSecret("consumers[0].credentials.jwt[0].secret") {
		t.Errorf("jwt credential = %+v", j)
	}
	if k := app.Credentials.APIKeys[1]; k.ID != "orders-app-1" || k.NotAfter != "2026-03-01T00:00:00Z" || len(k.Hash) != 71 {
		t.Errorf("api key = %+v", k)
	}
	if j := acme.Credentials.JWT[0]; j.Algorithm != "RS256" || j.PublicKey != "placeholder" {
		t.Errorf("jwt credential = %+v", j)
	}
	if b := acme.Credentials.Basic[0]; b.Username != "acme-reports" || !strings.HasPrefix(b.PasswordHash, "$2b$12$") {
		t.Errorf("basic = %+v", b)
	}
	// The fingerprint is normalized to lower-case hex without colons.
	if m := acme.Credentials.MTLS; len(m) != 3 || m[0].Subject != "CN=gateway,O=Acme Corp" ||
		m[2].FingerprintSHA256 != "96d19be611eca84ff4c6b45dedcb8b806cb0fe299c8426869354a7c4d93ec967" {
		t.Errorf("mtls = %+v", m)
	}
	if h := c.IdentityHeaders; h.Consumer != "X-Portcullis-Consumer" || h.Method != "X-Portcullis-Auth-Method" {
		t.Errorf("identity headers = %+v", h)
	}
	if line, col, ok := c.Position("routes[0].service"); !ok || line != 79 || col != 14 {
		t.Errorf("Position(routes[0].service) = %d:%d %v", line, col, ok)
	}
	if l := c.Listeners[0]; l.MaxConnections != 10000 || l.MaxConnectionsPerClient != 200 {
		t.Errorf("connection limits = %d %d", l.MaxConnections, l.MaxConnectionsPerClient)
	}
	if d := c.IntrusionDetection; d == nil || len(d.Rules) != 2 || d.Redis.Password != "redis-pass" || d.Alerts.Webhooks[0].Secret != "hook-secret" || d.Alerts.Retries == nil || *d.Alerts.Retries != 5 {
		t.Errorf("intrusion_detection = %+v", d)
	}
	if r := c.IntrusionDetection.Redis; r.Username != "portcullis" || r.TLS == nil || r.TLS.CAFile != filepath.Join(dir, "redis-ca.pem") || r.TLS.KeyFile != filepath.Join(dir, "redis-client.key") {
		t.Errorf("intrusion_detection.redis: username %q, tls %+v", r.Username, r.TLS)
	}
}

func TestDefaults(t *testing.T) {
	dir := tlsFiles(t)
	c := mustParse(t, minimal)
	l := c.Listeners[0]
	if l.ReadHeaderTimeout.D() != 10*time.Second || l.ReadTimeout.D() != 60*time.Second ||
		l.WriteTimeout != 0 || l.IdleTimeout.D() != 120*time.Second {
		t.Errorf("listener timeouts = %+v", l)
	}
	if l.MaxHeaderBytes != 64<<10 || l.HTTP2.MaxConcurrentStreams != 250 || l.HTTP2.MaxReadFrameSize != 1<<20 {
		t.Errorf("listener limits = %+v", l)
	}
	s := c.Services[0]
	if s.Timeouts.Connect.D() != 5*time.Second || s.Timeouts.Response.D() != 60*time.Second || s.Timeouts.Idle.D() != 90*time.Second {
		t.Errorf("service timeouts = %+v", s.Timeouts)
	}
	if s.MaxIdleConnsPerTarget != 128 || s.MaxConnsPerTarget != 0 || s.Targets[0].Weight != 1 {
		t.Errorf("service = %+v", s)
	}
	if s.LoadBalancing.Algorithm != "round_robin" || s.LoadBalancing.HashOn != "client_address" {
		t.Errorf("lb = %+v", s.LoadBalancing)
	}
	if c.Routes[0].MaxBodySize != 10<<20 {
		t.Errorf("max_body_size = %d", c.Routes[0].MaxBodySize)
	}
	if c.Ops.Address != "127.0.0.1:9901" || c.AccessLog.Output != "stdout" || c.Shutdown.DrainTimeout.D() != 30*time.Second {
		t.Errorf("ops/log/shutdown = %+v %+v %+v", c.Ops, c.AccessLog, c.Shutdown)
	}
	want := IdentityHeaders{Consumer: "X-Consumer-Name", Groups: "X-Consumer-Groups", Credential: "X-Credential-Id", Method: "X-Auth-Method"}
	if c.IdentityHeaders != want || len(c.Consumers) != 0 || c.Routes[0].Auth != "" {
		t.Errorf("identity headers = %+v", c.IdentityHeaders)
	}

	tlsSrc := strings.Replace(minimal, `    address: ":8080"`, `    address: ":8443"
    tls:
      certificates:
        - {cert_file: `+dir+`/api.crt, key_file: `+dir+`/api.key}`, 1)
	c = mustParse(t, tlsSrc)
	if c.Listeners[0].TLS.MinVersion != "1.2" {
		t.Errorf("min_version = %q", c.Listeners[0].TLS.MinVersion)
	}
	// ApplyDefaults is idempotent.
	c.ApplyDefaults()
	if c.Listeners[0].TLS.MinVersion != "1.2" || c.Listeners[0].MaxHeaderBytes != 64<<10 {
		t.Errorf("second ApplyDefaults changed values")
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := &Config{
		Version:   1,
		Listeners: []Listener{{Name: "a", Address: ":80"}},
		Services:  []Service{{Name: "s", Targets: []Target{{URL: "http://h:1"}}}},
		Routes:    []Route{{Name: "r", Service: "nope", Paths: []PathMatch{{Prefix: "/"}}}},
	}
	c.ApplyDefaults()
	err := c.Validate()
	if err == nil || err.Error() != `routes[0].service: service "nope" is not defined` {
		t.Errorf("Validate = %v", err)
	}
	c.Routes[0].Service = "s"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate = %v", err)
	}
}

func TestSyntaxAndDocumentErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"empty", "", "gw.yaml: the file is empty"},
		{"syntax", "version: 1\nlisteners: [\n", "gw.yaml:2: did not find expected node content"},
		// The YAML parser leaves the line out of errors on the first line
		// and of errors about bytes it cannot read; the loader finds them.
		{"syntax error on the first line", "version: 1: 2\n", "gw.yaml:1: mapping values are not allowed in this context"},
		{"tab starting the first line", "\tversion: 1\n", "gw.yaml:1: found character that cannot start any token"},
		{"control character", "version: 1\nlisteners:\n  - name: \x01\n", "gw.yaml:3:11: control characters are not allowed"},
		{"invalid UTF-8", "version: 1\n# caf\xc3\n", "gw.yaml:2:6: invalid"},
		{"two documents", minimal + "---\nversion: 1\n", "gw.yaml:14:1: only one YAML document is allowed"},
		{"not a mapping", "- 1\n", "gw.yaml:1:1: expected a mapping, got a list"},
		{"a null document keeps the file name", "~\n", "gw.yaml:1:1: version: is required"},
		{"an empty tagged document keeps the file name", "!\n", "gw.yaml:1:1: version: is required"},
		{"duplicate key", minimal + "version: 1\n", `gw.yaml:14:1: version: "version" is set twice (first on line 1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es := parseErrors(t, tc.src)
			if !strings.HasPrefix(es.Error(), tc.want) {
				t.Errorf("got\n%v\nwant prefix %q", es, tc.want)
			}
		})
	}
}

func TestUnknownFieldsArePositioned(t *testing.T) {
	src := `version: 1
listeners:
  - name: public
    address: ":8080"
    http2:
      max_streams: 10
services:
  - name: orders
    targets:
      - url: http://127.0.0.1:9000
        wieght: 2
routes:
  - name: orders
    service: orders
    paths:
      - prefix: /orders
        exactly: /x
    headers:
      - {name: X-A, vlaue: b}
acces_log: {}
`
	es := parseErrors(t, src)
	want := []string{
		`gw.yaml:6:7: listeners[0].http2.max_streams: unknown field "max_streams"`,
		`gw.yaml:11:9: services[0].targets[0].wieght: unknown field "wieght" (did you mean "weight"?)`,
		`gw.yaml:17:9: routes[0].paths[0].exactly: unknown field "exactly" (did you mean "exact"?)`,
		`gw.yaml:19:21: routes[0].headers[0].vlaue: unknown field "vlaue" (did you mean "value"?)`,
		`gw.yaml:20:1: acces_log: unknown field "acces_log" (did you mean "access_log"?)`,
	}
	if got := es.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestTypeErrorsArePositioned(t *testing.T) {
	src := `version: one
listeners:
  - name: public
    address: ":8080"
    read_timeout: 10
    max_header_bytes: 12XB
    http2: {max_concurrent_streams: -1, disable: maybe}
services:
  - name: [orders]
    targets: {url: x}
routes: 3
`
	es := parseErrors(t, src)
	want := []string{
		`gw.yaml:1:10: version: expected an integer, got "one"`,
		`gw.yaml:5:19: listeners[0].read_timeout: invalid duration "10" (use Go syntax such as "30s" or "1m")`,
		`gw.yaml:6:23: listeners[0].max_header_bytes: invalid size "12XB" (use a number of bytes or a unit such as "1MiB")`,
		`gw.yaml:7:37: listeners[0].http2.max_concurrent_streams: -1 is out of range for a non-negative integer`,
		`gw.yaml:7:50: listeners[0].http2.disable: expected true or false, got "maybe"`,
		`gw.yaml:9:11: services[0].name: expected a string, got a list`,
		`gw.yaml:10:14: services[0].targets: expected a list, got a mapping`,
		`gw.yaml:11:9: routes: expected a list, got "3"`,
	}
	if got := es.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}

func TestAliasesAndMerges(t *testing.T) {
	src := `version: 1
x-timeouts: &t {connect: 1s}
listeners:
  - name: public
    address: ":8080"
services:
  - name: orders
    targets: [{url: "http://127.0.0.1:9000"}]
    timeouts:
      <<: *t
      response: 2s
routes:
  - name: orders
    service: orders
    paths: [{prefix: /}]
`
	// x-timeouts is not a field: anchors must live in known places.
	wantOnly(t, src, `gw.yaml:2:1: x-timeouts: unknown field "x-timeouts"`)

	src = `version: 1
listeners:
  - &l {name: public, address: ":8080"}
services:
  - name: orders
    targets: [{url: "http://127.0.0.1:9000"}]
    timeouts: &t {connect: 1s}
  - name: more
    targets: [{url: "http://127.0.0.1:9001"}]
    timeouts:
      <<: *t
      response: 2s
routes:
  - name: orders
    service: orders
    paths: [{prefix: /}]
`
	c := mustParse(t, src)
	if to := c.Services[1].Timeouts; to.Connect.D() != time.Second || to.Response.D() != 2*time.Second {
		t.Errorf("merged timeouts = %+v", to)
	}
}

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    FieldError
		want string
	}{
		{FieldError{File: "gw.yaml", Line: 12, Column: 7, Path: "routes[1].service", Msg: `service "orders" is not defined`},
			`gw.yaml:12:7: routes[1].service: service "orders" is not defined`},
		{FieldError{File: "gw.yaml", Path: "routes", Msg: "m"}, "gw.yaml: routes: m"},
		{FieldError{Line: 3, Column: 1, Msg: "m"}, "3:1: m"},
		{FieldError{Msg: "m"}, "m"},
		{FieldError{File: "gw.yaml", Line: 4, Msg: "m"}, "gw.yaml:4: m"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("got %q want %q", got, tc.want)
		}
	}
	es := Errors{{File: "b", Line: 1}, {File: "a", Line: 9, Column: 2}, {File: "a", Line: 9, Column: 1}, {File: "a", Line: 2}}
	es.Sort()
	if es[0].Line != 2 || es[1].Column != 1 || es[2].Column != 2 || es[3].File != "b" {
		t.Errorf("sorted = %v", es)
	}
	if Errors(nil).Err() != nil {
		t.Errorf("empty Errors must be a nil error")
	}
}
