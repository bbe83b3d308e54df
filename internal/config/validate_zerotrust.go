package config

import (
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"golang.org/x/net/http/httpguts"
)

// upstreamTLS checks services[].tls: the block itself (clientTLS), and
// that what it asks for applies to the service's targets.
func (v *validator) upstreamTLS(p string, s *Service) {
	t := s.TLS
	v.clientTLS(p, t)
	// Every setting of the block applies to https:// targets only (the
	// target's scheme, not the block, turns TLS on) and would silently do
	// nothing on a plain one: an operator who wrote ca_file believes the
	// upstream is verified against that CA, one who wrote cert_file that
	// the traffic is mutually authenticated, while the requests, their
	// credentials and the identity headers cross in clear.
	for _, tg := range s.Targets {
		if !strings.HasPrefix(strings.ToLower(tg.URL), "https://") {
			v.add(p, "applies to https:// targets only, and target %s is not one (write https:// to verify it, or remove tls)", v.q(p, tg.URL))
			break
		}
	}
}

// clientTLS checks a tls block of a connection the gateway opens
// (services[].tls, a Redis's tls): the trust anchors, the client
// certificate the gateway presents, the identity expected of the server,
// and the protocol floor.
func (v *validator) clientTLS(p string, t *ClientTLS) {
	if t.CAFile != "" {
		v.caFile(p+".ca_file", t.CAFile)
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		v.add(p+".key_file", "is required with cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		v.add(p+".cert_file", "is required with key_file")
	case t.CertFile != "":
		v.keyPair(p, t.CertFile, t.KeyFile)
	}
	v.tlsMinVersion(p+".min_version", t.MinVersion, true)
	if id := t.ExpectedIdentity; id != "" {
		ip := p + ".expected_identity"
		if msg := checkExpectedIdentity(id); msg != "" {
			v.add(ip, "%s %s", v.q(ip, id), msg)
		} else if strings.HasPrefix(id, "spiffe://") && t.CAFile == "" {
			// A SPIFFE ID means something only within its trust domain's
			// bundle; the public roots never issue SVIDs.
			v.add(p+".ca_file", "is required with a SPIFFE expected_identity (the trust domain's bundle)")
		}
	}
}

// CheckExpectedIdentity is the loader's check of an expected_identity
// (for tools that print one): what is wrong with id, or "".
func CheckExpectedIdentity(id string) string { return checkExpectedIdentity(id) }

// checkExpectedIdentity returns what is wrong with an expected identity,
// or "": a SPIFFE ID (checked by go-spiffe) or a DNS name.
func checkExpectedIdentity(id string) string {
	if strings.Contains(id, "://") {
		if !strings.HasPrefix(id, "spiffe://") {
			return "is neither a DNS name nor a SPIFFE ID (spiffe://trust-domain/path)"
		}
		if _, err := spiffeid.FromString(id); err != nil {
			return "is not a valid SPIFFE ID: " + err.Error()
		}
		return ""
	}
	if err := CheckHost(id); err != nil || strings.HasPrefix(id, "*.") {
		return "is not a DNS name (lower-case, no wildcard, no port)"
	}
	return ""
}

// Limits of the identity assertion.
const (
	MinAssertionTTL        = time.Second
	MaxAssertionTTL        = time.Hour
	MinGatewaySignatureKey = 32
	DefaultAssertionTTL    = 60 * time.Second
	DefaultAssertionHeader = "X-Portcullis-Assertion"
	DefaultSignatureHeader = "X-Portcullis-Signature"
	DefaultAssertionIssuer = "portcullis"
)

// identityAssertion checks the signing keys and every service's assertion.
func (v *validator) identityAssertion() {
	c := v.c
	if ia := c.IdentityAssertion; ia != nil {
		if len(ia.Keys) == 0 {
			v.add("identity_assertion.keys", "at least one key is required (the first one signs)")
		}
		ids := map[string]int{}
		for i, k := range ia.Keys {
			kp := indexPath("identity_assertion.keys", i)
			v.name(kp+".id", "key", k.ID, ids, "identity_assertion.keys")
			if _, dup := ids[k.ID]; !dup && k.ID != "" {
				ids[k.ID] = i
			}
			v.readable(kp+".private_key_file", k.PrivateKeyFile)
		}
	}
	for i, s := range c.Services {
		a := s.IdentityAssertion
		if a == nil {
			continue
		}
		p := indexPath("services", i) + ".identity_assertion"
		if c.IdentityAssertion == nil {
			v.add(p, "needs the top-level identity_assertion with the signing keys")
		}
		if a.Header != "" && !httpguts.ValidHeaderFieldName(a.Header) {
			v.add(p+".header", "%s is not a valid header name", v.q(p+".header", a.Header))
		}
		if a.TTL != 0 && (a.TTL.D() < MinAssertionTTL || a.TTL.D() > MaxAssertionTTL) {
			v.add(p+".ttl", "must be between 1s and 1h")
		}
		if gs := a.GatewaySignature; gs != nil {
			gp := p + ".gateway_signature"
			if gs.Header != "" && !httpguts.ValidHeaderFieldName(gs.Header) {
				v.add(gp+".header", "%s is not a valid header name", v.q(gp+".header", gs.Header))
			}
			if len(gs.Secret) < MinGatewaySignatureKey {
				v.add(gp+".secret", "must be at least %d bytes (use ${env:NAME} or ${file:/path})", MinGatewaySignatureKey)
			}
			if strings.EqualFold(gs.Header, a.Header) && gs.Header != "" {
				v.add(gp+".header", "must differ from the assertion's header")
			}
		}
	}
}

// revocation checks client_auth.crl_files and client_auth.ocsp.
func (v *validator) revocation(p string, ca *ClientAuth) {
	for i, f := range ca.CRLFiles {
		v.readable(indexPath(p+".crl_files", i), f)
	}
	if o := ca.OCSP; o != nil {
		switch o.Failure {
		case "", OCSPFailClosed, OCSPFailOpen:
		default:
			v.add(p+".ocsp.failure", "must be closed or open, not %s", v.q(p+".ocsp.failure", o.Failure))
		}
		if o.Timeout < 0 || o.Timeout.D() > 30*time.Second {
			v.add(p+".ocsp.timeout", "must be at most 30s (default 2s)")
		}
		if o.MaxCache < 0 || o.MaxCache.D() > 24*time.Hour {
			v.add(p+".ocsp.max_cache", "must be at most 24h (default 1h)")
		}
	}
}

// OCSP failure modes.
const (
	OCSPFailClosed = "closed"
	OCSPFailOpen   = "open"
)
