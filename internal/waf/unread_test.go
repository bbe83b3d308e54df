package waf

import (
	"slices"
	"testing"
)

// TestUnreadVars: a folded variable is left unset only when no rule of the
// rule set mentions it, a chained rule's text and TX:/regex/ targets
// included.
func TestUnreadVars(t *testing.T) {
	vars := [][2]string{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"score_x", "0"}}
	tests := []struct {
		desc  string
		text  string
		kept  []int
		unset []string
	}{
		{desc: "nothing reads", text: "SecRule ARGS \"@rx x\" \"id:1,phase:2,pass\"\n", kept: []int{1}, unset: []string{"a", "b", "c", "score_x"}},
		{desc: "a macro and a count", text: "SecRule &TX:a \"@eq 0\" \"id:1,phase:1,pass,msg:'%{tx.b}'\"\n", kept: []int{1}, unset: []string{"c", "score_x"}},
		{desc: "a chained rule reads", text: "SecRule ARGS \"@rx x\" \"id:1,phase:2,pass,chain\"\n    SecRule TX:c \"@eq 1\" \"t:none\"\n", kept: []int{1}, unset: []string{"a", "b", "score_x"}},
		{desc: "a continued line", text: "SecRule ARGS \"@rx x\" \\\n    \"id:1,\\\n    setvar:'tx.a=+1'\"\n", kept: []int{1}, unset: []string{"b", "c", "score_x"}},
		{desc: "a rule left out", text: "SecRule TX:a \"@eq 0\" \"id:1,phase:1,pass\"\nSecRule TX:b \"@eq 0\" \"id:2,phase:1,pass\"\n", kept: []int{2}, unset: []string{"a", "c", "score_x"}},
		{desc: "a chained rule of a rule left out", text: "SecRule ARGS \"@rx x\" \"id:1,phase:2,pass,chain\"\n    SecRule TX:c \"@eq 1\" \"t:none\"\n", kept: []int{2}, unset: []string{"a", "b", "c", "score_x"}},
		{desc: "a regex target", text: "SecRule TX:/^score_/ \"@gt 0\" \"id:1,phase:2,pass\"\n", kept: []int{1}, unset: []string{"a", "b", "c"}},
		{desc: "the whole collection", text: "SecRule ARGS|!TX:z|TX \"@rx x\" \"id:1,phase:2,pass\"\n", kept: []int{1}},
		{desc: "a comment", text: "# SecRule TX:a \"@eq 0\" \"id:1,phase:1,pass\"\nSecRule ARGS \"@rx x\" \"id:2,phase:2,pass\"\n", kept: []int{1, 2}, unset: []string{"a", "b", "c", "score_x"}},
		{desc: "an id in an operator is not a rule", text: "SecRule ARGS \"@rx x\" \"id:1,phase:2,pass,chain\"\n    SecRule ARGS \"@rx uid:2\" \"setvar:'tx.a=1'\"\n", kept: []int{1}, unset: []string{"b", "c", "score_x"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			kept := map[int]bool{}
			for _, id := range tc.kept {
				kept[id] = true
			}
			// Only the directives: every CRS rule id is absent from kept.
			got := unreadVars(vars, kept, tc.text)
			if !slices.Equal(got, tc.unset) {
				t.Fatalf("unset %v, want %v", got, tc.unset)
			}
		})
	}
}
