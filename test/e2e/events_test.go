package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/intrusion/webhooktest"
)

// syslogReceiver is a real syslog server on loopback: UDP (one message per
// datagram, RFC 5426) or TCP (octet-counted frames, RFC 6587).
type syslogReceiver struct {
	Addr string
	mu   sync.Mutex
	msgs []string
	// Over TLS: the common names of the client certificates presented,
	// and the handshakes the receiver refused.
	peers, refused []string
}

func newSyslogReceiver(t *testing.T, network string) *syslogReceiver {
	t.Helper()
	r := &syslogReceiver{}
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		r.Addr = pc.LocalAddr().String()
		go func() {
			buf := make([]byte, 64<<10)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				r.add(string(buf[:n]))
			}
		}()
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		r.Addr = l.Addr().String()
		go r.serve(l, nil)
	}
	return r
}

// newSyslogTLSReceiver is a syslog server over TLS on loopback (RFC 5425:
// octet-counted frames in a TLS connection) with the server side tc. It
// records each handshake's client certificate and each refusal.
func newSyslogTLSReceiver(t *testing.T, tc *tls.Config) *syslogReceiver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &syslogReceiver{Addr: l.Addr().String()}
	go r.serve(l, tc)
	return r
}

// serve accepts connections and reads their frames, after a TLS handshake
// when tc is set.
func (r *syslogReceiver) serve(l net.Listener, tc *tls.Config) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			if tc != nil {
				sc := tls.Server(c, tc)
				if err := sc.Handshake(); err != nil {
					r.mu.Lock()
					r.refused = append(r.refused, err.Error())
					r.mu.Unlock()
					return
				}
				r.mu.Lock()
				if pc := sc.ConnectionState().PeerCertificates; len(pc) > 0 {
					r.peers = append(r.peers, pc[0].Subject.CommonName)
				}
				r.mu.Unlock()
				c = sc
			}
			br := bufio.NewReader(c)
			for {
				// MSG-LEN SP SYSLOG-MSG (RFC 6587 section 3.4.1)
				ls, err := br.ReadString(' ')
				if err != nil {
					return
				}
				n, err := strconv.Atoi(strings.TrimSpace(ls))
				if err != nil || n <= 0 || n > 1<<20 {
					r.add("BAD FRAME " + ls)
					return
				}
				msg := make([]byte, n)
				if _, err := io.ReadFull(br, msg); err != nil {
					return
				}
				r.add(string(msg))
			}
		}()
	}
}

func (r *syslogReceiver) add(m string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

func (r *syslogReceiver) Messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

// TLS returns the client certificate names seen and the refused handshakes.
func (r *syslogReceiver) TLS() (peers, refused []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.peers...), append([]string(nil), r.refused...)
}

// rfc5424 matches a syslog message as RFC 5424 section 6 writes it:
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S{1,255}) (\S{1,48}) (\d+) (\S{1,32}) \[portcullis@32473( [a-z_]+="(?:[^"\\\]]|\\["\\\]])*")*\] \x{FEFF}(\{.*\})$`)

// eventHookReceiver is a real webhook receiver that checks signatures.
type eventHookReceiver struct {
	URL    string
	secret []byte
	mu     sync.Mutex
	bodies []string
	bad    int
}

func newEventHookReceiver(t *testing.T, secret string) *eventHookReceiver {
	r := &eventHookReceiver{secret: []byte(secret)}
	up := NewUpstream(t, func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhooktest.Verify(r.secret, req.Header, body, time.Now()); err != nil {
			r.bad++
			w.WriteHeader(401)
			return
		}
		r.bodies = append(r.bodies, string(body))
	})
	r.URL = up.URL + "/events"
	return r
}

func (r *eventHookReceiver) Events(t *testing.T) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, b := range r.bodies {
		var batch []map[string]any
		if err := json.Unmarshal([]byte(b), &batch); err != nil {
			t.Fatalf("webhook body is not a JSON array of events: %s", b)
		}
		out = append(out, batch...)
	}
	return out
}

func (r *eventHookReceiver) All() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.bodies, "\n")
}

func eventsConfig(up *Upstream, hash, basicHash, eventsFile, hookURL, network, syslogAddr string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners:
  - name: public
    address: "{{public}}"
services:
  - name: svc
    targets: [{url: %s}]
consumers:
  - name: app
    groups: [apps]
    credentials:
      api_keys: [{id: k1, hash: "%s"}]
      basic: [{username: alice, password_hash: "%s"}]
routes:
  - name: keyed
    paths: [{prefix: /keyed}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {query: api_key}}]
  - name: basic
    paths: [{prefix: /basic}]
    service: svc
    policies:
      - kind: auth
        methods: [{basic: {}}]
  - name: staff
    paths: [{prefix: /staff}]
    service: svc
    policies:
      - kind: auth
        methods: [{api_key: {}}]
      - kind: acl
        allow: [staff]
  - name: small
    paths: [{prefix: /small}]
    service: svc
    max_body_size: 16
ops:
  address: "{{ops}}"
observability:
  security_events:
    output: %s
    webhooks: [{url: "%s", secret: "hook-secret-for-tests"}]
    webhook_batch_interval: 100ms
    syslog: {network: %s, address: "%s", facility: authpriv}
`, up.URL, hash, basicHash, eventsFile, hookURL, network, syslogAddr))
}

