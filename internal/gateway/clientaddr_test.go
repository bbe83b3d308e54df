package gateway

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/ipfilter"
)

// The trusted proxies of the ClientAddr table: an IPv4 range, an IPv6
// range and one single address, as trusted_proxies would list them.
var clientAddrTrusted = []string{"10.0.0.0/8", "fd00::/8", "192.0.2.1"}

func trustedOf(t *testing.T, list []string) prefixList {
	t.Helper()
	var tp prefixList
	for _, s := range list {
		p, err := ipfilter.ParsePrefix(s)
		if err != nil {
			t.Fatal(err)
		}
		tp = append(tp, p)
	}
	return tp
}

// TestClientAddr is one row per rule of gateway.ClientAddr. Each row's
// header lines are sent as separate X-Forwarded-For field lines, in order,
// the way several proxies (or a client and a proxy) would write them.
func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		trusted []string // nil: clientAddrTrusted
		peer    string   // RemoteAddr as net/http sets it
		xff     []string // X-Forwarded-For field lines, in order
		want    string
	}{
		// Who may speak for the client.
		{desc: "an untrusted peer is the client whatever it sends",
			peer: "203.0.113.50:40000", xff: []string{"198.51.100.1"}, want: "203.0.113.50"},
		{desc: "no trusted proxies configured: the peer is the client",
			trusted: []string{}, peer: "10.0.0.1:40000", xff: []string{"198.51.100.1"}, want: "10.0.0.1"},
		{desc: "a trusted peer without X-Forwarded-For is the client",
			peer: "10.0.0.1:40000", want: "10.0.0.1"},
		{desc: "a trusted peer with an empty X-Forwarded-For line is the client",
			peer: "10.0.0.1:40000", xff: []string{""}, want: "10.0.0.1"},
		{desc: "a trusted single address (not a range) is a proxy",
			peer: "192.0.2.1:40000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{desc: "an address next to a trusted single address is not trusted",
			peer: "192.0.2.2:40000", xff: []string{"198.51.100.1"}, want: "192.0.2.2"},

		// Right to left.
		{desc: "one line is read right to left: the entry the proxy appended wins over the client's own",
			peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 198.51.100.1"}, want: "198.51.100.1"},
		{desc: "several lines are one list, the last line last: a client-written first line is never taken for the proxy's",
			peer: "10.0.0.1:40000", xff: []string{"6.6.6.6", "198.51.100.1"}, want: "198.51.100.1"},
		{desc: "several lines with several entries each are one list",
			peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 7.7.7.7", "198.51.100.1, 10.0.0.9"}, want: "198.51.100.1"},
		{desc: "trusted hops continue across lines into the earlier line",
			peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 198.51.100.1", "10.0.0.3", "10.0.0.2"}, want: "198.51.100.1"},
		{desc: "an empty line between lines is skipped",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1", "", "10.0.0.2"}, want: "198.51.100.1"},

		// Chains of trusted proxies.
		{desc: "a chain of trusted proxies is skipped to the first untrusted address",
			peer: "10.0.0.1:40000", xff: []string{"6.6.6.6, 198.51.100.1, 10.0.0.4, 10.0.0.3, 10.0.0.2"}, want: "198.51.100.1"},
		{desc: "a chain mixing IPv4 and IPv6 proxies is skipped",
			peer: "[fd00::1]:40000", xff: []string{"198.51.100.1, 10.0.0.3, fd00::2"}, want: "198.51.100.1"},
		{desc: "when every entry is a trusted proxy the leftmost one is the client",
			peer: "10.0.0.1:40000", xff: []string{"10.0.0.3, 10.0.0.2"}, want: "10.0.0.3"},
		{desc: "an untrusted hop in the middle of the chain is the client, not the entries left of it",
			peer: "10.0.0.1:40000", xff: []string{"10.0.0.5, 198.51.100.7, 10.0.0.2"}, want: "198.51.100.7"},

		// Malformed entries stop the walk at the last trusted hop.
		{desc: "a malformed entry stops the walk at the last trusted hop",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1, bogus, 10.0.0.2"}, want: "10.0.0.2"},
		{desc: "a malformed rightmost entry leaves the peer as the client",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1, not-an-ip"}, want: "10.0.0.1"},
		{desc: "a malformed last line stops the walk before the earlier lines",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1", "bogus"}, want: "10.0.0.1"},
		{desc: "a malformed entry left of the client is never reached",
			peer: "10.0.0.1:40000", xff: []string{"bogus, 198.51.100.1"}, want: "198.51.100.1"},
		{desc: "an empty list element is malformed and stops the walk",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1,, 10.0.0.2"}, want: "10.0.0.2"},
		{desc: "an address with a CIDR suffix is malformed",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1, 10.0.0.0/8"}, want: "10.0.0.1"},
		{desc: "spaces and tabs around entries are allowed",
			peer: "10.0.0.1:40000", xff: []string{" 198.51.100.1 ,\t10.0.0.2\t"}, want: "198.51.100.1"},

		// Address forms.
		{desc: "an IPv6 client behind an IPv4 proxy",
			peer: "10.0.0.1:40000", xff: []string{"2001:db8::7"}, want: "2001:db8::7"},
		{desc: "an IPv4 client behind an IPv6 proxy",
			peer: "[fd00::1]:40000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{desc: "an IPv4-mapped client is its IPv4 address",
			peer: "10.0.0.1:40000", xff: []string{"::ffff:198.51.100.1"}, want: "198.51.100.1"},
		{desc: "an IPv4-mapped entry of a trusted IPv4 proxy is trusted",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1, ::ffff:10.0.0.2"}, want: "198.51.100.1"},
		{desc: "an IPv4-mapped peer inside a trusted IPv4 range is trusted",
			peer: "[::ffff:10.0.0.1]:40000", xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{desc: "an IPv4-mapped untrusted peer is its IPv4 address",
			peer: "[::ffff:203.0.113.50]:40000", xff: []string{"198.51.100.1"}, want: "203.0.113.50"},
		{desc: "an IPv6 address is compared as an address, not as text",
			peer: "[fd00:0:0::1]:40000", xff: []string{"2001:DB8:0:0::7"}, want: "2001:db8::7"},

		// Ports and brackets: some proxies (cloud load balancers) write
		// "address:port" or a bracketed IPv6 address; the address is read
		// without them. Anything else is malformed and stops the walk.
		{desc: "an IPv4 entry with a port is read without it",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1:5555"}, want: "198.51.100.1"},
		{desc: "a bracketed IPv6 entry is read without brackets",
			peer: "10.0.0.1:40000", xff: []string{"[2001:db8::7]"}, want: "2001:db8::7"},
		{desc: "a bracketed IPv6 entry with a port is read without them",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1, [2001:db8::7]:443"}, want: "2001:db8::7"},
		{desc: "a port out of range is malformed",
			peer: "10.0.0.1:40000", xff: []string{"198.51.100.1:70000"}, want: "10.0.0.1"},
		{desc: "an IPv6 zone is malformed",
			peer: "10.0.0.1:40000", xff: []string{"fe80::1%eth0"}, want: "10.0.0.1"},
		{desc: "a bare IPv6 entry whose last group looks like a port is an address",
			peer: "10.0.0.1:40000", xff: []string{"2001:db8::7:443"}, want: "2001:db8::7:443"},
		{desc: "the peer's own port and brackets are not part of its address",
			peer: "[2001:db8::50]:443", want: "2001:db8::50"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			trusted := tc.trusted
			if trusted == nil {
				trusted = clientAddrTrusted
			}
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, line := range tc.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			got := ClientAddr(r, trustedOf(t, trusted))
			if want := netip.MustParseAddr(tc.want); got != want {
				t.Fatalf("ClientAddr(peer %s, X-Forwarded-For %q) = %v, want %v", tc.peer, tc.xff, got, want)
			}
		})
	}
}

// TestClientAddrForwarded is one row per rule of reading RFC 7239
// Forwarded from a trusted proxy, and of choosing between it and
// X-Forwarded-For (client_address_header). Each row's lines are separate
// field lines, in order.
func TestClientAddrForwarded(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		header string   // client_address_header; "" is auto
		peer   string   // RemoteAddr
		fwd    []string // Forwarded field lines, in order
		xff    []string // X-Forwarded-For field lines, in order
		want   string
	}{
		// Who may speak for the client.
		{desc: "an untrusted peer's Forwarded is ignored",
			peer: "203.0.113.50:40000", fwd: []string{"for=198.51.100.1"}, want: "203.0.113.50"},
		{desc: "a trusted peer's for= names the client",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1"}, want: "198.51.100.1"},

		// Right to left, one list across lines.
		{desc: "elements are read right to left: the element the proxy appended wins",
			peer: "10.0.0.1:40000", fwd: []string{"for=6.6.6.6, for=198.51.100.1"}, want: "198.51.100.1"},
		{desc: "several lines are one list, the last line last: a client-written first line is never taken for the proxy's",
			peer: "10.0.0.1:40000", fwd: []string{"for=6.6.6.6", "for=198.51.100.1"}, want: "198.51.100.1"},
		{desc: "a chain of trusted proxies is skipped, across lines",
			peer: "10.0.0.1:40000", fwd: []string{"for=6.6.6.6, for=198.51.100.1", "for=10.0.0.3", "for=\"[fd00::2]\""}, want: "198.51.100.1"},
		{desc: "when every element is a trusted proxy the leftmost one is the client",
			peer: "10.0.0.1:40000", fwd: []string{"for=10.0.0.3, for=10.0.0.2"}, want: "10.0.0.3"},

		// Pairs and values (RFC 7239 section 4).
		{desc: "other parameters of an element are ignored",
			peer: "10.0.0.1:40000", fwd: []string{`for=198.51.100.1;proto=https;by=10.0.0.1;host="api.example.com"`}, want: "198.51.100.1"},
		{desc: "parameter names are case-insensitive",
			peer: "10.0.0.1:40000", fwd: []string{"For=6.6.6.6, FOR=198.51.100.1"}, want: "198.51.100.1"},
		{desc: "for= may come after other parameters",
			peer: "10.0.0.1:40000", fwd: []string{"proto=https;for=198.51.100.1"}, want: "198.51.100.1"},
		{desc: "spaces around elements and pairs are allowed",
			peer: "10.0.0.1:40000", fwd: []string{"for=6.6.6.6 ,  for=198.51.100.1 ; proto=http"}, want: "198.51.100.1"},
		{desc: "a quoted IPv4 address is read",
			peer: "10.0.0.1:40000", fwd: []string{`for="198.51.100.1"`}, want: "198.51.100.1"},
		{desc: "a quoted-pair inside a quoted value is unescaped",
			peer: "10.0.0.1:40000", fwd: []string{`for="198.51.100.\1"`}, want: "198.51.100.1"},

		// Nodes (RFC 7239 section 6).
		{desc: "an IPv4 node with a port is read without it",
			peer: "10.0.0.1:40000", fwd: []string{`for="198.51.100.1:4711"`}, want: "198.51.100.1"},
		{desc: "a bracketed, quoted IPv6 node with a port is read",
			peer: "10.0.0.1:40000", fwd: []string{`for="[2001:db8::7]:4711"`}, want: "2001:db8::7"},
		{desc: "an obfuscated port is allowed",
			peer: "10.0.0.1:40000", fwd: []string{`for="198.51.100.1:_p0rt"`}, want: "198.51.100.1"},
		{desc: "an IPv4-mapped node of a trusted IPv4 proxy is trusted",
			peer: "10.0.0.1:40000", fwd: []string{`for=198.51.100.1, for="[::ffff:10.0.0.2]"`}, want: "198.51.100.1"},

		// What stops the walk at the last trusted hop.
		{desc: "unknown stops the walk",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1, for=unknown, for=10.0.0.2"}, want: "10.0.0.2"},
		{desc: "an obfuscated identifier stops the walk",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1, for=_hidden"}, want: "10.0.0.1"},
		{desc: "an element without for= stops the walk",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1, proto=https"}, want: "10.0.0.1"},
		{desc: "an unbracketed IPv6 node is malformed",
			peer: "10.0.0.1:40000", fwd: []string{`for="2001:db8::7"`}, want: "10.0.0.1"},
		{desc: "an unquoted bracketed IPv6 node is malformed (brackets are not token characters)",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1, for=[2001:db8::7]"}, want: "10.0.0.1"},
		{desc: "a port out of range is malformed",
			peer: "10.0.0.1:40000", fwd: []string{`for="198.51.100.1:65536"`}, want: "10.0.0.1"},
		{desc: "an unterminated quoted string is malformed",
			peer: "10.0.0.1:40000", fwd: []string{`for=198.51.100.1, for="[2001:db8::1`}, want: "10.0.0.1"},
		{desc: "two for= in one element are malformed",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1;for=198.51.100.2"}, want: "10.0.0.1"},
		{desc: "a malformed last line stops the walk before the earlier lines",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1", "for"}, want: "10.0.0.1"},

		// Which header: client_address_header.
		{desc: "auto: both headers naming the same client are believed",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1"}, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{desc: "auto: headers naming different clients are both disbelieved: the trusted peer is the client",
			peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1"}, xff: []string{"203.0.113.9"}, want: "10.0.0.1"},
		{desc: "x-forwarded-for: Forwarded is not read",
			header: config.ClientAddressXFF, peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1"}, want: "10.0.0.1"},
		{desc: "x-forwarded-for: a client-written Forwarded does not veto the proxy's X-Forwarded-For",
			header: config.ClientAddressXFF, peer: "10.0.0.1:40000", fwd: []string{"for=6.6.6.6"}, xff: []string{"198.51.100.1"}, want: "198.51.100.1"},
		{desc: "forwarded: X-Forwarded-For is not read",
			header: config.ClientAddressForwarded, peer: "10.0.0.1:40000", xff: []string{"198.51.100.1"}, want: "10.0.0.1"},
		{desc: "forwarded: a client-written X-Forwarded-For does not veto the proxy's Forwarded",
			header: config.ClientAddressForwarded, peer: "10.0.0.1:40000", fwd: []string{"for=198.51.100.1"}, xff: []string{"6.6.6.6"}, want: "198.51.100.1"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for _, line := range tc.fwd {
				r.Header.Add("Forwarded", line)
			}
			for _, line := range tc.xff {
				r.Header.Add("X-Forwarded-For", line)
			}
			header := tc.header
			if header == "" {
				header = config.ClientAddressAuto
			}
			got := ClientAddrFrom(r, trustedOf(t, clientAddrTrusted), header)
			if want := netip.MustParseAddr(tc.want); got != want {
				t.Fatalf("ClientAddrFrom(peer %s, Forwarded %q, X-Forwarded-For %q, %s) = %v, want %v", tc.peer, tc.fwd, tc.xff, header, got, want)
			}
		})
	}
}
