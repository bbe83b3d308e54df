package auth

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pipeline"
)

// The client secret has characters that RFC 6749 says must be
// form-encoded before Basic encoding.
const (
	idpClientID     = "gate way"
	idpClientSecret = "s3cr%t:x+y"
)

// fakeIDP is an RFC 7662 endpoint on loopback that checks the gateway's
// client credentials and answers from a table of tokens.
type fakeIDP struct {
	srv *httptest.Server
	mu  sync.Mutex
	// answers maps a token to the JSON body; unknown tokens are inactive.
	answers map[string]string
	calls   int
	// misuse records any request that broke the protocol.
	misuse []string
	// gate, when set, holds every call until it is closed.
	gate chan struct{}
	// raw, when set, answers every call instead of answers.
	raw http.HandlerFunc
}

func newFakeIDP(t testing.TB, tls bool) *fakeIDP {
	t.Helper()
	f := &fakeIDP{answers: map[string]string{}}
	h := http.HandlerFunc(f.serve)
	if tls {
		f.srv = httptest.NewTLSServer(h)
	} else {
		f.srv = httptest.NewServer(h)
	}
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIDP) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	gate, raw := f.gate, f.raw
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	bad := func(why string) {
		f.mu.Lock()
		f.misuse = append(f.misuse, why)
		f.mu.Unlock()
		http.Error(w, why, http.StatusUnauthorized)
	}
	user, pass, ok := r.BasicAuth()
	if !ok {
		bad("no basic credentials")
		return
	}
	u, err1 := url.QueryUnescape(user)
	p, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || u != idpClientID || p != idpClientSecret {
		bad("wrong client credentials")
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		bad("not a form POST")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" || len(r.URL.Query()) != 0 {
		bad("bad form")
		return
	}
	if raw != nil {
		raw(w, r)
		return
	}
	f.mu.Lock()
	body, ok := f.answers[r.PostForm.Get("token")]
	f.mu.Unlock()
	if !ok {
		body = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(body))
}

func (f *fakeIDP) set(token, body string) {
	f.mu.Lock()
	f.answers[token] = body
	f.mu.Unlock()
}

func (f *fakeIDP) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeIDP) checkNoMisuse(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.misuse) > 0 {
		t.Fatalf("the endpoint saw protocol errors: %v", f.misuse)
	}
}

const idpConsumers = `consumers:
  - {name: alice, groups: [admins, staff]}
  - {name: reporting-app, groups: [machines]}
  - {name: guest}
`

// idpPolicy compiles an auth policy with one introspection method whose
// options are extra (flow-style, after the endpoint and credentials).
func idpPolicy(t testing.TB, endpoint, extra string, state *pipeline.SharedValues) *policy {
	t.Helper()
	p, err := idpCompile(t, endpoint, extra, state)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return p
}

func idpCompile(t testing.TB, endpoint, extra string, state *pipeline.SharedValues) (*policy, error) {
	t.Helper()
	t.Setenv("MI_CLIENT_SECRET", idpClientSecret)
	opts := fmt.Sprintf("url: %q, client_id: %q, client_secret: \"${env:MI_CLIENT_SECRET}\"", endpoint, idpClientID)
	if extra != "" {
		opts += ", " + extra
	}
	return miCompile(t, miConfig(idpConsumers, "      - kind: auth\n        methods: [{introspection: {"+opts+"}}]\n"), state)
}

func bearerCtx(tok string) *pipeline.Context {
	r := httptest.NewRequest("GET", "http://api.example.test/", nil)
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	return miContext(r)
}

