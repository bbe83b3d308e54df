package waf

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

var q = url.QueryEscape

// attacks are requests the CRS at paranoia 1 must block.
var attacks = []struct {
	name, method, target string
	header               http.Header
	body                 string
}{
	{"sqli tautology", "GET", "/v1/items?id=" + q("1' OR '1'='1"), nil, ""},
	{"sqli union", "GET", "/v1/items?q=" + q("1 UNION SELECT password FROM users"), nil, ""},
	{"xss query", "GET", "/v1/search?q=" + q("<script>alert(1)</script>"), nil, ""},
	{"xss json body", "POST", "/v1/comments", jsonHeader(), `{"text":"<script>alert(1)</script>"}`},
	{"sqli json body", "POST", "/v1/login", jsonHeader(), `{"user":"admin' OR 1=1--","password":"x"}`},
	// Caught only by rules pruning may remove (not libinjection's): they
	// must stay when a body is handed to Coraza.
	{"command injection json body", "POST", "/v1/ping", jsonHeader(), `{"host":"127.0.0.1;cat /etc/passwd"}`},
	{"path traversal form body", "POST", "/v1/files", http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}, "file=" + q("../../etc/passwd")},
	{"command injection", "GET", "/v1/ping?host=" + q("127.0.0.1;cat /etc/passwd"), nil, ""},
	{"path traversal", "GET", "/v1/files?file=" + q("../../etc/passwd"), nil, ""},
	{"log4shell user-agent", "GET", "/v1/items", http.Header{"User-Agent": {"${jndi:ldap://x/a}"}}, ""},
	{"log4shell header", "GET", "/v1/items", http.Header{"X-Api-Version": {"${jndi:ldap://x/a}"}}, ""},
	// The number that sends PHP's and Java's strtod into an endless loop
	// (942220). Coraza's experimental regex prefilter (SecRxPreFilter On)
	// skips this rule's regex for it, which is one reason the gateway keeps
	// the prefilter off (doc.go).
	{"strtod denial of service", "GET", "/v1/items?price=2.2250738585072011e-308", nil, ""},
}

func TestAttacksBlocked(t *testing.T) {
	p, logs := mustPolicy(t, "        mode: blocking")
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			c := request(t, a.method, a.target, a.header, a.body)
			prob := p.Handle(c)
			if prob == nil {
				t.Fatal("not blocked")
			}
			if prob.Status != http.StatusForbidden || prob.Detail != "The request was refused." {
				t.Fatalf("got %d %q", prob.Status, prob.Detail)
			}
			if !strings.HasPrefix(prob.Reason, "waf: rule ") {
				t.Fatalf("reason %q", prob.Reason)
			}
		})
	}
	if !strings.Contains(logs.String(), `"msg":"waf blocked a request"`) || !strings.Contains(logs.String(), `"matched":[`) {
		t.Fatalf("block not logged with matched rules: %s", logs.String())
	}
}

// TestCleanRequestsPass checks a small corpus of ordinary API traffic for
// false positives (the e2e test runs a larger one through the binary).
func TestCleanRequestsPass(t *testing.T) {
	p, logs := mustPolicy(t, "        mode: blocking")
	for _, r := range []struct{ method, target, body string }{
		{"GET", "/v1/users?name=" + q("O'Brien") + "&page=2&per_page=50", ""},
		{"GET", "/v1/search?q=" + q("café crème") + "&sort=-created_at", ""},
		{"GET", "/v1/links?url=" + q("https://example.com/a/b?c=d"), ""},
		{"POST", "/v1/users", `{"name":"Seán O'Brien","email":"sean.obrien@example.ie","bio":"I'm a developer; I like Go & Rust."}`},
		{"PUT", "/v1/orders/42", `{"items":[{"sku":"A-1","qty":2}],"note":"Leave at the door, please"}`},
		{"PATCH", "/v1/profile", `{"website":"https://blog.example.org/posts?id=7","city":"Zürich"}`},
		{"DELETE", "/v1/sessions/abc123", ""},
	} {
		c := request(t, r.method, r.target, jsonHeader(), r.body)
		if prob := p.Handle(c); prob != nil {
			t.Errorf("%s %s %s: refused: %s", r.method, r.target, r.body, prob.Reason)
		}
	}
	// curl sends Expect: 100-continue with larger uploads.
	c := request(t, "POST", "/v1/upload", http.Header{"Content-Type": {jsonCT}, "Expect": {"100-continue"}}, `{"a":"b"}`)
	if prob := p.Handle(c); prob != nil {
		t.Errorf("Expect: 100-continue refused: %s", prob.Reason)
	}
	if logs.String() != "" {
		t.Errorf("clean requests logged: %s", logs.String())
	}
}

