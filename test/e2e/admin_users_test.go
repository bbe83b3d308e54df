package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Administrators (people) and their sessions, through the real binary's
// admin listener: the login needs the password and a second factor, a
// TOTP code or recovery code works once, sessions end, cookies cannot be
// forged, writes need the session's CSRF token from the same origin,
// guessing is slowed, refused and reported. Machine tokens: expiry,
// client networks, last use.

const sessionCookieName = "__Host-portcullis-admin"

// sqliteKeyStore is an admin.store block on a fresh SQLite file with a
// master key (a TOTP secret is sealed under it).
func sqliteKeyStore(t *testing.T) string {
	dir := t.TempDir()
	mk := filepath.Join(dir, "mk")
	if err := os.WriteFile(mk, []byte(randHex(32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`{driver: sqlite, path: %q, master_key: "${file:%s}", poll_interval: 200ms}`, filepath.Join(dir, "store.db"), mk)
}

// adminPerson is an administrator made through the API, with what the
// enrolment showed once.
type adminPerson struct {
	name, password, secret string
	codes                  []string
	mu                     sync.Mutex
	lastStep               int64
}

func createPerson(t *testing.T, n *adminNode, name, role string) *adminPerson {
	t.Helper()
	pw := "correct horse " + randHex(8)
	r := n.mustAPI(t, 201, "POST", "/admin/users", map[string]any{"name": name, "role": role, "password": pw})
	if bytes.Contains(r.Body, []byte(pw)) {
		t.Fatal("the creation answer repeats the password")
	}
	enr, _ := r.JSON(t)["enrolment"].(map[string]any)
	uri, _ := enr["otpauth_uri"].(string)
	key, err := otp.NewKeyFromURL(uri)
	if err != nil || key.Type() != "totp" || key.AccountName() != name {
		t.Fatalf("enrolment URI %q: %v", uri, err)
	}
	qr, _ := enr["qr_png"].(string)
	raw, err := base64.StdEncoding.DecodeString(qr)
	if err != nil {
		t.Fatalf("qr_png is not base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() < 100 {
		t.Fatalf("qr_png is not a PNG image: %v", err)
	}
	p := &adminPerson{name: name, password: pw, secret: key.Secret()}
	for _, c := range enr["recovery_codes"].([]any) {
		p.codes = append(p.codes, c.(string))
	}
	if len(p.codes) != 10 {
		t.Fatalf("%d recovery codes", len(p.codes))
	}
	if got := n.mustAPI(t, 200, "GET", "/admin/users/"+name, nil); bytes.Contains(got.Body, []byte(p.secret)) || bytes.Contains(got.Body, []byte(p.codes[0])) || bytes.Contains(got.Body, []byte("otpauth")) {
		t.Fatalf("a read shows the second factor again: %s", got.Body)
	}
	return p
}

// code is a TOTP code for a step no login of this test used yet: the
// current step, else the next one (the server accepts one step of drift).
func (p *adminPerson) code(t *testing.T) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	step := max(time.Now().Unix()/30, p.lastStep+1)
	if step > time.Now().Unix()/30+1 {
		// Both usable steps are spent: wait for the next one.
		time.Sleep(time.Until(time.Unix((p.lastStep)*30, 0)) + 100*time.Millisecond)
		step = max(time.Now().Unix()/30, p.lastStep+1)
	}
	p.lastStep = step
	return codeAt(t, p.secret, step)
}

func codeAt(t *testing.T, secret string, step int64) string {
	c, err := totp.GenerateCodeCustom(secret, time.Unix(step*30, 0), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// session is a logged-in administrator's cookie and CSRF token.
type session struct {
	addr, cookie, csrf string
}

// loginRaw posts a login body; it returns the answer and the session
// cookie it set ("" when none).
func loginRaw(t *testing.T, addr string, body any, hdr ...string) (apiResp, string) {
	t.Helper()
	r := api(t, addr, "", "POST", "/admin/login", body, hdr...)
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == sessionCookieName && c.Value != "" {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
				t.Fatalf("session cookie attributes: %s", r.Header.Get("Set-Cookie"))
			}
			return r, c.Value
		}
	}
	return r, ""
}

func login(t *testing.T, addr string, p *adminPerson) *session {
	t.Helper()
	r, cookie := loginRaw(t, addr, map[string]any{"user": p.name, "password": p.password, "code": p.code(t)})
	if r.Status != 200 || cookie == "" {
		t.Fatalf("login of %s: %d %s", p.name, r.Status, r.Body)
	}
	return &session{addr: addr, cookie: cookie, csrf: r.Str(t, "csrf_token")}
}

// call sends a request with the session cookie; csrf adds the token.
func (s *session) call(t *testing.T, method, path string, body any, csrf bool, hdr ...string) apiResp {
	t.Helper()
	h := append([]string{"Cookie", sessionCookieName + "=" + s.cookie}, hdr...)
	if csrf {
		h = append(h, "X-CSRF-Token", s.csrf)
	}
	return api(t, s.addr, "", method, path, body, h...)
}

func loginBody(p *adminPerson, code string) map[string]any {
	return map[string]any{"user": p.name, "password": p.password, "code": code}
}

// TestAdminLoginRefusesWithoutSecondFactor: the right password alone, or
// with an empty code, starts no session; a wrong password with a right
// code neither.
func TestAdminLoginRefusesWithoutSecondFactor(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	p := createPerson(t, n, "alice", "admin")
	for _, tc := range []struct {
		desc string
		body map[string]any
		want int
	}{
		{"password only", map[string]any{"user": "alice", "password": p.password}, 400},
		{"empty code", map[string]any{"user": "alice", "password": p.password, "code": ""}, 400},
		{"wrong password, right code", map[string]any{"user": "alice", "password": "not the password", "code": p.code(t)}, 401},
		{"unknown user", map[string]any{"user": "mallory", "password": p.password, "code": p.code(t)}, 401},
	} {
		r, cookie := loginRaw(t, n.AdminAddr, tc.body)
		if r.Status != tc.want || cookie != "" {
			t.Errorf("%s: %d (cookie %v), want %d: %s", tc.desc, r.Status, cookie != "", tc.want, r.Body)
		}
	}
	// Without a session, the API answers nothing.
	if r := api(t, n.AdminAddr, "", "GET", "/admin/session", nil); r.Status != 401 {
		t.Fatalf("no credentials: %d", r.Status)
	}
	s := login(t, n.AdminAddr, p)
	if r := s.call(t, "GET", "/admin/session", nil, false); r.Status != 200 || r.Str(t, "kind") != "user" || r.Str(t, "name") != "alice" || r.Str(t, "role") != "admin" {
		t.Fatalf("whoami: %d %s", r.Status, r.Body)
	}
}

// TestAdminLoginRefusesWrongTOTPCode: a code of another secret, an old
// step and a malformed code are refused.
func TestAdminLoginRefusesWrongTOTPCode(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	p := createPerson(t, n, "alice", "operator")
	other := createPerson(t, n, "bob", "operator")
	now := time.Now().Unix() / 30
	right := codeAt(t, p.secret, now)
	for _, tc := range []struct{ desc, code string }{
		{"another user's code", codeAt(t, other.secret, now)},
		{"a code ten minutes old", codeAt(t, p.secret, now-20)},
		{"a code ten minutes ahead", codeAt(t, p.secret, now+20)},
		{"too short", right[:5]},
		{"not digits", "abcdef"},
	} {
		if tc.code == right {
			continue // a coincidence of 6 digits
		}
		r, cookie := loginRaw(t, n.AdminAddr, loginBody(p, tc.code))
		if r.Status != 401 || cookie != "" {
			t.Errorf("%s: %d %s", tc.desc, r.Status, r.Body)
		}
	}
}

// TestAdminLoginRefusesReusedTOTPCode: a code that logged in once is
// refused the second time, on the same node (SQLite) and on another node
// of the cluster (PostgreSQL), within its 30-second window.
func TestAdminLoginRefusesReusedTOTPCode(t *testing.T) {
	up := NewUpstream(t, nil)
	t.Run("sqlite", func(t *testing.T) {
		n := startAdminNode(t, up, adminOpts{store: sqliteKeyStore(t)})
		p := createPerson(t, n, "alice", "admin")
		code := p.code(t)
		if r, c := loginRaw(t, n.AdminAddr, loginBody(p, code)); r.Status != 200 || c == "" {
			t.Fatalf("first use: %d %s", r.Status, r.Body)
		}
		if r, c := loginRaw(t, n.AdminAddr, loginBody(p, code)); r.Status != 401 || c != "" {
			t.Fatalf("second use of the code: %d %s", r.Status, r.Body)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		// Two nodes on one PostgreSQL schema, with a master key.
		schema := "t_e2e_" + randHex(6)
		t.Cleanup(func() { dropPGSchema(pgDSN(), schema) })
		mk := filepath.Join(t.TempDir(), "mk")
		_ = os.WriteFile(mk, []byte(randHex(32)), 0o600)
		store := fmt.Sprintf(`{driver: postgres, dsn: %q, schema: %s, master_key: "${file:%s}", poll_interval: 1s}`, pgDSN(), schema, mk)
		a := startAdminNode(t, up, adminOpts{store: store})
		b := startAdminNode(t, up, adminOpts{store: store, noBootstrap: true})
		b.Token = a.Token
		p := createPerson(t, a, "alice", "admin")
		code := p.code(t)
		if r, c := loginRaw(t, a.AdminAddr, loginBody(p, code)); r.Status != 200 || c == "" {
			t.Fatalf("first use on node A: %d %s", r.Status, r.Body)
		}
		if r, c := loginRaw(t, b.AdminAddr, loginBody(p, code)); r.Status != 401 || c != "" {
			t.Fatalf("the same code on node B: %d %s", r.Status, r.Body)
		}
	})
}

// TestAdminSessionWorksOnEveryNodeAndLogoutEndsIt: the store keeps the
// session (PostgreSQL), so a login on node A is valid on node B, and a
// logout on B ends it on A.
func TestAdminSessionWorksOnEveryNodeAndLogoutEndsIt(t *testing.T) {
	up := NewUpstream(t, nil)
	schema := "t_e2e_" + randHex(6)
	t.Cleanup(func() { dropPGSchema(pgDSN(), schema) })
	mk := filepath.Join(t.TempDir(), "mk")
	_ = os.WriteFile(mk, []byte(randHex(32)), 0o600)
	store := fmt.Sprintf(`{driver: postgres, dsn: %q, schema: %s, master_key: "${file:%s}", poll_interval: 1s}`, pgDSN(), schema, mk)
	a := startAdminNode(t, up, adminOpts{store: store})
	b := startAdminNode(t, up, adminOpts{store: store, noBootstrap: true})
	p := createPerson(t, a, "alice", "operator")
	s := login(t, a.AdminAddr, p)
	onB := &session{addr: b.AdminAddr, cookie: s.cookie, csrf: s.csrf}
	if r := onB.call(t, "POST", "/admin/consumers", map[string]any{"name": "from-b"}, true); r.Status != 201 {
		t.Fatalf("a write on node B with node A's session: %d %s", r.Status, r.Body)
	}
	if r := onB.call(t, "POST", "/admin/logout", nil, true); r.Status != 204 {
		t.Fatalf("logout on B: %d %s", r.Status, r.Body)
	}
	if r := s.call(t, "GET", "/admin/session", nil, false); r.Status != 401 {
		t.Fatalf("the session on A after logout on B: %d", r.Status)
	}
}

// TestAdminLoginFailuresCountedOverNodes: failed logins on node A count
// on node B (PostgreSQL): spreading guesses over the nodes gains nothing.
func TestAdminLoginFailuresCountedOverNodes(t *testing.T) {
	up := NewUpstream(t, nil)
	schema := "t_e2e_" + randHex(6)
	t.Cleanup(func() { dropPGSchema(pgDSN(), schema) })
	mk := filepath.Join(t.TempDir(), "mk")
	_ = os.WriteFile(mk, []byte(randHex(32)), 0o600)
	store := fmt.Sprintf(`{driver: postgres, dsn: %q, schema: %s, master_key: "${file:%s}", poll_interval: 1s}`, pgDSN(), schema, mk)
	a := startAdminNode(t, up, adminOpts{store: store})
	b := startAdminNode(t, up, adminOpts{store: store, noBootstrap: true})
	p := createPerson(t, a, "alice", "admin")
	for i := 1; i <= 8; i++ {
		node := a
		if i%2 == 0 {
			node = b
		}
		if r, _ := loginRaw(t, node.AdminAddr, map[string]any{"user": "alice", "password": "guess", "code": "123456"}); r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	for _, node := range []*adminNode{a, b} {
		if r, c := loginRaw(t, node.AdminAddr, loginBody(p, p.code(t))); r.Status != 429 || c != "" {
			t.Fatalf("the right login after 8 failures spread over two nodes: %d %s", r.Status, r.Body)
		}
	}
}

// TestAdminSessionRefusedAfterExpiry: a session ends after its idle
// timeout without requests, and after its lifetime even when used.
func TestAdminSessionRefusedAfterExpiry(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t), extra: "  sessions: {idle_timeout: 2s, lifetime: 6s}\n"})
	t.Run("idle", func(t *testing.T) {
		p := createPerson(t, n, "idler", "viewer")
		s := login(t, n.AdminAddr, p)
		if r := s.call(t, "GET", "/admin/session", nil, false); r.Status != 200 {
			t.Fatalf("fresh session: %d", r.Status)
		}
		time.Sleep(3 * time.Second) // past the idle timeout
		if r := s.call(t, "GET", "/admin/session", nil, false); r.Status != 401 {
			t.Fatalf("after the idle timeout: %d %s", r.Status, r.Body)
		}
	})
	t.Run("lifetime", func(t *testing.T) {
		p := createPerson(t, n, "busy", "viewer")
		start := time.Now()
		s := login(t, n.AdminAddr, p)
		okAfterIdle := false
		for {
			r := s.call(t, "GET", "/admin/session", nil, false)
			el := time.Since(start)
			if r.Status == 401 {
				if el < 5*time.Second {
					t.Fatalf("refused after %v, before the lifetime (6s)", el)
				}
				break
			}
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			okAfterIdle = okAfterIdle || el > 3*time.Second
			if el > 60*time.Second {
				t.Fatal("the session outlived its lifetime")
			}
			time.Sleep(300 * time.Millisecond)
		}
		if !okAfterIdle {
			t.Fatal("the session was never used past the idle timeout: the lifetime was not what ended it")
		}
	})
}

// TestAdminSessionRefusesForgedCookie: cookies this API did not issue, or
// an issued one altered, are refused, and the write they carried did not
// happen.
func TestAdminSessionRefusesForgedCookie(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	p := createPerson(t, n, "alice", "admin")
	s := login(t, n.AdminAddr, p)
	flip := changedAt(s.cookie, 10)
	for _, tc := range []struct{ desc, cookie string }{
		{"random value of the right form", base64.RawURLEncoding.EncodeToString([]byte(randHex(16)))},
		{"issued cookie with one character changed", flip},
		{"the admin token as a cookie", n.Token},
		{"the CSRF token as a cookie", s.csrf},
		{"empty", ""},
		{"oversized", strings.Repeat("A", 4000)},
	} {
		f := &session{addr: n.AdminAddr, cookie: tc.cookie, csrf: s.csrf}
		if r := f.call(t, "POST", "/admin/consumers", map[string]any{"name": "forged"}, true); r.Status != 401 {
			t.Errorf("%s: %d %s", tc.desc, r.Status, r.Body)
		}
	}
	n.mustAPI(t, 404, "GET", "/admin/consumers/forged", nil)
	if r := s.call(t, "GET", "/admin/session", nil, false); r.Status != 200 {
		t.Fatalf("the real session: %d", r.Status)
	}
}

// TestAdminSessionRefusesCrossSiteWrite: a write made with a session needs
// its CSRF token and must come from the API's own origin; reads need
// neither. Nothing a refused write asked for happens.
func TestAdminSessionRefusesCrossSiteWrite(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	p := createPerson(t, n, "alice", "admin")
	s := login(t, n.AdminAddr, p)
	other := createPerson(t, n, "bob", "admin")
	s2 := login(t, n.AdminAddr, other)
	for _, tc := range []struct {
		desc string
		csrf string
		hdr  []string
	}{
		{"no CSRF token", "", nil},
		{"wrong CSRF token", changedAt(s.csrf, 0), nil},
		{"another session's CSRF token", s2.csrf, nil},
		{"right token, foreign Origin", s.csrf, []string{"Origin", "https://evil.example"}},
		{"right token, Sec-Fetch-Site cross-site", s.csrf, []string{"Sec-Fetch-Site", "cross-site"}},
		{"right token, same-site sibling", s.csrf, []string{"Sec-Fetch-Site", "same-site"}},
	} {
		h := append([]string{}, tc.hdr...)
		if tc.csrf != "" {
			h = append(h, "X-CSRF-Token", tc.csrf)
		}
		for _, w := range []struct{ method, path string }{{"POST", "/admin/consumers"}, {"DELETE", "/admin/users/bob"}, {"POST", "/admin/logout"}} {
			if r := s.call(t, w.method, w.path, map[string]any{"name": "csrf"}, false, h...); r.Status != 403 {
				t.Errorf("%s, %s %s: %d %s", tc.desc, w.method, w.path, r.Status, r.Body)
			}
		}
	}
	n.mustAPI(t, 404, "GET", "/admin/consumers/csrf", nil)
	n.mustAPI(t, 200, "GET", "/admin/users/bob", nil)
	// A foreign page cannot log a browser in either.
	if r, c := loginRaw(t, n.AdminAddr, loginBody(p, p.code(t)), "Origin", "https://evil.example"); r.Status != 403 || c != "" {
		t.Errorf("cross-origin login: %d %s", r.Status, r.Body)
	}
	// Reads need no token; the same-origin write with the token works.
	if r := s.call(t, "GET", "/admin/consumers", nil, false); r.Status != 200 {
		t.Fatalf("read: %d", r.Status)
	}
	if r := s.call(t, "POST", "/admin/consumers", map[string]any{"name": "csrf"}, true, "Origin", "http://"+n.AdminAddr, "Sec-Fetch-Site", "same-origin"); r.Status != 201 {
		t.Fatalf("same-origin write with the token: %d %s", r.Status, r.Body)
	}
}

// TestAdminLoginBruteForceSlowedRefusedAndReported: failed logins for one
// user are answered more slowly past three, refused with 429 past eight
// (the right password and code too), and each is a security event that
// never carries the password; another user is not locked out.
func TestAdminLoginBruteForceSlowedRefusedAndReported(t *testing.T) {
	evFile := filepath.Join(t.TempDir(), "events.jsonl")
	extra := fmt.Sprintf("observability:\n  security_events:\n    output: %s\n", evFile)
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t), extra: extra})
	p := createPerson(t, n, "alice", "admin")
	other := createPerson(t, n, "carol", "viewer")
	var took []time.Duration
	for i := 1; i <= 8; i++ {
		start := time.Now()
		r, c := loginRaw(t, n.AdminAddr, map[string]any{"user": "alice", "password": "guess-" + strconv.Itoa(i), "code": "123456"})
		took = append(took, time.Since(start))
		if r.Status != 401 || c != "" {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	// The 4th guess waits one step (250ms), the 8th five.
	if took[3] < 250*time.Millisecond || took[7] < 1250*time.Millisecond {
		t.Fatalf("guesses were not slowed: %v", took)
	}
	r, c := loginRaw(t, n.AdminAddr, loginBody(p, p.code(t)))
	if r.Status != 429 || c != "" {
		t.Fatalf("the right login after 8 failures: %d %s", r.Status, r.Body)
	}
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 15*60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Another user from the same address is not locked out.
	login(t, n.AdminAddr, other)

	var failed, refused int
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		failed, refused = 0, 0
		for _, ev := range readEventLines(t, evFile) {
			if ev["category"] != "authentication" || ev["route"] != "admin" || ev["consumer"] != "alice" || ev["client"] != "127.0.0.1" {
				continue
			}
			switch ev["reason"] {
			case "admin login failed":
				failed++
			case "admin login refused: too many failed logins":
				refused++
			}
		}
		if failed >= 8 && refused >= 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if failed != 8 || refused != 1 {
		t.Fatalf("security events: %d failed, %d refused", failed, refused)
	}
	raw, _ := os.ReadFile(evFile)
	if bytes.Contains(raw, []byte("guess-")) || bytes.Contains(raw, []byte(p.password)) {
		t.Fatal("a password is in the security events")
	}
	if logs := n.Stderr.String(); strings.Contains(logs, "guess-") || strings.Contains(logs, p.password) {
		t.Fatal("a password is in the log")
	}
}

// TestAdminLoginLimitHoldsUnderParallelGuesses: guesses sent at once
// cannot all slip under the limit: every attempt is counted before it is
// checked, so of 20 parallel guesses at one user at most 8 are checked
// (401) and the rest are refused (429).
func TestAdminLoginLimitHoldsUnderParallelGuesses(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	createPerson(t, n, "alice", "admin")
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _ := loginRaw(t, n.AdminAddr, map[string]any{"user": "alice", "password": "guess-" + strconv.Itoa(i), "code": "123456"})
			statuses[i] = r.Status
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[401] > 8 || count[401]+count[429] != 20 {
		t.Fatalf("answers to 20 parallel guesses: %v", count)
	}
}

// TestAdminLoginRateLimitedPerClientAddress: guesses spread over many user
// names from one address are slowed and then refused for every name from
// that address.
func TestAdminLoginRateLimitedPerClientAddress(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	p := createPerson(t, n, "alice", "admin")
	for i := 1; i <= 15; i++ {
		if r, _ := loginRaw(t, n.AdminAddr, map[string]any{"user": "user" + strconv.Itoa(i), "password": "guess", "code": "123456"}); r.Status != 401 {
			t.Fatalf("guess %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r, c := loginRaw(t, n.AdminAddr, loginBody(p, p.code(t))); r.Status != 429 || c != "" {
		t.Fatalf("a right login from the guessing address: %d %s", r.Status, r.Body)
	}
}

// TestAdminLoginFailuresFeedIntrusionDetection: failed logins are
// auth_failure events for intrusion detection; once it bans the address,
// the login refuses it (even with the right password and code).
func TestAdminLoginFailuresFeedIntrusionDetection(t *testing.T) {
	extra := "intrusion_detection:\n  rules: [{event: auth_failure, threshold: 3, window: 1m, ban: 1m}]\n"
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t), extra: extra})
	p := createPerson(t, n, "alice", "admin")
	for i := 1; i <= 3; i++ {
		if r, _ := loginRaw(t, n.AdminAddr, map[string]any{"user": "alice", "password": "guess", "code": "123456"}); r.Status != 401 {
			t.Fatalf("guess %d: %d", i, r.Status)
		}
	}
	bans := n.mustAPI(t, 200, "GET", "/admin/bans", nil)
	if !bytes.Contains(bans.Body, []byte(`"127.0.0.1"`)) {
		t.Fatalf("the detector did not ban the guessing address: %s", bans.Body)
	}
	if r, c := loginRaw(t, n.AdminAddr, loginBody(p, p.code(t))); r.Status != 403 || c != "" {
		t.Fatalf("login from a banned address: %d %s", r.Status, r.Body)
	}
}

