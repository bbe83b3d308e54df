package normalize

import (
	"errors"
	"net/netip"
	"strings"
)

// Host errors. Each names the rule of RFC 3986 section 3.2.2/3.2.3 (the
// authority grammar that RFC 9110 section 7.2 requires of Host and
// RFC 9113 section 8.3.1 of :authority) that the value broke.
var (
	errHostChar     = errors.New("host: character outside the authority grammar")
	errHostUserinfo = errors.New("host: userinfo is not allowed")
	errHostLiteral  = errors.New("host: malformed IP literal")
	errHostPort     = errors.New("host: port is not 1 to 5 digits in 0-65535")
	errHostEncoded  = errors.New("host: percent-encoding is not accepted")
	errHostLong     = errors.New("host: longer than 255 bytes")
)

// maxHostLen bounds a Host value: a DNS name is at most 253 bytes, and an
// IPv6 literal with brackets and a port stays far below this.
const maxHostLen = 255

// CheckHost checks a Host header (or HTTP/2 :authority) value against the
// authority grammar before it is routed, and returns the host without its
// port: an IPv6 literal without brackets, anything else as sent.
//
//	authority   = host [ ":" port ]          (no userinfo in HTTP, RFC 9110 4.2.4)
//	host        = IP-literal / IPv4address / reg-name
//	IP-literal  = "[" IPv6address "]"        (no zone id, no IPvFuture)
//	reg-name    = *unreserved                (sub-delims refused, see below)
//	port        = 1*5DIGIT, at most 65535
//
// Three things RFC 3986 allows are refused on purpose: percent-encoding in
// reg-name (routers, certificates and upstreams would compare the encoded
// and decoded names differently), sub-delims in reg-name ("!$&'()*+,;=":
// no DNS name has them, and intermediaries read "a.example,b.example" as a
// list of two hosts) and an empty port after ":" (RFC 3986
// 3.2.3 tells producers to omit it; a server that sees "host:" may default
// the port differently from the gateway). An empty value is allowed: RFC
// 9112 section 3.2 requires an empty Host when the target has no authority,
// and it matches only host-less routes.
func CheckHost(h string) (string, error) {
	if len(h) > maxHostLen {
		return "", errHostLong
	}
	if h == "" {
		return "", nil
	}
	host, port := h, ""
	if h[0] == '[' {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", errHostLiteral
		}
		lit := h[1:end]
		// RFC 3986 section 3.2.2: IP-literal = "[" ( IPv6address /
		// IPvFuture ) "]"; a zone id (RFC 6874) names nothing to a peer.
		a, err := netip.ParseAddr(lit)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", errHostLiteral
		}
		host = lit
		rest := h[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return "", errHostLiteral
			}
			port = rest[1:]
			if err := checkPort(port); err != nil {
				return "", err
			}
		}
		return host, nil
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		host, port = h[:i], h[i+1:]
		if err := checkPort(port); err != nil {
			return "", err
		}
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == '~': // unreserved
		case c == '%': // RFC 3986 allows it in reg-name; refused, see above
			return "", errHostEncoded
		case c == '@': // RFC 9110 section 4.2.4: userinfo is deprecated, its presence an error
			return "", errHostUserinfo
		default:
			// ':' (a second colon: an unbracketed IPv6 address), '/', '?',
			// '#', '[', ']', '\', spaces, controls and non-ASCII bytes.
			return "", errHostChar
		}
	}
	if host == "" {
		// ":8080" names no host; RFC 9110 section 4.2.1 forbids an empty
		// host in an http URI.
		return "", errHostChar
	}
	return host, nil
}

// checkPort: port = *DIGIT (RFC 3986 section 3.2.3), here 1 to 5 digits
// naming a TCP port, 0 to 65535.
func checkPort(p string) error {
	if p == "" || len(p) > 5 {
		return errHostPort
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return errHostPort
		}
		n = n*10 + int(p[i]-'0')
	}
	if n > 65535 {
		return errHostPort
	}
	return nil
}
