package gateway

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strings"

	"github.com/portcullis/portcullis/internal/alerts"
	"github.com/portcullis/portcullis/internal/assertion"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ipfilter"
	"github.com/portcullis/portcullis/internal/metrics"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/router"
	"github.com/portcullis/portcullis/internal/upstream"
)

// Snapshot is one compiled, immutable configuration. The server holds the
// current one in an atomic pointer; each request reads it once.
type Snapshot struct {
	cfg      *config.Config
	router   *router.Router
	routes   []*route // indexed by router ID
	services []*upstream.Service
	trusted  prefixList
	// opsAllow is ops.allow: the peers that may use the operations
	// listener (nil: every peer that reaches it).
	opsAllow prefixList
	certs    map[string]*certSet // by listener name, HTTPS listeners only
	// identity is the header names of the identity sent upstream.
	identity identityHeaders
	// owned lists every header name the gateway alone may send upstream:
	// the identity headers and those policies declare; stripped from
	// every client request.
	owned []string
	// dropped is the set dropClientHeaders deletes by name: owned and the
	// spoofable names.
	dropped map[string]struct{}
	// mtlsHosts, per HTTPS listener, are the hosts that need client
	// certificates (nil: every host, or no client auth).
	mtlsHosts map[string]map[string]bool
	// ipFilter is the global ip_filter, checked before routing (nil: none).
	ipFilter *ipfilter.Filter
	// file is the config file as loaded (cfg adds the store's consumers);
	// version identifies its content (control.go).
	file    *config.Config
	version string
	// clientHeader is client_address_header.
	clientHeader string
	// aliasGuard holds the canonical names whose '_'/'.' aliases are
	// dropped even on listeners that keep such names: the gateway's own
	// headers, framing, routing and identity headers, method overrides,
	// and every header a route matches on or a policy reads.
	aliasGuard map[string]bool
	// assertKeys signs identity assertions and serves the JWKS (nil: none).
	assertKeys *assertion.Set
	// metricsOn records per-request metrics (observe.go).
	metricsOn bool
	// alertRules are the threshold alerts (alerts.go).
	alertRules []alerts.Rule
}

// identityHeaders are the canonical names of the identity headers.
type identityHeaders struct {
	consumer, groups, credential, method string
}

// route is a compiled route: everything the request path needs, decided
// at load time.
type route struct {
	name        string
	service     *upstream.Service
	hashHeader  string // consistent hashing on this header
	hashClient  bool   // consistent hashing on the client address
	stripPrefix bool
	rewrite     string
	preserve    bool
	maxBody     int64
	encodedOK   bool
	// windows: the service reads paths as Windows file names; a path
	// that names another file there is refused (checkRoute).
	windows bool
	// methodOverride: X-HTTP-Method-Override and its variants are honoured
	// on POST (routed and authorized as the overridden method).
	methodOverride bool
	// siblings are the routes to the same service whose paths are
	// rewritten (this one included), for mapping upstream URIs in
	// responses back (respuris.go).
	siblings []sibling
	phases   [pipeline.NumPhases][]pipeline.RequestPolicy
	response []pipeline.ResponsePolicy
	assert   *assertion.Asserter // the service's identity assertion, or nil
	// kinds names each request policy's kind, parallel to phases;
	// respKinds each response policy's, parallel to response.
	kinds     [pipeline.NumPhases][]string
	respKinds []string
	// metrics are the route's metric handles (observe.go).
	metrics *metrics.Route
	// decides are the headers the route matches on or its policies read:
	// a request repeating one is refused (decisionheaders.go).
	decides decisionHeaders
}

// Compile turns a validated config into a Snapshot with fresh policy
// state. Connection pools come from reg, so targets kept across a reload
// keep their connections.
func Compile(cfg *config.Config, reg *upstream.Registry) (*Snapshot, error) {
	return CompileWith(cfg, reg, pipeline.NewSharedValues())
}