// TestAdminLoginRecoveryCodeWorksOnce: a recovery code replaces the TOTP
// code for one login; the same code again is refused; the next code
// works; the answer counts what is left.
func TestAdminLoginRecoveryCodeWorksOnce(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	p := createPerson(t, n, "alice", "admin")
	rc := func(code string) (apiResp, string) {
		return loginRaw(t, n.AdminAddr, map[string]any{"user": "alice", "password": p.password, "recovery_code": code})
	}
	r, c := rc(strings.ToUpper(p.codes[0]))
	if r.Status != 200 || c == "" || r.JSON(t)["recovery_codes_left"] != float64(9) {
		t.Fatalf("first use: %d %s", r.Status, r.Body)
	}
	if r, c := rc(p.codes[0]); r.Status != 401 || c != "" {
		t.Fatalf("second use of the code: %d %s", r.Status, r.Body)
	}
	if r, c := rc("aaaa-bbbb-cccc-dddd"); r.Status != 401 || c != "" {
		t.Fatalf("a made-up code: %d %s", r.Status, r.Body)
	}
	if r, c := rc(p.codes[1]); r.Status != 200 || c == "" {
		t.Fatalf("the next code: %d %s", r.Status, r.Body)
	}
	// A new enrolment replaces the codes: an unused old one is refused.
	n.mustAPI(t, 200, "POST", "/admin/users/alice/totp", nil)
	if r, _ := rc(p.codes[2]); r.Status != 401 {
		t.Fatalf("an old code after re-enrolment: %d", r.Status)
	}
}

