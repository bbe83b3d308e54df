package waf

import "slices"

// Handing Coraza the rules pruning removes.
//
// Coraza's per-transaction removal (RemoveRuleByID, what
// ctl:ruleRemoveById does) puts each id in a map the transaction creates
// empty: a clean GET's 130-odd removals grew it from nothing on every
// request, rehashing it several times (about 7% of the request). Coraza
// also takes ranges (RemoveRuleByIDRange, what ctl:ruleRemoveById=a-b
// does), checked in a loop for each rule the map does not remove. The
// rules pruning removes mostly come in runs of the rule set's ids in
// order (a family of rules none of whose bytes the request has), so a run
// of two or more is handed over as one range and a lone rule as an id.
// A range holds only the ids of removed rules: ruleOrder is every id of
// the rule set, so a run cannot step over a rule that stays.

// ruleOrder is the ids of a rule set's rules (SecMarkers, id 0, left out)
// in ascending order, and each id's position.
type ruleOrder struct {
	ids []int
	pos map[int]int
}

func newRuleOrder(rules []ruleText, gone map[int]bool) ruleOrder {
	o := ruleOrder{pos: map[int]int{}}
	for _, rt := range rules {
		if rt.id != 0 && !gone[rt.id] {
			o.ids = append(o.ids, rt.id)
		}
	}
	slices.Sort(o.ids)
	o.ids = slices.Compact(o.ids)
	for i, id := range o.ids {
		o.pos[id] = i
	}
	return o
}

// removal is the rules pruning removes from one transaction, marked by
// position in the order; direct is those the order does not hold (none,
// unless a rule id escaped the build's list).
type removal struct {
	order  *ruleOrder
	marks  []bool
	direct []int
}

// newRemoval is a removal over o; marks (one per id of o, all false) is
// the caller's, a request's pooled buffer (prune.go's requestView).
func newRemoval(o *ruleOrder, marks []bool) removal {
	return removal{order: o, marks: marks}
}

// add marks the rule id for removal.
func (r *removal) add(id int) {
	if i, ok := r.order.pos[id]; ok {
		r.marks[i] = true
		return
	}
	r.direct = append(r.direct, id)
}

// hand gives the marked rules to tx: each run of two or more adjacent in
// the order as one range, any other rule by its id.
func (r *removal) hand(tx corazaTx) {
	for i := 0; i < len(r.marks); {
		if !r.marks[i] {
			i++
			continue
		}
		j := i
		for j+1 < len(r.marks) && r.marks[j+1] {
			j++
		}
		if j > i {
			tx.RemoveRuleByIDRange(r.order.ids[i], r.order.ids[j])
		} else {
			tx.RemoveRuleByID(r.order.ids[i])
		}
		i = j + 1
	}
	for _, id := range r.direct {
		tx.RemoveRuleByID(id)
	}
}
