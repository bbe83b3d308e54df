package waf

import (
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// TestRemovalHandsRuns: runs of two or more rules adjacent in the rule
// set's order go to Coraza as one range, any other rule by its id, and no
// range holds a rule that was not marked.
func TestRemovalHandsRuns(t *testing.T) {
	rules := []ruleText{{id: 9}, {id: 1}, {id: 3}, {}, {id: 2}, {id: 5}, {id: 8}, {id: 7}}
	order := newRuleOrder(rules, map[int]bool{7: true})
	if want := []int{1, 2, 3, 5, 8, 9}; !slices.Equal(order.ids, want) {
		t.Fatalf("order %v, want %v", order.ids, want)
	}
	tests := []struct {
		desc string
		add  []int
		want []string
	}{
		{desc: "nothing", want: nil},
		{desc: "a run", add: []int{2, 1, 3}, want: []string{"range 1-3"}},
		{desc: "lone rules", add: []int{1, 3, 8}, want: []string{"id 1", "id 3", "id 8"}},
		{desc: "a run across a gap in the ids", add: []int{3, 5, 8}, want: []string{"range 3-8"}},
		{desc: "two runs", add: []int{1, 2, 8, 9}, want: []string{"range 1-2", "range 8-9"}},
		{desc: "an id outside the order", add: []int{7, 42}, want: []string{"id 7", "id 42"}},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			rm := newRemoval(&order, make([]bool, len(order.ids)))
			for _, id := range tc.add {
				rm.add(id)
			}
			var got callLog
			rm.hand(&got)
			if !slices.Equal(got.calls, tc.want) {
				t.Fatalf("calls %q, want %q", got.calls, tc.want)
			}
		})
	}
}

// callLog records the removals handed to it.
type callLog struct{ calls []string }

func (c *callLog) Collection(variables.RuleVariable) collection.Collection { return nil }
func (c *callLog) RemoveRuleByID(id int)                                   { c.calls = append(c.calls, fmt.Sprintf("id %d", id)) }
func (c *callLog) RemoveRuleByIDRange(start, end int) {
	c.calls = append(c.calls, fmt.Sprintf("range %d-%d", start, end))
}
func (c *callLog) RemoveRuleTargetByID(int, variables.RuleVariable, string, *regexp.Regexp) {}