// TestAdminUsersCLI: `portcullis admin users create` takes the password
// from the environment, prints the enrolment once and writes the QR code
// as a PNG file; the person then logs in.
func TestAdminUsersCLI(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	qr := filepath.Join(t.TempDir(), "alice.png")
	pw := "a long password " + randHex(4)
	res := runCLI(t, []string{"PORTCULLIS_ADMIN_TOKEN=" + n.Token, "PORTCULLIS_ADMIN_USER_PASSWORD=" + pw},
		"admin", "--url", "http://"+n.AdminAddr, "users", "create", "alice", "--role", "operator", "--qr-file", qr)
	if res.code != 0 {
		t.Fatalf("users create: %d %s", res.code, res.stderr)
	}
	f, err := os.Open(qr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("the QR file is not a PNG: %v", err)
	}
	if strings.Contains(res.stdout, pw) || strings.Contains(res.stdout, "qr_png") {
		t.Fatalf("printed: %s", res.stdout)
	}
	i := strings.Index(res.stdout, "otpauth://")
	if i < 0 {
		t.Fatalf("no otpauth URI printed: %s", res.stdout)
	}
	uri := res.stdout[i:]
	uri = uri[:strings.IndexByte(uri, '"')]
	key, err := otp.NewKeyFromURL(strings.ReplaceAll(uri, `\u0026`, "&"))
	if err != nil {
		t.Fatal(err)
	}
	p := &adminPerson{name: "alice", password: pw, secret: key.Secret()}
	s := login(t, n.AdminAddr, p)
	if r := s.call(t, "GET", "/admin/session", nil, false); r.Status != 200 || r.Str(t, "role") != "operator" {
		t.Fatalf("whoami: %d %s", r.Status, r.Body)
	}
	if res := runCLI(t, []string{"PORTCULLIS_ADMIN_TOKEN=" + n.Token}, "admin", "--url", "http://"+n.AdminAddr, "users", "list"); res.code != 0 || !strings.Contains(res.stdout, `"alice"`) {
		t.Fatalf("users list: %d %s %s", res.code, res.stdout, res.stderr)
	}
}