// TestCleanRequestsLeaveProcessLogQuiet: a clean request writes nothing to
// the process log (Coraza's per-request "key not found" warnings, which
// its eager msg and logdata expansion produces on every request, are
// dropped), while Coraza's other warnings still reach it.
func TestCleanRequestsLeaveProcessLogQuiet(t *testing.T) {
	p, _ := mustPolicy(t, "        mode: blocking") // compiled (and its log line written) before the capture
	buf := &syncBuf{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(buf, nil)))
	defer slog.SetDefault(prev)

	for _, c := range []*pipeline.Context{
		request(t, "GET", "/v1/users?name="+q("O'Brien")+"&page=2", nil, ""),
		request(t, "POST", "/v1/users", jsonHeader(), `{"name":"Zoë"}`),
	} {
		if prob := p.Handle(c); prob != nil {
			t.Fatalf("%s refused: %s", c.Request.Method, prob.Reason)
		}
	}
	if got := buf.String(); got != "" {
		t.Fatalf("clean requests wrote to the process log:\n%s", got)
	}

	l := corazaLogger()
	l.Warn().Str("key", "x").Msg(macroKeyMissing)
	if got := buf.String(); got != "" {
		t.Fatalf("the macro warning was written: %s", got)
	}
	l.Warn().Str("ctl", "RequestBodyAccess").Msg("Cannot change request body access after request headers phase")
	if got := buf.String(); !strings.Contains(got, `"level":"WARN","msg":"Cannot change request body access after request headers phase","component":"waf"`) {
		t.Fatalf("another Coraza warning did not reach the process log: %q", got)
	}
}

func TestBodyReachesUpstreamUnchanged(t *testing.T) {
	p, _ := mustPolicy(t, "        mode: blocking")
	body := `{"name":"Zoë","email":"zoe@example.com"}`
	c := request(t, "POST", "/v1/users", jsonHeader(), body)
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("refused: %s", prob.Reason)
	}
	got, _ := io.ReadAll(c.Request.Body)
	if string(got) != body || c.Request.ContentLength != int64(len(body)) {
		t.Fatalf("body %q length %d", got, c.Request.ContentLength)
	}

	// A chunked body (unknown length) gets its length once buffered.
	c = request(t, "POST", "/v1/users", jsonHeader(), body)
	c.Request.ContentLength = -1
	c.Request.TransferEncoding = []string{"chunked"}
	c.Request.Body = io.NopCloser(strings.NewReader(body))
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("chunked refused: %s", prob.Reason)
	}
	got, _ = io.ReadAll(c.Request.Body)
	if string(got) != body || c.Request.ContentLength != int64(len(body)) {
		t.Fatalf("chunked body %q length %d", got, c.Request.ContentLength)
	}
}

