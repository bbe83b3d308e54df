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
)

// trustedProxies is the set of peers whose forwarding headers are believed.
type trustedProxies []netip.Prefix

func (t trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
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

// ClientAddr is the one place that decides who the client is. The direct
// peer is the client unless it is a trusted proxy; then X-Forwarded-For is
// read right to left, skipping trusted proxies, and the first untrusted
// address is the client. A malformed entry stops the walk at the last
// trusted hop, so a client cannot smuggle an address past a proxy.
func ClientAddr(r *http.Request, trusted trustedProxies) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if len(trusted) == 0 || !trusted.contains(peer) {
		return peer
	}
	client := peer
	xff := r.Header.Values("X-Forwarded-For")
	for i := len(xff) - 1; i >= 0; i-- {
		list := xff[i]
		for list != "" {
			var item string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				item, list = list[j+1:], list[:j]
			} else {
				item, list = list, ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(item))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !trusted.contains(client) {
				return client
			}
		}
	}
	return client
}

// setForwardingHeaders writes X-Forwarded-For/-Proto/-Host and Forwarded on
// the outgoing header h. From an untrusted peer, whatever the client sent is
// replaced; from a trusted proxy, the chain is extended. The values share
// one backing array: this runs on every request.
func setForwardingHeaders(h http.Header, r *http.Request, peerTrusted bool, peer netip.Addr, tls bool) {
	proto := "http"
	if tls {
		proto = "https"
	}
	var ab [64]byte
	peerStr := string(peer.AppendTo(ab[:0]))
	elem := forwardedElement(peer, proto, r.Host)
	vals := make([]string, 4)
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
			if len(k) > 12 && strings.EqualFold(strings.ReplaceAll(k[:12], "_", "-"), "X-Forwarded-") {
				delete(h, k)
			}
		}
		set(0, "X-Forwarded-For", peerStr)
		set(1, "X-Forwarded-Proto", proto)
		set(2, "X-Forwarded-Host", r.Host)
	}
	set(3, "Forwarded", elem)
}

// forwardedElement is one RFC 7239 element: IPv6 addresses are bracketed
// and quoted, the host is a quoted string.
func forwardedElement(peer netip.Addr, proto, host string) string {
	var sb [256]byte
	b := append(sb[:0], "for="...)
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
		b = strconv.AppendQuote(b, host)
	}
	return string(b)
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
	out := append(buf[:0], g.prefix...)
	out = strconv.AppendUint(out, g.n.Add(1), 36)
	return string(out)
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
