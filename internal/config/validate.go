package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/sys/unix"

	"github.com/portcullis/portcullis/internal/ascii"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// Limits checked by Validate.
const (
	MaxBodySizeLimit  = 1 << 30
	MinMaxHeaderBytes = 1 << 10
	MaxMaxHeaderBytes = 1 << 20
	MaxWeight         = 1000
	minHTTP2FrameSize = 1 << 14
	maxHTTP2FrameSize = 1<<24 - 1
	SupportedVersion  = 1
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	labelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	nameRule = "must start with a letter or digit and use only letters, digits, '_', '.' and '-' (at most 64 characters)"
)

// Validate checks a defaulted Config and returns every problem as Errors
// (nil when there is none). Parse calls it; call it yourself on a Config
// built in code, after ApplyDefaults.
func (c *Config) Validate() error { return c.validate().Err() }

type validator struct {
	c    *Config
	errs Errors
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, v.c.ErrorAtPath(path, fmt.Sprintf(format, args...)))
}

// q quotes a value for a message, or names its secret reference instead.
func (v *validator) q(path, val string) string {
	if v.c.meta != nil {
		if ref, ok := v.c.meta.secrets[path]; ok {
			return "(the value of " + ref + ")"
		}
	}
	return strconv.Quote(val)
}

func (c *Config) validate() Errors {
	v := &validator{c: c}
	if c.Version != SupportedVersion {
		if c.isSet("version") || c.Version != 0 {
			v.add("version", "unsupported version %d (must be %d)", c.Version, SupportedVersion)
		} else {
			v.add("version", "is required (must be %d)", SupportedVersion)
		}
	}
	for i, p := range c.TrustedProxies {
		path := indexPath("trusted_proxies", i)
		if pfx, ok := v.addressEntry(path, p); ok && pfx.Bits() < minTrustedBits(pfx) {
			v.add(path, "%s trusts a share of the whole Internet to set the client address: every peer in it could claim any address with X-Forwarded-For, and ip_filter, bans and per-client limits would read what it wrote; list the proxies in front of the gateway (at most a /%d)", v.q(path, p), minTrustedBits(pfx))
		}
	}
	if c.ClientIPv6Prefix < 32 || c.ClientIPv6Prefix > 128 {
		v.add("client_ipv6_prefix", "must be from 32 to 128 (the leading bits of an IPv6 address that name one client)")
	}
	switch c.ClientAddressHeader {
	case "", ClientAddressAuto:
	case ClientAddressXFF, ClientAddressForwarded:
		if len(c.TrustedProxies) == 0 {
			// Only a trusted proxy's header is read: without one, every
			// client is the TCP peer (the load balancer in front), and a
			// per-client rate limit, ban or allow list sees one client.
			v.add("client_address_header", "%s is read only from trusted_proxies, and none is listed: every request's client would be the peer that connected (the proxy in front); list the proxies in trusted_proxies", v.q("client_address_header", c.ClientAddressHeader))
		}
	default:
		v.add("client_address_header", "%s is not one of auto, x-forwarded-for, forwarded", v.q("client_address_header", c.ClientAddressHeader))
	}
	v.listeners()
	services := v.services()
	v.routes(services)
	v.consumers()
	v.identityHeaders()
	v.admin()
	if c.IPFilter != nil {
		v.ipFilter("ip_filter", c.IPFilter)
	}
	if c.IntrusionDetection != nil {
		v.intrusion("intrusion_detection", c.IntrusionDetection)
	}
	v.storeRefs()
	v.identityAssertion()
	v.tracing()
	v.securityEvents()
	if !c.Ops.Disable {
		if err := checkHostPort(c.Ops.Address); err != nil {
			v.add("ops.address", "%s: %v", v.q("ops.address", c.Ops.Address), err)
		}
		// The ops endpoints (/metrics, /readyz, the verification keys)
		// never share a socket with public traffic, as the admin API's.
		for i, l := range c.Listeners {
			if sameListenAddr(l.Address, c.Ops.Address) {
				v.add("ops.address", "address %s is also listeners[%d]: the ops listener never answers on a proxy listener", v.q("ops.address", c.Ops.Address), i)
				break
			}
		}
	}
	for i, p := range c.Ops.Allow {
		path := indexPath("ops.allow", i)
		v.addressEntry(path, p)
	}
	if strings.TrimSpace(c.AccessLog.Output) == "" {
		v.add("access_log.output", "must not be empty (stdout, stderr, off or a file path)")
	} else {
		v.logOutput("access_log.output", c.AccessLog.Output)
	}
	v.logOutput("observability.security_events.output", c.Observability.SecurityEvents.Output)
	return v.errs
}

