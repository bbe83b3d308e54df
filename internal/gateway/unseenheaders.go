package gateway

import (
	"fmt"
	"net/textproto"
	"slices"

	"github.com/portcullis/portcullis/internal/config"
)

// unseenHeaders knows which of a client's headers the router and the
// policies never see, and why. dropClientHeaders removes, before routing,
// the headers the gateway sets for the upstream itself (owned: identity
// headers, identity assertions, claims an auth policy sends upstream),
// those only a proxy may set (spoofableHeaders), the method override
// headers (read first), and, on a listener that does not keep them, every
// name with '_' or '.'. Host is never a field of the header map: it is the
// request's host (Request.Host).
//
// A config that matches a route on such a header, or has a policy read
// one, reads as if requests claiming that header were treated apart; none
// ever is. A route condition never holds (the route is never reached and
// its policies never run); a rate limit keyed on it puts every client in
// one bucket; a rule or require_headers refuses everyone. The loader
// refuses each at its field instead.
type unseenHeaders struct {
	owned          map[string]string // canonical name -> who sets it
	keepSeparators bool              // a listener keeps '_'/'.' names
}

func newUnseenHeaders(cfg *config.Config, owned map[string]string) unseenHeaders {
	u := unseenHeaders{owned: owned}
	for _, l := range cfg.Listeners {
		u.keepSeparators = u.keepSeparators || l.AllowUnderscoreAndDotHeaders
	}
	return u
}

// why says why a client's header called name never reaches the router or
// the policies, or returns "" when it does.
func (u unseenHeaders) why(name string) string {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	switch {
	case canon == "Host":
		return "the request's host is not a header field: match it with a route's hosts"
	case u.owned[canon] != "":
		return "the gateway removes it from every client request before routing and sets it for the upstream itself (" + u.owned[canon] + ")"
	case slices.Contains(spoofableHeaders, canon):
		return "the gateway removes it from every client request before routing (only a proxy may set it)"
	case slices.Contains(methodOverrideHeaders, canon):
		return "the gateway reads and removes the method override headers before routing (a route with method_override is matched by the overridden method)"
	case hasSeparator(name) && !u.keepSeparators:
		return "the gateway removes a header whose name has '_' or '.' from every client request before routing (no listener sets allow_underscore_and_dot_headers)"
	}
	return ""
}

// routeConditions refuses a route header condition on a header the
// router never sees.
func (u unseenHeaders) routeConditions(cfg *config.Config) config.Errors {
	var errs config.Errors
	for i, rc := range cfg.Routes {
		for j, hm := range rc.Headers {
			if why := u.why(hm.Name); why != "" {
				errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("routes[%d].headers[%d].name", i, j),
					fmt.Sprintf("%q never reaches the router: %s; this condition never holds and the route is never reached", hm.Name, why)))
			}
		}
	}
	return errs
}

// headerRead is a header a route's policy reads (pipeline.HeaderReader).
type headerRead struct {
	path, kind, name string
	// setByRoute: the route's auth policy sets it (a claim sent upstream),
	// in the authentication phase, before every phase that reads headers.
	setByRoute bool
}

// policyReads refuses a policy that reads a header no policy sees. The
// identity headers and assertions are set after the policies have run: a
// policy reads who the caller is from the identity (a rate limit's key:
// consumer, a rule's identity.consumer), never from those headers.
func (u unseenHeaders) policyReads(cfg *config.Config, reads []headerRead) config.Errors {
	var errs config.Errors
	for _, rd := range reads {
		if rd.setByRoute {
			continue
		}
		if why := u.why(rd.name); why != "" {
			errs = append(errs, cfg.ErrorAtPath(rd.path,
				fmt.Sprintf("the %s policy reads %q, which never reaches the policies: %s; a policy reads who the caller is from the identity (a rate limit's key: consumer, a rule's identity.consumer)", rd.kind, rd.name, why)))
		}
	}
	return errs
}