func TestBodyBeyondLimit(t *testing.T) {
	body := `{"a":"` + strings.Repeat("x", 2000) + `"}`

	blocking, _ := mustPolicy(t, "        body_limit: 1KiB")
	c := request(t, "POST", "/v1/upload", jsonHeader(), body)
	prob := blocking.Handle(c)
	if prob == nil || prob.Status != http.StatusRequestEntityTooLarge || prob.Reason != "waf: body larger than body_limit" {
		t.Fatalf("declared length over the limit: %+v", prob)
	}
	c = request(t, "POST", "/v1/upload", jsonHeader(), body)
	c.Request.ContentLength = -1
	c.Request.Body = io.NopCloser(strings.NewReader(body))
	if prob := blocking.Handle(c); prob == nil || prob.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked over the limit: %+v", prob)
	}
	// The gateway's max_body_size reader fails while the WAF reads.
	c = request(t, "POST", "/v1/upload", jsonHeader(), body)
	c.Request.ContentLength = -1
	c.Request.Body = http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(body)), 100)
	if prob := blocking.Handle(c); prob == nil || prob.Reason != "waf: body larger than max_body_size" {
		t.Fatalf("max_body_size: %+v", prob)
	}

	// Detection mode inspects the first body_limit bytes and passes the
	// whole body on, attack or not.
	detect, logs := mustPolicy(t, "        mode: detection\n        body_limit: 1KiB")
	attack := `{"text":"<script>alert(1)</script>","pad":"` + strings.Repeat("y", 2000) + `"}`
	for _, chunked := range []bool{false, true} {
		c = request(t, "POST", "/v1/upload", jsonHeader(), attack)
		if chunked {
			c.Request.ContentLength = -1
			c.Request.Body = io.NopCloser(strings.NewReader(attack))
		}
		if prob := detect.Handle(c); prob != nil {
			t.Fatalf("detection refused: %s", prob.Reason)
		}
		got, _ := io.ReadAll(c.Request.Body)
		if string(got) != attack {
			t.Fatalf("chunked=%v: upstream would get %d bytes, want %d", chunked, len(got), len(attack))
		}
		if !chunked && c.Request.ContentLength != int64(len(attack)) {
			t.Fatalf("declared length changed to %d", c.Request.ContentLength)
		}
	}
	if !strings.Contains(logs.String(), "941100") {
		t.Fatalf("detection did not log the XSS in the inspected prefix: %s", logs.String())
	}
}

