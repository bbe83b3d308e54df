package gateway

import (
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"testing"
)

// Hop-by-hop headers, upgrades, method overrides and forwarding headers
// (headers.go, forwarded.go), one rule per test.

func TestHopByHopHeadersAreRemoved(t *testing.T) {
	for _, tc := range []struct {
		desc string
		in   http.Header
		keep []string
		want []string // the header names left, sorted
	}{
		{desc: "the RFC 9110 section 7.6.1 list and Proxy-Connection",
			in: header("Connection", "close", "Keep-Alive", "timeout=5", "Proxy-Connection", "keep-alive", "Te", "trailers",
				"Trailer", "X-T", "Transfer-Encoding", "chunked", "Upgrade", "websocket", "Proxy-Authorization", "Basic x",
				"Proxy-Authenticate", "Basic", "Accept", "*/*"),
			want: []string{"Accept"}},
		{desc: "HTTP2-Settings (RFC 9113 section 3.2.1, connection-specific)",
			in: header("Http2-Settings", "AAMAAABkAARAAAAAAAIAAAAA", "Accept", "*/*"), want: []string{"Accept"}},
		{desc: "every header named in Connection, in any case and spacing",
			in:   header("Connection", " x-a ,X-B", "Connection", "x-c", "X-A", "1", "X-B", "2", "X-C", "3", "X-D", "4"),
			want: []string{"X-D"}},
		{desc: "a header in keep survives being named in Connection",
			in:   header("Connection", "X-Consumer-Name, X-A", "X-Consumer-Name", "alice", "X-A", "1"),
			keep: []string{"X-Consumer-Name"}, want: []string{"X-Consumer-Name"}},
		{desc: "empty Connection tokens are ignored",
			in: header("Connection", ", ,", "Accept", "*/*"), want: []string{"Accept"}},
	} {
		removeHopHeadersKeep(tc.in, tc.keep)
		var got []string
		for k := range tc.in {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: left %v, want %v", tc.desc, got, tc.want)
		}
	}
}

func TestUpgradeIsRequestedOnlyWithConnectionUpgrade(t *testing.T) {
	for _, tc := range []struct {
		desc string
		h    http.Header
		want string
	}{
		{desc: "websocket", h: header("Connection", "Upgrade", "Upgrade", "websocket"), want: "websocket"},
		{desc: "upgrade token among others, any case", h: header("Connection", "keep-alive, upgrade", "Upgrade", "websocket"), want: "websocket"},
		{desc: "Upgrade without Connection: upgrade is not one", h: header("Upgrade", "websocket")},
		{desc: "Connection: upgrade without Upgrade", h: header("Connection", "Upgrade")},
	} {
		if got := upgradeType(tc.h); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.desc, got, tc.want)
		}
	}
}

// An upstream that accepted an h2c upgrade would carry the client's later
// requests past every policy (h2c smuggling).
func TestH2CUpgradeIsNeverAnUpgrade(t *testing.T) {
	for _, tc := range []struct {
		desc string
		h    http.Header
	}{
		{desc: "h2c", h: header("Connection", "Upgrade, HTTP2-Settings", "Upgrade", "h2c")},
		{desc: "h2c upper-case", h: header("Connection", "Upgrade", "Upgrade", "H2C")},
		{desc: "h2c among other protocols", h: header("Connection", "Upgrade", "Upgrade", "websocket, h2c")},
	} {
		if got := upgradeType(tc.h); got != "" {
			t.Errorf("%s: upgrade %q", tc.desc, got)
		}
	}
}

func TestTrailersAreAskedForOnlyWhenTheClientAsks(t *testing.T) {
	for _, tc := range []struct {
		desc string
		h    http.Header
		want bool
	}{
		{desc: "TE: trailers", h: header("Te", "trailers"), want: true},
		{desc: "among codings", h: header("Te", "deflate;q=0.5, Trailers"), want: true},
		{desc: "codings only", h: header("Te", "deflate")},
		{desc: "no TE", h: header()},
	} {
		if got := wantsTrailers(tc.h); got != tc.want {
			t.Errorf("%s: %v", tc.desc, got)
		}
	}
}

