// Package admin is the gateway's admin API: JSON over REST on its own
// listener, never on a proxy listener, for consumers, credentials, admin
// tokens, administrators, bans, usage, the live routes and services,
// reloads and master key rotation.
//
// The threats it answers:
//
//   - Whoever reaches the admin listener can mint credentials, so every
//     endpoint requires authentication: an admin token (random, 256 bits,
//     shown once, stored as a SHA-256 digest and compared in constant time)
//     or a verified client certificate mapped to a role in the config.
//     There is no default credential: the first token comes from
//     `portcullis admin bootstrap`, which works only on an empty store and
//     from the machine that holds the config. A token may expire and may be
//     limited to client networks (tokenuse.go); its last use is recorded.
//   - People log in as administrators with a password (argon2id) and a
//     TOTP second factor, each code accepted once, and work through a
//     session cookie whose writes need a CSRF token from the same origin;
//     guessing is slowed, refused and reported (users.go, sessions.go).
//     Whoever calls is a principal (principal.go) carried in the request
//     context.
//   - Least privilege: viewer reads; operator also changes consumers,
//     credentials and bans; admin also manages admin tokens and rotates the
//     master key. A role check happens before a body is read.
//   - A lost update between two operators: every resource has a version,
//     served as its ETag; a write with a stale If-Match is refused with 412.
//   - Bad input never reaches the store: bodies are bounded, decoded
//     strictly (unknown fields and wrong types are 400s naming the field),
//     names follow the config's rules, and a change is compiled with the
//     file config exactly as a reload would before it is written, so what
//     the store holds always compiles.
//   - Secrets do not leak: a generated API key or HMAC secret is in the
//     creation response only; no response, log line or error carries one.
//   - A change must not go unrecorded: every write is in the store's
//     hash-chained audit trail (written in the change's own transaction,
//     with the caller, its address and the request id; audit.go) before
//     the answer; the trail is read-only here. Configurations that went
//     live are kept and can be diffed, dry-run and rolled back, a rollback
//     compiled like a reload (history.go).
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/internal/apikey"
	"github.com/portcullis/portcullis/internal/auth"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/events"
	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/store"
)

// TokenPrefix starts every admin token, so scanners and people can tell an
// admin token from an API key.
const TokenPrefix = "pcladm_"

// Runtime is what the API needs from the running gateway.
type Runtime interface {
	// Config is the config file as last loaded (its consumers are the
	// file's only).
	FileConfig() *config.Config
	// Check compiles the file config with these store consumers, exactly
	// as the node will when the change arrives, without serving it.
	Check(consumers []config.Consumer) error
	// Sync reads the store and serves what it holds, before returning: a
	// change made through this node is in force here when the API answers.
	Sync(ctx context.Context) error
	// State is the store state this node holds (nil before the first read).
	State() *store.State
	// StoreError is nil while the store answers, else the last error.
	StoreError() error
	// Routes and Services describe what is being served.
	Routes() []RouteView
	Services() []ServiceView
	// ConfigVersion identifies the config file's content.
	ConfigVersion() string
	// Reload reloads the config file.
	Reload() error
	// Detector holds the bans (nil: none).
	Detector() *intrusion.Detector
	// FlushUsage adds this node's API key usage to the store.
	FlushUsage(ctx context.Context) error
	// LocalUsage is this node's usage since it started.
	LocalUsage() []auth.KeyUsage
	// History serves the config history (history.go).
	History
}

// RouteView is a route as the API shows it.
type RouteView struct {
	Name     string   `json:"name"`
	Hosts    []string `json:"hosts"`
	Paths    []string `json:"paths"`
	Methods  []string `json:"methods"`
	Service  string   `json:"service"`
	Policies []string `json:"policies"`
	// Phases are the policies in the order they run (the request phases,
	// then "response"); phases without policies are left out.
	Phases []PhaseView `json:"phases,omitempty"`
	Auth   string      `json:"auth,omitempty"`
}

// PhaseView is one phase of a route and the kinds of its policies, in order.
type PhaseView struct {
	Phase    string   `json:"phase"`
	Policies []string `json:"policies"`
}

// ServiceView is a service as the API shows it.
type ServiceView struct {
	Name          string   `json:"name"`
	Targets       []string `json:"targets"`
	LoadBalancing string   `json:"load_balancing"`
}