// TestSecurityEventsRedacted sends credentials in every place a request
// can carry them, to requests the gateway refuses; each refusal becomes an
// event in the event log, on the signed webhook and on a real syslog
// receiver (UDP and TCP), and no credential appears in any of them, nor in
// the access log or the process log.
func TestSecurityEventsRedacted(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) { testSecurityEventsRedacted(t, network) })
	}
}

func testSecurityEventsRedacted(t *testing.T, network string) {
	up := NewUpstream(t, nil)
	key, hash := akGenerate(t, "--id", "k1")
	const password = "Pw-9f4c1e7b-basic-secret"
	basicHash := bhHash(t, password)
	hook := newEventHookReceiver(t, "hook-secret-for-tests")
	sl := newSyslogReceiver(t, network)
	eventsFile := filepath.Join(t.TempDir(), "events.jsonl")
	gw := StartGateway(t, eventsConfig(up, hash, basicHash, eventsFile, hook.URL, network, sl.Addr))

	// Each secret is unique so that any appearance is a leak.
	secrets := map[string]string{
		"bearer token":        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsZWFrIn0.bearer-secret-1a2b",
		"api key header":      "pcl_headerkeysecret3c4d5e6f7a8b9c0d1e2f",
		"api key query":       "pcl_querykeysecret9a8b7c6d5e4f3a2b1c0d",
		"cookie":              "session-cookie-secret-77aa88bb",
		"basic password":      password,
		"body password":       "body-password-secret-55cc66dd",
		"proxy authorization": "proxy-auth-secret-11ee22ff",
		"custom token header": "x-auth-token-secret-33aa44bb",
		"userinfo password":   "userinfo-secret-99dd00ee",
		"path token":          "path-token-secret-abcdef012345",
		"valid api key":       key,
	}
	raw := func(req string) int {
		r := rawRequest(t, gw.Addr, req)
		if r.Status == 0 {
			t.Fatalf("no response to %q", req)
		}
		return r.Status
	}
	basic := base64.StdEncoding.EncodeToString([]byte("alice:" + password + "x"))
	cases := []struct {
		desc, req string
		status    int
		category  string
	}{
		{"wrong api key in the header, bearer token, cookie, proxy authorization and a custom header",
			"GET /keyed/x HTTP/1.1\r\nHost: a.example\r\nX-API-Key: " + secrets["api key header"] + "\r\nAuthorization: Bearer " + secrets["bearer token"] +
				"\r\nCookie: session=" + secrets["cookie"] + "\r\nProxy-Authorization: Basic " + secrets["proxy authorization"] +
				"\r\nX-Auth-Token: " + secrets["custom token header"] + "\r\nConnection: close\r\n\r\n", 401, "authentication"},
		{"wrong api key in the query", "GET /keyed/x?api_key=" + secrets["api key query"] + "&q=1 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n", 401, "authentication"},
		{"wrong basic password", "GET /basic/x HTTP/1.1\r\nHost: a.example\r\nAuthorization: Basic " + basic + "\r\nConnection: close\r\n\r\n", 401, "authentication"},
		{"a valid key refused by an ACL, with a password in the body", "POST /staff/" + secrets["path token"] + " HTTP/1.1\r\nHost: a.example\r\nX-API-Key: " + key +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(`{"password":"`+secrets["body password"]+`"}`)) +
			"\r\nConnection: close\r\n\r\n{\"password\":\"" + secrets["body password"] + "\"}", 403, "authorization"},
		{"userinfo in an absolute-form target", "GET http://bob:" + secrets["userinfo password"] + "@a.example/keyed/x HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n", 400, "normalization"},
		{"userinfo in Host", "GET /keyed/x HTTP/1.1\r\nHost: bob:" + secrets["userinfo password"] + "@a.example\r\nConnection: close\r\n\r\n", 400, ""},
		{"an encoded dot segment with a token in the path", "GET /keyed/%2e%2e/" + secrets["path token"] + "?api_key=" + secrets["api key query"] + " HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n", 400, "normalization"},
		{"a body over the route's limit", "POST /small/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 100\r\nAuthorization: Bearer " + secrets["bearer token"] + "\r\nConnection: close\r\n\r\n" + strings.Repeat("p", 100), 413, "limits"},
		{"request smuggling framing", "POST /keyed/x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nCookie: s=" + secrets["cookie"] + "\r\n\r\n0\r\n\r\n", 400, "framing"},
	}
	wantCats := map[string]int{}
	for _, c := range cases {
		if got := raw(c.req); got != c.status {
			t.Errorf("%s: status %d, want %d", c.desc, got, c.status)
		}
		if c.category != "" {
			wantCats[c.category]++
		}
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream saw %d refused requests", n)
	}

	// Every sink gets the events.
	deadline := time.Now().Add(10 * time.Second)
	var fileEvents []map[string]any
	for {
		fileEvents = readEventLines(t, eventsFile)
		if len(fileEvents) >= len(cases) && len(hook.Events(t)) >= len(fileEvents) && len(sl.Messages()) >= len(fileEvents) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events: file %d, webhook %d, syslog %d, want at least %d each", len(fileEvents), len(hook.Events(t)), len(sl.Messages()), len(cases))
		}
		time.Sleep(50 * time.Millisecond)
	}
	gotCats := map[string]int{}
	for _, ev := range fileEvents {
		gotCats[ev["category"].(string)]++
		for _, f := range []string{"time", "request_id", "client", "category", "reason", "type"} {
			if ev[f] == nil || ev[f] == "" {
				t.Errorf("event without %s: %v", f, ev)
			}
		}
		if ev["category"] == "authorization" {
			if ev["consumer"] != "app" || ev["route"] != "staff" {
				t.Errorf("authorization event without its consumer and route: %v", ev)
			}
		}
	}
	for cat, n := range wantCats {
		if gotCats[cat] < n {
			t.Errorf("category %s: %d events, want at least %d (all: %v)", cat, gotCats[cat], n, gotCats)
		}
	}
	if hook.bad != 0 {
		t.Errorf("%d webhook deliveries failed signature verification", hook.bad)
	}
	for _, m := range sl.Messages() {
		sm := rfc5424.FindStringSubmatch(m)
		if sm == nil {
			t.Errorf("not an RFC 5424 message: %q", m)
			continue
		}
		if pri, _ := strconv.Atoi(sm[1]); pri != 10*8+4 {
			t.Errorf("PRI %d, want authpriv.warning (84)", pri)
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(sm[len(sm)-1]), &ev); err != nil || ev["category"] != sm[6] {
			t.Errorf("MSG is not the event or MSGID is not its category: %q", m)
		}
	}

	// No secret anywhere: access log, process log, event log, webhook,
	// syslog.
	fileText, _ := os.ReadFile(eventsFile)
	places := map[string]string{
		"access log":  gw.Stdout.String(),
		"process log": gw.Stderr.String(),
		"event log":   string(fileText),
		"webhook":     hook.All(),
		"syslog":      strings.Join(sl.Messages(), "\n"),
	}
	for place, text := range places {
		for what, secret := range secrets {
			if what == "path token" && place == "access log" {
				continue // the access log records the path (docs/configuration.md#access_log); events never do
			}
			for _, form := range []string{secret, url.QueryEscape(secret), base64.StdEncoding.EncodeToString([]byte(secret)), secret[:len(secret)*2/3]} {
				if strings.Contains(text, form) {
					t.Errorf("the %s holds the %s (%q)", place, what, form)
				}
			}
		}
		if strings.Contains(text, basic) {
			t.Errorf("the %s holds the Basic credentials", place)
		}
	}
}

func readEventLines(t *testing.T, path string) []map[string]any {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("event log line is not JSON: %q", line)
		}
		out = append(out, ev)
	}
	return out
}
