package waf

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// TestPrunedByTargets: a rule is pruned by what its targets hold (a named
// key read alone, no value at all, a count), whatever its operator, or by
// its operator itself (negated or not) on values known exactly, and the
// verdict is Coraza's with every rule. A count something may narrow
// (an exclusion target, SecRuleUpdateTargetById, a ctl) is left to
// Coraza.
func TestPrunedByTargets(t *testing.T) {
	const clNumeric = `SecRule REQUEST_HEADERS:Content-Length "!@rx ^\d+$" "id:1,phase:1,pass,log,msg:'cl',t:none"`
	const aeLength = `SecRule REQUEST_HEADERS:Accept-Encoding "@gt 100" "id:1,phase:1,pass,log,msg:'ae',t:none,t:lowercase,t:length"`
	const rangeRule = `SecRule REQUEST_HEADERS:Range "@rx (\d+)-(\d+)" "id:1,phase:1,pass,log,msg:'range',t:none"`
	const twoCT = `SecRule &REQUEST_HEADERS:Content-Type "@gt 1" "id:1,phase:1,pass,log,msg:'two'"`
	const noHost = `SecRule &REQUEST_HEADERS:Host "@eq 0" "id:1,phase:1,pass,log,msg:'no host'"`
	const anyTE = `SecRule &REQUEST_HEADERS:X-A "!@eq 0" "id:1,phase:1,pass,log,msg:'x-a'"`
	const noXA = `SecRule &REQUEST_HEADERS:X-A "@eq 0" "id:1,phase:1,pass,log,msg:'no x-a',tag:'t1'"`
	const files = `SecRule FILES|FILES_NAMES "!@rx ^a$" "id:1,phase:2,pass,log,msg:'files',t:none"`
	const body = `SecRule REQUEST_BODY "!@rx x" "id:1,phase:2,pass,log,msg:'body',t:none"`
	const argDigits = `SecRule ARGS "!@rx ^\d+$" "id:1,phase:2,pass,log,msg:'digits',t:none,t:urlDecodeUni"`
	const xnAbove5 = `SecRule REQUEST_HEADERS:X-N "@gt 5" "id:1,phase:1,pass,log,msg:'n',t:none"`
	const xnNotZero = `SecRule REQUEST_HEADERS:X-N "!@eq 0" "id:1,phase:1,pass,log,msg:'nz',t:none"`
	const bodyError = `SecRule REQBODY_ERROR "!@eq 0" "id:1,phase:2,pass,log,msg:'rbe',t:none"`
	const bodyLength = `SecRule REQUEST_BODY_LENGTH "@gt 0" "id:1,phase:2,pass,log,msg:'rbl',t:none"`
	const strictError = `SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:1,phase:2,pass,log,msg:'mse',t:none"`
	const sqli = `SecRule ARGS "@detectSQLi" "id:1,phase:2,pass,log,msg:'sqli',t:none,t:urlDecodeUni"`
	tests := []struct {
		desc    string
		rules   string
		uri     string // "/a" when empty
		method  string // GET when empty
		headers map[string]string
		data    string   // the body
		want    []string // Coraza's verdict
		pruned  bool     // rule 1 pruned
	}{
		{desc: "negated operator, named header absent", rules: clNumeric, pruned: true},
		{desc: "negated operator, named header present and matching", rules: clNumeric, headers: map[string]string{"Content-Length": "1x"}, want: []string{"1 cl"}},
		{desc: "negated operator, named header present, not matching", rules: clNumeric, headers: map[string]string{"Content-Length": "12"}, pruned: true},
		{desc: "negated operator, a value known only after decoding", rules: argDigits, uri: "/a?x=%2531%2532"},
		{desc: "negated operator, a value decoding leaves as it is", rules: argDigits, uri: "/a?x=12", pruned: true},
		{desc: "negated operator, a value it turns away", rules: argDigits, uri: "/a?x=1a", want: []string{"1 digits"}},
		{desc: "libinjection, nothing", rules: sqli, uri: "/a?x=hello", pruned: true},
		{desc: "libinjection, an injection", rules: sqli, uri: "/a?x=1%27%20OR%20%271%27%3D%271", want: []string{"1 sqli"}},
		{desc: "numeric operator after t:length, named header absent", rules: aeLength, pruned: true},
		{desc: "numeric operator after t:length, named header present", rules: aeLength, headers: map[string]string{"Accept-Encoding": strings.Repeat("gzip,", 21)}, want: []string{"1 ae"}},
		{desc: "named header read alone, another header holds a match", rules: rangeRule, headers: map[string]string{"X-Other": "1-2"}, pruned: true},
		{desc: "named header read alone, holding a match", rules: rangeRule, headers: map[string]string{"Range": "bytes=1-2"}, want: []string{"1 range"}},
		{desc: "count above a bound, none", rules: twoCT, pruned: true},
		{desc: "count above a bound, one", rules: twoCT, headers: map[string]string{"Content-Type": "text/plain"}, pruned: true},
		{desc: "count equal to zero, present", rules: noHost, pruned: true},
		{desc: "negated count, absent", rules: anyTE, pruned: true},
		{desc: "negated count, present", rules: anyTE, headers: map[string]string{"X-A": "1"}, want: []string{"1 x-a"}},
		{desc: "count with an exclusion target", rules: `SecRule &REQUEST_HEADERS:X-A|!REQUEST_HEADERS:X-A "@eq 0" "id:1,phase:1,pass,log,msg:'none'"`,
			headers: map[string]string{"X-A": "1"}, want: []string{"1 none"}},
		{desc: "count narrowed by SecRuleUpdateTargetById", rules: noXA + "\nSecRuleUpdateTargetById 1 \"!REQUEST_HEADERS:X-A\"",
			headers: map[string]string{"X-A": "1"}, want: []string{"1 no x-a"}},
		{desc: "count narrowed at run time by id", rules: `SecRule REQUEST_METHOD "@rx ." "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetById=1;REQUEST_HEADERS:X-A"` + "\n" + noXA,
			headers: map[string]string{"X-A": "1"}, want: []string{"2 ", "1 no x-a"}},
		{desc: "count narrowed at run time by tag", rules: `SecRule REQUEST_METHOD "@rx ." "id:2,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=t1;REQUEST_HEADERS:X-A"` + "\n" + noXA,
			headers: map[string]string{"X-A": "1"}, want: []string{"2 ", "1 no x-a"}},
		{desc: "keyed body variables without a body", rules: files, pruned: true},
		{desc: "REQUEST_BODY always has a value", rules: body, want: []string{"1 body"}},
		{desc: "numeric operator, a value below", rules: xnAbove5, headers: map[string]string{"X-N": "3"}, pruned: true},
		{desc: "numeric operator, a value above", rules: xnAbove5, headers: map[string]string{"X-N": "7"}, want: []string{"1 n"}},
		{desc: "numeric operator, not a number reads 0", rules: xnAbove5, headers: map[string]string{"X-N": "9a"}, pruned: true},
		{desc: "numeric operator, a number too large reads the largest", rules: xnAbove5, headers: map[string]string{"X-N": "99999999999999999999"}, want: []string{"1 n"}},
		{desc: "numeric operator, a sign", rules: xnAbove5, headers: map[string]string{"X-N": "+6"}, want: []string{"1 n"}},
		{desc: "negated numeric operator, not a number reads 0", rules: xnNotZero, headers: map[string]string{"X-N": "x"}, pruned: true},
		{desc: "negated numeric operator, a number", rules: xnNotZero, headers: map[string]string{"X-N": "2"}, want: []string{"1 nz"}},
		{desc: "numeric operator with a macro", rules: `SecRule REQUEST_HEADERS:X-N "@gt %{tx.n}" "id:1,phase:1,pass,log,msg:'m',t:none"`, headers: map[string]string{"X-N": "3"}, want: []string{"1 m"}},
		{desc: "REQBODY_ERROR without a body", rules: bodyError, pruned: true},
		{desc: "REQBODY_ERROR with a body that fails to parse", rules: bodyError, method: "POST",
			headers: map[string]string{"Content-Type": "multipart/form-data; boundary=xyz"}, data: "not multipart", want: []string{"1 rbe"}},
		{desc: "REQUEST_BODY_LENGTH without a body", rules: bodyLength, pruned: true},
		{desc: "REQUEST_BODY_LENGTH with a body", rules: bodyLength, method: "POST",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, data: "a=1", want: []string{"1 rbl"}},
		{desc: "MULTIPART_STRICT_ERROR without a body", rules: strictError, pruned: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			ruleOneCase{directives: "SecRuleEngine On\nSecRequestBodyAccess On\n" + tc.rules, method: tc.method, uri: tc.uri, headers: tc.headers, data: tc.data, want: tc.want, pruned: tc.pruned}.check(t, tc.desc)
		})
	}
}