// fakeClock is a settable clock for the cache tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestIntrospectionAcceptsActiveTokens(t *testing.T) {
	idp := newFakeIDP(t, false)
	exp := time.Now().Add(time.Hour).Unix()
	idp.set("tok-alice", fmt.Sprintf(`{"active":true,"sub":"alice","client_id":"reporting-app","scope":"orders:read orders:write","aud":["api","other"],"iss":"https://idp.test","exp":%d,"extra":{"x":1}}`, exp))
	idp.set("tok-stranger", `{"active":true,"sub":"someone-else","scope":"orders:read"}`)

	p := idpPolicy(t, idp.srv.URL, "required_scopes: [orders:read], audience: api", nil)
	c := bearerCtx("tok-alice")
	if prob := p.Handle(c); prob != nil {
		t.Fatalf("refused: %d %s", prob.Status, prob.Reason)
	}
	id := c.Identity
	if id.Consumer != "alice" || id.Method != "introspection" || fmt.Sprint(id.Groups) != "[admins staff]" {
		t.Fatalf("identity %+v", id)
	}
	if fmt.Sprint(id.Scopes) != "[orders:read orders:write]" || id.Claims["iss"] != "https://idp.test" || id.Claims["client_id"] != "reporting-app" {
		t.Errorf("scopes %v claims %v", id.Scopes, id.Claims)
	}
	if len(id.CredentialID) != 16 || strings.Contains(id.CredentialID, "tok") {
		t.Errorf("credential id %q must be a hash prefix, not the token", id.CredentialID)
	}
	if v := c.Request.Header.Values("Authorization"); len(v) != 0 {
		t.Errorf("the token is forwarded by default: %q", v)
	}
	c = bearerCtx("tok-alice")
	if prob := idpPolicy(t, idp.srv.URL, "forward_token: true", nil).Handle(c); prob != nil {
		t.Fatalf("refused: %s", prob.Reason)
	}
	if c.Request.Header.Get("Authorization") != "Bearer tok-alice" {
		t.Errorf("forward_token: true dropped the token")
	}

	// A subject that names no configured consumer is the consumer name,
	// with no groups.
	c = bearerCtx("tok-stranger")
	if prob := idpPolicy(t, idp.srv.URL, "", nil).Handle(c); prob != nil {
		t.Fatalf("refused: %s", prob.Reason)
	}
	if c.Identity.Consumer != "someone-else" || c.Identity.Groups != nil {
		t.Errorf("identity %+v", c.Identity)
	}

	// consumer_claim: client_id.
	c = bearerCtx("tok-alice")
	if prob := idpPolicy(t, idp.srv.URL, "consumer_claim: client_id", nil).Handle(c); prob != nil {
		t.Fatalf("refused: %s", prob.Reason)
	}
	if c.Identity.Consumer != "reporting-app" || fmt.Sprint(c.Identity.Groups) != "[machines]" {
		t.Errorf("identity %+v", c.Identity)
	}
	idp.checkNoMisuse(t)
}

func TestIntrospectionRefusals(t *testing.T) {
	idp := newFakeIDP(t, false)
	past := time.Now().Add(-time.Minute).Unix()
	idp.set("tok-read", `{"active":true,"sub":"alice","scope":"orders:read","aud":"api"}`)
	idp.set("tok-other-aud", `{"active":true,"sub":"alice","scope":"orders:read orders:write","aud":["web"]}`)
	idp.set("tok-no-aud", `{"active":true,"sub":"alice","scope":"orders:read orders:write"}`)
	idp.set("tok-past", fmt.Sprintf(`{"active":true,"sub":"alice","scope":"orders:read orders:write","aud":"api","exp":%d}`, past))
	idp.set("tok-no-sub", `{"active":true,"client_id":"x","scope":"orders:read orders:write","aud":"api"}`)
	p := idpPolicy(t, idp.srv.URL, "required_scopes: [orders:read, orders:write], audience: api", nil)

	for _, tc := range []struct {
		name, token, reason, challenge string
		status                         int
	}{
		{"inactive", "tok-unknown", "introspection: inactive token", `Bearer error="invalid_token"`, 401},
		{"insufficient scope", "tok-read", "introspection: insufficient scope", `Bearer error="insufficient_scope", scope="orders:read orders:write"`, 403},
		{"wrong audience", "tok-other-aud", "introspection: wrong audience", `Bearer error="invalid_token"`, 401},
		{"no audience", "tok-no-aud", "introspection: wrong audience", `Bearer error="invalid_token"`, 401},
		{"active but past exp", "tok-past", "introspection: expired", `Bearer error="invalid_token"`, 401},
		{"no consumer claim", "tok-no-sub", "introspection: no consumer claim", `Bearer error="invalid_token"`, 401},
		{"malformed", "a b", "introspection: malformed token", `Bearer error="invalid_token"`, 401},
		{"missing", "", "missing credentials", `Bearer`, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := bearerCtx(tc.token)
			prob := p.Handle(c)
			if prob == nil {
				t.Fatalf("accepted as %+v", c.Identity)
			}
			if prob.Status != tc.status || prob.Reason != tc.reason || c.Identity != nil {
				t.Fatalf("status %d reason %q, want %d %q", prob.Status, prob.Reason, tc.status, tc.reason)
			}
			if got := prob.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("challenge %q, want %q", got, tc.challenge)
			}
		})
	}
	idp.checkNoMisuse(t)
}