// IsLogFile reports whether a log output (access_log.output,
// observability.security_events.output) names a file rather than stdout,
// stderr or off: what is checked at load and opened again at a reload.
func IsLogFile(output string) bool {
	switch output {
	case "", "off", "stdout", "stderr":
		return false
	}
	return true
}

// logOutput checks a log's output (access log, security events) that names
// a file: the gateway must be able to create it or append to it, or it
// would pass validate and then fail to start, or fail a reload.
func (v *validator) logOutput(path, output string) {
	if !IsLogFile(output) {
		return
	}
	if fi, err := os.Stat(output); err == nil {
		switch {
		case fi.IsDir(): // a device (/dev/null) or a pipe to a log shipper is fine
			v.add(path, "%s is a directory, not a file", v.q(path, output))
		case unix.Access(output, unix.W_OK) != nil:
			v.add(path, "%s cannot be written to", v.q(path, output))
		}
		return
	}
	dir := filepath.Dir(output)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		v.add(path, "%s: the directory %s does not exist", v.q(path, output), v.q(path, dir))
	} else if unix.Access(dir, unix.W_OK|unix.X_OK) != nil {
		v.add(path, "%s cannot be created: the directory %s is not writable", v.q(path, output), v.q(path, dir))
	}
}

// DefaultClientIPv6Prefix is client_ipv6_prefix's default: a /64 is the
// smallest network an IPv6 subscriber is given (RFC 6177), and a host on
// it picks any of its 2^64 addresses (temporary addresses, RFC 8981).
const DefaultClientIPv6Prefix = 64

// ClientIPv6Bits is client_ipv6_prefix as the gateway uses it: the
// default for a nil config or one whose defaults were not applied (a
// loaded config always has it set).
func (c *Config) ClientIPv6Bits() int {
	if c == nil || c.ClientIPv6Prefix == 0 {
		return DefaultClientIPv6Prefix
	}
	return c.ClientIPv6Prefix
}

// ClientKey is the one reading of "one client" where the gateway counts
// per client: an IPv4 address (an IPv4-mapped one unmapped), or the
// leading v6bits of an IPv6 address (client_ipv6_prefix). Counted by the
// whole address, an IPv6 client would get a fresh rate limit, a fresh
// intrusion count and a way around its ban with every address it takes
// from its /64. It allocates nothing.
func ClientKey(a netip.Addr, v6bits int) netip.Addr {
	a = a.Unmap().WithZone("")
	if !a.Is6() || v6bits <= 0 || v6bits >= 128 {
		return a
	}
	p, err := a.Prefix(v6bits)
	if err != nil {
		return a
	}
	return p.Addr()
}

// The values of client_address_header.
const (
	ClientAddressAuto      = "auto"
	ClientAddressXFF       = "x-forwarded-for"
	ClientAddressForwarded = "forwarded"
)

