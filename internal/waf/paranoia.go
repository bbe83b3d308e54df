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
// jumps just happen once, at build. TestLeanRuleSetSameVerdicts compares
// the two rule sets on the CRS's corpus at every level, and
// TestDetectionParanoiaIsTheBuildsLevel checks the level the rules read at
// run time.

// controlTarget is the variable the CRS's paranoia jumps read.
const controlTarget = "TX:DETECTION_PARANOIA_LEVEL"

// controlActions are the actions a paranoia jump may have besides its
// skipAfter: none of them does anything when the rule matches.
var controlActions = map[string]bool{"id": true, "phase": true, "pass": true, "nolog": true, "tag": true, "ver": true, "skipAfter": true}

// paranoiaSkips returns the ids of the rules (rules as Coraza added them,
// in order, less those in removed) that a transaction at detection
// paranoia level pl never evaluates because of the paranoia jumps, and the
// jumps themselves, so that they can be left out of the rule set. It
// returns nil, to leave the rule set as it is, when anything is not as
// the CRS writes it: a skip:N window that would cover a rule left out
// (its count would then reach further), a jump to a marker that never
// comes, or a jump with another action.
func paranoiaSkips(rules []ruleText, removed []int, pl int) []int {
	gone := make(map[int]bool, len(removed))
	for _, id := range removed {
		gone[id] = true
	}
	var out []int
	jumping := map[types.RulePhase]string{} // phase -> the marker it jumps to
	skipLeft := map[types.RulePhase]int{}   // rules of the phase still in a skip:N window
	for _, rt := range rules {
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
		inSkip := skipLeft[rt.phase] > 0
		if inSkip {
			skipLeft[rt.phase]--
		}
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
		if n := sr.skip(); n > 0 {
			skipLeft[rt.phase] = max(skipLeft[rt.phase], n)
		}
		level, marker, ok := paranoiaJump(rt.raw, sr)
		if !ok {
			continue
		}
		if inSkip {
			return nil
		}
		out = append(out, rt.id)
		if pl < level {
			jumping[rt.phase] = marker // "@lt level" matches: the jump is taken
		}
	}
	if len(jumping) > 0 {
		return nil // a jump to a marker that never came: Coraza skips to the phase's end
	}
	return out
}

// paranoiaJump reads a CRS paranoia jump: SecRule on controlTarget alone,
// operator "@lt N", no transformation, skipAfter to a marker and nothing
// else that acts. ok is false for any other rule.
func paranoiaJump(raw string, sr secRule) (level int, marker string, ok bool) {
	fields := strings.Fields(raw)
	if len(fields) < 3 || !strings.EqualFold(fields[1], controlTarget) || sr.negated || sr.op != "lt" ||
		sr.transformCount > 0 || sr.multiMatch {
		return 0, "", false
	}
	level, err := strconv.Atoi(strings.TrimSpace(sr.arg))
	if err != nil {
		return 0, "", false
	}
	for _, a := range sr.actions {
		name, val, _ := strings.Cut(a, ":")
		name = strings.TrimSpace(name)
		if !controlActions[name] {
			return 0, "", false
		}
		if name == "skipAfter" {
			marker = strings.Trim(strings.TrimSpace(val), `"'`)
		}
	}
	return level, marker, marker != ""
}
