package gateway

import (
	"testing"

	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/router"
)

// Path rewriting and the outgoing headers (rewrite.go).

// pathRewrites are the strip_prefix and rewrite cases: the public path,
// how the route matched it, and the upstream path it becomes.
var pathRewrites = []struct {
	desc    string
	public  string
	match   router.Match
	strip   bool
	rewrite string
	want    string
	// back is the public form of want when it is not public: two public
	// paths map to the same upstream path.
	back string
}{
	{desc: "strip_prefix keeps what follows the prefix",
		public: "/api/users/1", match: router.Match{Kind: router.PathPrefix, Matched: "/api/"}, strip: true, want: "/users/1"},
	{desc: "strip_prefix of a prefix without a trailing slash",
		public: "/api/users", match: router.Match{Kind: router.PathPrefix, Matched: "/api"}, strip: true, want: "/users"},
	{desc: "strip_prefix of the prefix itself is the root",
		public: "/api", match: router.Match{Kind: router.PathPrefix, Matched: "/api"}, strip: true, want: "/", back: "/api/"},
	{desc: "rewrite replaces the prefix",
		public: "/public/a/b", match: router.Match{Kind: router.PathPrefix, Matched: "/public/"}, rewrite: "/internal/v2/", want: "/internal/v2/a/b"},
	{desc: "rewrite of the bare prefix is the rewrite target",
		public: "/public", match: router.Match{Kind: router.PathPrefix, Matched: "/public"}, rewrite: "/internal/v2", want: "/internal/v2"},
	{desc: "rewrite of an exact path is the rewrite target",
		public: "/login", match: router.Match{Kind: router.PathExact, Matched: "/login"}, rewrite: "/auth/login", want: "/auth/login"},
}

func TestUpstreamPath(t *testing.T) {
	for _, tc := range pathRewrites {
		rt := &route{stripPrefix: tc.strip, rewrite: tc.rewrite}
		if got := upstreamPath(tc.public, tc.match, rt); got != tc.want {
			t.Errorf("%s: upstreamPath(%q) = %q, want %q", tc.desc, tc.public, got, tc.want)
		}
	}
}

// The public form of an upstream path (for Location and other response
// URIs) is the path the client asked for.
func TestPublicPathInvertsUpstreamPath(t *testing.T) {
	for _, tc := range pathRewrites {
		rt := &route{stripPrefix: tc.strip, rewrite: tc.rewrite}
		want := tc.public
		if tc.back != "" {
			want = tc.back
		}
		got, ok := publicPath(tc.want, tc.match, rt)
		if !ok || got != want {
			t.Errorf("%s: publicPath(%q) = %q, %v; want %q", tc.desc, tc.want, got, ok, want)
		}
	}
}

func TestPathOutsideTheInternalPrefixHasNoPublicForm(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		up      string
		match   router.Match
		rewrite string
	}{
		{desc: "beside the rewrite target", up: "/internal/v1/a",
			match: router.Match{Kind: router.PathPrefix, Matched: "/public/"}, rewrite: "/internal/v2/"},
		{desc: "a longer name sharing the prefix", up: "/internal/v2x",
			match: router.Match{Kind: router.PathPrefix, Matched: "/public/"}, rewrite: "/internal/v2/"},
		{desc: "another path than an exact rewrite's", up: "/auth/logout",
			match: router.Match{Kind: router.PathExact, Matched: "/login"}, rewrite: "/auth/login"},
	} {
		if got, ok := publicPath(tc.up, tc.match, &route{rewrite: tc.rewrite}); ok {
			t.Errorf("%s: publicPath(%q) = %q, want none", tc.desc, tc.up, got)
		}
	}
}

