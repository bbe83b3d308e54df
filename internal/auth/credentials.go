package auth

import (
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/portcullis/portcullis/internal/ascii"
)

// Credentials meant for the gateway never reach the upstream. Each method
// declares where it reads a credential (credentialReader) and whether it
// is configured to forward it; the auth policy removes, once a decision is
// made, every credential that any of its methods reads, whichever method
// accepted the request (or none, for the anonymous consumer). This is the
// only place credentials are stripped: a method's Authenticate never
// changes the request.
//
// Threat: a route with methods [jwt, api_key] that removed only the
// winner's credential sent the API key to the upstream when the JWT won;
// an upstream that trusts keys (or a log that records them) would then
// see a credential the gateway was told never to forward, and an upstream
// that authenticates a second credential would see a caller other than
// the one the gateway checked.
//
// The rule, for each place a credential is read from:
//   - when the method that accepted the request reads it, it is forwarded
//     only if that method forwards it (forward_token, forward_key,
//     forward_credentials);
//   - otherwise it is forwarded only if every method that reads it
//     forwards it;
//   - the Authorization header is the gateway's on a route where any
//     method reads it: its values of every other scheme (including schemes
//     no method reads) are removed too, so only a forwarded scheme's value
//     is left.

// credentialLocation is one place a method reads a credential from. One
// field is set, except scheme, which goes with header "Authorization".
type credentialLocation struct {
	header string // canonical header name (its whole value is the credential)
	scheme string // the Authorization scheme read ("Bearer", "Basic", "ApiKey")
	cookie string // a cookie name (RFC 6265: compared exactly)
	query  string // a query parameter name (compared after percent-decoding)
}

// credentialReader is implemented by every method that reads a
// credential from the request (mtls does not: its credential is the TLS
// handshake). forward reports whether the method is configured to send
// its credential on to the upstream.
type credentialReader interface {
	credentials() (locs []credentialLocation, forward bool)
}

var (
	_ credentialReader = (*jwtMethod)(nil)
	_ credentialReader = (*apiKeyMethod)(nil)
	_ credentialReader = (*basicMethod)(nil)
	_ credentialReader = (*introspectionMethod)(nil)
)

// stripPlan is what to remove from a request once a given method (or
// none) accepted it; built at compile time, one per outcome.
type stripPlan struct {
	headers []string // deleted whole
	authz   bool     // Authorization values are filtered
	keep    []string // Authorization schemes kept (lower case)
	cookies []string // cookie names removed
	queries []string // query parameter names removed
}

// credentialPlans builds the plans of a policy's methods: plans[i] applies
// when methods[i] accepted the request, plans[len(methods)] when none did
// (the anonymous consumer).
func credentialPlans(ms []Method) []stripPlan {
	type reader struct {
		locs    []credentialLocation
		forward bool
	}
	readers := make([]reader, len(ms))
	var all []credentialLocation // every location, once
	for i, m := range ms {
		cr, ok := m.(credentialReader)
		if !ok {
			continue
		}
		locs, fwd := cr.credentials()
		for j := range locs {
			locs[j].scheme = strings.ToLower(locs[j].scheme)
			if !slices.Contains(all, locs[j]) {
				all = append(all, locs[j])
			}
		}
		readers[i] = reader{locs: locs, forward: fwd}
	}
	plans := make([]stripPlan, len(ms)+1)
	for w := range plans {
		p := &plans[w]
		for _, l := range all {
			var fwd bool
			if w < len(ms) && slices.Contains(readers[w].locs, l) {
				fwd = readers[w].forward
			} else {
				fwd = true
				for _, r := range readers {
					if slices.Contains(r.locs, l) && !r.forward {
						fwd = false
					}
				}
			}
			switch {
			case l.scheme != "":
				p.authz = true
				if fwd {
					p.keep = append(p.keep, l.scheme)
				}
			case fwd:
			case l.header != "":
				p.headers = append(p.headers, l.header)
			case l.cookie != "":
				p.cookies = append(p.cookies, l.cookie)
			case l.query != "":
				p.queries = append(p.queries, l.query)
			}
		}
	}
	return plans
}

// strip removes the credentials of the plan from r.
func (p *stripPlan) strip(r *http.Request) {
	for _, h := range p.headers {
		delete(r.Header, h)
	}
	if p.authz {
		stripAuthorization(r.Header, p.keep)
	}
	if len(p.cookies) > 0 {
		stripCookies(r.Header, p.cookies)
	}
	if len(p.queries) > 0 && r.URL != nil && r.URL.RawQuery != "" {
		r.URL.RawQuery = dropQueryParams(r.URL.RawQuery, p.queries)
	}
}

// credentialHeaders are the header names the methods read credentials
// from (for alias guarding: pipeline.HeaderReader).
func credentialHeaders(ms []Method) []string {
	var out []string
	for _, m := range ms {
		cr, ok := m.(credentialReader)
		if !ok {
			continue
		}
		locs, _ := cr.credentials()
		for _, l := range locs {
			h := l.header
			if l.cookie != "" {
				h = "Cookie"
			}
			if h != "" && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// stripAuthorization keeps only the Authorization values whose scheme is
// in keep (lower case). When every value is kept (a forwarded token, the
// common case), the header is left as it is, without a copy.
func stripAuthorization(h http.Header, keep []string) {
	vals, ok := h["Authorization"]
	if !ok {
		return
	}
	n := 0
	for _, v := range vals {
		if schemeKept(v, keep) {
			n++
		}
	}
	switch n {
	case len(vals):
		return
	case 0:
		delete(h, "Authorization")
		return
	}
	kept := make([]string, 0, n)
	for _, v := range vals {
		if schemeKept(v, keep) {
			kept = append(kept, v)
		}
	}
	h["Authorization"] = kept
}

// schemeKept reports whether the scheme of the Authorization value v,
// lower-cased, is one of keep. An ASCII scheme is compared in place; any
// other is lower-cased with Unicode's rules, as strings.ToLower does.
func schemeKept(v string, keep []string) bool {
	scheme, _, _ := strings.Cut(strings.TrimLeft(v, " \t"), " ")
	scheme, _, _ = strings.Cut(scheme, "\t")
	for i := range len(scheme) {
		if scheme[i] >= utf8.RuneSelf {
			return slices.Contains(keep, strings.ToLower(scheme))
		}
	}
	for _, k := range keep {
		if ascii.EqualFoldLower(scheme, k) {
			return true
		}
	}
	return false
}

// stripCookies removes the named cookies from every Cookie line (HTTP/2
// sends one line per cookie), keeping the others in their order.
func stripCookies(h http.Header, names []string) {
	lines, ok := h["Cookie"]
	if !ok {
		return
	}
	var kept []string
	for _, line := range lines {
		for _, part := range strings.Split(line, ";") {
			part = textproto.TrimString(part)
			name, _, _ := strings.Cut(part, "=")
			if part != "" && !slices.Contains(names, textproto.TrimString(name)) {
				kept = append(kept, part)
			}
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(kept, "; ")}
}

// dropQueryParams removes every pair whose (percent-decoded) name is in
// names from a raw query, keeping the others exactly as the client wrote
// them.
func dropQueryParams(raw string, names []string) string {
	var b strings.Builder
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, _, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			if uk, err := url.QueryUnescape(k); err == nil {
				k = uk
			}
		}
		if slices.Contains(names, k) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	return b.String()
}