// ParsePrefix is the one reading of an address list entry (trusted
// proxies, ip_filter, intrusion allow lists, CIDR files, an admin token's
// networks): a CIDR ("10.0.0.0/8", "2001:db8::/32") or a single address
// ("192.0.2.7", "::1"), returned normalized (NormalizePrefix). Surrounding
// white space is an error here; a list file's reader trims its lines.
//
// A CIDR with host bits set ("10.1.2.3/8", "192.168.1.10/24") is an
// error, not masked: it names one address and a network at once, and the
// two readings differ by up to the whole prefix. Masked, an allow list or
// trusted_proxies written "192.168.1.10/24" for one host would admit 256,
// "10.1.2.3/8" for a /28 sixteen million; PostgreSQL's cidr type refuses
// such a value for the same reason. The error gives both readings.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid CIDR %q", s)
		}
		if p != p.Masked() {
			return netip.Prefix{}, &HostBitsError{In: s, Network: NormalizePrefix(p), Addr: p.Addr().Unmap()}
		}
		return NormalizePrefix(p), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// HostBitsError is ParsePrefix's refusal of a CIDR with host bits set: the
// entry as written, the network it would be masked to and the one address
// it also names.
type HostBitsError struct {
	In      string
	Network netip.Prefix
	Addr    netip.Addr
}

func (e *HostBitsError) Error() string {
	return fmt.Sprintf("CIDR %q has host bits set: write %s for the network, or %s for the one address", e.In, e.Network, e.Addr)
}

// addressEntry checks one entry of an address list in the file at path by
// ParsePrefix's rule, and reports what is wrong with it (the value of a
// secret reference, and what it would be read as, never shown).
func (v *validator) addressEntry(path, s string) (netip.Prefix, bool) {
	p, err := ParsePrefix(s)
	if err == nil {
		return p, true
	}
	var hb *HostBitsError
	switch {
	case errors.As(err, &hb) && !v.c.IsSecret(path):
		v.add(path, "%s", err)
	case errors.As(err, &hb):
		v.add(path, "%s is a CIDR with host bits set", v.q(path, s))
	default:
		v.add(path, "%s is not a CIDR or IP address", v.q(path, s))
	}
	return p, false
}

// minTrustedBits is the widest prefix a list of the operator's own hosts
// may hold (trusted_proxies, intrusion_detection.allow): an IPv4 /8 (the
// widest private range, 10.0.0.0/8) and an IPv6 /7 (the unique local
// addresses, fc00::/7). No fleet of proxies or offices spans more;
// 0.0.0.0/0 in trusted_proxies means "believe every client's
// X-Forwarded-For", in intrusion_detection.allow "ban nobody".
func minTrustedBits(p netip.Prefix) int {
	if p.Addr().Is4() {
		return 8
	}
	return 7
}

// NormalizePrefix masks p, drops a zone, and turns an IPv4-mapped IPv6
// prefix (::ffff:0:0/96 and longer) into the IPv4 prefix it covers, so
// that one address has one form in every list.
func NormalizePrefix(p netip.Prefix) netip.Prefix {
	if !p.IsValid() {
		return p
	}
	a := p.Addr().WithZone("")
	if a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return netip.PrefixFrom(a, p.Bits()).Masked()
}

// checkHostPort accepts "host:port", "[v6]:port" and ":port" with a
// numeric port 0-65535.
func checkHostPort(addr string) error {
	if addr == "" {
		return fmt.Errorf("is required")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not a host:port address")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535")
	}
	return nil
}

func (v *validator) name(path, kind, n string, seen map[string]int, listPath string) {
	switch {
	case n == "":
		v.add(path, "is required")
	case !nameRE.MatchString(n):
		v.add(path, "%s name %s %s", kind, v.q(path, n), nameRule)
	default:
		if j, dup := seen[n]; dup {
			v.add(path, "%s name %s is already used by %s", kind, v.q(path, n), indexPath(listPath, j))
			return
		}
	}
}

