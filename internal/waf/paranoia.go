package waf

import (
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"
)

// The CRS's paranoia levels are run-time jumps. Each rule file opens its
// paranoia sections with control rules such as
//
//	SecRule TX:DETECTION_PARANOIA_LEVEL "@lt 2" "id:911013,phase:1,pass,nolog,...,skipAfter:END-REQUEST-911-METHOD-ENFORCEMENT"
//
// and every transaction evaluates them: at paranoia 1, four per file (the
// "@lt 1" of phases 1 and 2, which never match, and the "@lt 2" ones, which
// always do and jump to the file's SecMarker), 112 evaluations that decide
// nothing about the request, each paying Coraza's per-rule cost. Yet the
// policy's paranoia level is fixed when the rule set is built: the gateway
// writes tx.blocking_paranoia_level itself, the CRS's setup copies it to
// tx.detection_paranoia_level, and no directive of the gateway's sets
// either again. So paranoiaSkips works out at build time which rules those
// jumps leave out, and the rule set is built without them
// (SecRuleRemoveById): the control rules themselves and the rules above the
// level. The same rules run, in the same order, with the same results; the
// jumps just happen once, at build. The other tests of the level go the
// same way: the scoring in REQUEST-949 adds each level's score under a
// TX:BLOCKING_PARANOIA_LEVEL "@ge N" rule (and the detection level's), and
// those above the policy's level never match (12 evaluations a request at
// paranoia 1), nor does 901500's check that the two levels agree; they
// are left out too. TestLeanRuleSetSameVerdicts compares
// the two rule sets on the CRS's corpus at every level, and
// TestDetectionParanoiaIsTheBuildsLevel checks the level the rules read at
// run time.

// txKnown is what the build knows of every transaction's TX from a point
// of the rule set on: variables that hold the same value from there on
// (the paranoia levels, which the gateway sets; the initialization's
// constants that no other rule writes, fold.go) and variables no rule
// ever sets.
type txKnown struct {
	values map[string]string      // lowercase name -> value
	absent func(name string) bool // nil: none known
	// after is the index, in the rules walked, of the last phase 1 rule
	// before which the values may not hold yet (the folded run's last
	// rule); -1 for everywhere.
	after int
}

// levelsKnown is what the build knows with nothing folded: both paranoia
// levels hold the build's (TestDetectionParanoiaIsTheBuildsLevel).
func levelsKnown(pl int) txKnown {
	v := strconv.Itoa(pl)
	return txKnown{values: map[string]string{"blocking_paranoia_level": v, "detection_paranoia_level": v}, after: -1}
}

// controlActions are the actions a paranoia jump may have besides its
// skipAfter: none of them does anything when the rule matches.
var controlActions = map[string]bool{"id": true, "phase": true, "pass": true, "nolog": true, "tag": true, "ver": true, "skipAfter": true}

// paranoiaSkips returns the ids of the rules (rules as Coraza added them,
// in order, less those in removed) that a transaction at detection
// paranoia level pl never evaluates because of the paranoia jumps, the
// jumps themselves, and the other tests of the level that never match at
// pl (the scoring's "@ge 2" at paranoia 1, 901500's check that the two
// levels agree), and the chains one of whose later rules is such a test
// (neverByLink: 949111's early blocking, off), so that they can be left
// out of the rule set. It
// returns nil, to leave the rule set as it is, when anything is not as
// the CRS writes it: a skip:N window that would cover a rule left out
// (its count would then reach further), a jump to a marker that never
// comes, or a jump with another action.
func paranoiaSkips(rules []ruleText, removed []int, known txKnown, chains map[int][]string) []int {
	gone := make(map[int]bool, len(removed))
	for _, id := range removed {
		gone[id] = true
	}
	var out []int
	jumping := map[types.RulePhase]string{} // phase -> the marker it jumps to
	windows := skipWindows{}
	for i, rt := range rules {
		if rt.id != 0 && gone[rt.id] {
			continue
		}
		if name, ok := strings.CutPrefix(rt.raw, "SecMarker "); ok {
			name = strings.Trim(strings.TrimSpace(name), `"'`)
			for ph, m := range jumping {
				if m == name {
					delete(jumping, ph)
				}
			}
			continue
		}
		inSkip := windows.next(rt.phase)
		if _, on := jumping[rt.phase]; on {
			if inSkip {
				return nil
			}
			out = append(out, rt.id)
			continue
		}
		sr, err := parseSecRule(rt.raw)
		if err != nil {
			continue // SecAction: no skip, no jump
		}
		windows.open(rt.phase, sr)
		if rt.phase == types.PhaseRequestHeaders && i <= known.after {
			continue // the values may not hold yet
		}
		matches, ok := constantTest(rt.raw, sr, known)
		if !ok {
			if neverByLink(sr, chains[rt.id], known) {
				if inSkip {
					return nil
				}
				out = append(out, rt.id)
			}
			continue
		}
		marker, jump := jumpMarker(sr)
		if matches && !jump {
			continue // matches and acts (the scoring adds a level's score)
		}
		if inSkip {
			return nil
		}
		out = append(out, rt.id) // a jump, or a test that never matches
		if matches {
			jumping[rt.phase] = marker // the jump is taken
		}
	}
	if len(jumping) > 0 {
		return nil // a jump to a marker that never came: Coraza skips to the phase's end
	}
	return out
}