// CompileWith is Compile with the policy state that outlives snapshots
// (caches, counters), which a running gateway keeps across reloads.
func CompileWith(cfg *config.Config, reg *upstream.Registry, state *pipeline.SharedValues) (*Snapshot, error) {
	var errs config.Errors
	s := &Snapshot{cfg: cfg, certs: map[string]*certSet{}, mtlsHosts: map[string]map[string]bool{}}
	s.identity = identityHeaders{
		consumer:   canonicalOr(cfg.IdentityHeaders.Consumer, "X-Consumer-Name"),
		groups:     canonicalOr(cfg.IdentityHeaders.Groups, "X-Consumer-Groups"),
		credential: canonicalOr(cfg.IdentityHeaders.Credential, "X-Credential-Id"),
		method:     canonicalOr(cfg.IdentityHeaders.Method, "X-Auth-Method"),
	}
	// owned: the headers the gateway sets for the upstream, each with who
	// sets it (for unseenHeaders' errors); a client's are dropped.
	owned := map[string]string{
		s.identity.consumer:   "identity_headers.consumer",
		s.identity.groups:     "identity_headers.groups",
		s.identity.credential: "identity_headers.credential",
		s.identity.method:     "identity_headers.method",
	}
	guard := map[string]bool{}
	for _, list := range [][]string{spoofableHeaders, forwardingHeaders, framingHeaders, methodOverrideHeaders} {
		for _, h := range list {
			guard[h] = true
		}
	}
	s.clientHeader = cfg.ClientAddressHeader
	s.metricsOn = !cfg.Observability.Metrics.Disable
	if rules, err := alerts.Compile(cfg.Observability.Alerts); err != nil {
		// Each problem at its field (rules[0].metric), all of them at once.
		errs = append(errs, cfg.ErrorsAt(cfg.Node("observability.alerts"), "observability.alerts", err)...)
	} else {
		s.alertRules = rules
	}
	for i, r := range cfg.Observability.Alerts.Rules {
		found := r.Route == ""
		for _, rc := range cfg.Routes {
			found = found || rc.Name == r.Route
		}
		if !found {
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("observability.alerts.rules[%d].route", i), fmt.Sprintf("no route is named %q", r.Route)))
		}
	}
	snapShared := pipeline.NewSharedValues()

	var err error
	if s.trusted, err = parsePrefixList(cfg.TrustedProxies); err != nil {
		errs = append(errs, cfg.ErrorAtPath("trusted_proxies", err.Error()))
	}
	if s.opsAllow, err = parsePrefixList(cfg.Ops.Allow); err != nil {
		errs = append(errs, cfg.ErrorAtPath("ops.allow", err.Error()))
	}

	if cfg.IPFilter != nil {
		f, err := ipfilter.Compile(cfg.IPFilter, ipfilter.SharedFileReader(snapShared))
		if err != nil {
			errs = append(errs, cfg.ErrorAtPath("ip_filter", err.Error()))
		}
		s.ipFilter = f
	}

	services := map[string]*upstream.Service{}
	serviceConfigs := map[string]*config.Service{} // how each upstream reads paths
	for i, sc := range cfg.Services {
		serviceConfigs[sc.Name] = &cfg.Services[i]
		svc, err := reg.Service(sc)
		if err != nil {
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("services[%d]", i), err.Error()))
			continue
		}
		services[sc.Name] = svc
		s.services = append(s.services, svc)
	}

	assertKeys, asserters, aerrs := compileAssertions(cfg, state)
	errs = append(errs, aerrs...)
	errs = append(errs, checkRevocation(cfg)...)
	s.assertKeys = assertKeys
	// own records the first setter of each header (config order: the
	// error names one, the same one each time).
	own := func(h, who string) {
		if _, ok := owned[h]; !ok {
			owned[h] = who
		}
	}
	for _, sc := range cfg.Services {
		if a := asserters[sc.Name]; a != nil {
			for _, h := range a.Headers() {
				own(h, fmt.Sprintf("the identity assertion of service %q", sc.Name))
			}
		}
	}

	rr := make([]router.Route, 0, len(cfg.Routes))
	var reads []headerRead // the headers the routes' policies read
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		sc := serviceConfigs[rc.Service]
		rt := &route{
			name:        rc.Name,
			service:     services[rc.Service],
			stripPrefix: rc.StripPrefix,
			rewrite:     rc.Rewrite,
			preserve:    rc.PreserveHost,
			maxBody:     rc.MaxBodySize.Or(defaultMaxBody),
			encodedOK:   rc.AllowEncodedSlashes,
			windows:     sc != nil && sc.WindowsPaths,

			methodOverride: rc.MethodOverride,
			assert:         asserters[rc.Service],
		}
		for _, hm := range rc.Headers {
			guard[textproto.CanonicalMIMEHeaderKey(hm.Name)] = true
			rt.decides.add(hm.Name)
		}
		if svc := services[rc.Service]; svc != nil {
			// The service's own reading of its load_balancing settings.
			rt.hashClient, rt.hashHeader = svc.HashKeySource()
			if rt.hashHeader != "" {
				guard[rt.hashHeader] = true
			}
		}
		hasAuth, needsIdentity := false, false
		routeReads, routeOwned := len(reads), map[string]bool{}
		once := map[string]string{} // kind -> the path of the route's one policy of it
		for j, ps := range rc.Policies {
			path := fmt.Sprintf("routes[%d].policies[%d]", i, j)
			env := pipeline.CompileEnv{Route: rc.Name, RouteConfig: rc, Path: path, Config: cfg, Snapshot: snapShared, State: state}
			v, err := compilePolicy(cfg, ps, env, rt)
			if err != nil {
				errs = append(errs, policyErrors(cfg, ps, path, err)...)
				// An auth policy in error (a consumer's credential it
				// needs is refused, say) is the route's authentication
				// all the same: the route does not also lack one.
				hasAuth = hasAuth || ps.Kind == "auth"
				continue
			}
			if o, ok := v.(pipeline.OnePerRoute); ok {
				if first, dup := once[ps.Kind]; dup {
					errs = append(errs, cfg.ErrorAtPath(path+".kind", fmt.Sprintf("a second %s policy on this route (the first is %s): %s", ps.Kind, first, o.WhyOnePerRoute())))
				} else {
					once[ps.Kind] = path
				}
			}
			if a, ok := v.(pipeline.Authenticator); ok && a.Authenticates() {
				hasAuth = true
			}
			if u, ok := v.(pipeline.IdentityUser); ok && u.NeedsIdentity() {
				needsIdentity = true
			}
			if o, ok := v.(pipeline.HeaderOwner); ok {
				for _, h := range o.OwnedHeaders() {
					own(textproto.CanonicalMIMEHeaderKey(h), fmt.Sprintf("the %s policy at %s", ps.Kind, path))
					routeOwned[textproto.CanonicalMIMEHeaderKey(h)] = true
				}
			}
			if rd, ok := v.(pipeline.HeaderReader); ok {
				for _, h := range rd.ReadHeaders() {
					if h == pipeline.AnyHeader {
						rt.decides.any = true
						continue
					}
					reads = append(reads, headerRead{path: path, kind: ps.Kind, name: h})
					guard[textproto.CanonicalMIMEHeaderKey(h)] = true
					rt.decides.add(h)
				}
			}
		}
		for k := routeReads; k < len(reads); k++ {
			// Set by this route's authentication, before the phases that read.
			reads[k].setByRoute = routeOwned[textproto.CanonicalMIMEHeaderKey(reads[k].name)]
		}
		switch {
		case hasAuth && rc.Auth == "none":
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("routes[%d].auth", i), `"none" contradicts the route's authentication policy`))
		case needsIdentity && !hasAuth:
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("routes[%d].policies", i), "a policy needs an authenticated identity, but the route has no authentication policy"))
		}
		rt.metrics = metrics.Of(state).Route(rc.Name, rc.Service, &rt.kinds)
		s.routes = append(s.routes, rt)
		rr = append(rr, toRouterRoute(i, rc, sc))
	}
	linkSiblings(cfg, s.routes)
	unseen := newUnseenHeaders(cfg, owned)
	errs = append(errs, unseen.routeConditions(cfg)...)
	errs = append(errs, unseen.policyReads(cfg, reads)...)
	r, err := router.New(rr)
	if err != nil {
		errs = append(errs, cfg.ErrorAtPath("routes", err.Error()))
	} else {
		errs = append(errs, shadowedRoutes(cfg, r, serviceConfigs)...)
	}
	s.router = r

	for i, l := range cfg.Listeners {
		if l.TLS == nil {
			continue
		}
		cs, certErrs := loadCertSet(l.TLS.Certificates)
		for _, ce := range certErrs {
			path := fmt.Sprintf("listeners[%d].tls.certificates", i)
			if ce.index >= 0 {
				path = fmt.Sprintf("%s[%d]", path, ce.index)
			}
			errs = append(errs, cfg.ErrorAtPath(path, ce.Error()))
		}
		if cs == nil {
			continue
		}
		s.certs[l.Name] = cs
		if ca := l.TLS.ClientAuth; ca != nil && len(ca.Hosts) > 0 {
			hosts := map[string]bool{}
			for _, h := range ca.Hosts {
				hosts[strings.ToLower(h)] = true
			}
			s.mtlsHosts[l.Name] = hosts
		}
	}
	for h := range owned {
		s.owned = append(s.owned, h)
		guard[h] = true
	}
	s.aliasGuard = guard
	sort.Strings(s.owned)
	s.dropped = make(map[string]struct{}, len(s.owned)+len(spoofableHeaders))
	for _, h := range append(s.owned, spoofableHeaders...) {
		s.dropped[h] = struct{}{}
	}
	if err := errs.Err(); err != nil { // sorted by line, each problem once
		return nil, err
	}
	return s, nil
}

