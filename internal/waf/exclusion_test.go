package waf

import (
	"regexp"
	"slices"
	"testing"

	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// TestTagExclusionTaken: pruning works out an exclusion only of the form
// it reads and only when nothing can keep the rule from running while a
// tagged rule runs.
func TestTagExclusionTaken(t *testing.T) {
	const excl = `SecRule REQUEST_FILENAME "!@validateByteRange 45-57,65-90,97-122" "id:5,phase:1,pass,t:none,nolog,tag:'OWASP_CRS',ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME,ver:'x'"`
	e := ruleText{id: 5, phase: 1, raw: excl}
	tagged := ruleText{id: 7, phase: 2, raw: `SecRule REQUEST_FILENAME|ARGS "@rx <script" "id:7,phase:2,block,tag:'perf',tag:'OWASP_CRS'"`}
	other := ruleText{id: 8, phase: 2, raw: `SecRule ARGS "@rx a" "id:8,phase:2,block,tag:'OWASP_CRS'"`}
	marker := ruleText{raw: "SecMarker END-X"}
	tests := []struct {
		desc       string
		rules      []ruleText
		directives string
		taken      bool
	}{
		{desc: "the form, a tagged rule after it", rules: []ruleText{e, tagged, other}, taken: true},
		{desc: "no tagged rule", rules: []ruleText{e, other}},
		{desc: "a tagged rule before it in its phase", rules: []ruleText{{id: 4, phase: 1, raw: `SecRule ARGS "@rx a" "id:4,phase:1,block,tag:'perf'"`}, e, tagged}},
		{desc: "a transformation", rules: []ruleText{{id: 5, phase: 1, raw: `SecRule REQUEST_FILENAME "!@validateByteRange 45-57" "id:5,phase:1,pass,t:lowercase,nolog,ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME"`}, tagged}},
		{desc: "a setvar besides", rules: []ruleText{{id: 5, phase: 1, raw: `SecRule REQUEST_FILENAME "!@validateByteRange 45-57" "id:5,phase:1,pass,nolog,setvar:'tx.a=1',ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME"`}, tagged}},
		{desc: "a chain", rules: []ruleText{{id: 5, phase: 1, raw: `SecRule REQUEST_FILENAME "!@validateByteRange 45-57" "id:5,phase:1,pass,nolog,chain,ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME"`}, tagged}},
		{desc: "not negated", rules: []ruleText{{id: 5, phase: 1, raw: `SecRule REQUEST_FILENAME "@validateByteRange 45-57" "id:5,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=perf;REQUEST_FILENAME"`}, tagged}},
		{desc: "another target removed", rules: []ruleText{{id: 5, phase: 1, raw: `SecRule REQUEST_FILENAME "!@validateByteRange 45-57" "id:5,phase:1,pass,nolog,ctl:ruleRemoveTargetByTag=perf;ARGS"`}, tagged}},
		{desc: "a skip:1 onto it", rules: []ruleText{{id: 3, phase: 1, raw: `SecRule ARGS "@rx a" "id:3,phase:1,pass,nolog,skip:1"`}, e, tagged}},
		{desc: "a skip:1 onto a marker before it", rules: []ruleText{{id: 3, phase: 1, raw: `SecRule ARGS "@rx a" "id:3,phase:1,pass,nolog,skip:1"`}, marker, e, tagged}, taken: true},
		{desc: "a skipAfter past it", rules: []ruleText{{id: 3, phase: 1, raw: `SecRule ARGS "@rx a" "id:3,phase:1,pass,nolog,skipAfter:END-X"`}, e, marker, tagged}},
		{desc: "a skipAfter that lands before it", rules: []ruleText{{id: 3, phase: 1, raw: `SecRule ARGS "@rx a" "id:3,phase:1,pass,nolog,skipAfter:END-X"`}, marker, e, tagged}, taken: true},
		{desc: "an allow before it", rules: []ruleText{{id: 3, phase: 1, raw: `SecRule ARGS "@rx a" "id:3,phase:1,allow,nolog"`}, e, tagged}},
		{desc: "a ctl removing it by id", rules: []ruleText{e, tagged}, directives: "SecRule ARGS \"@rx a\" \"id:9,phase:1,pass,ctl:ruleRemoveById=1-6\"\n"},
		{desc: "a ctl removing another id", rules: []ruleText{e, tagged}, directives: "SecRule ARGS \"@rx a\" \"id:9,phase:1,pass,ctl:ruleRemoveById=6\"\n", taken: true},
		{desc: "a ctl removing its target", rules: []ruleText{e, tagged}, directives: "SecAction \"id:9,phase:1,pass,ctl:ruleRemoveTargetById=5;REQUEST_FILENAME\"\n"},
		{desc: "a ctl removing it and every tagged rule by tag", rules: []ruleText{e, tagged}, directives: "SecAction \"id:9,phase:1,pass,ctl:ruleRemoveByTag=OWASP_CRS\"\n", taken: true},
		{desc: "a ctl removing it by a tag a tagged rule lacks", rules: []ruleText{e, {id: 7, phase: 2, raw: `SecRule ARGS "@rx a" "id:7,phase:2,block,tag:'perf'"`}}, directives: "SecAction \"id:9,phase:1,pass,ctl:ruleRemoveByTag=OWASP_CRS\"\n"},
		{desc: "a commented ctl", rules: []ruleText{e, tagged}, directives: "# SecAction \"id:9,phase:1,pass,ctl:ruleRemoveById=5\"\n", taken: true},
		{desc: "a ctl of a kind not read", rules: []ruleText{e, tagged}, directives: "SecAction \"id:9,phase:1,pass,ctl:ruleRemoveSomehow=5\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			order := newRuleOrder(tc.rules, map[int]bool{})
			xs := newTagExclusions(tc.rules, map[int]bool{}, &order, tc.directives)
			if taken := len(xs) == 1 && xs[0].id == 5; taken != tc.taken || len(xs) > 1 {
				t.Fatalf("exclusions %+v, want taken %t", xs, tc.taken)
			}
		})
	}
}

