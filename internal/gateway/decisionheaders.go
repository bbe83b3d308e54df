package gateway

import (
	"net/http"
	"net/textproto"
	"sort"
)

// decisionHeaders are the headers a route decides on: those its router
// entry matches on (routes[].headers) and those its policies read
// (pipeline.HeaderReader: credentials of auth methods, rules, required
// headers, rate-limit keys).
//
// A decision is made from one value, but an upstream receives every field
// line: a rule that checked request.headers["x-tenant"] == "acme" on the
// first of "X-Tenant: acme" and "X-Tenant: other" would forward both, and
// the upstream may read the second; a route matched on "X-Env: canary"
// would carry "X-Env: prod" beside it. RFC 9110 section 5.3 lets a
// recipient combine repeated lines only for list-valued fields, and which
// value a server keeps for a singleton field differs between servers
// (first, last, joined). So a request that repeats a decision header of
// its route is refused (400) before any policy runs: what was decided on
// is the only value the upstream gets. A route with a rule that reads
// headers by a computed name (any) refuses every repeated header.
type decisionHeaders struct {
	names []string // canonical, sorted, once each
	any   bool
}

// add records a header name (any spelling).
func (d *decisionHeaders) add(name string) {
	name = textproto.CanonicalMIMEHeaderKey(name)
	i := sort.SearchStrings(d.names, name)
	if i < len(d.names) && d.names[i] == name {
		return
	}
	d.names = append(d.names, "")
	copy(d.names[i+1:], d.names[i:])
	d.names[i] = name
}

// repeated returns the first decision header that h holds more than once.
// name is "" when the route reads every header and the repeated one is a
// client's name (never echoed into logs).
func (d *decisionHeaders) repeated(h http.Header) (name string, found bool) {
	if d.any {
		for k, vs := range h {
			if len(vs) > 1 {
				if i := sort.SearchStrings(d.names, k); i < len(d.names) && d.names[i] == k {
					return k, true
				}
				return "", true
			}
		}
		return "", false
	}
	for _, n := range d.names {
		if len(h[n]) > 1 {
			return n, true
		}
	}
	return "", false
}