// Options configure a Server.
type Options struct {
	Store   store.Store
	Runtime Runtime
	Logger  *slog.Logger
	// Certificates map verified client certificates to roles.
	Certificates []config.AdminClientCertificate
	// Node names this gateway in status answers.
	Node string
	// Sessions are the timeouts of administrators' sessions.
	Sessions config.AdminSessions
	// Events is the security event stream of the moment (failed logins
	// go there); nil or returning nil: none.
	Events func() *events.Stream
}

// Server is the admin API.
type Server struct {
	st     store.Store
	rt     Runtime
	log    *slog.Logger
	certs  []config.AdminClientCertificate
	node   string
	routes []route
	mux    *http.ServeMux

	sessions *sessionPlane
	tokUse   tokenUse

	tokMu  sync.Mutex
	tokRev int64
	tokIdx map[apikey.Digest]store.Token
	tokSet bool
}

// route is one endpoint: its pattern, the least role that may call it,
// and the handler. The OpenAPI test walks this table.
type route struct {
	method, path string
	role         string
	handler      func(*request) (int, any)
}

// New builds the API.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Server{st: o.Store, rt: o.Runtime, log: o.Logger, certs: o.Certificates, node: o.Node, mux: http.NewServeMux()}
	s.sessions = newSessionPlane(o)
	s.routes = s.table()
	for _, r := range s.routes {
		s.mux.Handle(r.method+" "+r.path, s.wrap(r))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Authentication first: an anonymous caller learns nothing, not
		// even which paths exist.
		if _, p := s.authenticate(r); p != nil {
			writeProblem(w, p)
			return
		}
		writeProblem(w, problem(http.StatusNotFound, "no such endpoint", ""))
	})
	return s
}

// Handler serves the API.
func (s *Server) Handler() http.Handler { return s.mux }

var roleRank = map[string]int{store.RoleViewer: 1, store.RoleOperator: 2, store.RoleAdmin: 3}

// checkRole is the one check of a role named in a request body (tokens and
// users): one of config.AdminRoles.
func checkRole(role string) *Problem {
	if _, ok := roleRank[role]; !ok {
		return badField("role", "role must be one of %s", strings.Join(config.AdminRoles, ", "))
	}
	return nil
}

// checkName is the one check of the name of a new token or user: present and
// within the names the config allows.
func checkName(name string) *Problem {
	if name == "" || !config.ValidName(name) {
		return badField("name", "name is required and %s", config.NameRule())
	}
	return nil
}

// authenticate finds the caller: a verified client certificate mapped to a
// role, else a bearer admin token.
func (s *Server) authenticate(r *http.Request) (principal, *Problem) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(s.certs) > 0 {
		if p, ok := s.certPrincipal(r.TLS.VerifiedChains[0][0]); ok {
			p.client = clientAddr(r)
			return p, nil
		}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		if c, err := r.Cookie(SessionCookie); err == nil {
			return s.sessionPrincipal(r, c)
		}
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return principal{}, unauthorized("an admin token (Authorization: Bearer ...) or an admin client certificate is required")
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > apikey.MaxLen || apikey.Check(tok) != nil || !strings.HasPrefix(tok, TokenPrefix) {
		return principal{}, unauthorized("invalid admin token")
	}
	d := apikey.Hash(tok)
	t, found := s.tokens()[d]
	td, _ := apikey.ParseDigest(t.Hash)
	// The map lookup matched the digest; the constant-time comparison
	// keeps the decision itself free of early exits.
	if !found || subtle.ConstantTimeCompare(td[:], d[:]) != 1 {
		return principal{}, unauthorized("invalid admin token")
	}
	if !t.ExpiresAt.IsZero() && !time.Now().Before(t.ExpiresAt) {
		return principal{}, unauthorized("invalid admin token")
	}
	client := clientAddr(r)
	if !tokenNetworkAllows(t.Networks, client) {
		return principal{}, problem(http.StatusForbidden, "this admin token may not be used from this address", "")
	}
	s.touchToken(r.Context(), t.ID, client)
	return principal{kind: KindToken, name: t.ID, role: t.Role, client: client}, nil
}