func TestMethodOverrideHeadersAreReadAndDropped(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		h       http.Header
		want    string
		wantErr bool
	}{
		{desc: "none", h: header("Accept", "*/*")},
		{desc: "X-HTTP-Method-Override, upper-cased", h: header("X-Http-Method-Override", " delete "), want: "DELETE"},
		{desc: "X-HTTP-Method", h: header("X-Http-Method", "PUT"), want: "PUT"},
		{desc: "X-Method-Override", h: header("X-Method-Override", "PATCH"), want: "PATCH"},
		{desc: "the same method in two headers", h: header("X-Http-Method", "PUT", "X-Method-Override", "put"), want: "PUT"},
		{desc: "two methods", h: header("X-Http-Method", "PUT", "X-Method-Override", "DELETE"), wantErr: true},
		{desc: "CONNECT cannot be overridden to", h: header("X-Http-Method-Override", "CONNECT"), wantErr: true},
		{desc: "TRACE cannot be overridden to", h: header("X-Http-Method-Override", "TRACE"), wantErr: true},
		{desc: "POST cannot be overridden to", h: header("X-Http-Method-Override", "POST"), wantErr: true},
	} {
		got, err := methodOverride(tc.h)
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %q, %v", tc.desc, got, err)
		}
		for _, name := range methodOverrideHeaders {
			if _, ok := tc.h[name]; ok {
				t.Errorf("%s: %s left in the request", tc.desc, name)
			}
		}
	}
}

