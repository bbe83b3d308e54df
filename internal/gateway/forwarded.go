package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/ipfilter"
)

// prefixList is a list of peers by address prefix: the trusted proxies
// (whose forwarding headers are believed), ops.allow.
type prefixList []netip.Prefix

// parsePrefixList reads a config address list (config.ParsePrefix is the
// one reading of an entry, checked at validation).
func parsePrefixList(list []string) (prefixList, error) {
	var out prefixList
	for _, e := range list {
		p, err := ipfilter.ParsePrefix(e)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func (t prefixList) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerOf is the TCP peer of the connection r came on: the engine's,
// read once per connection, or else r.RemoteAddr parsed.
func peerOf(r *http.Request) netip.Addr {
	if ap, ok := http1.RemoteAddrPort(r); ok {
		return ap.Addr().Unmap()
	}
	return peerAddr(r.RemoteAddr)
}

// peerAddr parses the TCP peer of the connection.
func peerAddr(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err == nil {
		return ap.Addr().Unmap()
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// ClientAddr is the one place that decides who the client is, reading
// whichever forwarding header a trusted proxy sent (client_address_header:
// auto). See ClientAddrFrom.
func ClientAddr(r *http.Request, trusted prefixList) netip.Addr {
	return ClientAddrFrom(r, trusted, config.ClientAddressAuto)
}

// ClientAddrFrom decides who the client is. The direct peer is the client
// unless it is a trusted proxy; then the forwarding header named by header
// (config.ClientAddress*) is read as one list, all its header lines
// together, right to left: the rightmost entries were written by the
// proxies nearest the gateway, everything left of the first untrusted
// address by the client itself. Trusted proxies are skipped and the first
// untrusted address is the client. A malformed entry (or RFC 7239's
// "unknown" and obfuscated identifiers) stops the walk at the last trusted
// hop, so a client cannot smuggle an address past a proxy.
//
// With header "auto", a request carrying only X-Forwarded-For or only
// Forwarded is read by it; one carrying both is believed only when both
// name the same client. Otherwise one of them was written by the client
// (a proxy that appends to one header passes the other through), and the
// client is the trusted peer itself.
func ClientAddrFrom(r *http.Request, trusted prefixList, header string) netip.Addr {
	return clientAddrOf(peerOf(r), r, trusted, header)
}

// clientAddrOf is ClientAddrFrom for a request whose peer is known.
func clientAddrOf(peer netip.Addr, r *http.Request, trusted prefixList, header string) netip.Addr {
	if len(trusted) == 0 || !trusted.contains(peer) {
		return peer
	}
	xff, fwd := r.Header["X-Forwarded-For"], r.Header["Forwarded"]
	switch header {
	case config.ClientAddressXFF:
		return walkXFF(peer, xff, trusted)
	case config.ClientAddressForwarded:
		return walkForwarded(peer, fwd, trusted)
	}
	switch {
	case len(fwd) == 0:
		return walkXFF(peer, xff, trusted)
	case len(xff) == 0:
		return walkForwarded(peer, fwd, trusted)
	}
	if a, b := walkXFF(peer, xff, trusted), walkForwarded(peer, fwd, trusted); a == b {
		return a
	}
	return peer
}

// walkXFF walks X-Forwarded-For lines right to left from the trusted peer.
func walkXFF(peer netip.Addr, lines []string, trusted prefixList) netip.Addr {
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		list := lines[i]
		for list != "" {
			var item string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				item, list = list[j+1:], list[:j]
			} else {
				item, list = list, ""
			}
			a, ok := parseXFFNode(strings.TrimSpace(item))
			if !ok {
				return client
			}
			client = a
			if !trusted.contains(client) {
				return client
			}
		}
	}
	return client
}

// walkForwarded walks the for= parameters of RFC 7239 Forwarded elements
// right to left from the trusted peer.
func walkForwarded(peer netip.Addr, lines []string, trusted prefixList) netip.Addr {
	fors := forwardedFors(lines)
	client := peer
	for i := len(fors) - 1; i >= 0; i-- {
		a, ok := parseForwardedNode(fors[i])
		if !ok {
			return client
		}
		client = a
		if !trusted.contains(client) {
			return client
		}
	}
	return client
}

// parseXFFNode reads one X-Forwarded-For entry: an address, optionally
// with a port ("192.0.2.1:4711", "[2001:db8::1]:4711") or in brackets.
func parseXFFNode(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// parseForwardedNode reads an RFC 7239 section 6 node (the value of for=,
// unquoted): IPv4address [":" port], "[" IPv6address "]" [":" port].
// "unknown" and obfuscated names ("_hidden") name no address.
func parseForwardedNode(s string) (netip.Addr, bool) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host, port = s[1:end], s[end+1:]
		if port != "" && port[0] != ':' {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() || a.Zone() != "" || !validNodePort(strings.TrimPrefix(port, ":"), port != "") {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if !validNodePort(port, true) {
			return netip.Addr{}, false
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false // an IPv6 address must be bracketed
	}
	return a, true
}

// validNodePort: node-port = port / obfport (RFC 7239 section 6).
func validNodePort(p string, present bool) bool {
	if !present {
		return true
	}
	if p == "" {
		return false
	}
	if p[0] == '_' {
		for i := 1; i < len(p); i++ {
			if c := p[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return len(p) > 1
	}
	if len(p) > 5 {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535 && p[0] != '+' && p[0] != '-'
}

// forwardedFors parses Forwarded header lines (RFC 7239 section 4, one
// list across lines) and returns each element's for= value, unquoted, or
// "" (which names no address and stops a walk) for an element without one.
// Where a line stops parsing, one "" stands for the rest of that line: its
// elements cannot be told apart, so a walk from the right stops there.
//
//	Forwarded         = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair    = token "=" value
//	value             = token / quoted-string
func forwardedFors(lines []string) []string {
	var fors []string
	for _, line := range lines {
		fors = forwardedLine(fors, line)
	}
	return fors
}

func forwardedLine(fors []string, line string) []string {
	i := 0
	for {
		// One element: pairs up to a ',' or the end of the line.
		forVal, seen := "", false
		for {
			i = skipOWS(line, i)
			if i < len(line) && line[i] != ';' && line[i] != ',' {
				j := i
				for j < len(line) && http1.IsTchar(line[j]) {
					j++
				}
				name := line[i:j]
				if name == "" || j >= len(line) || line[j] != '=' {
					return append(fors, "")
				}
				v, next, ok := forwardedValue(line, j+1)
				if !ok {
					return append(fors, "")
				}
				if strings.EqualFold(name, "for") {
					if seen {
						return append(fors, "") // two for= in one element
					}
					forVal, seen = v, true
				}
				i = skipOWS(line, next)
			}
			if i < len(line) && line[i] == ';' {
				i++
				continue
			}
			break
		}
		fors = append(fors, forVal)
		if i >= len(line) {
			return fors
		}
		if line[i] != ',' {
			return append(fors, "")
		}
		i++
	}
}

// forwardedValue reads a token or a quoted-string starting at i.
func forwardedValue(s string, i int) (string, int, bool) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				return b.String(), j + 1, true
			case c == '\\':
				if j+1 >= len(s) {
					return "", 0, false
				}
				j++
				b.WriteByte(s[j])
			case c < ' ' && c != '\t' || c == 0x7f:
				return "", 0, false
			default:
				b.WriteByte(c)
			}
		}
		return "", 0, false
	}
	j := i
	for j < len(s) && http1.IsTchar(s[j]) {
		j++
	}
	if j == i {
		return "", 0, false
	}
	return s[i:j], j, true
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// setForwardingHeaders writes X-Forwarded-For/-Proto/-Host and Forwarded on
// the outgoing header h. From an untrusted peer, whatever the client sent is
// replaced; from a trusted proxy, the chain is extended.
func setForwardingHeaders(h http.Header, r *http.Request, peerTrusted bool, peer netip.Addr, tls bool) {
	writeForwardingHeaders(h, r, peerTrusted, peer, tls, new([4]string), new(strArena))
}

// writeForwardingHeaders is setForwardingHeaders with the storage of the
// values given: their slices share vals, and the strings it builds are
// carved from strs. This runs on every request; the exchange holds both,
// so it allocates nothing of its own.
func writeForwardingHeaders(h http.Header, r *http.Request, peerTrusted bool, peer netip.Addr, tls bool, vals *[4]string, strs *strArena) {
	proto := "http"
	if tls {
		proto = "https"
	}
	var ab [300]byte
	peerStr := strs.str(peer.AppendTo(ab[:0]))
	elem := strs.str(appendForwardedElement(ab[:0], peer, proto, r.Host))
	set := func(i int, k, v string) {
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	if peerTrusted {
		if prior := h.Values("X-Forwarded-For"); len(prior) > 0 {
			set(0, "X-Forwarded-For", strings.Join(prior, ", ")+", "+peerStr)
		} else {
			set(0, "X-Forwarded-For", peerStr)
		}
		if h.Get("X-Forwarded-Proto") == "" {
			set(1, "X-Forwarded-Proto", proto)
		}
		if h.Get("X-Forwarded-Host") == "" {
			set(2, "X-Forwarded-Host", r.Host)
		}
		if prior := h.Values("Forwarded"); len(prior) > 0 {
			elem = strings.Join(prior, ", ") + ", " + elem
		}
	} else {
		// Every other X-Forwarded-* (Prefix, Port, Ssl...) from a client
		// would be read by the upstream as the gateway's word.
		for k := range h {
			if isXForwarded(k) {
				delete(h, k)
			}
		}
		set(0, "X-Forwarded-For", peerStr)
		set(1, "X-Forwarded-Proto", proto)
		set(2, "X-Forwarded-Host", r.Host)
	}
	set(3, "Forwarded", elem)
}

// isXForwarded reports a name longer than "X-Forwarded-" that starts with
// it in any case, with '_' for any '-' (a client's spelling of the same
// header that some upstreams normalize). It allocates nothing: it runs on
// every header of every request from an untrusted peer.
func isXForwarded(k string) bool {
	const prefix = "x-forwarded-"
	if len(k) <= len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := k[i]
		if c == '_' {
			c = '-'
		} else if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// appendForwardedElement appends one RFC 7239 element: IPv6 addresses are
// bracketed and quoted, the host is a quoted string.
func appendForwardedElement(b []byte, peer netip.Addr, proto, host string) []byte {
	b = append(b, "for="...)
	if peer.Is6() {
		b = append(b, `"[`...)
		b = peer.AppendTo(b)
		b = append(b, `]"`...)
	} else {
		b = peer.AppendTo(b)
	}
	b = append(b, ";proto="...)
	b = append(b, proto...)
	if host != "" {
		b = append(b, ";host="...)
		b = appendQuotedString(b, host)
	}
	return b
}

// appendQuotedString appends s as an RFC 9110 section 5.6.4 quoted-string:
// in double quotes, with '"' and '\' escaped by a backslash. RFC 7239
// section 4 wants one for a host with a port (':' is not a token
// character). The engine has checked Host, so s has no control bytes.
func appendQuotedString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// strArena hands out the small strings of one request (its id, the
// forwarding values) from one array that lives as long as they do, so they
// cost no allocation of their own. Bytes are written once, when a string is
// made, and never again: a string from the arena is as immutable as any
// other (and keeps the arena's owner alive while it is referenced). One
// that does not fit is allocated as usual.
type strArena struct {
	buf [160]byte
	n   int
}

func (a *strArena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > len(a.buf)-a.n {
		return string(b)
	}
	i := a.n
	a.n += copy(a.buf[i:], b)
	// #nosec G103 -- the arena's bytes are written once here and never changed; the strings keep the exchange alive.
	return unsafe.String(&a.buf[i], len(b))
}

// requestIDs generates X-Request-Id values: a random per-process prefix
// and a counter, unique across restarts and nodes without a syscall per
// request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (g *requestIDs) next() string {
	var buf [40]byte
	return string(g.appendNext(buf[:0]))
}

func (g *requestIDs) appendNext(b []byte) []byte {
	b = append(b, g.prefix...)
	return strconv.AppendUint(b, g.n.Add(1), 36)
}

// validRequestID accepts an upstream proxy's request id only when it is
// short and made of safe characters, so it can go into logs and headers.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return true
}