func TestUnreadableBody(t *testing.T) {
	p, _ := mustPolicy(t, "        mode: blocking")
	c := request(t, "POST", "/v1/users", jsonHeader(), `{"a":1}`)
	c.Request.Body = io.NopCloser(io.MultiReader(strings.NewReader(`{"a"`), errReader{}))
	c.Request.ContentLength = 7
	prob := p.Handle(c)
	if prob == nil || prob.Status != http.StatusBadRequest || prob.Reason != "waf: body read failed" {
		t.Fatalf("%+v", prob)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDetectionModeLetsThroughAndLogs(t *testing.T) {
	p, logs := mustPolicy(t, "        mode: detection")
	for _, a := range attacks {
		c := request(t, a.method, a.target, a.header, a.body)
		if prob := p.Handle(c); prob != nil {
			t.Fatalf("%s: detection mode refused: %s", a.name, prob.Reason)
		}
		if a.body != "" {
			got, _ := io.ReadAll(c.Request.Body)
			if string(got) != a.body {
				t.Fatalf("%s: body changed to %q", a.name, got)
			}
		}
	}
	out := logs.String()
	if n := strings.Count(out, "waf detected a request"); n != len(attacks) {
		t.Fatalf("%d detections logged, want %d:\n%s", n, len(attacks), out)
	}
	for _, id := range []string{"942100", "941100", "930120", "944150", "949110"} {
		if !strings.Contains(out, id) {
			t.Errorf("rule %s not logged", id)
		}
	}
}

func TestExclusionRemovesRule(t *testing.T) {
	target := "/v1/items?id=" + q("1' OR '1'='1") // matched by 942100 alone
	p, _ := mustPolicy(t, "        exclusions: [942100]")
	if prob := p.Handle(request(t, "GET", target, nil, "")); prob != nil {
		t.Fatalf("excluded rule still blocks: %s", prob.Reason)
	}
	// Other rules still work.
	if prob := p.Handle(request(t, "GET", "/v1/search?q="+q("<script>alert(1)</script>"), nil, "")); prob == nil {
		t.Fatal("XSS not blocked with 942100 excluded")
	}
}

func TestThresholdAndParanoia(t *testing.T) {
	target := "/v1/items?id=" + q("1' OR '1'='1") // one critical rule: score 5
	high, _ := mustPolicy(t, "        anomaly_threshold: 10")
	if prob := high.Handle(request(t, "GET", target, nil, "")); prob != nil {
		t.Fatalf("score 5 blocked at threshold 10: %s", prob.Reason)
	}
	// Paranoia 2 adds rules that paranoia 1 lacks: a missing User-Agent
	// (920320, a notice worth 2 points) only counts from paranoia 2; with
	// threshold 2 it is enough to block.
	for _, tc := range []struct {
		yaml    string
		blocked bool
	}{
		{"        paranoia_level: 1\n        anomaly_threshold: 2", false},
		{"        paranoia_level: 2\n        anomaly_threshold: 2", true},
	} {
		p, _ := mustPolicy(t, tc.yaml)
		c := request(t, "GET", "/v1/items", nil, "")
		delete(c.Request.Header, "User-Agent")
		if prob := p.Handle(c); (prob != nil) != tc.blocked {
			t.Errorf("%q: blocked=%v, want %v", tc.yaml, prob != nil, tc.blocked)
		}
	}
}

func TestCompileSharesEngine(t *testing.T) {
	state := pipeline.NewSharedValues()
	a, err := compileYAML(t, "        mode: blocking\n        exclusions: [942100, 941100]", state)
	if err != nil {
		t.Fatal(err)
	}
	// Same settings spelled differently: defaults, order, duplicates.
	b, err := compileYAML(t, "        exclusions: [941100, 942100, 942100]\n        paranoia_level: 1", state)
	if err != nil {
		t.Fatal(err)
	}
	if a.waf != b.waf {
		t.Fatal("equal settings built two engines")
	}
	c, err := compileYAML(t, "        mode: detection\n        exclusions: [942100, 941100]", state)
	if err != nil {
		t.Fatal(err)
	}
	if c.waf == a.waf {
		t.Fatal("detection mode shares the blocking engine")
	}
	n := 0
	state.Range(func(string, any) { n++ })
	if n != 2 {
		t.Fatalf("%d engines in state, want 2", n)
	}
}

func TestCompileRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"        mode: block", `mode: must be "blocking" or "detection"`},
		{"        paranoia_level: 5", "paranoia_level: must be 1 to 4"},
		{"        paranoia_level: -1", "paranoia_level: must be 1 to 4"},
		{"        anomaly_threshold: -3", "anomaly_threshold: must be 1 to"},
		// A written 0 used to become the default (paranoia 1, threshold 5).
		{"        paranoia_level: 0", "paranoia_level: must be 1 to 4, not 0"},
		{"        anomaly_threshold: 0", "anomaly_threshold: must be 1 to 10000, not 0"},
		{"        body_limit: 0", "here would be the default, not zero"},
		{"        exclusions: [0]", "exclusions: rule id 0"},
		{"        exclusions: [abc]", "expected an integer"},
		{"        body_limit: 1GiB", "body_limit: must be"},
		{"        body_limit: lots", "size"},
		{"        inspect_bodies: true", "inspect_bodies"},
	} {
		_, err := compileYAML(t, tc.yaml, testState)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestInspectBodyOff(t *testing.T) {
	p, _ := mustPolicy(t, "        inspect_body: false")
	body := `{"text":"<script>alert(1)</script>"}`
	c := request(t, "POST", "/v1/comments", jsonHeader(), body)
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("body inspected although inspect_body is false: %s", prob.Reason)
	}
	got, _ := io.ReadAll(c.Request.Body)
	if string(got) != body {
		t.Fatalf("body %q", got)
	}
	// Query and headers are still inspected.
	if p.Handle(request(t, "GET", "/v1/search?q="+q("<script>alert(1)</script>"), nil, "")) == nil {
		t.Fatal("query not inspected")
	}
}

func TestPolicyPhase(t *testing.T) {
	p, _ := mustPolicy(t, "        mode: blocking")
	if p.Phase() != pipeline.PhaseValidate {
		t.Fatalf("phase %v", p.Phase())
	}
}

