package verify

import (
	"slices"
	"strings"
	"time"
)

// TokenType is the typ header of every identity assertion.
const TokenType = "portcullis-assertion+jwt" // #nosec G101 -- a JWT type name, not a credential

// Defaults shared by the gateway and this package.
const (
	DefaultHeader          = "X-Portcullis-Assertion"
	DefaultSignatureHeader = "X-Portcullis-Signature"
	DefaultIssuer          = "portcullis"
	// JWKSPath is where the gateway's operations listener serves its keys.
	JWKSPath = "/.well-known/portcullis/jwks.json"
)

// Claims is the payload of an identity assertion, as the gateway signs it.
type Claims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	// Subject is the consumer; empty for an anonymous request (a route
	// without authentication, or the anonymous fallback unset).
	Subject  string   `json:"sub,omitempty"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	ID       string   `json:"jti"`
	Groups   []string `json:"groups,omitempty"`
	// Scope is space-separated (RFC 8693 section 4.2).
	Scope string `json:"scope,omitempty"`
	// Route is the gateway route that matched.
	Route string `json:"route,omitempty"`
	// AuthMethod is how the caller authenticated: jwt, api_key, basic,
	// mtls, introspection; empty when anonymous.
	AuthMethod string `json:"auth_method,omitempty"`
	// RequestID, Method and Path are set with bind_request only: the
	// gateway's request id, and the method and path (with query) it sent.
	RequestID string `json:"rid,omitempty"`
	Method    string `json:"htm,omitempty"`
	Path      string `json:"path,omitempty"`
}

// Identity is the verified caller, for the service's handler.
type Identity struct {
	// Consumer is the gateway consumer's name; "" when Anonymous.
	Consumer   string
	Anonymous  bool
	Groups     []string
	Scopes     []string
	Route      string
	AuthMethod string
	// RequestID is the gateway's request id when the assertion is bound
	// to the request (bind_request); otherwise read X-Request-Id.
	RequestID string
	// AssertionID is the assertion's jti, for logs.
	AssertionID string
	ExpiresAt   time.Time
}

// HasGroup reports whether the caller is in group g.
func (id *Identity) HasGroup(g string) bool { return slices.Contains(id.Groups, g) }

// HasScope reports whether the caller was granted scope s.
func (id *Identity) HasScope(s string) bool { return slices.Contains(id.Scopes, s) }

func (c *Claims) identity() *Identity {
	id := &Identity{
		Consumer:    c.Subject,
		Anonymous:   c.Subject == "",
		Groups:      c.Groups,
		Route:       c.Route,
		AuthMethod:  c.AuthMethod,
		RequestID:   c.RequestID,
		AssertionID: c.ID,
		ExpiresAt:   time.Unix(c.Expiry, 0),
	}
	if c.Scope != "" {
		id.Scopes = strings.Fields(c.Scope)
	}
	return id
}
