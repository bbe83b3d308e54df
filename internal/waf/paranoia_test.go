package waf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// TestLeanRuleSetSameVerdicts sends the CRS's regression corpus through
// each paranoia level's rule set built as the gateway builds it (lean: the
// paranoia jumps worked out at build, the initialization folded into one
// rule, a constant logdata) and built as written, and requires the same
// matched rules with the same messages for every request, less the rules
// left out that match without a message (the jumps, the initialization,
// the write-only rules) and the fold's own rule. Pruning is off on both sides: this compares the
// build alone.
func TestLeanRuleSetSameVerdicts(t *testing.T) {
	requests := crstest.Corpus(t)
	for pl := 1; pl <= 4; pl++ {
		for _, blocking := range []bool{true, false} {
			s := settings{blocking: blocking, paranoia: pl, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit}
			t.Run(fmt.Sprintf("paranoia %d blocking %t", pl, blocking), func(t *testing.T) {
				cut, whole := leanAndWritten(t, s)
				// The features silently stopping (a CRS whose jumps or
				// initialization read differently) would pass the
				// comparison.
				if min := []int{0, 200, 120, 60, 28}[pl]; len(cut.skipped) < min {
					t.Fatalf("%d rules left out at paranoia %d, want at least %d", len(cut.skipped), pl, min)
				}
				if len(cut.folded) < minFolded {
					t.Fatalf("%d initialization rules folded, want at least %d", len(cut.folded), minFolded)
				}
				leftOut := map[int]bool{}
				if !slices.Contains(cut.skipped, 949111) {
					t.Fatal("949111 (early blocking, off) kept: a chain whose link never matches is no longer left out")
				}
				if len(cut.writeOnly) < 3 {
					t.Fatalf("%d write-only rules left out, want at least 3 (the detection score's)", len(cut.writeOnly))
				}
				for _, id := range slices.Concat(cut.skipped, cut.folded, cut.writeOnly) {
					leftOut[id] = true
				}
				// The default level and the top one see the whole corpus
				// (a stride of it under the race detector); the two
				// between, a quarter.
				stride := crstest.Stride()
				if pl == 2 || pl == 3 {
					stride *= 4
				}
				n, detections := 0, 0
				for j := pl % stride; j < len(requests); j += stride {
					r := requests[j]
					want := crstest.Verdict(whole.waf, r, nil)
					want = slices.DeleteFunc(want, func(line string) bool {
						// A jump or an initialization rule matches without a
						// message; a rule left out that would have matched
						// with one still counts.
						id, msg, _ := strings.Cut(line, " ")
						n, _ := strconv.Atoi(id)
						return leftOut[n] && msg == ""
					})
					got := slices.DeleteFunc(crstest.Verdict(cut.waf, r, nil), func(line string) bool {
						return line == strconv.Itoa(foldID)+" "
					})
					if !slices.Equal(got, want) {
						t.Fatalf("%s: left out %q, whole %q", r.Name, difference(got, want), difference(want, got))
					}
					n++
					if slices.ContainsFunc(want, crstest.IsDetection) {
						detections++
					}
				}
				if detections < n/3 {
					t.Fatalf("only %d of %d requests matched: the corpus did not reach the rules", detections, n)
				}
			})
		}
	}
}

// leanAndWritten builds s as the gateway does (lean) and as its
// directives are written, the reference the lean build is compared with.
func leanAndWritten(t *testing.T, s settings) (lean, written *engine) {
	t.Helper()
	lean, _, err := s.build()
	if err != nil {
		t.Fatal(err)
	}
	if written, err = compileRules(s.directives(), s.exclusions, 0); err != nil {
		t.Fatal(err)
	}
	return lean, written
}