const defaultMaxBody = 10 << 20

// linkSiblings gives each route the routes to its service that rewrite
// paths (strip_prefix or rewrite), with their first exact or prefix path
// as the public form. The routes of one service share one slice (the
// route itself is in it and is skipped where it is read), so this is
// linear in the number of routes.
func linkSiblings(cfg *config.Config, routes []*route) {
	bySvc := map[*upstream.Service][]sibling{}
	for j, other := range routes {
		if other.service == nil || !(other.stripPrefix || other.rewrite != "") {
			continue
		}
		rc := &cfg.Routes[j]
		var m router.Match
		for _, p := range rc.Paths {
			if p.Exact != "" {
				m = router.Match{Kind: router.PathExact, Matched: p.Exact}
				break
			}
			if p.Prefix != "" {
				m = router.Match{Kind: router.PathPrefix, Matched: p.Prefix}
				break
			}
		}
		if m.Matched == "" {
			continue
		}
		sb := sibling{rt: other, match: m}
		for _, h := range rc.Hosts {
			sb.hosts = append(sb.hosts, strings.ToLower(strings.TrimSuffix(h, ".")))
		}
		bySvc[other.service] = append(bySvc[other.service], sb)
	}
	for _, rt := range routes {
		if rt.service != nil {
			rt.siblings = bySvc[rt.service]
		}
	}
}