func TestEncodedBody(t *testing.T) {
	gz := "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
	// The CRS itself scores any Content-Encoding request header (920450);
	// with that rule excluded the policy's own check still refuses.
	blocking, _ := mustPolicy(t, "        mode: blocking\n        exclusions: [920450]")
	for _, enc := range []string{"gzip", "identity, br", "GZIP"} {
		c := request(t, "POST", "/v1/users", http.Header{"Content-Type": {jsonCT}, "Content-Encoding": {enc}}, gz)
		prob := blocking.Handle(c)
		if prob == nil || prob.Status != http.StatusUnsupportedMediaType || prob.Reason != "waf: encoded body cannot be inspected" {
			t.Fatalf("%q: %+v", enc, prob)
		}
	}
	c := request(t, "POST", "/v1/users", http.Header{"Content-Type": {jsonCT}, "Content-Encoding": {"identity"}}, `{"a":1}`)
	if prob := blocking.Handle(c); prob != nil {
		t.Fatalf("identity refused: %s", prob.Reason)
	}
	detect, logs := mustPolicy(t, "        mode: detection")
	c = request(t, "POST", "/v1/users", http.Header{"Content-Type": {jsonCT}, "Content-Encoding": {"gzip"}}, gz)
	if prob := detect.Handle(c); prob != nil {
		t.Fatalf("detection refused: %s", prob.Reason)
	}
	if got, _ := io.ReadAll(c.Request.Body); string(got) != gz {
		t.Fatalf("body %q", got)
	}
	if !strings.Contains(logs.String(), "cannot inspect an encoded body") {
		t.Fatalf("not logged: %s", logs.String())
	}
}

// TestOversizedBodiesDoNotFloodTheProcessLog: Coraza warns for every
// request whose body reaches SecRequestBodyLimit, so in detection mode a
// client decides how many process-log lines the gateway writes. One line
// is written per message and window; the requests are still inspected.
func TestOversizedBodiesDoNotFloodTheProcessLog(t *testing.T) {
	buf := &syncBuf{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(buf, nil)))
	defer slog.SetDefault(prev)

	// A fresh engine (its own logger and throttle): the shared test
	// engines may have warned already in other tests.
	v, err := compileYAML(t, "        mode: detection\n        body_limit: 1KiB", pipeline.NewSharedValues())
	if err != nil {
		t.Fatal(err)
	}
	v.log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	body := `{"text":"<script>alert(1)</script>","pad":"` + strings.Repeat("y", 2000) + `"}`
	const requests = 50
	for range requests {
		if prob := v.Handle(request(t, "POST", "/v1/upload", jsonHeader(), body)); prob != nil {
			t.Fatalf("detection refused: %s", prob.Reason)
		}
	}
	const msg = "Processing request body whose size reached the configured limit (Action ProcessPartial)"
	if n := strings.Count(buf.String(), msg); n != 1 {
		t.Fatalf("%d process-log lines for %q over %d requests, want 1:\n%s", n, msg, requests, buf.String())
	}
}

// TestWarnThrottle: each message at most once per window; the next line
// written for it carries how many were held back; distinct messages have
// their own budget; past warnKeysMax messages share one.
func TestWarnThrottle(t *testing.T) {
	now := time.Unix(0, 0)
	th := newWarnThrottle(10*time.Second, func() time.Time { return now })
	steps := []struct {
		desc           string
		advance        time.Duration
		msg            string
		wantOK         bool
		wantSuppressed int
	}{
		{desc: "first is written", msg: "a", wantOK: true},
		{desc: "same message in the window is held", advance: time.Second, msg: "a"},
		{desc: "held again", advance: time.Second, msg: "a"},
		{desc: "another message has its own budget", msg: "b", wantOK: true},
		{desc: "window not over yet (9.999s)", advance: 8*time.Second - time.Millisecond, msg: "a"},
		{desc: "after the window: written with the count", advance: time.Millisecond, msg: "a", wantOK: true, wantSuppressed: 3},
		{desc: "count restarts", advance: 10 * time.Second, msg: "a", wantOK: true},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		ok, n := th.allow(s.msg)
		if ok != s.wantOK || n != s.wantSuppressed {
			t.Fatalf("%s: allow = %v, %d; want %v, %d", s.desc, ok, n, s.wantOK, s.wantSuppressed)
		}
	}
	for i := range 2 * warnKeysMax {
		th.allow(strconv.Itoa(i))
	}
	if len(th.byMsg) > warnKeysMax+1 {
		t.Fatalf("the throttle tracks %d messages, bound %d", len(th.byMsg), warnKeysMax)
	}
}