// TestDetectionParanoiaIsTheBuildsLevel: what paranoiaSkips stands on. At
// run time the rules read TX:DETECTION_PARANOIA_LEVEL (and the blocking
// level) as the level the rule set was built for, whatever the request:
// in the rule set as written, and in the gateway's build, where a level
// no rule left reads is not set at all (unread.go; the detection level,
// once its last readers, the detection score's rules, are left out,
// writeonly.go).
func TestDetectionParanoiaIsTheBuildsLevel(t *testing.T) {
	for pl := 1; pl <= 4; pl++ {
		s := settings{blocking: true, paranoia: pl, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit}
		lean, written := leanAndWritten(t, s)
		for _, e := range []*engine{written, lean} {
			tx := e.waf.NewTransaction()
			tx.ProcessURI("/?tx.detection_paranoia_level=0&x=%27", "POST", "HTTP/1.1")
			tx.AddRequestHeader("Host", "example.com")
			tx.AddRequestHeader("Content-Type", "application/x-www-form-urlencoded")
			tx.ProcessRequestHeaders()
			_, _, _ = tx.WriteRequestBody([]byte("tx.detection_paranoia_level=0&a=1"))
			_, _ = tx.ProcessRequestBody()
			txVars, ok := tx.(corazaTx).Collection(variables.TX).(collection.Keyed)
			if !ok {
				t.Fatal("TX is not a keyed collection")
			}
			for _, key := range []string{"detection_paranoia_level", "blocking_paranoia_level"} {
				got := txVars.Get(key)
				if e == lean && slices.Contains(e.unset, key) {
					if len(got) != 0 {
						t.Errorf("paranoia %d: TX:%s, which no rule left reads, is %q in the gateway's build", pl, key, got)
					}
					continue
				}
				if len(got) != 1 || got[0] != strconv.Itoa(pl) {
					t.Errorf("paranoia %d (written %t): TX:%s is %q at the end of phase 2", pl, e == written, key, got)
				}
			}
			_ = tx.Close()
		}
	}
}

