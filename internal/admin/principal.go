package admin

import (
	"context"
	"net"
	"net/http"

	"github.com/portcullis/portcullis/internal/store"
)

// Kinds of principal: who calls the admin API.
const (
	// KindToken is a machine: a bearer admin token (name is its id).
	KindToken = "token"
	// KindCertificate is a verified admin client certificate (name is the
	// subject, SAN or fingerprint that matched).
	KindCertificate = "certificate"
	// KindUser is an administrator (a person) logged in with a password
	// and a second factor, calling with a session cookie (name is the
	// user name).
	KindUser = "user"
)

// principal is who calls: its kind, name and role, the client address
// the call came from, and for a user the session it holds.
type principal struct {
	kind, name, role string
	// client is the caller's address (the admin listener's peer, without
	// the port).
	client string
	// session is the digest of a user's session id ("" for a token or a
	// certificate); sessions are never identified by their value.
	session string
}

func (p principal) actor() store.Actor { return store.Actor{Kind: p.kind, Name: p.name} }

// label is "kind:name", as logs and ban records show the caller.
func (p principal) label() string { return p.kind + ":" + p.name }

type principalKey struct{}

// withPrincipal returns ctx carrying p: every handler's request context
// names its caller.
func withPrincipal(ctx context.Context, p principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// principalFrom is the caller of the admin request ctx belongs to (false
// outside an authenticated request).
func principalFrom(ctx context.Context) (principal, bool) {
	p, ok := ctx.Value(principalKey{}).(principal)
	return p, ok
}

// clientAddr is the admin listener's peer address without its port. The
// admin listener is reached directly (never through a proxy), so no
// forwarded header is trusted here.
func clientAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