func (v *validator) listeners() {
	c := v.c
	if len(c.Listeners) == 0 {
		v.add("listeners", "at least one listener is required")
	}
	names := map[string]int{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		p := indexPath("listeners", i)
		v.name(p+".name", "listener", l.Name, names, "listeners")
		if _, dup := names[l.Name]; !dup && l.Name != "" {
			names[l.Name] = i
		}
		ap := p + ".address"
		if err := checkHostPort(l.Address); err != nil {
			v.add(ap, "%s: %v", v.q(ap, l.Address), err)
		} else {
			for j, other := range c.Listeners[:i] {
				if sameListenAddr(l.Address, other.Address) {
					v.add(ap, "address %s is already used by listeners[%d] (%s)", v.q(ap, l.Address), j, v.q(indexPath("listeners", j)+".address", other.Address))
					break
				}
			}
		}
		if l.MaxHeaderBytes < MinMaxHeaderBytes || l.MaxHeaderBytes > MaxMaxHeaderBytes {
			v.add(p+".max_header_bytes", "must be between 1KiB and 1MiB")
		}
		if f := l.HTTP2.MaxReadFrameSize; f < minHTTP2FrameSize || f > maxHTTP2FrameSize {
			v.add(p+".http2.max_read_frame_size", "must be between 16KiB and 16MiB-1 (RFC 9113)")
		}
		if r := l.RedirectToHTTPS; r != nil {
			if r.Port < 0 || r.Port > 65535 {
				v.add(p+".redirect_to_https.port", "must be a port from 1 to 65535 (0 means 443)")
			}
			if l.TLS != nil {
				v.add(p+".redirect_to_https", "a listener with tls cannot redirect to https")
			}
		}
		if l.TLS != nil {
			v.listenerTLS(p+".tls", l.TLS)
		}
		v.connectionLimits(p, l)
	}
}

func (v *validator) listenerTLS(p string, t *ListenerTLS) {
	if len(t.Certificates) == 0 {
		v.add(p+".certificates", "at least one certificate is required")
	}
	for i, cert := range t.Certificates {
		cp := indexPath(p+".certificates", i)
		v.keyPair(cp, cert.CertFile, cert.KeyFile)
	}
	v.tlsMinVersion(p+".min_version", t.MinVersion, false)
	if t.HSTS != nil && v.c.meta != nil && !v.c.isSet(p+".hsts.max_age") {
		v.add(p+".hsts.max_age", "is required")
	}
	if t.ClientAuth != nil {
		v.clientAuth(p+".client_auth", t.ClientAuth)
	}
}

// tlsMinVersion checks a min_version against the gateway's TLS policy
// (tlspolicy.Version, the one list of versions the gateway can start at);
// emptyOK where the field has a default that is not filled in beforehand.
func (v *validator) tlsMinVersion(path, val string, emptyOK bool) {
	if _, err := tlspolicy.Version(val, 0); err != nil || (val == "" && !emptyOK) {
		v.add(path, "must be \"1.2\" or \"1.3\", not %s", v.q(path, val))
	}
}

// readable checks that a file the gateway will load exists and opens;
// false when it does not (the problem added).
func (v *validator) readable(path, file string) bool {
	if file == "" {
		v.add(path, "is required")
		return false
	}
	if err := checkRegularFile(file); err != nil {
		v.add(path, "cannot read %s: %v", v.q(path, file), err)
		return false
	}
	f, err := os.Open(file) // #nosec G304 -- a path the operator wrote in the config
	if err != nil {
		v.add(path, "cannot read %s: %v", v.q(path, file), stripPath(err))
		return false
	}
	f.Close()
	return true
}

// caFile checks a bundle of CA certificates the gateway will trust: it
// reads, and holds certificates by tlspolicy.ParseCA's rules (the reader
// the gateway uses), so that a key or a mangled certificate named as a CA
// fails here, not at start or at the first handshake.
func (v *validator) caFile(path, file string) {
	if !v.readable(path, file) {
		return
	}
	data, err := os.ReadFile(file) // #nosec G304 -- a path the operator wrote in the config
	if err != nil {
		v.add(path, "cannot read %s: %v", v.q(path, file), stripPath(err))
		return
	}
	if _, err := tlspolicy.ParseCA(data); err != nil {
		v.add(path, "%s %v", v.q(path, file), err)
	}
}