// TestTagExclusionWorkedOut: on the CRS at every paranoia level pruning
// works out 941010, and a request's verdict is Coraza's with the rule run:
// the XSS rules leave a plain path alone and still read one with other
// bytes.
func TestTagExclusionWorkedOut(t *testing.T) {
	for pl := 1; pl <= 4; pl++ {
		e, _, err := settings{blocking: false, paranoia: pl, threshold: 5, bodyLimit: defaultBodyLimit}.build()
		if err != nil {
			t.Fatal(err)
		}
		// A CRS whose 941010 reads differently would stop this silently.
		if len(e.pruner.exclusions) != 1 || e.pruner.exclusions[0].id != 941010 || len(e.pruner.exclusions[0].targets) < 20 {
			t.Fatalf("paranoia %d: exclusions %+v, want 941010 with its XSS rules", pl, e.pruner.exclusions)
		}
		for _, tc := range []struct {
			desc  string
			uri   string
			xss   bool // an XSS rule matches
			moved bool // the target is removed
		}{
			{desc: "a plain path", uri: "/v1/users/42?q=hello", moved: true},
			{desc: "a plain path naming a script", uri: "/javascript/alert?q=1", moved: true},
			{desc: "a script in the path", uri: "/a/%3Cscript%3Ealert(1)%3C/script%3E", xss: true},
			{desc: "a script in the path, raw", uri: "/a/<script>alert(1)</script>", xss: true},
			{desc: "the root", uri: "/", moved: true},
		} {
			r := crstest.Request{Name: tc.desc, Method: "GET", URI: tc.uri, Version: "HTTP/1.1", Headers: map[string]string{"Host": "example.com", "User-Agent": "curl/8", "Accept": "*/*"}}
			whole := crstest.Verdict(e.waf, r, nil)
			var spy *targetSpy
			got := crstest.Verdict(e.waf, r, func(tx types.Transaction, body bool) {
				spy = &targetSpy{removalSpy: removalSpy{Transaction: tx, corazaTx: tx.(corazaTx), removed: map[int]bool{}}}
				e.pruner.prune(spy, body)
			})
			if !slices.Contains(whole, "941010 ") != !tc.moved {
				t.Errorf("paranoia %d, %s: 941010 matched in the whole rule set %t, want %t", pl, tc.desc, !tc.moved, tc.moved)
			}
			if want := e.withoutExclusions(whole); !slices.Equal(got, want) {
				t.Errorf("paranoia %d, %s: pruned %q, whole %q", pl, tc.desc, got, want)
			}
			if xss := slices.ContainsFunc(got, func(l string) bool { return len(l) > 3 && l[:3] == "941" }); xss != tc.xss {
				t.Errorf("paranoia %d, %s: an XSS rule matched %t, want %t: %q", pl, tc.desc, xss, tc.xss, got)
			}
			// Each tagged rule pruning left in loses the target; one
			// pruning removed needs nothing.
			if !tc.moved && len(spy.targets) > 0 {
				t.Errorf("paranoia %d, %s: targets removed from %v, want none", pl, tc.desc, spy.targets)
			}
			for _, tg := range e.pruner.exclusions[0].targets {
				if tc.moved && !spy.removed[tg.id] && !slices.Contains(spy.targets, tg.id) {
					t.Errorf("paranoia %d, %s: rule %d neither pruned nor without the target", pl, tc.desc, tg.id)
				}
			}
			for _, id := range spy.targets {
				if spy.removed[id] {
					t.Errorf("paranoia %d, %s: target removed from rule %d, which pruning removed", pl, tc.desc, id)
				}
			}
		}
	}
}

// targetSpy records the rules a target is removed from.
type targetSpy struct {
	removalSpy
	targets []int
}

func (s *targetSpy) RemoveRuleTargetByID(id int, v variables.RuleVariable, key string, keyRx *regexp.Regexp) {
	s.targets = append(s.targets, id)
	s.corazaTx.RemoveRuleTargetByID(id, v, key, keyRx)
}
