package waf

import (
	"strings"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// Markers: the CRS's SecMarkers left out of a request no skipAfter can
// reach.
//
// The cost. A SecMarker (END-REQUEST-920-PROTOCOL-ENFORCEMENT and 16 more
// at paranoia 1) is only a place a skipAfter jumps to, but Coraza keeps it
// as a rule of phase 0, which runs in every phase, and evaluates it as a
// rule that always matches: the RULE collection filled, the MATCHED_*
// variables set. Phases 1, 2 and logging make 51 such evaluations a
// request, about 15 µs of a clean GET's 200 (docs/performance.md).
//
// Why they may go. A marker does two things: it ends a skipAfter (Coraza
// skips every rule until the marker named), and it counts as one of the N
// rules a skip:N steps over. Its evaluation sets nothing a later rule
// reads: no message, no setvar, no entry in the matched rules (Coraza adds
// only rules with an id), and MATCHED_VAR, which no rule outside a chain
// reads (TestRuleSetKeepsPruningAssumptions). So once the rule set has
// been compiled, the markers may be removed from a transaction (Coraza's
// RemoveRuleByID with a marker's id, 0, which no other rule may have) when
//   - no marker is among the rules a skip:N of the rule set steps over (a
//     removed rule is not counted, so the skip would reach one rule
//     further), and
//   - no rule of the rule set can set a skipAfter in this transaction: a
//     removed marker never ends one, and the skip would run to the end of
//     every later phase.
//
// The second is decided per request. After the build leaves out what the
// paranoia level decides (paranoia.go), the CRS has one rule with a
// skipAfter left at every level: 920280, "&REQUEST_HEADERS:Host @eq 0",
// which jumps over the other Host checks of a request without a Host. A
// rule of that form (a count of one named request header tested against
// a number, nothing else, nothing narrowing it: counting.go) is decided
// from the request's headers, which are in before pruning runs; a rule with a skipAfter of
// any other form keeps the markers in every request.
type markerGate struct {
	// on: the markers may be removed from a request that none of counts
	// matches.
	on     bool
	counts []jumpCount
}

// jumpCount is a rule with a skipAfter the gate decides: a count of the
// request headers named name (lowercased, as Coraza keys them).
type jumpCount struct {
	id   int
	name string
	test countTest
}

// newMarkerGate reads the gate from the rule set's rules in order, as the
// pruner is read (gone: the rules the build takes out again).
func newMarkerGate(rules []ruleText, gone map[int]bool, narrowed narrowing) markerGate {
	g := markerGate{on: true}
	// skipLeft: per phase, how many more rules a skip:N steps over. A
	// marker (phase 0) is in every phase's sequence.
	skipLeft := skipWindows{}
	for _, rt := range rules {
		if gone[rt.id] {
			continue
		}
		if rt.id == 0 {
			for _, n := range skipLeft {
				if n > 0 {
					return markerGate{} // a skip:N steps over this marker
				}
			}
			continue
		}
		skipLeft.next(rt.phase)
		sr, err := parseDirective(rt.raw)
		if err != nil {
			return markerGate{} // a rule not read may jump anywhere
		}
		skipLeft.open(rt.phase, sr)
		if !hasAction(sr.actions, "skipAfter") {
			continue
		}
		jc, ok := readJumpCount(sr, rt.id, narrowed)
		if !ok {
			return markerGate{}
		}
		g.counts = append(g.counts, jc)
	}
	return g
}

// hasAction reports whether actions holds the action name (with or without
// a value).
func hasAction(actions []string, name string) bool {
	for _, a := range actions {
		n, _, _ := strings.Cut(a, ":")
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// removable reports whether tx's request lets the markers go: no rule of
// the gate's can match it.
func (g markerGate) removable(tx corazaTx) bool {
	if !g.on {
		return false
	}
	if len(g.counts) == 0 {
		return true
	}
	headers, ok := tx.Collection(variables.RequestHeaders).(collection.Map)
	if !ok {
		return false
	}
	for _, jc := range g.counts {
		if jc.test.matches(len(headers.Get(jc.name))) {
			return false
		}
	}
	return true
}

// readJumpCount reads a rule with a skipAfter as a jumpCount: its one
// target a count of a named request header, its operator a count test,
// no chain, nothing narrowing its targets.
func readJumpCount(sr secRule, id int, narrowed narrowing) (jumpCount, bool) {
	if len(sr.targets) != 1 || sr.odd || hasAction(sr.actions, "chain") || narrowed.of(id, sr.actions) {
		return jumpCount{}, false
	}
	tg := sr.targets[0]
	if !tg.count || tg.v != variables.RequestHeaders || tg.key == "" {
		return jumpCount{}, false
	}
	test, ok := sr.countTest()
	if !ok {
		return jumpCount{}, false
	}
	return jumpCount{id: id, name: strings.ToLower(tg.key), test: test}, true
}

// markerID is the id Coraza gives every SecMarker (and the rule id check
// gives no other rule).
const markerID = 0
