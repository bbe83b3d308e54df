package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/portcullis/portcullis/internal/auth"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/events"
	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/store"
)

// Sessions of administrators, and the defences around the login.
//
//   - A session is a random 256-bit id in a cookie that scripts cannot
//     read (HttpOnly), that is only sent over HTTPS (Secure; browsers
//     also send it to http://localhost) and never with a request another
//     site starts (SameSite=Strict), under the __Host- prefix so no other
//     host or path can set it. The store keeps only the SHA-256 of the id,
//     so every node can check a session and a dump hands out none.
//   - A session ends at logout, after the idle timeout without a request
//     and after its lifetime in any case (admin.sessions).
//   - Cross-site request forgery: every write made with a session must
//     carry the session's CSRF token (returned by the login, stored as a
//     digest) in the X-CSRF-Token header, and must not come from another
//     origin (net/http's CrossOriginProtection: Sec-Fetch-Site, else
//     Origin against Host). The login itself gets the origin check, so a
//     foreign page cannot log a browser in to an attacker's account.
//   - Guessing: login attempts are counted in the store per user and per
//     client address (so every node sees them) over a window, before they
//     are checked (so parallel guesses cannot all pass), and a success is
//     taken back; past a few
//     failures each attempt is answered more slowly, past more it is
//     refused with 429 until the window ends. Every failure is a security
//     event (category authentication) and an auth_failure for intrusion
//     detection, whose bans the login honours.
//   - Replay: a TOTP code is accepted once (the store keeps the last
//     accepted time step per user and accepts only a later one, atomically
//     over every node); a recovery code once.

// SessionCookie names the session cookie.
const SessionCookie = "__Host-portcullis-admin"

// CSRFHeader carries a session's CSRF token on every write.
const CSRFHeader = "X-CSRF-Token"

// Failed-login limits: per user name and per client address, counted
// over loginWindow from the first failure.
const (
	loginWindow      = 15 * time.Minute
	userSlowAfter    = 3  // failures before answers slow down
	userRefuseAfter  = 8  // failures before logins are refused (429)
	addrSlowAfter    = 10 // the same per client address, over all names
	addrRefuseAfter  = 15
	loginDelayStep   = 250 * time.Millisecond // added per failure past the slow threshold
	maxLoginDelay    = 2 * time.Second
	maxLoginUserName = 64
)

// sessionPlane holds what sessions need beyond the store.
type sessionPlane struct {
	idle, lifetime time.Duration
	events         func() *events.Stream
	// dummyHash is checked when the user does not exist, so a login costs
	// the same whether the name exists or not.
	dummyHash string
	cop       *http.CrossOriginProtection
}

func newSessionPlane(o Options) *sessionPlane {
	sp := &sessionPlane{idle: o.Sessions.IdleTimeout.D(), lifetime: o.Sessions.Lifetime.D(), events: o.Events, cop: http.NewCrossOriginProtection()}
	if sp.idle <= 0 {
		sp.idle = 15 * time.Minute
	}
	if sp.lifetime < sp.idle {
		sp.lifetime = max(sp.idle, 8*time.Hour)
	}
	var pw [32]byte
	_, _ = rand.Read(pw[:])
	sp.dummyHash, _ = auth.HashPassword(auth.AlgorithmArgon2id, pw[:], 0)
	return sp
}