// TestCRSRulesPrunedByTargets: the CRS's protocol rules that name a
// header an API client does not send, or count one, are pruned from the
// load harness's request (a Host and a bearer token), and kept when the
// header they test is there with a value they match.
func TestCRSRulesPrunedByTargets(t *testing.T) {
	e, _, err := settings{blocking: true, paranoia: 1, threshold: 5, bodyLimit: defaultBodyLimit}.build()
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCJ9.abcdefghijklmnop"
	r := crstest.Request{Name: "harness", Method: "GET", URI: "/ok?q=hello", Version: "HTTP/1.1", Headers: map[string]string{"Host": "127.0.0.1:19103", "Authorization": bearer}}
	_, removed := prunedVerdict(e, r)
	for _, id := range []int{
		920160, 920340, // Content-Length
		920190,         // Range
		920280,         // the Host count
		920311, 920600, // Accept
		920330,                 // User-Agent
		920420, 920470, 920620, // Content-Type
		920520,         // Accept-Encoding
		920660,         // Request-Range count
		922100, 922140, // multipart part headers, with no body
		932180, 933110, 944140, // FILES and X-Filename
		200002, 200003, 920640, // the body processor's state, with no body
		911100, 920430, // the method and the protocol within the setup's lists
	} {
		if !removed[id] {
			t.Errorf("rule %d not pruned from the harness's request", id)
		}
	}
	r.Headers["User-Agent"] = ""
	r.Headers["Accept-Encoding"] = strings.Repeat("gzip,", 21)
	verdict, removed := prunedVerdict(e, r)
	for _, id := range []int{920330, 920520} {
		if removed[id] || !slices.ContainsFunc(verdict, func(l string) bool { return strings.HasPrefix(l, strconv.Itoa(id)+" ") }) {
			t.Errorf("rule %d pruned (%t) or not matched: %q", id, removed[id], verdict)
		}
	}
	// A method and a protocol outside the setup's lists.
	r.Method, r.Version = "FOO", "HTTP/1.2"
	verdict, removed = prunedVerdict(e, r)
	for _, id := range []int{911100, 920430} {
		if removed[id] || !slices.ContainsFunc(verdict, func(l string) bool { return strings.HasPrefix(l, strconv.Itoa(id)+" ") }) {
			t.Errorf("rule %d pruned (%t) or not matched: %q", id, removed[id], verdict)
		}
	}
}

// TestCountedRulesAreNotNarrowed: the rules whose counts pruning decides
// are none of those the gateway's tag exclusions narrow at run time
// (exclusion.go), which counting.go's narrowing does not read.
func TestCountedRulesAreNotNarrowed(t *testing.T) {
	for i, s := range pruneConfigs {
		e, _, err := s.build()
		if err != nil {
			t.Fatal(err)
		}
		counted := 0
		for _, r := range e.pruner.rules {
			n := len(r.counts)
			for _, l := range r.links {
				n += len(l.counts)
			}
			if n == 0 {
				continue
			}
			counted++
			for _, x := range e.pruner.exclusions {
				if slices.ContainsFunc(x.targets, func(tg exclusionTarget) bool { return tg.id == r.id }) {
					t.Errorf("config %d: rule %d counts and exclusion %d narrows it", i, r.id, x.id)
				}
			}
		}
		if counted == 0 {
			t.Errorf("config %d: no rule decided by a count", i)
		}
	}
}