func TestIntrospectionBearerParsing(t *testing.T) {
	long := strings.Repeat("a", introspectionMaxToken+1)
	for _, tc := range []struct {
		name   string
		values []string
		want   string // "" ok, "none" ErrNoCredentials, else the failure reason
	}{
		{"none", nil, "none"},
		{"basic scheme", []string{"Basic YTpi"}, "none"},
		{"bearer lower case", []string{"bearer abc.DEF-_~+/=="}, ""},
		{"bearer alone", []string{"Bearer"}, "malformed token"},
		{"bearer and space", []string{"Bearer "}, "malformed token"},
		{"space inside", []string{"Bearer a b"}, "malformed token"},
		{"quote", []string{`Bearer a"b`}, "malformed token"},
		{"padding in the middle", []string{"Bearer a=b"}, "malformed token"},
		{"two headers", []string{"Bearer a", "Bearer b"}, "malformed token"},
		{"too large", []string{"Bearer " + long}, "token too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.values != nil {
				h["Authorization"] = tc.values
			}
			_, err := introspectionBearer(h)
			switch tc.want {
			case "":
				if err != nil {
					t.Fatalf("error %v", err)
				}
			case "none":
				if !errors.Is(err, ErrNoCredentials) {
					t.Fatalf("error %v, want ErrNoCredentials", err)
				}
			default:
				if !isFailure(err, tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
			}
		})
	}
}

