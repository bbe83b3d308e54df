package waf

import (
	"slices"
	"testing"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// TestChainPrunedByLinks: a chain is pruned when a later rule of it that
// pruning decides cannot match the request, never when its first rule
// acts on its own, and the verdict is Coraza's with every rule.
func TestChainPrunedByLinks(t *testing.T) {
	const getWithLength = `SecRule REQUEST_METHOD "@rx ^GET$" "id:1,phase:1,pass,log,msg:'get with length',chain"
    SecRule REQUEST_HEADERS:Content-Length|REQUEST_HEADERS:X-Length "!@rx ^0?$" "t:none"
`
	const teCount = `SecRule REQUEST_METHOD "@rx ^GET$" "id:1,phase:1,pass,log,msg:'get with te',chain"
    SecRule &REQUEST_HEADERS:Transfer-Encoding "!@eq 0" "t:none"
`
	const post = `SecRule REQUEST_PROTOCOL "!@within HTTP/2" "id:1,phase:1,pass,log,msg:'post',chain"
    SecRule REQUEST_METHOD "@streq POST" "chain"
        SecRule &REQUEST_HEADERS:Content-Length "@eq 0" "t:none"
`
	const sideEffect = `SecRule REQUEST_METHOD "@rx ^GET$" "id:1,phase:1,pass,nolog,setvar:'tx.seen=1',chain"
    SecRule REQUEST_HEADERS:X-Absent "@rx ." "t:none"
SecRule TX:seen "@eq 1" "id:2,phase:1,pass,log,msg:'seen'"
`
	const capture = `SecRule REQUEST_METHOD "@rx ^(GET)$" "id:1,phase:1,pass,nolog,capture,chain"
    SecRule REQUEST_HEADERS:X-Absent "@rx ." "t:none"
SecRule TX:1 "@streq GET" "id:2,phase:1,pass,log,msg:'captured'"
`
	tests := []struct {
		desc    string
		rules   string
		method  string
		headers map[string]string
		want    []string // Coraza's verdict
		pruned  bool     // rule 1 pruned
	}{
		{desc: "a named header absent", rules: getWithLength, pruned: true},
		{desc: "a named header present", rules: getWithLength, headers: map[string]string{"X-Length": "12"}, want: []string{"1 get with length"}},
		{desc: "a header count that cannot match", rules: teCount, pruned: true},
		{desc: "a header count that matches", rules: teCount, headers: map[string]string{"Transfer-Encoding": "chunked"}, want: []string{"1 get with te"}},
		{desc: "a screened link and a count: the method", rules: post, pruned: true},
		{desc: "a screened link and a count: the count", rules: post, method: "POST", headers: map[string]string{"Content-Length": "3"}, pruned: true},
		{desc: "a screened link and a count: both may", rules: post, method: "POST", want: []string{"1 post"}},
		{desc: "a first rule that sets a variable is kept", rules: sideEffect, want: []string{"2 seen"}},
		{desc: "a first rule that captures is kept", rules: capture, want: []string{"2 captured"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ruleOneCase{directives: "SecRuleEngine On\n" + tc.rules, method: tc.method, headers: tc.headers, want: tc.want, pruned: tc.pruned}.check(t, tc.desc)
		})
	}
}

// TestCRSChainsPruned: the CRS's protocol chains a GET passes the first
// rule of are pruned from one without a body.
func TestCRSChainsPruned(t *testing.T) {
	e, _, err := settings{blocking: true, paranoia: 1, threshold: 5, bodyLimit: defaultBodyLimit}.build()
	if err != nil {
		t.Fatal(err)
	}
	r := crstest.Request{Name: "get", Method: "GET", URI: "/a?b=c", Version: "HTTP/1.1", Headers: map[string]string{"Host": "example.com", "User-Agent": "curl/8", "Accept": "*/*"}}
	_, removed := prunedVerdict(e, r)
	for _, id := range []int{920170, 920171, 920180} {
		if !removed[id] {
			t.Errorf("rule %d not pruned from a GET without a body", id)
		}
	}
}

// ruleOneCase is one row of the tests that prune rule 1 of a small rule
// set: the request (GET /a with a Host unless said otherwise), Coraza's
// verdict with every rule, and whether pruning removes rule 1.
type ruleOneCase struct {
	directives string
	method     string // GET when empty
	uri        string // /a when empty
	headers    map[string]string
	data       string // the body, none when empty
	want       []string
	pruned     bool
}

// check compiles the directives, requires Coraza's verdict to be want,
// the pruned verdict to be Coraza's, and rule 1 removed exactly when
// pruned.
func (c ruleOneCase) check(t *testing.T, name string) {
	t.Helper()
	e, err := compileRules(c.directives, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	method, uri := c.method, c.uri
	if method == "" {
		method = "GET"
	}
	if uri == "" {
		uri = "/a"
	}
	r := crstest.Request{Name: name, Method: method, URI: uri, Version: "HTTP/1.1", Headers: map[string]string{"Host": "example.com"}, Data: c.data}
	for k, v := range c.headers {
		r.Headers[k] = v
	}
	whole := crstest.Verdict(e.waf, r, nil)
	if !slices.Equal(whole, c.want) {
		t.Fatalf("Coraza's verdict %q, want %q", whole, c.want)
	}
	got, removed := prunedVerdict(e, r)
	if !slices.Equal(got, whole) {
		t.Fatalf("pruned %q, whole %q", got, whole)
	}
	if removed[1] != c.pruned {
		t.Fatalf("rule 1 pruned %t, want %t", removed[1], c.pruned)
	}
}