// TestAdminUserRoleEnforced: a viewer administrator reads but cannot
// write; an operator cannot create administrators.
func TestAdminUserRoleEnforced(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{store: sqliteKeyStore(t)})
	v := login(t, n.AdminAddr, createPerson(t, n, "viewer1", "viewer"))
	o := login(t, n.AdminAddr, createPerson(t, n, "operator1", "operator"))
	if r := v.call(t, "GET", "/admin/consumers", nil, false); r.Status != 200 {
		t.Fatalf("viewer read: %d", r.Status)
	}
	if r := v.call(t, "POST", "/admin/consumers", map[string]any{"name": "x"}, true); r.Status != 403 {
		t.Fatalf("viewer write: %d", r.Status)
	}
	if r := o.call(t, "POST", "/admin/users", map[string]any{"name": "eve", "role": "admin", "password": "long enough password"}, true); r.Status != 403 {
		t.Fatalf("operator creates an administrator: %d", r.Status)
	}
	if r := o.call(t, "POST", "/admin/consumers", map[string]any{"name": "x"}, true); r.Status != 201 {
		t.Fatalf("operator write: %d %s", r.Status, r.Body)
	}
}

// TestAdminTokenPastExpiryRefused: a token with an expiry works until it
// and is refused after it.
func TestAdminTokenPastExpiryRefused(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{})
	exp := time.Now().Add(3 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	r := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "short", "role": "viewer", "expires_at": exp.Format(time.RFC3339)})
	tok := r.Str(t, "token")
	if got := api(t, n.AdminAddr, tok, "GET", "/admin/status", nil); got.Status != 200 {
		t.Fatalf("before expiry: %d", got.Status)
	}
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	if got := api(t, n.AdminAddr, tok, "GET", "/admin/status", nil); got.Status != 401 {
		t.Fatalf("after expiry: %d %s", got.Status, got.Body)
	}
	for _, tc := range []struct{ desc, body string }{
		{"expiry in the past", `{"name":"x","role":"viewer","expires_at":"2001-01-01T00:00:00Z"}`},
		{"not a time", `{"name":"x","role":"viewer","expires_at":"tomorrow"}`},
	} {
		if got := n.api(t, "POST", "/admin/tokens", tc.body); got.Status != 400 || got.Str(t, "field") != "expires_at" {
			t.Errorf("%s: %d %s", tc.desc, got.Status, got.Body)
		}
	}
}