// TestIntrospectionFailsClosed: whenever the endpoint cannot give a
// well-formed answer, the request is refused and nothing is cached.
func TestIntrospectionFailsClosed(t *testing.T) {
	down := newFakeIDP(t, false)
	downURL := down.srv.URL
	down.srv.Close()

	redirected := newFakeIDP(t, false)
	target := newFakeIDP(t, false)
	target.set("tok", `{"active":true,"sub":"alice"}`)
	redirected.raw = func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.srv.URL, http.StatusTemporaryRedirect)
	}

	cases := map[string]http.HandlerFunc{
		"server error": func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
		"not JSON":     func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) },
		"active as a string": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"active":"true","sub":"alice"}`))
		},
		"no active": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"sub":"alice"}`)) },
		"oversized": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"active":true,"sub":"alice","pad":"` + strings.Repeat("x", maxIntrospectionResponse) + `"}`))
		},
		"slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		},
	}
	endpoints := map[string]string{"down": downURL, "redirect (not followed)": redirected.srv.URL}
	for name, h := range cases {
		idp := newFakeIDP(t, false)
		idp.raw = h
		endpoints[name] = idp.srv.URL
	}
	for name, endpoint := range endpoints {
		t.Run(name, func(t *testing.T) {
			p := idpPolicy(t, endpoint, "timeout: 200ms", nil)
			for range 2 { // the failure is not cached
				c := bearerCtx("tok")
				prob := p.Handle(c)
				if prob == nil || prob.Status != 401 || prob.Reason != "introspection: introspection unavailable" || c.Identity != nil {
					t.Fatalf("got %+v identity %+v", prob, c.Identity)
				}
			}
			if n := p.methods[0].(*introspectionMethod).state.cache.len(); n != 0 {
				t.Errorf("%d cached entries after failures", n)
			}
		})
	}
	if target.callCount() != 0 {
		t.Error("the redirect was followed: the token went to another server")
	}

	// Wrong client credentials: the endpoint answers 401, which is
	// "unavailable" too (and the secret is in no error).
	idp := newFakeIDP(t, false)
	idp.set("tok", `{"active":true,"sub":"alice"}`)
	t.Setenv("MI_WRONG", "wrong")
	p := miMustCompile(t, miConfig(idpConsumers, fmt.Sprintf("      - kind: auth\n        methods: [{introspection: {url: %q, client_id: x, client_secret: \"${env:MI_WRONG}\"}}]\n", idp.srv.URL)), nil)
	if prob := p.Handle(bearerCtx("tok")); prob == nil || prob.Reason != "introspection: introspection unavailable" {
		t.Fatalf("wrong client credentials: %+v", prob)
	}
}

func TestIntrospectionCache(t *testing.T) {
	idp := newFakeIDP(t, false)
	clock := &fakeClock{t: time.Now()}
	exp := clock.now().Add(90 * time.Second).Unix()
	idp.set("tok", fmt.Sprintf(`{"active":true,"sub":"alice","exp":%d}`, exp))
	idp.set("tok-long", `{"active":true,"sub":"alice"}`)

	state := pipeline.NewSharedValues()
	p := idpPolicy(t, idp.srv.URL, "cache_ttl: 5m", state)
	m := p.methods[0].(*introspectionMethod)
	m.now = clock.now
	ok := func(tok string) {
		t.Helper()
		c := bearerCtx(tok)
		if prob := p.Handle(c); prob != nil {
			t.Fatalf("%s refused: %s", tok, prob.Reason)
		}
	}
	calls := func(want int) {
		t.Helper()
		if got := idp.callCount(); got != want {
			t.Fatalf("%d introspection calls, want %d", got, want)
		}
	}
	ok("tok")
	ok("tok")
	calls(1)

	// A reload (a new snapshot with the same State) keeps the cache.
	p2 := idpPolicy(t, idp.srv.URL, "cache_ttl: 5m", state)
	p2.methods[0].(*introspectionMethod).now = clock.now
	if prob := p2.Handle(bearerCtx("tok")); prob != nil {
		t.Fatal(prob.Reason)
	}
	calls(1)

	// The entry never outlives exp (90 s), although cache_ttl is 5 min:
	// after exp the server is asked again, and now says inactive.
	clock.advance(91 * time.Second)
	idp.set("tok", `{"active":false}`)
	if prob := p.Handle(bearerCtx("tok")); prob == nil || prob.Reason != "introspection: inactive token" {
		t.Fatalf("after exp: %+v", prob)
	}
	calls(2)

	// Negative results are kept 10 s.
	if prob := p.Handle(bearerCtx("tok")); prob == nil {
		t.Fatal("accepted")
	}
	calls(2)
	clock.advance(11 * time.Second)
	idp.set("tok", `{"active":true,"sub":"alice"}`) // e.g. a token re-activated
	ok("tok")
	calls(3)

	// Without exp, cache_ttl bounds the entry.
	ok("tok-long")
	calls(4)
	clock.advance(4 * time.Minute)
	ok("tok-long")
	calls(4)
	clock.advance(2 * time.Minute)
	ok("tok-long")
	calls(5)

	// A route with a shorter cache_ttl sharing the state does not reuse
	// an entry older than its own ttl.
	p3 := idpPolicy(t, idp.srv.URL, "cache_ttl: 30s", state)
	p3.methods[0].(*introspectionMethod).now = clock.now
	clock.advance(45 * time.Second)
	if prob := p3.Handle(bearerCtx("tok-long")); prob != nil {
		t.Fatal(prob.Reason)
	}
	calls(6)
	idp.checkNoMisuse(t)
}

// TestIntrospectionConcurrentMisses: many requests with the same new
// token make one call.
func TestIntrospectionConcurrentMisses(t *testing.T) {
	idp := newFakeIDP(t, false)
	idp.set("tok", `{"active":true,"sub":"alice"}`)
	gate := make(chan struct{})
	idp.gate = gate
	p := idpPolicy(t, idp.srv.URL, "", nil)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if prob := p.Handle(bearerCtx("tok")); prob != nil {
				errs <- prob.Reason
			}
		}()
	}
	// Release the endpoint once the first call has arrived; late callers
	// either joined that call or find its result in the cache.
	deadline := time.Now().Add(5 * time.Second)
	for idp.callCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := idp.callCount(); got != 1 {
		t.Fatalf("%d calls for one token", got)
	}
}

func TestIntrospectionHTTPSWithCAFile(t *testing.T) {
	idp := newFakeIDP(t, true)
	idp.set("tok", `{"active":true,"sub":"alice"}`)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	// Without the CA the endpoint is not trusted: fail closed.
	if prob := idpPolicy(t, idp.srv.URL, "", nil).Handle(bearerCtx("tok")); prob == nil || prob.Reason != "introspection: introspection unavailable" {
		t.Fatalf("untrusted endpoint: %+v", prob)
	}
	c := bearerCtx("tok")
	if prob := idpPolicy(t, idp.srv.URL, fmt.Sprintf("ca_file: %q", caFile), nil).Handle(c); prob != nil {
		t.Fatalf("with ca_file: %s", prob.Reason)
	}
	if c.Identity.Consumer != "alice" {
		t.Errorf("identity %+v", c.Identity)
	}
	idp.checkNoMisuse(t)
}

func TestIntrospectionConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, endpoint, extra, want string
	}{
		{"no url", "", "", "url"},
		{"plain http off loopback", "http://idp.example.test/introspect", "", "loopback"},
		{"user info", "https://u:p@idp.example.test/introspect", "", "user info"},
		{"other scheme", "ftp://idp.example.test/", "", "https"},
		{"consumer claim", "https://idp.example.test/i", "consumer_claim: email", "sub or client_id"},
		{"scope with a quote", "https://idp.example.test/i", `required_scopes: ["a\"b"]`, "required_scopes[0]"},
		{"empty scope", "https://idp.example.test/i", `required_scopes: [""]`, "required_scopes[0]"},
		{"zero timeout", "https://idp.example.test/i", "timeout: -1s", "timeout"},
		{"huge cache ttl", "https://idp.example.test/i", "cache_ttl: 100h", "cache_ttl"},
		{"ca file missing", "https://idp.example.test/i", fmt.Sprintf("ca_file: %q", filepath.Join(dir, "nope.pem")), "ca_file"},
		{"ca file not PEM", "https://idp.example.test/i", fmt.Sprintf("ca_file: %q", notPEM), "no PEM"},
		{"unknown option", "https://idp.example.test/i", "scopes: [a]", "scopes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := idpCompile(t, tc.endpoint, tc.extra, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), idpClientSecret) {
				t.Fatalf("the error shows the client secret: %v", err)
			}
		})
	}
	t.Setenv("MI_EMPTY", "")
	_, err := miCompile(t, miConfig(idpConsumers, "      - kind: auth\n        methods: [{introspection: {url: \"https://idp.example.test/i\", client_id: x, client_secret: \"${env:MI_EMPTY}\"}}]\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "client_secret") {
		t.Fatalf("empty secret: %v", err)
	}
}

func TestParseIntrospection(t *testing.T) {
	good := []struct {
		body string
		want introspected
	}{
		{`{"active":false,"sub":"ignored","scope":"a"}`, introspected{}},
		{`{"active":true,"scope":" a  b ","sub":"s","client_id":"c","username":"u","iss":"i","aud":"x","exp":1700000000.9}`,
			introspected{Active: true, Scopes: []string{"a", "b"}, ClientID: "c", Subject: "s", Username: "u", Issuer: "i", Audience: []string{"x"}, Exp: 1700000000}},
		{`{"active":true,"aud":["x","y"],"other":{"n":[1]}}`, introspected{Active: true, Audience: []string{"x", "y"}}},
		{`{"active":true,"aud":null,"exp":null,"scope":null}`, introspected{Active: true}},
		{"{\"active\":true}\n ", introspected{Active: true}},
		{`{"active":false,"ACTIVE":true}`, introspected{}}, // names are exact: ACTIVE is another member
		{`{"active":true,"Sub":"mallory","sub":"alice"}`, introspected{Active: true, Subject: "alice"}},
	}
	for _, tc := range good {
		got, err := parseIntrospection([]byte(tc.body))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tc.body, got, err, tc.want)
		}
	}
	for _, body := range []string{
		`{"active":true}{"active":false}`, `{"active":1}`, `{"active":null}`, `{"active":"true"}`, `{}`, `null`, `[]`, ``,
		`{"active":true,"scope":["a"]}`, `{"active":true,"sub":5}`, `{"active":true,"aud":[1]}`, `{"active":true,"aud":{}}`,
		`{"active":true,"exp":"1700000000"}`, `{"active":true,"exp":-5}`, `{"active":true,"exp":0}`, `{"active":true,"exp":1e300}`,
		// Not I-JSON (RFC 7493): read one way here, another elsewhere.
		`{"active":false,"active":true}`, `{"active":true,"sub":"alice","sub":"admin"}`, `{"active":true,"sub":"\ud800"}`,
		"{\"active\":true,\"sub\":\"\xff\"}", `{"active":true,"exp":1e400}`, `{"active":true,"exp":17000000000000001}`,
	} {
		_, err := parseIntrospection([]byte(body))
		if err == nil || !errors.Is(err, errMalformedIntrospection) {
			t.Errorf("%s: error %v, want a malformed-response error", body, err)
		}
	}
}

// FuzzParseIntrospection: any body parses or fails cleanly; an accepted
// result keeps its invariants.
// The seed corpus is in testdata/fuzz/FuzzParseIntrospection.
func FuzzParseIntrospection(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := parseIntrospection(body)
		if err != nil {
			if !errors.Is(err, errMalformedIntrospection) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if !got.Active && (got.Subject != "" || got.ClientID != "" || got.Scopes != nil || got.Audience != nil || got.Exp != 0) {
			t.Fatalf("inactive result carries members: %+v", got)
		}
		if got.Exp < 0 || got.Exp > 1<<40 {
			t.Fatalf("exp %d out of range", got.Exp)
		}
		for _, s := range got.Scopes {
			if s == "" || strings.ContainsAny(s, " \t\r\n") {
				t.Fatalf("scope %q", s)
			}
		}
		var v map[string]any
		if json.Unmarshal(body, &v) != nil {
			// parseIntrospection accepts only what encoding/json does
			// (one object, optionally followed by white space).
			t.Fatalf("accepted a body encoding/json refuses: %q", body)
		}
	})
}

// BenchmarkIntrospectionCachedHit is the per-request cost of a token whose
// introspection result is cached.
func BenchmarkIntrospectionCachedHit(b *testing.B) {
	idp := newFakeIDP(b, false)
	tok := strings.Repeat("opaque-token_", 4)
	idp.set(tok, `{"active":true,"sub":"alice","scope":"orders:read orders:write","aud":"api"}`)
	p := idpPolicy(b, idp.srv.URL, "required_scopes: [orders:read], audience: api, forward_token: true", nil)
	c := bearerCtx(tok)
	if prob := p.Handle(c); prob != nil {
		b.Fatal(prob.Reason)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Identity = nil
		if prob := p.Handle(c); prob != nil {
			b.Fatal(prob.Reason)
		}
	}
	if idp.callCount() != 1 {
		b.Fatalf("%d calls", idp.callCount())
	}
}
