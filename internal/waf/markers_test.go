package waf

import (
	"slices"
	"strconv"
	"testing"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// TestMarkerGate: the markers may go only when no skip:N steps over one
// and every skipAfter left in the rule set is a header count decided per
// request.
func TestMarkerGate(t *testing.T) {
	marker := ruleText{raw: "SecMarker END-X"}
	hostCheck := ruleText{id: 10, phase: 1, raw: `SecRule &REQUEST_HEADERS:Host "@eq 0" "id:10,phase:1,block,t:none,skipAfter:END-X"`}
	plain := func(id int, phase types.RulePhase) ruleText {
		return ruleText{id: id, phase: phase, raw: `SecRule ARGS "@rx a" "id:` + strconv.Itoa(id) + `,phase:` + strconv.Itoa(int(phase)) + `,block"`}
	}
	tests := []struct {
		desc     string
		rules    []ruleText
		gone     []int
		narrowed narrowing
		on       bool
		counts   []jumpCount
	}{
		{desc: "no jumps", rules: []ruleText{plain(1, 1), marker, plain(2, 2), marker}, on: true},
		{desc: "the Host check: decided per request", rules: []ruleText{hostCheck, plain(1, 1), marker}, on: true,
			counts: []jumpCount{{id: 10, name: "host", test: countTest{op: "eq"}}}},
		{desc: "a skip:1 onto a marker", rules: []ruleText{
			{id: 3, phase: 2, raw: `SecRule REQBODY_PROCESSOR "@streq JSON" "id:3,phase:2,pass,nolog,skip:1"`}, marker, plain(4, 2)}},
		{desc: "a skip:1 onto a rule, the marker after", rules: []ruleText{
			{id: 3, phase: 2, raw: `SecRule REQBODY_PROCESSOR "@streq JSON" "id:3,phase:2,pass,nolog,skip:1"`}, plain(4, 2), marker}, on: true},
		{desc: "a skip:2 of phase 1 reaching the marker past a phase 2 rule", rules: []ruleText{
			{id: 3, phase: 1, raw: `SecRule REQUEST_METHOD "@streq GET" "id:3,phase:1,pass,nolog,skip:2"`}, plain(4, 1), plain(5, 2), marker}},
		{desc: "a SecAction that always jumps", rules: []ruleText{
			{id: 5, phase: 1, raw: `SecAction "id:5,phase:1,pass,nolog,skipAfter:END-X"`}, marker}},
		{desc: "a SecAction without a jump", rules: []ruleText{
			{id: 5, phase: 1, raw: `SecAction "id:5,phase:1,pass,nolog,setvar:'tx.skipped=1'"`}, marker}, on: true},
		{desc: "a skipAfter on a regexp", rules: []ruleText{
			{id: 6, phase: 1, raw: `SecRule REQUEST_HEADERS:Host "@rx ^$" "id:6,phase:1,pass,skipAfter:END-X"`}, marker}},
		{desc: "a header count with a chain", rules: []ruleText{
			{id: 7, phase: 1, raw: `SecRule &REQUEST_HEADERS:Host "@eq 0" "id:7,phase:1,pass,chain,skipAfter:END-X"`}, marker}},
		{desc: "a negated header count", rules: []ruleText{
			{id: 8, phase: 1, raw: `SecRule &REQUEST_HEADERS:Host "!@eq 0" "id:8,phase:1,pass,skipAfter:END-X"`}, marker}, on: true,
			counts: []jumpCount{{id: 8, name: "host", test: countTest{op: "eq", negated: true}}}},
		{desc: "a header count above a bound", rules: []ruleText{
			{id: 12, phase: 1, raw: `SecRule &REQUEST_HEADERS:Range "@gt 1" "id:12,phase:1,pass,skipAfter:END-X"`}, marker}, on: true,
			counts: []jumpCount{{id: 12, name: "range", test: countTest{op: "gt", n: 1}}}},
		{desc: "a header count something narrows", rules: []ruleText{hostCheck, marker}, narrowed: narrowing{ids: map[int]bool{10: true}}},
		{desc: "a header count with an exclusion", rules: []ruleText{
			{id: 13, phase: 1, raw: `SecRule &REQUEST_HEADERS:Host|!REQUEST_HEADERS:Host "@eq 0" "id:13,phase:1,pass,skipAfter:END-X"`}, marker}},
		{desc: "a count of another collection", rules: []ruleText{
			{id: 9, phase: 1, raw: `SecRule &ARGS:a "@eq 0" "id:9,phase:1,pass,skipAfter:END-X"`}, marker}},
		{desc: "a rule that does not read", rules: []ruleText{{id: 11, phase: 1, raw: `SecRule ARGS "@rx a`}, marker}},
		{desc: "the jump taken out at build", rules: []ruleText{
			{id: 6, phase: 1, raw: `SecRule REQUEST_HEADERS:Host "@rx ^$" "id:6,phase:1,pass,skipAfter:END-X"`}, marker}, gone: []int{6}, on: true},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			gone := map[int]bool{}
			for _, id := range tc.gone {
				gone[id] = true
			}
			g := newMarkerGate(tc.rules, gone, tc.narrowed)
			if g.on != tc.on || !slices.Equal(g.counts, tc.counts) {
				t.Fatalf("gate on %t counts %v, want on %t counts %v", g.on, g.counts, tc.on, tc.counts)
			}
		})
	}
}

// TestMarkersRemoved: on the CRS at every paranoia level the markers go
// from a request with a Host and stay in one without (920280 jumps over
// the Host checks then), and the verdicts are Coraza's with every marker.
func TestMarkersRemoved(t *testing.T) {
	for pl := 1; pl <= 4; pl++ {
		e, _, err := settings{blocking: false, paranoia: pl, threshold: 5, bodyLimit: defaultBodyLimit}.build()
		if err != nil {
			t.Fatal(err)
		}
		// A CRS with another kind of jump would stop this silently.
		if g := e.pruner.markers; !g.on || !slices.Equal(g.counts, []jumpCount{{id: 920280, name: "host", test: countTest{op: "eq"}}}) {
			t.Fatalf("paranoia %d: marker gate on %t, counts %v; want on, decided by 920280", pl, g.on, g.counts)
		}
		for _, tc := range []struct {
			desc    string
			headers map[string]string
			gone    bool
		}{
			{desc: "with a Host", headers: map[string]string{"Host": "example.com", "User-Agent": "curl/8"}, gone: true},
			{desc: "without a Host", headers: map[string]string{"User-Agent": "curl/8"}},
			{desc: "with an empty Host", headers: map[string]string{"Host": ""}, gone: true},
		} {
			r := crstest.Request{Name: tc.desc, Method: "GET", URI: "/a?b=c", Version: "HTTP/1.1", Headers: tc.headers}
			want := e.withoutExclusions(crstest.Verdict(e.waf, r, nil))
			got, removed := prunedVerdict(e, r)
			if !slices.Equal(got, want) {
				t.Errorf("paranoia %d, %s: pruned %q, whole %q", pl, tc.desc, got, want)
			}
			if removed[markerID] != tc.gone {
				t.Errorf("paranoia %d, %s: markers removed %t, want %t", pl, tc.desc, removed[markerID], tc.gone)
			}
		}
	}
}