// keyPair checks the certificate and key the gateway will present (block
// p's cert_file and key_file): each reads, and together they load as
// crypto/tls loads them, the key matching the certificate. A swapped or
// stale key would otherwise pass validate and stop the gateway at start
// (or, on a reload, leave the old certificate serving). crypto/tls's
// errors never contain key material.
func (v *validator) keyPair(p, certFile, keyFile string) {
	certOK := v.readable(p+".cert_file", certFile)
	keyOK := v.readable(p+".key_file", keyFile)
	if !certOK || !keyOK {
		return
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		v.add(p, "cert_file and key_file do not load as a key pair: %v", err)
	}
}

func (v *validator) services() map[string]int {
	names := map[string]int{}
	for i := range v.c.Services {
		s := &v.c.Services[i]
		p := indexPath("services", i)
		v.name(p+".name", "service", s.Name, names, "services")
		if _, dup := names[s.Name]; !dup && s.Name != "" {
			names[s.Name] = i
		}
		if len(s.Targets) == 0 {
			v.add(p+".targets", "at least one target is required")
		}
		urls := map[string]int{}
		for j, t := range s.Targets {
			tp := indexPath(p+".targets", j)
			if msg := checkTargetURL(t.URL); msg != "" {
				v.add(tp+".url", "%s", msg)
			} else if k, dup := urls[t.URL]; dup {
				v.add(tp+".url", "the same target as targets[%d]", k)
			} else {
				urls[t.URL] = j
			}
			if t.Weight < 1 || t.Weight > MaxWeight {
				v.add(tp+".weight", "must be between 1 and %d", MaxWeight)
			}
		}
		lb := s.LoadBalancing
		lp := p + ".load_balancing"
		switch lb.Algorithm {
		case RoundRobin, LeastConnections, ConsistentHash:
		default:
			v.add(lp+".algorithm", "must be one of round_robin, least_connections, consistent_hash, not %s", v.q(lp+".algorithm", lb.Algorithm))
		}
		switch lb.HashOn {
		case HashOnClientAddr:
		case HashOnHeader:
			if lb.HashHeader == "" {
				v.add(lp+".hash_header", "is required when hash_on is header")
			}
		default:
			v.add(lp+".hash_on", "must be client_address or header, not %s", v.q(lp+".hash_on", lb.HashOn))
		}
		if lb.HashHeader != "" && !httpguts.ValidHeaderFieldName(lb.HashHeader) {
			v.add(lp+".hash_header", "%s is not a valid header name", v.q(lp+".hash_header", lb.HashHeader))
		}
		if s.MaxIdleConnsPerTarget < 0 {
			v.add(p+".max_idle_conns_per_target", "must be at least 1")
		}
		if s.MaxConnsPerTarget < 0 {
			v.add(p+".max_conns_per_target", "must not be negative (0 means unlimited)")
		}
		if s.TLS != nil {
			v.upstreamTLS(p+".tls", s)
		}
		v.resilience(p, s)
	}
	return names
}

// checkTargetURL returns what is wrong with a target URL, or "". The URL
// is not quoted: it may carry credentials.
func checkTargetURL(raw string) string {
	if raw == "" {
		return "is required"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL"
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "scheme must be http or https"
	case u.User != nil:
		return "must not contain user information"
	case u.Opaque != "" || u.Host == "":
		return "must be scheme://host:port"
	case u.Path != "" || u.RawPath != "":
		return "must not have a path (use the route's rewrite)"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not have a fragment"
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" {
		return "must name a host and a port (http://host:port)"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "port must be a number from 1 to 65535"
	}
	return ""
}