func compilePolicy(cfg *config.Config, ps config.PolicySpec, env pipeline.CompileEnv, rt *route) (any, error) {
	compile, ok := pipeline.Lookup(ps.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown policy kind %q (known: %s)", ps.Kind, strings.Join(pipeline.Kinds(), ", "))
	}
	v, err := compile(cfg.PolicyDecoder(ps), env)
	if err != nil {
		return nil, err
	}
	used := false
	if rp, ok := v.(pipeline.RequestPolicy); ok {
		ph := rp.Phase()
		if ph < 0 || ph >= pipeline.NumPhases {
			return nil, fmt.Errorf("%s: policy reports an invalid phase %d", ps.Kind, ph)
		}
		rt.phases[ph] = append(rt.phases[ph], rp)
		rt.kinds[ph] = append(rt.kinds[ph], ps.Kind)
		used = true
	}
	if rp, ok := v.(pipeline.ResponsePolicy); ok {
		rt.response = append(rt.response, rp)
		rt.respKinds = append(rt.respKinds, ps.Kind)
		used = true
	}
	if !used {
		return nil, fmt.Errorf("%s: compiler returned %T, which is neither a request nor a response policy", ps.Kind, v)
	}
	return v, nil
}

// policyErrors positions every problem a policy's compiler reported: at
// the field it names when it names one (so that validate points at the
// line to fix, not at "- kind: ..."), else at the policy, prefixed with
// its kind.
func policyErrors(cfg *config.Config, ps config.PolicySpec, path string, err error) config.Errors {
	es := cfg.ErrorsAt(ps.Node, path, err)
	for i, e := range es {
		if e.Path == path && !strings.HasPrefix(e.Msg, ps.Kind+": ") {
			c := *e
			c.Msg = ps.Kind + ": " + c.Msg
			es[i] = &c
		}
	}
	return es
}