// TestAdminTokenOutsideNetworksRefused: a token limited to client networks
// is refused (403) from any other address, and what it asked for does not
// happen; from inside them it works.
func TestAdminTokenOutsideNetworksRefused(t *testing.T) {
	n := startAdminNode(t, NewUpstream(t, nil), adminOpts{})
	out := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "elsewhere", "role": "operator", "networks": []string{"192.0.2.0/24", "2001:db8::/32"}}).Str(t, "token")
	in := n.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "here", "role": "operator", "networks": []string{"127.0.0.0/8"}}).Str(t, "token")
	if r := api(t, n.AdminAddr, out, "POST", "/admin/consumers", map[string]any{"name": "outside"}); r.Status != 403 {
		t.Fatalf("from outside its networks: %d %s", r.Status, r.Body)
	}
	n.mustAPI(t, 404, "GET", "/admin/consumers/outside", nil)
	if r := api(t, n.AdminAddr, in, "POST", "/admin/consumers", map[string]any{"name": "inside"}); r.Status != 201 {
		t.Fatalf("from inside its networks: %d %s", r.Status, r.Body)
	}
	if r := n.api(t, "POST", "/admin/tokens", map[string]any{"name": "bad", "role": "viewer", "networks": []string{"10.0.0.0/33"}}); r.Status != 400 || r.Str(t, "field") != "networks[0]" {
		t.Fatalf("invalid network: %d %s", r.Status, r.Body)
	}
	// Refused by the one address-list rule (config.ParsePrefix), as
	// trusted_proxies and ip_filter refuse it: a zone is not part of a CIDR.
	if r := n.api(t, "POST", "/admin/tokens", map[string]any{"name": "zoned", "role": "viewer", "networks": []string{"fe80::1%eth0/64"}}); r.Status != 400 || r.Str(t, "field") != "networks[0]" {
		t.Fatalf("zoned network: %d %s", r.Status, r.Body)
	}
}

