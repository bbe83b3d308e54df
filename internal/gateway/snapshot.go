package gateway

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/portcullis/portcullis/internal/config"
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
	trusted  trustedProxies
	certs    map[string]*certSet // by listener name, HTTPS listeners only
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
	phases      [pipeline.NumPhases][]pipeline.RequestPolicy
	response    []pipeline.ResponsePolicy
}

// Compile turns a validated config into a Snapshot. Connection pools come
// from reg, so targets kept across a reload keep their connections.
func Compile(cfg *config.Config, reg *upstream.Registry) (*Snapshot, error) {
	var errs config.Errors
	s := &Snapshot{cfg: cfg, certs: map[string]*certSet{}}

	for _, p := range cfg.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			errs = append(errs, cfg.ErrorAtPath("trusted_proxies", err.Error()))
			continue
		}
		s.trusted = append(s.trusted, pfx)
	}

	services := map[string]*upstream.Service{}
	for i, sc := range cfg.Services {
		svc, err := reg.Service(sc)
		if err != nil {
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("services[%d]", i), err.Error()))
			continue
		}
		services[sc.Name] = svc
		s.services = append(s.services, svc)
	}

	rr := make([]router.Route, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		rt := &route{
			name:        rc.Name,
			service:     services[rc.Service],
			stripPrefix: rc.StripPrefix,
			rewrite:     rc.Rewrite,
			preserve:    rc.PreserveHost,
			maxBody:     rc.MaxBodySize.Or(defaultMaxBody),
			encodedOK:   rc.AllowEncodedSlashes,
		}
		for _, sc := range cfg.Services {
			if sc.Name == rc.Service && sc.LoadBalancing.Algorithm == "consistent_hash" {
				if sc.LoadBalancing.HashOn == "header" {
					rt.hashHeader = sc.LoadBalancing.HashHeader
				} else {
					rt.hashClient = true
				}
			}
		}
		for j, ps := range rc.Policies {
			if err := compilePolicy(cfg, rc.Name, ps, rt); err != nil {
				errs = append(errs, cfg.ErrorsAt(ps.Node, fmt.Sprintf("routes[%d].policies[%d]", i, j), err)...)
			}
		}
		s.routes = append(s.routes, rt)
		rr = append(rr, toRouterRoute(i, rc))
	}
	r, err := router.New(rr)
	if err != nil {
		errs = append(errs, cfg.ErrorAtPath("routes", err.Error()))
	}
	s.router = r

	for i, l := range cfg.Listeners {
		if l.TLS == nil {
			continue
		}
		cs, err := loadCertSet(l.TLS.Certificates)
		if err != nil {
			errs = append(errs, cfg.ErrorAtPath(fmt.Sprintf("listeners[%d].tls.certificates", i), err.Error()))
			continue
		}
		s.certs[l.Name] = cs
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

const defaultMaxBody = 10 << 20

func compilePolicy(cfg *config.Config, routeName string, ps config.PolicySpec, rt *route) error {
	compile, ok := pipeline.Lookup(ps.Kind)
	if !ok {
		return fmt.Errorf("unknown policy kind %q (known: %s)", ps.Kind, strings.Join(pipeline.Kinds(), ", "))
	}
	v, err := compile(cfg.PolicyDecoder(ps), pipeline.CompileEnv{Route: routeName})
	if err != nil {
		return fmt.Errorf("%s: %w", ps.Kind, err)
	}
	used := false
	if rp, ok := v.(pipeline.RequestPolicy); ok {
		ph := rp.Phase()
		if ph < 0 || ph >= pipeline.NumPhases {
			return fmt.Errorf("%s: policy reports an invalid phase %d", ps.Kind, ph)
		}
		rt.phases[ph] = append(rt.phases[ph], rp)
		used = true
	}
	if rp, ok := v.(pipeline.ResponsePolicy); ok {
		rt.response = append(rt.response, rp)
		used = true
	}
	if !used {
		return fmt.Errorf("%s: compiler returned %T, which is neither a request nor a response policy", ps.Kind, v)
	}
	return nil
}

func toRouterRoute(id int, rc *config.Route) router.Route {
	r := router.Route{ID: id, Hosts: rc.Hosts, Methods: rc.Methods, Priority: rc.Priority}
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

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid address %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