func (v *validator) routes(services map[string]int) {
	names := map[string]int{}
	for i := range v.c.Routes {
		r := &v.c.Routes[i]
		p := indexPath("routes", i)
		v.name(p+".name", "route", r.Name, names, "routes")
		if _, dup := names[r.Name]; !dup && r.Name != "" {
			names[r.Name] = i
		}
		sp := p + ".service"
		if r.Service == "" {
			v.add(sp, "is required")
		} else if _, ok := services[r.Service]; !ok {
			v.add(sp, "service %s is not defined", v.q(sp, r.Service))
		}
		v.hosts(p, r.Hosts)
		v.paths(p, r)
		v.methods(p, r.Methods)
		v.headers(p, r.Headers)
		if r.Rewrite != "" {
			if err := CheckPath(r.Rewrite); err != nil {
				v.add(p+".rewrite", "%s %v", v.q(p+".rewrite", r.Rewrite), err)
			}
		}
		if r.MaxBodySize < 0 || r.MaxBodySize > MaxBodySizeLimit {
			v.add(p+".max_body_size", "must not exceed 1GiB")
		}
		v.routeAuth(p, r.Auth)
	}
}

func (v *validator) paths(p string, r *Route) {
	if len(r.Paths) == 0 {
		v.add(p+".paths", "at least one path is required (use prefix: / to match every path)")
	}
	seen := map[PathMatch]int{}
	for j, m := range r.Paths {
		pp := indexPath(p+".paths", j)
		n := 0
		for _, s := range []string{m.Exact, m.Prefix, m.Regex} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			v.add(pp, "set exactly one of exact, prefix or regex")
			continue
		}
		if first, dup := seen[m]; dup {
			v.add(pp, "is listed twice (paths[%d])", first)
			continue
		}
		seen[m] = j
		switch {
		case m.Exact != "":
			if err := CheckPath(m.Exact); err != nil {
				v.add(pp+".exact", "%s %v", v.q(pp+".exact", m.Exact), err)
			}
		case m.Prefix != "":
			if err := CheckPath(m.Prefix); err != nil {
				v.add(pp+".prefix", "%s %v", v.q(pp+".prefix", m.Prefix), err)
			}
		default:
			if _, err := CompileWholeMatch(m.Regex); err != nil {
				v.add(pp+".regex", "invalid regular expression: %v", regexErr(err))
			}
			for _, opt := range []struct {
				set  bool
				name string
			}{{r.StripPrefix, "strip_prefix"}, {r.Rewrite != "", "rewrite"}} {
				if opt.set {
					v.add(p+"."+opt.name, "needs every path of the route to be exact or prefix (paths[%d] is a regex)", j)
				}
			}
		}
	}
}

// regexErr drops the expression from a regexp error message: it is in
// the file already and may be long.
func regexErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": `"); i >= 0 {
		msg = msg[:i]
	}
	return strings.TrimPrefix(msg, "error parsing regexp: ")
}

// CompileWholeMatch compiles a route's path or header regex as the router
// matches it: against the whole value, never a part of it. It is the one
// rule for both the validator and the router.
//
// The expression must be a regex on its own before it is anchored: wrapped
// as \A(?:expr)\z, an unbalanced "/admin)|(.*" would compile into an
// alternation whose second branch, (.*)\z, matches every path. \A and \z
// rather than ^ and $, so that no flag can make the anchors match at a line
// break inside the value.
func CompileWholeMatch(expr string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(expr); err != nil {
		return nil, err
	}
	return regexp.Compile(`\A(?:` + expr + `)\z`)
}

var standardMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "CONNECT": true, "TRACE": true,
}

func (v *validator) methods(p string, methods []string) {
	seen := map[string]bool{}
	for j, m := range methods {
		mp := indexPath(p+".methods", j)
		switch {
		case !httpguts.ValidHeaderFieldName(m):
			v.add(mp, "%s is not a valid method token", v.q(mp, m))
		case m != strings.ToUpper(m):
			v.add(mp, "method %s must be upper-case", v.q(mp, m))
		case seen[m]:
			v.add(mp, "method %s is listed twice", v.q(mp, m))
		}
		seen[m] = true
	}
}