func TestRewrittenPathIsSentUpstream(t *testing.T) {
	snap := stagesSnapshot(t)
	for _, tc := range []struct{ desc, target, want string }{
		{desc: "no rewrite: the canonical path", target: "/site//a/./b", want: "/site/a/b"},
		{desc: "strip_prefix", target: "/api/users", want: "/users"},
		{desc: "rewrite", target: "/public/x", want: "/internal/v2/x"},
		{desc: "exact rewrite", target: "/login", want: "/auth/login"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			x, w := newExchange(snap, "GET", tc.target, "example.com")
			if !x.checkTarget() || !x.matchRoute() || !x.checkRoute() || !x.rewritePath() {
				t.Fatalf("refused: %d %q", w.Code, x.out.reason)
			}
			if x.upPath != tc.want {
				t.Errorf("upstream path %q, want %q", x.upPath, tc.want)
			}
		})
	}
}

// outgoing runs the stages up to setOutgoingHeaders for a GET of target
// with the client headers h and the identity id (nil: anonymous).
func outgoing(t *testing.T, target string, h []string, id *pipeline.Identity) *exchange {
	t.Helper()
	x, w := newExchange(stagesSnapshot(t), "GET", target, "example.com")
	x.r.Header = header(h...)
	x.w.Header()["X-Request-Id"] = []string{"test-id"}
	if !x.checkTarget() {
		t.Fatal("target refused")
	}
	x.dropClientHeaders()
	if !x.matchRoute() || !x.checkRoute() {
		t.Fatalf("refused: %d %q", w.Code, x.out.reason)
	}
	x.c.Identity = id
	if !x.rewritePath() || !x.setOutgoingHeaders() {
		t.Fatalf("refused: %d %q", w.Code, x.out.reason)
	}
	return x
}

func TestIdentityHeadersSurviveClientsConnectionHeader(t *testing.T) {
	x := outgoing(t, "/site/", []string{"Connection", "X-Consumer-Name, X-Auth-Method, X-Other", "X-Other", "1"},
		&pipeline.Identity{Consumer: "alice", Method: "jwt", Groups: []string{"a", "b"}, CredentialID: "k1"})
	h := x.r.Header
	for name, want := range map[string]string{
		"X-Consumer-Name":   "alice",
		"X-Auth-Method":     "jwt",
		"X-Consumer-Groups": "a,b",
		"X-Credential-Id":   "k1",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if _, ok := h["X-Other"]; ok {
		t.Error("a header the client named in Connection was forwarded")
	}
}

func TestGatewayHeadersAreSetAfterHopByHopRemoval(t *testing.T) {
	x := outgoing(t, "/site/", []string{
		"Connection", "X-Forwarded-For, X-Request-Id, Forwarded",
		"X-Request-Id", "client-chosen",
	}, nil)
	h := x.r.Header
	if got := h.Get("X-Request-Id"); got != "test-id" {
		t.Errorf("X-Request-Id %q", got)
	}
	if got := h.Get("X-Forwarded-For"); got != "192.0.2.10" {
		t.Errorf("X-Forwarded-For %q", got)
	}
	if got := h.Get("Forwarded"); got != `for=192.0.2.10;proto=http;host="example.com"` {
		t.Errorf("Forwarded %q", got)
	}
	if _, ok := h["Connection"]; ok {
		t.Error("Connection forwarded")
	}
}

func TestUpgradeAndTrailersAreAskedForAgain(t *testing.T) {
	x := outgoing(t, "/site/", []string{"Connection", "keep-alive, Upgrade, TE", "Upgrade", "websocket", "Te", "trailers, deflate"}, nil)
	h := x.r.Header
	if x.upgrade != "websocket" || h.Get("Upgrade") != "websocket" || h.Get("Connection") != "Upgrade" {
		t.Errorf("upgrade %q, header %v", x.upgrade, h)
	}
	if got := h.Values("Te"); len(got) != 1 || got[0] != "trailers" {
		t.Errorf("TE %q", got)
	}
}

func TestEmptyUserAgentWhenClientSentNone(t *testing.T) {
	x := outgoing(t, "/site/", nil, nil)
	if vs, ok := x.r.Header["User-Agent"]; !ok || len(vs) != 1 || vs[0] != "" {
		t.Errorf("User-Agent %q, %v", vs, ok)
	}
	x = outgoing(t, "/site/", []string{"User-Agent", "curl/8"}, nil)
	if got := x.r.Header.Get("User-Agent"); got != "curl/8" {
		t.Errorf("User-Agent %q", got)
	}
}