// TestAdminTokenLastUsedShown: the token list shows when and from where
// each token was last used, over every node (PostgreSQL: used on B, shown
// on A).
func TestAdminTokenLastUsedShown(t *testing.T) {
	nodes := startCluster(t, NewUpstream(t, nil), pgDSN(), 2, "")
	a, b := nodes[0], nodes[1]
	r := a.mustAPI(t, 201, "POST", "/admin/tokens", map[string]any{"name": "ci", "role": "viewer"})
	id, tok := r.Str(t, "id"), r.Str(t, "token")
	// The new token is in force on B within a second or so.
	deadline := time.Now().Add(10 * time.Second)
	for api(t, b.AdminAddr, tok, "GET", "/admin/status", nil).Status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the token never worked on node B")
		}
		time.Sleep(100 * time.Millisecond)
	}
	list := a.mustAPI(t, 200, "GET", "/admin/tokens", nil).JSON(t)["items"].([]any)
	found := false
	for _, it := range list {
		m := it.(map[string]any)
		if m["id"] != id {
			continue
		}
		found = true
		lu, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["last_used"]))
		if err != nil || time.Since(lu) > time.Minute || m["last_client"] != "127.0.0.1" {
			t.Fatalf("last use of the token: %v", m)
		}
	}
	if !found {
		t.Fatal("the token is not listed")
	}
}

// changedAt returns v with the character at i replaced by a different one
// of the same alphabet, so the result is always a wrong value of the right
// form (replacing it with a fixed letter gave the value back unchanged
// whenever it already held that letter).
func changedAt(v string, i int) string {
	b := []byte(v)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
