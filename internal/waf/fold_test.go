package waf

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// minFolded is the fewest initialization rules the gateway's build folds
// (the CRS 4.25 run is 26 rules): a CRS whose initialization reads
// differently would otherwise stop the fold silently.
const minFolded = 20

// TestFoldedInitSameState is what the fold stands on: after phase 1 and
// after phase 2, the whole TX collection of a transaction is the same in
// the gateway's build as in the rule set as written, for every request of
// the CRS's corpus (a stride of it under the race detector), at the
// lowest and the highest paranoia level and with exclusions inside the
// folded run. (MATCHED_VAR is not: it is the
// last matched rule's, and the rules left out matched; no CRS rule reads
// it outside a chain, TestRuleSetKeepsPruningAssumptions.)
func TestFoldedInitSameState(t *testing.T) {
	requests := crstest.Corpus(t)
	for _, s := range []settings{
		{blocking: true, paranoia: 1, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit},
		{blocking: true, paranoia: 4, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit},
		// Exclusions inside the run: a default that matches (the critical
		// score's, which the detection rules then add as nothing) and one
		// that does not (the gateway sets the allowed methods).
		{blocking: true, paranoia: 2, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit, exclusions: []int{901140, 901160, 942100}},
	} {
		t.Run(fmt.Sprintf("paranoia %d exclusions %v", s.paranoia, s.exclusions), func(t *testing.T) {
			lean, written := leanAndWritten(t, s)
			if len(lean.folded) < minFolded {
				t.Fatalf("%d initialization rules folded, want at least %d", len(lean.folded), minFolded)
			}
			if len(lean.unset) < 10 {
				t.Fatalf("%d folded variables left unset (%v), want at least 10", len(lean.unset), lean.unset)
			}
			n := 0
			for j := 0; j < len(requests); j += crstest.Stride() {
				r := requests[j]
				got, want := txStates(lean, r), txStates(written, r)
				for phase := range want {
					// The variables no rule reads are not set (unread.go),
					// nor those only the write-only rules wrote
					// (writeonly.go).
					want[phase] = slices.DeleteFunc(want[phase], func(l string) bool {
						name, _, _ := strings.Cut(strings.TrimPrefix(l, "tx."), "=")
						return slices.Contains(lean.unset, name) || slices.Contains(lean.writeOnlyVars, name)
					})
					if !slices.Equal(got[phase], want[phase]) {
						t.Fatalf("%s: after phase %d the gateway's build has %q, the rule set as written %q",
							r.Name, phase+1, difference(got[phase], want[phase]), difference(want[phase], got[phase]))
					}
				}
				if !slices.ContainsFunc(want[0], func(l string) bool { return strings.HasPrefix(l, "tx.restricted_extensions=") }) {
					t.Fatalf("%s: the initialization's variables are not in the state: %q", r.Name, want[0])
				}
				n++
			}
			if len(lastMatchNames) < 5 {
				t.Fatalf("found %d variables set to a matched variable's name in the CRS", len(lastMatchNames))
			}
			if n < 100 {
				t.Fatalf("only %d requests compared", n)
			}
		})
	}
}

// txStates runs r through e's rule set and returns, for phases 1 and 2,
// the TX collection at the end of the phase as sorted "tx.key=value"
// lines. Where Coraza's map order, which differs from run to run, decides
// what a variable holds, the order is taken out: the captures (TX:0-10)
// are left out, numbered variables (922110's
// multipart_headers_content_types_0, _1) lose their number, and of a
// variable set to the name of a matched variable (the last of several)
// only its presence counts.
var numbered = regexp.MustCompile(`_[0-9]+$`)

// lastMatchNames is the TX variables the CRS sets to %{MATCHED_VAR_NAME}.
var lastMatchNames = func() map[string]bool {
	setvar := regexp.MustCompile(`(?i)setvar:'?tx\.([a-z0-9_]+)=[^,']*%\{matched_var_name\}`)
	out := map[string]bool{}
	_ = fs.WalkDir(coreruleset.FS, "@owasp_crs", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".conf") {
			return err
		}
		b, err := fs.ReadFile(coreruleset.FS, path)
		for _, m := range setvar.FindAllStringSubmatch(string(b), -1) {
			out[strings.ToLower(m[1])] = true
		}
		return err
	})
	return out
}()

func txStates(e *engine, r crstest.Request) [2][]string {
	var out [2][]string
	crstest.Run(e.waf, r, crstest.Hooks{After: func(tx types.Transaction, phase types.RulePhase) {
		c := tx.(corazaTx)
		var lines []string
		for _, m := range c.Collection(variables.TX).FindAll() {
			if _, err := strconv.Atoi(m.Key()); err != nil {
				v := m.Value()
				if lastMatchNames[strings.ToLower(m.Key())] {
					v = "(a matched variable's name)"
				}
				lines = append(lines, "tx."+numbered.ReplaceAllString(m.Key(), "_#")+"="+v)
			}
		}
		slices.Sort(lines)
		state := lines
		if phase == types.PhaseRequestBody {
			out[1] = state
			if out[0] == nil {
				out[0] = state // phase 1 interrupted
			}
			return
		}
		out[0] = state
	}})
	return out
}