func TestForwardingHeadersFromUntrustedPeerReplaceTheClients(t *testing.T) {
	for _, tc := range []struct {
		desc string
		peer string
		tls  bool
		in   http.Header
		want map[string]string
	}{
		{desc: "a client's chain is replaced, not extended", peer: "203.0.113.7",
			in: header("X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "admin.internal", "Forwarded", "for=6.6.6.6"),
			want: map[string]string{"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "http", "X-Forwarded-Host": "example.com",
				"Forwarded": `for=203.0.113.7;proto=http;host="example.com"`}},
		{desc: "every other X-Forwarded-* header is dropped", peer: "203.0.113.7",
			in:   header("X-Forwarded-Prefix", "/admin", "X-Forwarded-Port", "443", "X-Forwarded-Ssl", "on"),
			want: map[string]string{"X-Forwarded-Prefix": "", "X-Forwarded-Port": "", "X-Forwarded-Ssl": ""}},
		{desc: "TLS is https", peer: "203.0.113.7", tls: true,
			want: map[string]string{"X-Forwarded-Proto": "https", "Forwarded": `for=203.0.113.7;proto=https;host="example.com"`}},
		{desc: "an IPv6 peer is bracketed and quoted in Forwarded", peer: "2001:db8::7",
			want: map[string]string{"X-Forwarded-For": "2001:db8::7", "Forwarded": `for="[2001:db8::7]";proto=http;host="example.com"`}},
	} {
		r := &http.Request{Host: "example.com", Header: tc.in}
		if r.Header == nil {
			r.Header = http.Header{}
		}
		setForwardingHeaders(r.Header, r, false, netip.MustParseAddr(tc.peer), tc.tls)
		for k, want := range tc.want {
			if got := r.Header.Get(k); got != want {
				t.Errorf("%s: %s %q, want %q", tc.desc, k, got, want)
			}
		}
	}
}

func TestForwardingHeadersFromTrustedProxyExtendTheChain(t *testing.T) {
	r := &http.Request{Host: "example.com", Header: header(
		"X-Forwarded-For", "198.51.100.1", "X-Forwarded-For", "10.0.0.9",
		"X-Forwarded-Proto", "https", "X-Forwarded-Host", "public.example",
		"X-Forwarded-Prefix", "/app", "Forwarded", `for=198.51.100.1;proto=https`)}
	setForwardingHeaders(r.Header, r, true, netip.MustParseAddr("10.0.0.1"), false)
	for k, want := range map[string]string{
		"X-Forwarded-For":    "198.51.100.1, 10.0.0.9, 10.0.0.1",
		"X-Forwarded-Proto":  "https",
		"X-Forwarded-Host":   "public.example",
		"X-Forwarded-Prefix": "/app",
		"Forwarded":          `for=198.51.100.1;proto=https, for=10.0.0.1;proto=http;host="example.com"`,
	} {
		if got := r.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
}

func TestRequestIDFromTrustedProxyMustBeSafe(t *testing.T) {
	for _, tc := range []struct {
		desc, id string
		ok       bool
	}{
		{desc: "letters, digits and -_.:/+=", id: "abc-DEF_1.2:3/4+5=", ok: true},
		{desc: "empty", id: ""},
		{desc: "a space", id: "a b"},
		{desc: "a quote", id: `a"b`},
		{desc: "a newline", id: "a\nb"},
		{desc: "longer than 128", id: string(make([]byte, 129))},
	} {
		if got := validRequestID(tc.id); got != tc.ok {
			t.Errorf("%s: %v", tc.desc, got)
		}
	}
}

// The Connection tokens are canonicalized as Header.Del does, without
// allocating: for every name, the same key as net/textproto's rule.
func TestConnectionTokensCanonicalizeAsTextproto(t *testing.T) {
	for _, name := range []string{"keep-alive", "KEEP-ALIVE", "x-a", "X-Custom-Header", "te", "a--b", "-x", "x_y", "x.y",
		"héllo", "has space", "", strings.Repeat("a", 64), strings.Repeat("a", 65)} {
		var buf [64]byte
		got, ok := canonicalKeyInto(buf[:0], name)
		want := textproto.CanonicalMIMEHeaderKey(name)
		if ok && string(got) != want {
			t.Errorf("%q: %q, textproto %q", name, got, want)
		}
		if !ok && len(name) <= 64 && name != "" && want != name {
			t.Errorf("%q: refused, but textproto canonicalizes it to %q", name, want)
		}
	}
	// A token named in Connection is removed in any case; a non-token one
	// by its exact name, as Header.Del does.
	h := header("Connection", "x-a, X_Y, bad name", "X-A", "1", "X_y", "2", "bad name", "3", "Accept", "*/*")
	removeHopHeaders(h)
	if len(h) != 1 || h.Get("Accept") != "*/*" {
		t.Errorf("left %v", h)
	}
}

// The hop-by-hop pass allocates nothing on the headers every response has
// (nginx's "Connection: keep-alive" among them).
func TestHopByHopRemovalAllocatesNothing(t *testing.T) {
	src := header("Server", "nginx", "Content-Type", "text/plain", "Content-Length", "2", "Connection", "keep-alive")
	h := make(http.Header, 8)
	allocs := testing.AllocsPerRun(100, func() {
		for k, v := range src {
			h[k] = v
		}
		removeHopHeaders(h)
		if len(h) != 3 {
			t.Fatalf("left %v", h)
		}
	})
	if allocs > 0 {
		t.Errorf("%.0f allocations per response", allocs)
	}
}

// containsFold finds a target in a response header value as lowering both
// does, in place for ASCII and through strings.ToLower otherwise.
func TestContainsFoldAgreesWithToLower(t *testing.T) {
	for _, tc := range []struct{ s, sub string }{
		{"http://10.0.0.5:8080/x", "10.0.0.5:8080"}, {"HTTP://API.INTERNAL/x", "api.internal"},
		{"see Api.Internal:81", "api.internal:8"}, {"api.internaL", "api.internal"}, {"api.interna", "api.internal"},
		{"", "x"}, {"x", ""}, {"aaab", "aab"}, {"Thu, 03 Dec 2026 02:07:41 GMT", "api.internal"},
		{"\u212Apx", "kpx"}, {"ÉCOLE.internal", "école"}, {"abc", "ABC"},
	} {
		want := tc.sub != "" && len(tc.sub) <= len(tc.s) && strings.Contains(strings.ToLower(tc.s), strings.ToLower(tc.sub))
		if got := containsFold(tc.s, tc.sub); got != want {
			t.Errorf("containsFold(%q, %q) = %v, want %v", tc.s, tc.sub, got, want)
		}
	}
}

// The X-Forwarded-* family a client may not send is recognized in any case
// and with '_' for '-', as the folded comparison it replaces did.
func TestXForwardedFamilyRecognized(t *testing.T) {
	for _, tc := range []struct {
		k    string
		want bool
	}{
		{"X-Forwarded-Prefix", true}, {"x-forwarded-scheme", true}, {"X_Forwarded_Server", true}, {"X-FORWARDED_PORT", true},
		{"X-Forwarded-", false}, {"X-Forwarded", false}, {"X-Forwardes-Port", false}, {"Forwarded", false}, {"X-Real-Ip", false},
	} {
		old := len(tc.k) > 12 && strings.EqualFold(strings.ReplaceAll(tc.k[:12], "_", "-"), "X-Forwarded-")
		if got := isXForwarded(tc.k); got != tc.want || got != old {
			t.Errorf("%q: %v, want %v (the folded comparison: %v)", tc.k, got, tc.want, old)
		}
	}
}

// RFC 7239 section 4: a Forwarded value that is not a token is a
// quoted-string (RFC 9110 section 5.6.4), whose '"' and '\' are escaped.
func TestForwardedHostIsQuotedString(t *testing.T) {
	for _, tc := range []struct{ desc, host, want string }{
		{desc: "name", host: "example.com", want: `"example.com"`},
		{desc: "name and port", host: "example.com:8443", want: `"example.com:8443"`},
		{desc: "IPv6 literal", host: "[2001:db8::1]:80", want: `"[2001:db8::1]:80"`},
		{desc: "quote and backslash escaped", host: `a"b\c`, want: `"a\"b\\c"`},
		{desc: "empty", host: "", want: `""`},
	} {
		if got := string(appendQuotedString(nil, tc.host)); got != tc.want {
			t.Errorf("%s: appendQuotedString(%q) = %s, want %s", tc.desc, tc.host, got, tc.want)
		}
	}
}