// IsStandardMethod reports whether m is one of the RFC 9110 / RFC 5789
// methods; others are custom tokens.
func IsStandardMethod(m string) bool { return standardMethods[m] }

func (v *validator) headers(p string, hs []HeaderMatch) {
	for j, h := range hs {
		hp := indexPath(p+".headers", j)
		if h.Name == "" {
			v.add(hp+".name", "is required")
		} else if !httpguts.ValidHeaderFieldName(h.Name) {
			v.add(hp+".name", "%s is not a valid header name", v.q(hp+".name", h.Name))
		}
		if h.Value != "" && h.Regex != "" {
			v.add(hp, "set at most one of value and regex")
		}
		if h.Regex != "" {
			if _, err := CompileWholeMatch(h.Regex); err != nil {
				v.add(hp+".regex", "invalid regular expression: %v", regexErr(err))
			}
		}
	}
}

func (v *validator) hosts(p string, hosts []string) {
	seen := map[string]bool{}
	for j, h := range hosts {
		hp := indexPath(p+".hosts", j)
		if err := CheckHost(h); err != nil {
			v.add(hp, "host %s %v", v.q(hp, h), err)
		} else if seen[h] {
			v.add(hp, "host %s is listed twice", v.q(hp, h))
		}
		seen[h] = true
	}
}

// CheckHost reports why h is not a route host: a lower-case DNS name,
// optionally with a leading "*." wildcard, without a port.
func CheckHost(h string) error {
	name, wild := strings.CutPrefix(h, "*.")
	switch {
	case h == "":
		return fmt.Errorf("must not be empty")
	case strings.Contains(name, "*"):
		return fmt.Errorf("may only have a wildcard as a leading \"*.\"")
	case strings.Contains(name, ":") || strings.Contains(name, "["):
		return fmt.Errorf("must not have a port")
	case name != strings.ToLower(name):
		return fmt.Errorf("must be lower-case")
	case len(name) > 253:
		return fmt.Errorf("is longer than 253 characters")
	case wild && !strings.Contains(name, "."):
		return fmt.Errorf("wildcard must cover a name with at least two labels (*.example.com)")
	}
	for _, label := range strings.Split(name, ".") {
		if !labelRE.MatchString(label) {
			return fmt.Errorf("is not a DNS name (labels are 1-63 of a-z, 0-9 and '-', not starting or ending with '-')")
		}
	}
	return nil
}

// CheckPath reports why p is not a canonical absolute request path (the
// only form routes and rewrites may use, since the gateway matches
// canonical paths): it starts with "/", has no empty, "." or ".."
// segments, no backslash, ';', '?' or '#', and only valid upper-case
// percent escapes that do not encode '/' or an unreserved character.
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("must start with \"/\"")
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			return fmt.Errorf("must not contain a backslash")
		case c == ';' || c == '?' || c == '#':
			return fmt.Errorf("must not contain %q", c)
		case c == '%':
			b, ok := ascii.PercentByte(p, i)
			if !ok {
				return fmt.Errorf("has an invalid percent escape")
			}
			esc := p[i : i+3]
			if esc != strings.ToUpper(esc) {
				return fmt.Errorf("percent escapes must use upper-case hex (%s, not %s)", strings.ToUpper(esc), esc)
			}
			if b == '/' {
				return fmt.Errorf("must not contain %%2F (an encoded slash)")
			}
			if ascii.IsUnreserved(b) {
				return fmt.Errorf("must write %q as is, not as %s", b, esc)
			}
			i += 2
		case c >= 0x80:
			return fmt.Errorf("must percent-encode non-ASCII characters")
		case !ascii.IsUnreserved(c) && !strings.ContainsRune("!$&'()*+,=:@/", rune(c)):
			return fmt.Errorf("must percent-encode %q", c)
		}
	}
	if strings.Contains(p, "//") {
		return fmt.Errorf("must not contain empty segments (\"//\")")
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("must not contain \".\" or \"..\" segments")
		}
	}
	return nil
}