// constantTest reads a rule that tests what the build knows of TX: SecRule
// on one target, TX:name with a known value or &TX:name with a known
// count (1 for a known value, 0 for a variable never set), operator @lt,
// @le, @gt, @ge or @eq with a number or a %{tx.name} of a known value for
// operand, no transformation but t:none, not negated. matches tells
// whether it matches; ok is false for any other rule.
func constantTest(raw string, sr secRule, known txKnown) (matches, ok bool) {
	fields := strings.Fields(raw)
	if len(fields) < 3 || sr.negated || len(sr.chain) > 0 || sr.unmodelled || sr.multiMatch {
		return false, false
	}
	target := strings.ToLower(fields[1])
	var have string
	if name, count := strings.CutPrefix(target, "&tx:"); count {
		switch _, set := known.values[name]; {
		case set:
			have = "1"
		case known.absent != nil && txName.MatchString(name) && known.absent(name):
			have = "0"
		default:
			return false, false
		}
	} else if name, ok := strings.CutPrefix(target, "tx:"); !ok {
		return false, false
	} else if have, ok = known.values[name]; !ok {
		return false, false
	}
	arg := strings.TrimSpace(sr.arg)
	if m := txMacro.FindStringSubmatch(arg); m != nil && m[0] == arg {
		if arg, ok = known.values[strings.ToLower(m[1])]; !ok {
			return false, false
		}
	}
	a, errA := strconv.Atoi(have)
	b, errB := strconv.Atoi(arg)
	if errA != nil || errB != nil {
		return false, false
	}
	switch sr.op {
	case "lt":
		return a < b, true
	case "le":
		return a <= b, true
	case "gt":
		return a > b, true
	case "ge":
		return a >= b, true
	case "eq":
		return a == b, true
	}
	return false, false
}

// neverByLink reports whether a chain never matches because one of its
// later rules (links) is a constant test that never matches, such as
// REQUEST-949's early blocking (949111: the phase 1 score, chained to
// TX:EARLY_BLOCKING "@eq 1", which the setup leaves at 0). Only a chain
// whose first rule, and every link before that one, does nothing unless
// the whole chain matches (chainStarter, chain.go): a rule's setvar,
// capture or ctl runs when it matches, whatever its chain does.
func neverByLink(sr secRule, links []string, known txKnown) bool {
	if !chainStarter(sr) {
		return false
	}
	for _, raw := range links {
		lsr, err := parseSecRule(raw)
		if err != nil {
			return false
		}
		if matches, ok := constantTest(raw, lsr, known); ok && !matches {
			return true
		}
		for _, a := range lsr.actions {
			if name, _, _ := strings.Cut(a, ":"); !chainStarterActions[strings.TrimSpace(name)] {
				return false
			}
		}
	}
	return false
}

// jumpMarker reads a paranoia test's actions: jump is whether skipAfter
// to marker is all it does when it matches.
func jumpMarker(sr secRule) (marker string, jump bool) {
	for _, a := range sr.actions {
		name, val, _ := strings.Cut(a, ":")
		name = strings.TrimSpace(name)
		if !controlActions[name] {
			return "", false
		}
		if name == "skipAfter" {
			marker = strings.Trim(strings.TrimSpace(val), `"'`)
		}
	}
	return marker, marker != ""
}
