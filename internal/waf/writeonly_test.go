package waf

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// phaseAction finds a made-up rule's phase.
var phaseAction = regexp.MustCompile(`phase:'?([0-9])`)

// rulesOf reads a made-up seclang text as Coraza's rule observer shows it:
// each rule with an id (its first line; chained rules are not shown) and
// each marker, in order.
func rulesOf(t *testing.T, text string) []ruleText {
	t.Helper()
	var out []ruleText
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "SecMarker "):
			out = append(out, ruleText{raw: line})
		case strings.HasPrefix(line, "SecRule ") || strings.HasPrefix(line, "SecAction "):
			m := ruleID.FindStringSubmatch(line)
			if m == nil {
				continue // a chained rule
			}
			id, _ := strconv.Atoi(m[1])
			ph := phaseAction.FindStringSubmatch(line)
			if ph == nil {
				t.Fatalf("no phase: %s", line)
			}
			p, _ := strconv.Atoi(ph[1])
			out = append(out, ruleText{id: id, phase: types.RulePhase(p), raw: line})
		}
	}
	return out
}

// TestWriteOnlyRules: which rules writeOnlyRules leaves out, on made-up
// rule sets (their ids are no CRS rule's, so only the text's rules read).
func TestWriteOnlyRules(t *testing.T) {
	const (
		score   = `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,t:none,nolog,tag:'x',ver:'y',setvar:'tx.det=+%{tx.pl1}'"` + "\n"
		detect  = `SecRule ARGS "@rx attack" "id:2,phase:2,block,msg:'m',setvar:'tx.pl1=+5'"` + "\n"
		readDet = `SecRule TX:det "@ge 5" "id:3,phase:2,deny,msg:'over'"` + "\n"
	)
	tests := []struct {
		desc string
		text string
		gone []int
		want []int
		vars []string
	}{
		{desc: "a score no rule reads", text: detect + score, want: []int{1}, vars: []string{"det"}},
		{desc: "a score a kept rule reads", text: detect + score + readDet},
		{desc: "a score read only by a rule left out", text: detect + score + readDet, gone: []int{3}, want: []int{1}, vars: []string{"det"}},
		{desc: "a score read by a rule that only writes what no rule reads",
			text: detect + score + `SecAction "id:4,phase:2,pass,nolog,setvar:'tx.total=%{tx.det}'"` + "\n",
			want: []int{1, 4}, vars: []string{"det", "total"}},
		{desc: "a chain of writers ends at a kept reader",
			text: detect + score + `SecAction "id:4,phase:2,pass,nolog,setvar:'tx.total=%{tx.det}'"` + "\n" + `SecRule TX:total "@gt 0" "id:5,phase:2,deny,msg:'m'"` + "\n"},
		{desc: "a regex target reads it", text: detect + score + `SecRule TX:/^de/ "@gt 0" "id:3,phase:2,deny,msg:'m'"` + "\n"},
		{desc: "the whole collection reads it", text: detect + score + `SecRule TX "@rx x" "id:3,phase:2,deny,msg:'m'"` + "\n"},
		{desc: "a chained rule reads it", text: detect + score + `SecRule ARGS "@rx x" "id:3,phase:2,deny,msg:'m',chain"` + "\n" + `    SecRule TX:det "@gt 0" "t:none"` + "\n"},
		{desc: "a SecAction that resets it", text: detect + `SecAction "id:1,phase:2,pass,nolog,setvar:'tx.det=0'"` + "\n", want: []int{1}, vars: []string{"det"}},
		{desc: "a variable removed", text: detect + `SecAction "id:1,phase:2,pass,nolog,setvar:'!tx.det'"` + "\n", want: []int{1}, vars: []string{"det"}},
		{desc: "with a message", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,nolog,msg:'m',setvar:'tx.det=1'"` + "\n"},
		{desc: "with a severity", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,nolog,severity:'CRITICAL',setvar:'tx.det=1'"` + "\n"},
		{desc: "with a capture", text: detect + `SecRule ARGS "@rx (a)" "id:1,phase:2,pass,nolog,capture,setvar:'tx.det=1'"` + "\n"},
		{desc: "with a chain", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,nolog,setvar:'tx.det=1',chain"` + "\n" + `    SecRule ARGS "@rx a" "t:none"` + "\n"},
		{desc: "with a jump", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,nolog,setvar:'tx.det=1',skipAfter:END"` + "\n" + `SecMarker "END"` + "\n"},
		{desc: "with a ctl", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,nolog,ctl:ruleRemoveById=2,setvar:'tx.det=1'"` + "\n"},
		{desc: "a disruptive action", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,deny,nolog,setvar:'tx.det=1'"` + "\n"},
		{desc: "another collection", text: detect + `SecAction "id:1,phase:2,pass,nolog,setvar:'ip.det=1'"` + "\n"},
		{desc: "a name with a macro", text: detect + `SecAction "id:1,phase:2,pass,nolog,setvar:'tx.det_%{tx.0}=1'"` + "\n"},
		{desc: "an operator that writes", text: detect + `SecRule REMOTE_ADDR "@geoLookup" "id:1,phase:2,pass,nolog,setvar:'tx.det=1'"` + "\n"},
		{desc: "no setvar: not this kind of rule", text: detect + `SecRule TX:pl "@ge 1" "id:1,phase:2,pass,nolog"` + "\n"},
		{desc: "inside a skip window", text: `SecRule ARGS "@rx a" "id:9,phase:2,pass,nolog,skip:1"` + "\n" + score},
		{desc: "a marker does not end a skip window", text: `SecRule ARGS "@rx a" "id:9,phase:2,pass,nolog,skip:1"` + "\n" + `SecMarker "M"` + "\n" + score},
		{desc: "after a skip window", text: `SecRule ARGS "@rx a" "id:9,phase:2,pass,nolog,skip:1"` + "\n" + detect + score, want: []int{1}, vars: []string{"det"}},
		{desc: "a skip window of the other phase", text: `SecRule ARGS "@rx a" "id:9,phase:1,pass,nolog,skip:1"` + "\n" + score, want: []int{1}, vars: []string{"det"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			gone := map[int]bool{}
			for _, id := range tc.gone {
				gone[id] = true
			}
			ids, vars := writeOnlyRules(rulesOf(t, tc.text), gone, tc.text)
			if !slices.Equal(ids, tc.want) || !slices.Equal(vars, tc.vars) {
				t.Fatalf("writeOnlyRules = %v %v, want %v %v", ids, vars, tc.want, tc.vars)
			}
		})
	}
}

// TestCRSWriteOnlyRules: in the gateway's build the CRS's detection score
// (949152 and its kin, which only the response side's reporting reads) is
// left out at every paranoia level, its blocking score is not (949110
// reads it), and the rules are gone from Coraza's rule set: an attack
// leaves no detection score in the gateway's build, and one in the rule
// set as written.
func TestCRSWriteOnlyRules(t *testing.T) {
	attack := crstest.Request{Name: "attack", Method: "GET", URI: "/?q=%3Cscript%3Ealert(1)%3C/script%3E",
		Version: "HTTP/1.1", Headers: map[string]string{"Host": "example.com", "User-Agent": "test", "Accept": "*/*"}}
	scored := func(e *engine) bool {
		st := txStates(e, attack)
		return slices.ContainsFunc(st[1], func(l string) bool { return strings.HasPrefix(l, "tx.detection_inbound_anomaly_score=") })
	}
	for pl := 1; pl <= 4; pl++ {
		t.Run(fmt.Sprint("paranoia ", pl), func(t *testing.T) {
			s := settings{blocking: true, paranoia: pl, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit}
			e, written := leanAndWritten(t, s)
			want := []int{949152, 949159, 949160}
			for l := 2; l <= pl; l++ {
				want = append(want, 949151+l, 949159+l)
			}
			for _, id := range want {
				if !slices.Contains(e.writeOnly, id) {
					t.Errorf("%d kept, want it left out (left out: %v)", id, e.writeOnly)
				}
			}
			for _, id := range []int{949052, 949059, 949060, 949110} {
				if slices.Contains(e.writeOnly, id) {
					t.Errorf("%d left out: the blocking score is read", id)
				}
			}
			if !slices.Equal(e.writeOnlyVars, []string{"detection_inbound_anomaly_score"}) {
				t.Errorf("variables written only by the rules left out: %v", e.writeOnlyVars)
			}
			if !slices.Contains(e.unset, "detection_inbound_anomaly_score") {
				t.Errorf("the fold still sets the detection score: unset %v", e.unset)
			}
			if scored(e) || !scored(written) {
				t.Errorf("detection score set: in the gateway's build %t, as written %t; want false, true", scored(e), scored(written))
			}
		})
	}
}