// TestParanoiaSkips: which rules the jumps leave out, on made-up rule sets.
func TestParanoiaSkips(t *testing.T) {
	jump := func(id int, phase types.RulePhase, level int, marker string) ruleText {
		return ruleText{id: id, phase: phase, raw: fmt.Sprintf(`SecRule TX:DETECTION_PARANOIA_LEVEL "@lt %d" "id:%d,phase:%d,pass,nolog,tag:'OWASP_CRS',ver:'OWASP_CRS/4.25.0',skipAfter:%s"`, level, id, phase, marker)}
	}
	rule := func(id int, phase types.RulePhase, actions string) ruleText {
		return ruleText{id: id, phase: phase, raw: fmt.Sprintf(`SecRule ARGS "@rx a" "id:%d,phase:%d,deny%s"`, id, phase, actions)}
	}
	marker := func(name string) ruleText { return ruleText{raw: `SecMarker "` + name + `"`} }
	count := func(id int, name string, n int) ruleText {
		return ruleText{id: id, phase: 1, raw: fmt.Sprintf(`SecRule &TX:%s "@eq %d" "id:%d,phase:1,block,t:none,msg:'x'"`, name, n, id)}
	}
	score := func(id, level int) ruleText {
		return ruleText{id: id, phase: 1, raw: fmt.Sprintf(`SecRule TX:BLOCKING_PARANOIA_LEVEL "@ge %d" "id:%d,phase:1,pass,t:none,nolog,setvar:'tx.blocking_inbound_anomaly_score=+%%{tx.inbound_anomaly_score_pl%d}'"`, level, id, level)}
	}
	// REQUEST-949's early blocking: a phase 1 verdict chained to a switch
	// the setup leaves off.
	early := ruleText{id: 949111, phase: 1, raw: `SecRule TX:BLOCKING_INBOUND_ANOMALY_SCORE "@ge %{tx.inbound_anomaly_score_threshold}" "id:949111,phase:1,deny,t:none,msg:'Inbound Anomaly Score Exceeded in phase 1',tag:'OWASP_CRS',chain"`}
	const earlyLink = `SecRule TX:EARLY_BLOCKING "@eq 1"`
	earlyOff := txKnown{values: map[string]string{"early_blocking": "0"}, after: -1}
	section := []ruleText{
		jump(11, 1, 1, "END"), jump(12, 2, 1, "END"),
		rule(100, 1, ""), rule(101, 2, ""),
		jump(13, 1, 2, "END"), jump(14, 2, 2, "END"),
		rule(200, 1, ""), rule(201, 2, ""),
		marker("END"),
		rule(300, 1, ""), rule(301, 2, ""),
	}
	tests := []struct {
		desc    string
		rules   []ruleText
		removed []int
		pl      int
		known   *txKnown // levelsKnown(pl) when nil
		chains  map[int][]string
		want    []int
	}{
		{desc: "at the lowest level: every jump, and the rules above it in both phases", rules: section, pl: 1,
			want: []int{11, 12, 13, 14, 200, 201}},
		{desc: "at the top level: the jumps, which never match", rules: section, pl: 2, want: []int{11, 12, 13, 14}},
		{desc: "a jump the policy removed jumps nowhere", rules: section, removed: []int{13}, pl: 1,
			want: []int{11, 12, 14, 201}},
		{desc: "a jump taken in one phase leaves the other phase's rules",
			rules: []ruleText{jump(13, 1, 2, "END"), rule(200, 1, ""), rule(201, 2, ""), marker("END")}, pl: 1,
			want: []int{13, 200}},
		{desc: "a skip window over a rule left out leaves the rule set as it is",
			rules: []ruleText{rule(99, 1, ",skip:2"), jump(13, 1, 2, "END"), rule(200, 1, ""), marker("END")}, pl: 1},
		{desc: "a skip window that ends before the jump is no obstacle",
			rules: []ruleText{rule(99, 1, ",skip:1"), rule(98, 1, ""), jump(13, 1, 2, "END"), rule(200, 1, ""), marker("END")}, pl: 1,
			want: []int{13, 200}},
		{desc: "a jump to a marker that never comes leaves the rule set as it is",
			rules: []ruleText{jump(13, 1, 2, "ELSEWHERE"), rule(200, 1, ""), marker("END")}, pl: 1},
		{desc: "a rule that jumps and acts is not a jump",
			rules: []ruleText{{id: 13, phase: 1, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:13,phase:1,pass,nolog,setvar:tx.x=1,skipAfter:END"`}, rule(200, 1, ""), marker("END")}, pl: 1},
		{desc: "a jump on another variable is not a jump",
			rules: []ruleText{{id: 13, phase: 1, raw: `SecRule TX:EARLY_BLOCKING "@lt 2" "id:13,phase:1,pass,nolog,skipAfter:END"`}, rule(200, 1, ""), marker("END")}, pl: 1},
		{desc: "a jump on the blocking level is a jump",
			rules: []ruleText{{id: 13, phase: 1, raw: `SecRule TX:BLOCKING_PARANOIA_LEVEL "@lt 2" "id:13,phase:1,pass,nolog,skipAfter:END"`}, rule(200, 1, ""), marker("END")}, pl: 1,
			want: []int{13, 200}},
		{desc: "a test that never matches at the level is left out, whatever it does; one that matches and acts stays",
			rules: []ruleText{score(949053, 2), score(949052, 1), {id: 949061, phase: 2, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@gt 1" "id:949061,phase:2,deny,t:none"`}}, pl: 1,
			want: []int{949053, 949061}},
		{desc: "at the top level every scoring test matches and stays",
			rules: []ruleText{score(949053, 2), score(949052, 1), score(949055, 4)}, pl: 4},
		{desc: "the check that the two levels agree never matches",
			rules: []ruleText{{id: 901500, phase: 1, raw: `SecRule TX:detection_paranoia_level "@lt %{tx.blocking_paranoia_level}" "id:901500,phase:1,deny,status:500,t:none,log,msg:'x'"`}}, pl: 3,
			want: []int{901500}},
		{desc: "a test with a transformation is not a test",
			rules: []ruleText{{id: 13, phase: 1, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@ge 2" "id:13,phase:1,pass,t:length,setvar:tx.x=1"`}}, pl: 1},
		{desc: "a count of a variable never set is 0; of a known one, 1",
			rules: []ruleText{count(920380, "MAX_NUM_ARGS", 1), count(13, "MAX_NUM_ARGS", 0), count(14, "sampling_percentage", 1), count(15, "sampling_percentage", 0)},
			known: &txKnown{values: map[string]string{"sampling_percentage": "100"}, absent: func(n string) bool { return n == "max_num_args" }, after: -1},
			want:  []int{920380, 15}},
		{desc: "a count of a variable that may be set is not decided",
			rules: []ruleText{count(920380, "MAX_NUM_ARGS", 1)},
			known: &txKnown{values: map[string]string{}, absent: func(string) bool { return false }, after: -1}},
		{desc: "a known value's jump is taken",
			rules: []ruleText{{id: 901400, phase: 1, raw: `SecRule TX:sampling_percentage "@eq 100" "id:901400,phase:1,pass,nolog,skipAfter:END-SAMPLING"`}, rule(901410, 1, ""), marker("END-SAMPLING"), rule(200, 1, "")},
			known: &txKnown{values: map[string]string{"sampling_percentage": "100"}, after: -1},
			want:  []int{901400, 901410}},
		{desc: "a phase 1 test before the values hold is not decided; a phase 2 one is",
			rules: []ruleText{count(13, "MAX_NUM_ARGS", 1), rule(1, 1, ""), count(14, "MAX_NUM_ARGS", 1), {id: 15, phase: 2, raw: `SecRule &TX:MAX_NUM_ARGS "@eq 1" "id:15,phase:2,deny"`}},
			known: &txKnown{values: map[string]string{}, absent: func(string) bool { return true }, after: 1},
			want:  []int{14, 15}},
		{desc: "a test of another operator is not a test",
			rules: []ruleText{{id: 13, phase: 1, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "@rx 2" "id:13,phase:1,pass,setvar:tx.x=1"`}}, pl: 1},
		{desc: "a chain whose link never matches is left out",
			rules: []ruleText{early}, chains: map[int][]string{949111: {earlyLink}}, known: &earlyOff, want: []int{949111}},
		{desc: "a chain whose link may match stays",
			rules: []ruleText{early}, chains: map[int][]string{949111: {earlyLink}}, known: &txKnown{values: map[string]string{"early_blocking": "1"}, after: -1}},
		{desc: "a chain whose link tests a variable not known stays",
			rules: []ruleText{early}, chains: map[int][]string{949111: {earlyLink}}, pl: 1},
		{desc: "a chain whose first rule acts when it alone matches stays",
			rules:  []ruleText{{id: 949111, phase: 1, raw: `SecRule TX:BLOCKING_INBOUND_ANOMALY_SCORE "@ge 5" "id:949111,phase:1,deny,t:none,setvar:'tx.x=1',chain"`}},
			chains: map[int][]string{949111: {earlyLink}}, known: &earlyOff},
		{desc: "a chain with a link that acts before the one that never matches stays",
			rules: []ruleText{early}, chains: map[int][]string{949111: {`SecRule ARGS "@rx a" "capture,chain"`, earlyLink}}, known: &earlyOff},
		{desc: "a chain after a link that only tests is left out",
			rules: []ruleText{early}, chains: map[int][]string{949111: {`SecRule ARGS "@rx a" "t:none,chain"`, earlyLink}}, known: &earlyOff, want: []int{949111}},
		{desc: "a chain that never matches inside a skip window leaves the rule set as it is",
			rules: []ruleText{rule(99, 1, ",skip:1"), early}, chains: map[int][]string{949111: {earlyLink}}, known: &earlyOff},
		{desc: "a negated jump is not a jump",
			rules: []ruleText{{id: 13, phase: 1, raw: `SecRule TX:DETECTION_PARANOIA_LEVEL "!@lt 2" "id:13,phase:1,pass,nolog,skipAfter:END"`}, rule(200, 1, ""), marker("END")}, pl: 1},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			known := levelsKnown(tc.pl)
			if tc.known != nil {
				known = *tc.known
			}
			if got := paranoiaSkips(tc.rules, tc.removed, known, tc.chains); !slices.Equal(got, tc.want) {
				t.Fatalf("paranoiaSkips = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestQuietLogdata: in the gateway's build a matched rule's data is the
// constant quietData, where the rule set as written has the matched input;
// its id and message are the same.
func TestQuietLogdata(t *testing.T) {
	s := settings{blocking: false, paranoia: 1, threshold: 5, bodyLimit: defaultBodyLimit}
	lean, written := leanAndWritten(t, s)
	match := func(e *engine) (msg, data string) {
		tx := e.waf.NewTransaction()
		defer func() { _ = tx.Close() }()
		tx.ProcessURI("/?id="+q("1' OR '1'='1"), "GET", "HTTP/1.1")
		tx.AddRequestHeader("Host", "example.com")
		tx.ProcessRequestHeaders()
		_, _ = tx.ProcessRequestBody()
		for _, m := range tx.MatchedRules() {
			if m.Rule().ID() == 942100 {
				return m.Message(), m.Data()
			}
		}
		t.Fatal("942100 did not match the SQL injection")
		return "", ""
	}
	leanMsg, leanData := match(lean)
	msg, data := match(written)
	if leanMsg != msg || msg == "" {
		t.Errorf("message %q in the gateway's build, %q as written", leanMsg, msg)
	}
	if leanData != quietData || !strings.Contains(data, "1' OR '1'='1") {
		t.Errorf("data %q in the gateway's build (want %q), %q as written", leanData, quietData, data)
	}
}