// TestFoldInit: which rules foldInit works out and what it sets, on
// made-up rule sets.
func TestFoldInit(t *testing.T) {
	action := func(id int, sets string) ruleText {
		return ruleText{id: id, phase: 1, raw: fmt.Sprintf(`SecAction "id:%d,phase:1,pass,t:none,nolog,%s"`, id, sets)}
	}
	deflt := func(id int, name, sets string) ruleText {
		return ruleText{id: id, phase: 1, raw: fmt.Sprintf(`SecRule &TX:%s "@eq 0" "id:%d,phase:1,pass,nolog,tag:'OWASP_CRS',ver:'OWASP_CRS/4.25.0',%s"`, name, id, sets)}
	}
	request := func(id int, actions string) ruleText {
		return ruleText{id: id, phase: 1, raw: fmt.Sprintf(`SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:%d,phase:1,pass,nolog%s"`, id, actions)}
	}
	tests := []struct {
		desc    string
		rules   []ruleText
		removed []int
		ids     []int
		vars    string // the fold's setvars, "name=value;..."; "" for no fold
	}{
		{desc: "a default for a variable the setup set never matches; the others always do",
			rules: []ruleText{action(1, "setvar:tx.a=7"), deflt(2, "a", "setvar:'tx.a=5'"), deflt(3, "b", "setvar:'tx.b=x y'"), request(4, "")},
			ids:   []int{1, 2, 3}, vars: "a=7;b=x y"},
		{desc: "a rule before the run that only picks a body processor is no obstacle",
			rules: []ruleText{request(9, ",ctl:requestBodyProcessor=JSON"), action(1, "setvar:tx.a=7"), deflt(3, "b", "setvar:tx.b=1")},
			ids:   []int{1, 3}, vars: "a=7;b=1"},
		{desc: "a macro naming a variable already set is resolved",
			rules: []ruleText{action(1, "setvar:tx.a=3"), deflt(2, "d", "setvar:'tx.d=%{TX.a}'")},
			ids:   []int{1, 2}, vars: "a=3;d=3"},
		{desc: "a variable set twice keeps its first place and its last value",
			rules: []ruleText{action(1, "setvar:tx.a=1,setvar:tx.b=2"), action(2, "setvar:tx.a=3")},
			ids:   []int{1, 2}, vars: "a=3;b=2"},
		{desc: "a rule that never matches is left out whatever it would do",
			rules: []ruleText{action(1, "setvar:tx.v=1"), {id: 2, phase: 1, raw: `SecRule &TX:v "@eq 0" "id:2,phase:1,deny,status:500,log,msg:'no setup'"`}, deflt(3, "b", "setvar:tx.b=1")},
			ids:   []int{1, 2, 3}, vars: "v=1;b=1"},
		{desc: "the run ends at the first rule that reads the request; later defaults stay",
			rules: []ruleText{action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=1"), request(3, ""), deflt(4, "c", "setvar:tx.c=1")},
			ids:   []int{1, 2}, vars: "a=1;b=1"},
		{desc: "rules of other phases do not end the run",
			rules: []ruleText{action(1, "setvar:tx.a=1"), {id: 50, phase: 2, raw: `SecRule ARGS "@rx x" "id:50,phase:2,deny"`}, deflt(2, "b", "setvar:tx.b=1")},
			ids:   []int{1, 2}, vars: "a=1;b=1"},
		{desc: "a rule the policy removed is not part of the run",
			rules:   []ruleText{action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=1"), deflt(3, "c", "setvar:tx.c=1")},
			removed: []int{2}, ids: []int{1, 3}, vars: "a=1;c=1"},
		{desc: "a default that also logs ends the run",
			rules: []ruleText{action(1, "setvar:tx.a=1"), deflt(2, "b", "log,setvar:tx.b=1"), deflt(3, "c", "setvar:tx.c=1")},
		},
		{desc: "an increment is not a constant",
			rules: []ruleText{action(1, "setvar:tx.a=1"), action(2, "setvar:tx.a=+1")},
		},
		{desc: "a macro naming a variable not set is not a constant",
			rules: []ruleText{action(1, "setvar:tx.a=1"), deflt(2, "d", "setvar:'tx.d=%{TX.z}'")},
		},
		{desc: "a macro naming the request is not a constant",
			rules: []ruleText{action(1, "setvar:tx.a=1"), deflt(2, "d", "setvar:'tx.d=%{REQUEST_HEADERS.host}'")},
		},
		{desc: "a rule before the run that jumps leaves the rule set as it is",
			rules: []ruleText{request(9, ",skipAfter:END"), action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=1")}},
		{desc: "a rule before the run that counts a skip leaves the rule set as it is",
			rules: []ruleText{request(9, ",skip:1"), action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=1")}},
		{desc: "a rule before the run that sets TX leaves the rule set as it is",
			rules: []ruleText{request(9, ",setvar:tx.b=1"), action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=2")}},
		{desc: "a rule before the run that removes rules leaves the rule set as it is",
			rules: []ruleText{request(9, ",ctl:ruleRemoveById=2"), action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=2")}},
		{desc: "a SecAction before the run that does more than set TX leaves the rule set as it is",
			rules: []ruleText{{id: 9, phase: 1, raw: `SecAction "id:9,phase:1,pass,nolog,ctl:ruleEngine=Off"`}, action(1, "setvar:tx.a=1"), deflt(2, "b", "setvar:tx.b=2")}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			f, ok := foldInit(tc.rules, tc.removed)
			var vars []string
			for _, nv := range f.vars {
				vars = append(vars, nv[0]+"="+nv[1])
			}
			if tc.vars == "" {
				if ok {
					t.Fatalf("folded %v into %v, want no fold", f.ids, vars)
				}
				return
			}
			if !ok || !slices.Equal(f.ids, tc.ids) || strings.Join(vars, ";") != tc.vars {
				t.Fatalf("foldInit = %v %v %t, want %v %s", f.ids, vars, ok, tc.ids, tc.vars)
			}
		})
	}
}

// TestFoldLanded: the build refuses a fold whose rule is not where the run
// began.
func TestFoldLanded(t *testing.T) {
	r := func(id int) ruleText { return ruleText{id: id, phase: 1} }
	written := []ruleText{r(10), r(1), r(2), r(20)}
	f := initFold{ids: []int{1, 2}}
	gone := map[int]bool{1: true, 2: true}
	if err := foldLanded(written, []ruleText{r(10), r(foldID), r(1), r(2), r(20)}, gone, f); err != nil {
		t.Fatalf("the fold where the run was: %v", err)
	}
	if err := foldLanded(written, []ruleText{r(10), r(1), r(2), r(20), r(foldID)}, gone, f); err == nil {
		t.Fatal("a fold after the rules that follow the run was accepted")
	}
	if err := foldLanded(written, []ruleText{r(foldID), r(10), r(1), r(2), r(20)}, gone, f); err == nil {
		t.Fatal("a fold before the rules that precede the run was accepted")
	}
}

// TestFoldKnown: what the gateway's build takes as known of TX after the
// folded run. A variable that another rule writes (the detection rules add
// to the scores) is not a constant; a variable no setvar names is absent;
// one a setvar with a macro in its name may name is not.
func TestFoldKnown(t *testing.T) {
	s := settings{blocking: true, paranoia: 2, threshold: 5, bodyLimit: defaultBodyLimit}
	rules, _, err := compileObserved(s.directives())
	if err != nil {
		t.Fatal(err)
	}
	f, ok := foldInit(rules, nil)
	if !ok {
		t.Fatal("nothing folded")
	}
	k := f.known(s.paranoia, s.directives())
	tests := []struct {
		desc, name, value string
		absent            bool
	}{
		{desc: "the gateway's level", name: "blocking_paranoia_level", value: "2"},
		{desc: "the level the setup copies", name: "detection_paranoia_level", value: "2"},
		{desc: "a default nothing else writes", name: "crs_validate_utf8_encoding", value: "0"},
		{desc: "the sampling default", name: "sampling_percentage", value: "100"},
		{desc: "a score the detection rules add to", name: "inbound_anomaly_score_pl1"},
		{desc: "the total the scoring rules add to", name: "blocking_inbound_anomaly_score"},
		{desc: "a limit the setup leaves commented out", name: "max_num_args", absent: true},
		{desc: "a name a setvar with a macro may write", name: "header_name_920450_host"},
		{desc: "a variable a rule outside the run sets", name: "sampling_rnd100"},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			v, known := k.values[tc.name]
			if known != (tc.value != "") || v != tc.value {
				t.Errorf("TX:%s known %t as %q, want %q", tc.name, known, v, tc.value)
			}
			if got := k.absent(tc.name); got != tc.absent {
				t.Errorf("TX:%s absent %t, want %t", tc.name, got, tc.absent)
			}
		})
	}
	if k.after <= 0 || rules[k.after].id != f.ids[len(f.ids)-1] {
		t.Errorf("the values hold after rule index %d, want the run's last rule %d", k.after, f.ids[len(f.ids)-1])
	}
}
