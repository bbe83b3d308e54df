package e2e

// OAuth2 token introspection (RFC 7662) through the real binary, against
// an introspection endpoint on loopback that checks the gateway's client
// credentials: active and inactive tokens, scopes, fail closed when the
// endpoint is down, and the result cache (reused, never beyond exp).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	introClientID     = "portcullis"
	introClientSecret = "intro-s3cret/+="
)

// introServer is an RFC 7662 endpoint answering from a table of tokens.
type introServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers map[string]string
	calls   map[string]int
	misuse  []string
}

func newIntroServer(t testing.TB) *introServer {
	t.Helper()
	s := &introServer{answers: map[string]string{}, calls: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *introServer) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	// The id and secret are form-encoded inside Basic (RFC 6749 2.3.1).
	if !ok || user != introClientID || pass != "intro-s3cret%2F%2B%3D" || r.Method != http.MethodPost {
		s.mu.Lock()
		s.misuse = append(s.misuse, fmt.Sprintf("%s with credentials %q", r.Method, user))
		s.mu.Unlock()
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	s.calls[tok]++
	body, ok := s.answers[tok]
	s.mu.Unlock()
	if !ok {
		body = `{"active":false}`
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

func (s *introServer) set(tok, body string) {
	s.mu.Lock()
	s.answers[tok] = body
	s.mu.Unlock()
}

func (s *introServer) callsFor(tok string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[tok]
}

func introConfig(up *Upstream, endpoint, deadEndpoint string) GatewayConfig {
	return GatewayConfig(fmt.Sprintf(`version: 1
listeners: [{name: public, address: "{{public}}"}]
services: [{name: svc, targets: [{url: %q}]}]
consumers:
  - {name: alice, groups: [admins, staff]}
routes:
  - name: orders
    paths: [{prefix: /orders}]
    service: svc
    policies:
      - kind: auth
        methods:
          - introspection:
              url: %q
              client_id: %s
              client_secret: "${env:PORTCULLIS_E2E_INTRO_SECRET}"
              required_scopes: [orders:read]
              audience: orders-api
              cache_ttl: 5m
  - name: uncached
    paths: [{prefix: /uncached}]
    service: svc
    policies:
      - kind: auth
        methods:
          - introspection: {url: %[2]q, client_id: %[3]s, client_secret: "${env:PORTCULLIS_E2E_INTRO_SECRET}", audience: orders-api, cache_ttl: 0s}
  - name: down
    paths: [{prefix: /down}]
    service: svc
    policies:
      - kind: auth
        methods:
          - introspection: {url: %q, client_id: %s, client_secret: "${env:PORTCULLIS_E2E_INTRO_SECRET}", timeout: 1s}
ops: {address: "{{ops}}"}
`, up.URL, endpoint, introClientID, deadEndpoint, introClientID))
}

// introGet sends GET path with a bearer token (none when tok is "") and a
// forged identity header.
func introGet(t testing.TB, gw *Gateway, path, tok string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", gw.URL(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	req.Header.Set("X-Consumer-Name", "forged")
	req.Header.Set("X-Consumer-Groups", "admins")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// introExpectRefused asserts a problem answer with status and challenge,
// and that the upstream received nothing.
func introExpectRefused(t testing.TB, up *Upstream, resp *http.Response, body string, status int, challenge string) {
	t.Helper()
	var p struct {
		Status int `json:"status"`
	}
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal([]byte(body), &p) != nil || p.Status != status {
		t.Fatalf("status %d type %q body %q, want a %d problem", resp.StatusCode, resp.Header.Get("Content-Type"), body, status)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != challenge {
		t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
	}
	if n := up.Count(); n != 0 {
		t.Fatalf("the upstream received %d request(s)", n)
	}
}

func TestAuthIntrospection(t *testing.T) {
	t.Setenv("PORTCULLIS_E2E_INTRO_SECRET", introClientSecret)
	idp := newIntroServer(t)
	up := NewUpstream(t, nil)
	gw := StartGateway(t, introConfig(up, idp.srv.URL, "http://"+freeAddr(t)+"/introspect"))
	hour := time.Now().Add(time.Hour).Unix()

	idp.set("tok-alice", fmt.Sprintf(`{"active":true,"sub":"alice","scope":"orders:read orders:write","aud":"orders-api","exp":%d}`, hour))
	idp.set("tok-svc", fmt.Sprintf(`{"active":true,"sub":"billing-service","scope":"orders:read","aud":["orders-api"],"exp":%d}`, hour))
	idp.set("tok-noscope", fmt.Sprintf(`{"active":true,"sub":"alice","scope":"profile","aud":"orders-api","exp":%d}`, hour))

	t.Run("active token", func(t *testing.T) {
		up.Reset()
		resp, body := introGet(t, gw, "/orders/1", "tok-alice")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("status %d body %q", resp.StatusCode, body)
		}
		sum := sha256.Sum256([]byte("tok-alice"))
		h := up.Last(t).Header
		for k, v := range map[string]string{
			"X-Consumer-Name": "alice", "X-Consumer-Groups": "admins,staff",
			"X-Credential-Id": hex.EncodeToString(sum[:8]), "X-Auth-Method": "introspection",
		} {
			if got := h.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("upstream %s = %q, want %q", k, got, v)
			}
		}
		if len(h.Values("Authorization")) != 0 {
			t.Errorf("the token was forwarded: %q", h.Values("Authorization"))
		}
	})
	t.Run("subject that is not a configured consumer", func(t *testing.T) {
		up.Reset()
		resp, _ := introGet(t, gw, "/orders/1", "tok-svc")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		h := up.Last(t).Header
		if h.Get("X-Consumer-Name") != "billing-service" || len(h.Values("X-Consumer-Groups")) != 0 {
			t.Errorf("consumer %q groups %q: the forged groups must not survive", h.Get("X-Consumer-Name"), h.Values("X-Consumer-Groups"))
		}
	})
	t.Run("inactive token", func(t *testing.T) {
		up.Reset()
		resp, body := introGet(t, gw, "/orders/1", "tok-revoked")
		introExpectRefused(t, up, resp, body, 401, `Bearer error="invalid_token"`)
	})
	t.Run("insufficient scope", func(t *testing.T) {
		up.Reset()
		resp, body := introGet(t, gw, "/orders/1", "tok-noscope")
		introExpectRefused(t, up, resp, body, 403, `Bearer error="insufficient_scope", scope="orders:read"`)
	})
	t.Run("no token", func(t *testing.T) {
		up.Reset()
		resp, body := introGet(t, gw, "/orders/1", "")
		introExpectRefused(t, up, resp, body, 401, "Bearer")
	})
	t.Run("endpoint down: fail closed", func(t *testing.T) {
		up.Reset()
		resp, body := introGet(t, gw, "/down/1", "tok-alice")
		introExpectRefused(t, up, resp, body, 401, "Bearer")
		if !gw.WaitLog("introspection endpoint unavailable", 5*time.Second) {
			t.Error("the cause was not logged")
		}
		// The request's access line must be written before its absence of
		// secrets means anything.
		if rid := resp.Header.Get("X-Request-Id"); rid == "" || !gw.WaitAccessLog(`"request_id":"`+rid+`"`, 5*time.Second) {
			t.Fatalf("no access line for request %q", rid)
		}
		if ls := gw.Stderr.String() + gw.Stdout.String(); strings.Contains(ls, introClientSecret) || strings.Contains(ls, "tok-alice") {
			t.Error("the log holds the client secret or the token")
		}
	})
	t.Run("cache", func(t *testing.T) {
		before := idp.callsFor("tok-alice")
		for range 3 {
			if resp, _ := introGet(t, gw, "/orders/2", "tok-alice"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if got := idp.callsFor("tok-alice"); got != before {
			t.Fatalf("%d more introspection calls for a cached token", got-before)
		}
		// The inactive result is cached briefly too.
		before = idp.callsFor("tok-revoked")
		introGet(t, gw, "/orders/1", "tok-revoked")
		if got := idp.callsFor("tok-revoked"); got != before {
			t.Fatalf("%d more calls for a recently inactive token", got-before)
		}
	})
	// cache_ttl: 0s is no cache for an active answer (it used to become
	// the default 5m): a token revoked at the server is refused at the
	// next request, even one another route with a cache has cached.
	t.Run("cache_ttl 0s: a revocation applies at the next request", func(t *testing.T) {
		idp.set("tok-bob", fmt.Sprintf(`{"active":true,"sub":"bob","scope":"orders:read","aud":"orders-api","exp":%d}`, hour))
		if resp, _ := introGet(t, gw, "/orders/4", "tok-bob"); resp.StatusCode != 200 {
			t.Fatalf("status %d on the cached route", resp.StatusCode)
		}
		up.Reset()
		for i := range 3 {
			if resp, _ := introGet(t, gw, "/uncached/1", "tok-bob"); resp.StatusCode != 200 {
				t.Fatalf("request %d: status %d", i, resp.StatusCode)
			}
		}
		if got := idp.callsFor("tok-bob"); got != 4 {
			t.Fatalf("%d introspection calls, want 1 for the cached route and 3 for the uncached one", got)
		}
		if n := up.Count(); n != 3 {
			t.Fatalf("the upstream saw %d requests, want 3", n)
		}
		idp.set("tok-bob", `{"active":false}`)
		up.Reset()
		resp, body := introGet(t, gw, "/uncached/1", "tok-bob")
		introExpectRefused(t, up, resp, body, 401, `Bearer error="invalid_token"`)
		// The inactive answer is still kept briefly: a flood of a refused
		// token costs one call per 10 s.
		resp, body = introGet(t, gw, "/uncached/1", "tok-bob")
		introExpectRefused(t, up, resp, body, 401, `Bearer error="invalid_token"`)
		if got := idp.callsFor("tok-bob"); got != 5 {
			t.Fatalf("%d introspection calls, want 5 (the inactive answer reused)", got)
		}
	})
	t.Run("cache never outlives exp", func(t *testing.T) {
		exp := time.Now().Add(2 * time.Second).Unix()
		idp.set("tok-short", fmt.Sprintf(`{"active":true,"sub":"alice","scope":"orders:read","aud":"orders-api","exp":%d}`, exp))
		for range 2 {
			if resp, _ := introGet(t, gw, "/orders/3", "tok-short"); resp.StatusCode != 200 {
				t.Fatalf("status %d before exp", resp.StatusCode)
			}
		}
		if got := idp.callsFor("tok-short"); got != 1 {
			t.Fatalf("%d calls before exp, want 1", got)
		}
		// Waiting for the wall clock is the point of this test: exp is
		// whole seconds, so at most ~2 s.
		time.Sleep(time.Until(time.Unix(exp, 0)) + 50*time.Millisecond)
		idp.set("tok-short", `{"active":false}`)
		up.Reset()
		resp, body := introGet(t, gw, "/orders/3", "tok-short")
		introExpectRefused(t, up, resp, body, 401, `Bearer error="invalid_token"`)
		if got := idp.callsFor("tok-short"); got != 2 {
			t.Fatalf("%d calls, want the endpoint asked again after exp", got)
		}
	})
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if len(idp.misuse) > 0 {
		t.Fatalf("the endpoint saw bad client credentials: %v", idp.misuse)
	}
}