// tokens is the index of admin tokens of the state this node holds,
// rebuilt when the revision changes.
func (s *Server) tokens() map[apikey.Digest]store.Token {
	st := s.rt.State()
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if st == nil {
		return nil
	}
	if s.tokSet && s.tokRev == st.Revision {
		return s.tokIdx
	}
	idx := make(map[apikey.Digest]store.Token, len(st.Tokens))
	for _, t := range st.Tokens {
		if d, err := apikey.ParseDigest(t.Hash); err == nil {
			idx[d] = t
		}
	}
	s.tokIdx, s.tokRev, s.tokSet = idx, st.Revision, true
	return idx
}

func (s *Server) certPrincipal(c *x509.Certificate) (principal, bool) {
	fp := sha256.Sum256(c.Raw)
	fph := hex.EncodeToString(fp[:])
	subject := c.Subject.String()
	for _, m := range s.certs {
		switch {
		case m.FingerprintSHA256 != "":
			if n, ok := config.NormalizeFingerprint(m.FingerprintSHA256); ok && subtle.ConstantTimeCompare([]byte(n), []byte(fph)) == 1 {
				return principal{kind: KindCertificate, name: "sha256:" + fph[:16], role: m.Role}, true
			}
		case m.Subject != "":
			if m.Subject == subject {
				return principal{kind: KindCertificate, name: subject, role: m.Role}, true
			}
		case m.SAN != "":
			if certHasSAN(c, m.SAN) {
				return principal{kind: KindCertificate, name: m.SAN, role: m.Role}, true
			}
		}
	}
	return principal{}, false
}

func certHasSAN(c *x509.Certificate, san string) bool {
	if strings.ContainsAny(san, ":@") {
		for _, u := range c.URIs {
			if u.String() == san {
				return true
			}
		}
		for _, e := range c.EmailAddresses {
			if e == san {
				return true
			}
		}
		return false
	}
	for _, d := range c.DNSNames {
		if strings.EqualFold(d, san) {
			return true
		}
	}
	return false
}

// wrap authenticates, checks the role, runs the handler and writes its
// answer. Handlers return a status and a value: a *Problem, nil (no
// body) or a JSON document.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		var p principal
		var prob *Problem
		if rt.role == "" {
			// The login: no caller yet.
			p = principal{kind: "anonymous", client: clientAddr(r)}
		} else {
			p, prob = s.authenticate(r)
		}
		if prob != nil {
			writeProblem(w, prob)
			return
		}
		if roleRank[p.role] < roleRank[rt.role] {
			writeProblem(w, problem(http.StatusForbidden, "this needs the "+rt.role+" role; the caller has "+p.role, ""))
			return
		}
		r = r.WithContext(auditContext(w, r.WithContext(withPrincipal(r.Context(), p)), p))
		req := &request{s: s, w: w, r: r, who: p}
		status, v := rt.handler(req)
		switch v := v.(type) {
		case *Problem:
			if v.Status >= 500 {
				s.log.Error("admin API", "method", r.Method, "path", r.URL.Path, "status", v.Status, "detail", v.Detail)
			}
			writeProblem(w, v)
		case nil:
			w.WriteHeader(status)
		case skipBody:
		default:
			writeJSON(w, status, v)
		}
		if r.Method != http.MethodGet && status < 300 && rt.role != "" {
			s.log.Info("admin change", "method", r.Method, "path", r.URL.Path, "status", status, "by", p.label())
		}
	})
}

// request is one call: the handler's view of it.
type request struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	who principal
	// queryNames are the query parameters the endpoint reads besides
	// limit and after; any other is refused.
	queryNames []string
}

// write runs fn in one store transaction (the only way the API changes
// anything), then brings this node up to date so the change is in force
// here before the answer goes out.
// writeAt is write for a change to the record a path parameter names: a
// record that is not there is a 404 whose field is that parameter
// (field, such as "path.name").
func (q *request) writeAt(field string, fn func(store.Tx) error) *Problem {
	p := q.write(fn)
	if p != nil && p.Status == http.StatusNotFound {
		p.Field = field
	}
	return p
}

func (q *request) write(fn func(store.Tx) error) *Problem {
	if err := q.s.rt.StoreError(); err != nil {
		return unavailable()
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), 5*time.Second)
	defer cancel()
	if _, err := q.s.st.Write(ctx, q.who.actor(), fn); err != nil {
		return q.s.storeProblem(err)
	}
	if err := q.s.rt.Sync(ctx); err != nil {
		q.s.log.Warn("admin: the change is stored but this node could not reload the store yet", "error", err)
	}
	return nil
}
