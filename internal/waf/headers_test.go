package waf

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// TestPruneRestrictedHeaders: the restricted-header chains (920450 at
// paranoia 1, 920451 too at 2) are pruned for a request none of whose
// header names is on their list, and kept for one that has such a name,
// in any case; the verdicts match Coraza's with every rule.
func TestPruneRestrictedHeaders(t *testing.T) {
	e, _, err := settings{blocking: false, paranoia: 2, threshold: 5, bodyLimit: defaultBodyLimit}.build()
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, h := range e.pruner.headers {
		ids = append(ids, h.id)
	}
	// A CRS whose chain reads differently would stop this silently.
	if !slices.Equal(ids, []int{920450, 920451}) {
		t.Fatalf("restricted-header chains recognised: %v, want 920450 and 920451", ids)
	}
	tests := []struct {
		desc    string
		headers map[string]string
		kept    []int // the chains not pruned
	}{
		{desc: "ordinary headers: both pruned", headers: map[string]string{"Accept": "*/*", "User-Agent": "curl/8", "X-Proxy": "1", "Proxy-Authorization": "x"}},
		{desc: "a restricted name is kept and matches", headers: map[string]string{"Proxy": "http://evil"}, kept: []int{920450}},
		{desc: "in capitals too", headers: map[string]string{"CONTENT-ENCODING": "gzip"}, kept: []int{920450}},
		{desc: "the extended list's name", headers: map[string]string{"Accept-Charset": "utf-8"}, kept: []int{920451}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			r := crstest.Request{Name: tc.desc, Method: "GET", URI: "/a?b=c", Version: "HTTP/1.1", Headers: map[string]string{"Host": "example.com"}}
			for k, v := range tc.headers {
				r.Headers[k] = v
			}
			want := e.withoutExclusions(crstest.Verdict(e.waf, r, nil))
			got, removed := prunedVerdict(e, r)
			if !slices.Equal(got, want) {
				t.Fatalf("pruned %q, whole %q", got, want)
			}
			for _, id := range ids {
				if kept := slices.Contains(tc.kept, id); kept == removed[id] {
					t.Errorf("rule %d pruned %t, want %t", id, removed[id], !kept)
				}
				matched := slices.ContainsFunc(want, func(l string) bool { return strings.HasPrefix(l, strconv.Itoa(id)+" ") })
				if matched != slices.Contains(tc.kept, id) {
					t.Errorf("rule %d matched %t with every rule: the case does not test what it says", id, matched)
				}
			}
		})
	}
}

// TestHeaderListLists: the allocation-free lookup answers as the chain's
// @within does (strings.Contains of "/name/", lowercased) for every name,
// list words in any case, near misses, slashes, spaces and non-ASCII.
func TestHeaderListLists(t *testing.T) {
	lists := []string{
		"/content-encoding/ /proxy/ /lock-token/ /content-range/ /if/ /x-http-method-override/ /x-http-method/ /x-method-override/ /x-middleware-subrequest/ /expect/",
		"/accept-charset/", "", "/", "//", "/a//b/", "no slashes", "/Proxy/",
	}
	names := []string{"", "/", "//", " ", "a", "b", "if", "If", "IF", "if-match", "proxy", "Proxy", "PROXY", "x-proxy",
		"proxy-authorization", "proxy/ /if", "content-encoding ", "Accept-Charset", "accept-charse", "ccept-charset",
		"lock-token/", "\u212aelvin", "prox\u0130", "ünicode", "Expect", "x-middleware-subrequest", "X-Middleware-SubRequest"}
	for _, l := range lists {
		for _, w := range strings.Fields(strings.ReplaceAll(l, "/", " ")) {
			names = append(names, w, strings.ToUpper(w), strings.ToUpper(w[:1])+w[1:], w[1:], w[:len(w)-1])
		}
	}
	for _, l := range lists {
		h := headerList{list: l}
		for _, n := range names {
			want := strings.Contains(l, "/"+strings.ToLower(n)+"/")
			if got := h.lists(n); got != want {
				t.Errorf("list %q, name %q: %t, @within %t", l, n, got, want)
			}
		}
	}
}