func canonicalOr(name, def string) string {
	if name == "" {
		name = def
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// shadowedRoutes refuses a route path that no request can reach: another
// route comes first for the same hosts and path and matches everything it
// would (router.Shadowed). The operator put this route there, usually with
// other policies, and believes they apply to those requests; they never
// would.
func shadowedRoutes(cfg *config.Config, r *router.Router, services map[string]*config.Service) config.Errors {
	var errs config.Errors
	for _, sh := range r.Shadowed() {
		path := fmt.Sprintf("routes[%d]", sh.Index)
		if len(cfg.Routes[sh.Index].Paths) > 0 {
			path = fmt.Sprintf("routes[%d].paths[%d]", sh.Index, sh.Path)
		}
		same := "the same hosts and path"
		if sc := services[cfg.Routes[sh.By].Service]; sc != nil && sc.ReadsPathsLoosely() {
			same += " as its service's upstream reads paths (case_insensitive_paths, windows_paths or trailing_slash_insensitive_paths)"
		}
		errs = append(errs, cfg.ErrorAtPath(path, fmt.Sprintf("is never reached: routes[%d] (%q) comes first for %s and matches every request this route would "+
			"(it allows these methods, HEAD with GET, and requires no other header); give one of them another path, host, method or header", sh.By, cfg.Routes[sh.By].Name, same)))
	}
	return errs
}

// toRouterRoute is the router's view of a route. sc is its service's
// config (nil for an unknown name, refused elsewhere): how its upstream
// reads paths (letter case, a trailing slash) is how the route matches
// them, so that "/ADMIN/" meets the route "/admin" and its policies rather
// than a catch-all in front of the same upstream.
func toRouterRoute(id int, rc *config.Route, sc *config.Service) router.Route {
	r := router.Route{ID: id, Hosts: rc.Hosts, Methods: routeMethods(rc.Methods), Priority: rc.Priority}
	if sc != nil {
		r.FoldCase, r.IgnoreTrailingSlash = sc.FoldsPathCase(), sc.TrailingSlashInsensitivePaths
	}
	for _, p := range rc.Paths {
		switch {
		case p.Exact != "":
			r.Paths = append(r.Paths, router.PathSpec{Kind: router.PathExact, Value: p.Exact})
		case p.Prefix != "":
			r.Paths = append(r.Paths, router.PathSpec{Kind: router.PathPrefix, Value: p.Prefix})
		default:
			r.Paths = append(r.Paths, router.PathSpec{Kind: router.PathRegex, Value: p.Regex})
		}
	}
	for _, h := range rc.Headers {
		r.Headers = append(r.Headers, router.HeaderSpec{Name: h.Name, Value: h.Value, Regex: h.Regex})
	}
	return r
}

// routeMethods is the methods a route matches: those it lists, and HEAD
// when it lists GET. RFC 9110 section 9.3.2: HEAD is GET without the
// content, and an upstream answers it with its GET handler (the status,
// Content-Length, Last-Modified and whatever the handler did). A route
// that lists GET but not HEAD used to leave HEAD to another route, often
// a catch-all without the GET route's authentication: HEAD
// /admin/report.txt got 200 and its length where GET got 401.
func routeMethods(listed []string) []string {
	hasGET, hasHEAD := false, false
	for _, m := range listed {
		hasGET = hasGET || strings.EqualFold(m, http.MethodGet)
		hasHEAD = hasHEAD || strings.EqualFold(m, http.MethodHead)
	}
	if !hasGET || hasHEAD {
		return listed
	}
	return append(slices.Clip(listed), http.MethodHead)
}

// Policy YAML is decoded by config.NodeDecoder through the pipeline's interface.
var _ pipeline.Decoder = config.NodeDecoder{}