func digest(v string) string {
	d := sha256.Sum256([]byte(v))
	return hex.EncodeToString(d[:])
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// sessionPrincipal authenticates a request by its session cookie. A write
// also needs the session's CSRF token and a same-origin request.
func (s *Server) sessionPrincipal(r *http.Request, c *http.Cookie) (principal, *Problem) {
	sp := s.sessions
	// A session id is 43 characters of base64url; anything else is not one
	// this API issued, and is refused without a store read.
	if len(c.Value) != 43 {
		return principal{}, unauthorized("invalid or expired session: log in again")
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(c.Value); err != nil {
		return principal{}, unauthorized("invalid or expired session: log in again")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	id := digest(c.Value)
	se, err := s.st.Session(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, unauthorized("invalid or expired session: log in again")
	}
	if err != nil {
		return principal{}, unavailable()
	}
	// The lookup matched the digest; compare it again in constant time so
	// the decision has no early exit on the secret's value.
	if subtle.ConstantTimeCompare([]byte(se.IDHash), []byte(id)) != 1 {
		return principal{}, unauthorized("invalid or expired session: log in again")
	}
	now := time.Now()
	if !now.Before(se.ExpiresAt) || now.Sub(se.LastSeen) >= sp.idle {
		_ = s.st.DeleteSession(ctx, id)
		return principal{}, unauthorized("invalid or expired session: log in again")
	}
	u, err := s.st.User(ctx, se.User)
	if errors.Is(err, store.ErrNotFound) {
		return principal{}, unauthorized("invalid or expired session: log in again")
	}
	if err != nil {
		return principal{}, unavailable()
	}
	if !safeMethod(r.Method) {
		if p := sp.crossSite(r); p != nil {
			return principal{}, p
		}
		tok := r.Header.Get(CSRFHeader)
		if tok == "" || subtle.ConstantTimeCompare([]byte(digest(tok)), []byte(se.CSRFHash)) != 1 {
			return principal{}, problem(http.StatusForbidden, "a write made with a session needs the session's CSRF token in "+CSRFHeader, "header."+CSRFHeader)
		}
	}
	// Record the use, coarsely: the idle timeout needs no finer clock.
	if now.Sub(se.LastSeen) >= min(sp.idle/10, 30*time.Second) {
		if err := s.st.TouchSession(ctx, id, now); err != nil {
			s.log.Warn("admin: a session's last use could not be recorded", "error", err)
		}
	}
	return principal{kind: KindUser, name: u.Name, role: u.Role, client: clientAddr(r), session: id}, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// crossSite refuses a request a browser made on behalf of another origin.
func (sp *sessionPlane) crossSite(r *http.Request) *Problem {
	if err := sp.cop.Check(r); err != nil {
		return problem(http.StatusForbidden, "cross-origin request refused: the admin API takes writes from its own origin only", "header.Origin")
	}
	return nil
}

type loginInput struct {
	User         string `json:"user"`
	Password     string `json:"password"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// LoginView answers a login: the CSRF token the session's writes carry,
// and when the session ends at the latest.
type LoginView struct {
	User              string `json:"user"`
	Role              string `json:"role"`
	CSRFToken         string `json:"csrf_token"`
	ExpiresAt         string `json:"expires_at"`
	IdleTimeoutSecond int64  `json:"idle_timeout_seconds"`
	// RecoveryCodesLeft is set when a recovery code was used.
	RecoveryCodesLeft *int `json:"recovery_codes_left,omitempty"`
}

// login checks a user's password and second factor and starts a session.
// It is the one endpoint that needs no authentication.
func (s *Server) login(q *request) (int, any) {
	sp := s.sessions
	if p := sp.crossSite(q.r); p != nil {
		return 0, p
	}
	var in loginInput
	if p := q.decode(&in); p != nil {
		return 0, p
	}
	switch {
	case in.User == "" || len(in.User) > maxLoginUserName:
		return 0, badField("user", "user is required (at most %d bytes)", maxLoginUserName)
	case in.Password == "" || len(in.Password) > maxPasswordLen:
		return 0, badField("password", "password is required (at most %d bytes)", maxPasswordLen)
	case in.Code == "" && in.RecoveryCode == "":
		return 0, badField("code", "a second factor is required: code (from the authenticator app) or recovery_code")
	case in.Code != "" && in.RecoveryCode != "":
		return 0, badField("recovery_code", "send code or recovery_code, not both")
	}
	if err := s.rt.StoreError(); err != nil {
		return 0, unavailable()
	}
	client := clientAddr(q.r)
	addr, _ := netip.ParseAddr(client)
	if d := s.rt.Detector(); d != nil && addr.IsValid() && d.Banned(addr) {
		return 0, problem(http.StatusForbidden, "this address is banned", "")
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 10*time.Second)
	defer cancel()
	// The address subject is the client (config.ClientKey): an IPv6
	// client takes any address of its /64, and spraying passwords over
	// many names from fresh addresses must count as one client's.
	subject := client
	if addr.IsValid() {
		subject = config.ClientKey(addr, s.rt.FileConfig().ClientIPv6Bits()).String()
	}
	subjects := []string{"user:" + in.User, "addr:" + subject}
	// Every attempt is counted before it is checked, in one atomic update
	// per subject, so parallel guesses cannot all pass under the limit;
	// an attempt that succeeds is taken back.
	fails, err := s.st.AddLoginFailure(ctx, subjects, loginWindow)
	if err != nil {
		return 0, s.storeProblem(err)
	}
	if fails[0].Count > userRefuseAfter || fails[1].Count > addrRefuseAfter {
		since := fails[0].Since
		if fails[1].Count > addrRefuseAfter && fails[1].Since.After(since) {
			since = fails[1].Since
		}
		s.loginFailed(q.r, in.User, "admin login refused: too many failed logins", addr)
		p := problem(http.StatusTooManyRequests, "too many failed logins for this user or from this address: try again later", "")
		retry := max(int64(time.Until(since.Add(loginWindow))/time.Second)+1, 1)
		p.header = http.Header{"Retry-After": {strconv.FormatInt(retry, 10)}}
		return 0, p
	}
	// Slow down: each earlier failure past the threshold adds a step.
	over := max(fails[0].Count-userSlowAfter, fails[1].Count-addrSlowAfter, 0)
	if over > 0 {
		delay := min(time.Duration(over)*loginDelayStep, maxLoginDelay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return 0, unavailable()
		}
	}
	u, err := s.st.User(ctx, in.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, s.storeProblem(err)
	}
	hash := sp.dummyHash
	if u != nil {
		hash = u.PasswordHash
	}
	ok, err := auth.CheckPassword(hash, []byte(in.Password))
	if err != nil {
		s.log.Error("admin: a user's password hash cannot be read", "user", in.User)
		ok = false
	}
	ok = ok && u != nil
	var codesLeft *int
	if ok {
		// The password is right: now the second factor.
		if in.Code != "" {
			step := totpStep(u.TOTPSecret, in.Code, time.Now())
			ok = step != 0
			if ok {
				fresh, err := s.st.UseTOTPStep(ctx, u.Name, step)
				if err != nil {
					return 0, s.storeProblem(err)
				}
				ok = fresh
			}
		} else {
			used, err := s.st.UseRecoveryCode(ctx, u.Name, recoveryHash(in.RecoveryCode))
			if err != nil {
				return 0, s.storeProblem(err)
			}
			ok = used
			if ok {
				n, err := s.st.RecoveryCodesLeft(ctx, u.Name)
				if err == nil {
					codesLeft = &n
				}
			}
		}
	}
	if !ok {
		s.loginFailed(q.r, in.User, "admin login failed", addr)
		// One answer for every failure: which factor was wrong, or whether
		// the user exists, is not told.
		return 0, unauthorized("login failed: wrong user, password or second factor")
	}
	if err := errors.Join(s.st.ClearLoginFailures(ctx, subjects[0]), s.st.ForgiveLoginFailure(ctx, subjects[1])); err != nil {
		s.log.Warn("admin: failed logins could not be cleared", "error", err)
	}
	sid, err1 := randomToken()
	csrf, err2 := randomToken()
	if err1 != nil || err2 != nil {
		return 0, problem(http.StatusInternalServerError, "no session could be made", "")
	}
	now := time.Now()
	se := &store.Session{IDHash: digest(sid), User: u.Name, CSRFHash: digest(csrf), Client: client, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(sp.lifetime)}
	if err := s.st.CreateSession(ctx, se, sp.idle); err != nil {
		return 0, s.storeProblem(err)
	}
	http.SetCookie(q.w, &http.Cookie{Name: SessionCookie, Value: sid, Path: "/", MaxAge: int(sp.lifetime / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	s.log.Info("admin login", "user", u.Name, "client", client)
	return http.StatusOK, LoginView{User: u.Name, Role: u.Role, CSRFToken: csrf, ExpiresAt: se.ExpiresAt.UTC().Format(timeFormat),
		IdleTimeoutSecond: int64(sp.idle / time.Second), RecoveryCodesLeft: codesLeft}
}

// loginFailed reports a failed or refused login: a security event and an
// auth_failure for intrusion detection. The password and codes are never
// part of it.
func (s *Server) loginFailed(r *http.Request, user, reason string, addr netip.Addr) {
	s.log.Warn(reason, "user", user, "client", clientAddr(r))
	if d := s.rt.Detector(); d != nil && addr.IsValid() {
		d.Record(intrusion.EventAuthFailure, intrusion.Info{Client: addr, Route: "admin"})
	}
	if s.sessions.events == nil {
		return
	}
	ev := &events.Event{Time: time.Now().UTC(), Type: "refusal", Route: "admin", Client: clientAddr(r), Consumer: user,
		Category: events.CategoryAuthentication, Reason: reason, Rule: "admin.login", Status: http.StatusUnauthorized, Method: r.Method}
	if reason != "admin login failed" {
		ev.Status = http.StatusTooManyRequests
	}
	s.sessions.events().Emit(ev)
}

// logout ends the caller's session.
func (s *Server) logout(q *request) (int, any) {
	if q.who.kind != KindUser {
		return 0, badField("header.Cookie", "logout ends a session; this call carries no session")
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	if err := s.st.DeleteSession(ctx, q.who.session); err != nil {
		return 0, s.storeProblem(err)
	}
	http.SetCookie(q.w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	return http.StatusNoContent, nil
}

// WhoAmI is the caller as the API sees it.
type WhoAmI struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Client string `json:"client"`
}

func (s *Server) whoami(q *request) (int, any) {
	return http.StatusOK, WhoAmI{Kind: q.who.kind, Name: q.who.name, Role: q.who.role, Client: q.who.client}
}
