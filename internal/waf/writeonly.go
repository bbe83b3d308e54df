package waf

import (
	"slices"
	"strings"
)

// Write-only rules: a rule whose only effect is to write TX variables that
// no rule left in the rule set reads is left out at build.
//
// The cost. After pruning, a clean GET still pays Coraza's per-rule work
// (about a microsecond) on every rule left to it. Three of them at
// paranoia 1 compute the CRS's detection score, which the response side's
// reporting rules read (REQUEST-949's 949152, 949159 and 949160 write
// tx.detection_inbound_anomaly_score; RESPONSE-980 reads it): this
// gateway runs no response phase and reads no TX variable itself (it reads
// the interruption and the matched rules with a message, policy.go), so
// those writes change nothing a request's verdict depends on.
//
// Which rules. A rule (a SecRule or a SecAction, not a chain) is
// write-only when
//   - its actions are only id, phase, pass, nolog, noauditlog, tag, ver,
//     rev, maturity, accuracy, t: and setvar: no message (the gateway
//     reports matched rules with one), no severity (a match would change
//     HIGHEST_SEVERITY), no capture (TX:0-9), no flow (skip, skipAfter,
//     chain), no ctl, no disruptive action;
//   - its operator, if any, only tests (an operator that writes a
//     collection, @geoLookup or @rbl, is not one);
//   - every setvar writes a plainly named tx variable that no rule left in
//     the rule set mentions but the write-only rules themselves (unread.go's
//     reading of "mention": a macro, a setvar, a target, a TX:/regex/
//     target, the whole collection), worked out to a fixed point: a rule
//     whose variable another kept rule reads stays, and so do the rules
//     whose variables it reads;
//   - it is outside every skip:N window (leaving it out would make the
//     window reach one rule further).
//
// A rule that matches also sets MATCHED_VAR and its kin, and the rules
// left out match: no CRS rule reads those outside a chain
// (TestRuleSetKeepsPruningAssumptions), as for the fold's rules.
// TestLeanRuleSetSameVerdicts compares the verdicts on the CRS's corpus and
// TestFoldedInitSameState the whole TX collection after each phase, less
// the variables only these rules wrote.

// writeOnlyActions are the actions a write-only rule may have besides its
// setvars.
var writeOnlyActions = map[string]bool{
	"id": true, "phase": true, "pass": true, "nolog": true, "noauditlog": true,
	"tag": true, "ver": true, "rev": true, "maturity": true, "accuracy": true, "t": true,
}

// testOperators are the operators that only test their value.
var testOperators = map[string]bool{
	"rx": true, "eq": true, "ge": true, "gt": true, "le": true, "lt": true,
	"streq": true, "within": true, "pm": true, "beginsWith": true, "endsWith": true,
	"contains": true, "containsWord": true, "unconditionalMatch": true, "noMatch": true,
}

// writeOnlyRules returns the ids of the rules (as Coraza added them, in
// order, less those in gone) that only write TX variables no other rule of
// the rule set reads, with those variables (sorted), to be left out at
// build. directives are the gateway's, read with the CRS's files.
func writeOnlyRules(rules []ruleText, gone map[int]bool, directives string) (ids []int, vars []string) {
	writes := map[int][]string{} // candidate -> the variables it writes
	windows := skipWindows{}
	for _, rt := range rules {
		if rt.id != 0 && gone[rt.id] || strings.HasPrefix(rt.raw, "SecMarker") {
			// Not counted in a window: a window read longer than
			// Coraza's (which counts markers) keeps more rules, never
			// fewer.
			continue
		}
		inSkip := windows.next(rt.phase)
		sr, err := parseDirective(rt.raw)
		if err != nil {
			continue
		}
		windows.open(rt.phase, sr)
		if rt.id == 0 || inSkip {
			continue
		}
		if w, ok := onlyWrites(rt.raw, sr); ok {
			writes[rt.id] = w
		}
	}
	kept := map[int]bool{}
	for _, rt := range rules {
		kept[rt.id] = rt.id != 0 && !gone[rt.id]
	}
	for {
		// The variables the candidates write, and which of them the rules
		// left without the candidates still mention.
		var all [][2]string
		for id, w := range writes {
			kept[id] = false
			for _, v := range w {
				all = append(all, [2]string{v, ""})
			}
		}
		if len(all) == 0 {
			return nil, nil
		}
		unread := unreadVars(all, kept, directives)
		changed := false
		for id, w := range writes {
			if slices.ContainsFunc(w, func(v string) bool { return !slices.Contains(unread, v) }) {
				delete(writes, id)
				kept[id] = true
				changed = true
			}
		}
		if !changed {
			break
		}
	}
	for id, w := range writes {
		ids = append(ids, id)
		vars = append(vars, w...)
	}
	slices.Sort(ids)
	slices.Sort(vars)
	return ids, slices.Compact(vars)
}

// onlyWrites reads one rule: the tx variables its setvars write, and
// whether its actions and operator are those of a write-only rule.
func onlyWrites(raw string, sr secRule) ([]string, bool) {
	if strings.HasPrefix(strings.TrimSpace(raw), "SecRule ") && !testOperators[sr.op] {
		return nil, false
	}
	var w []string
	for _, a := range sr.actions {
		name, val, _ := strings.Cut(a, ":")
		name = strings.TrimSpace(name)
		if name != "setvar" {
			if !writeOnlyActions[name] {
				return nil, false
			}
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), "'")
		val = strings.TrimPrefix(val, "!")
		target, _, _ := strings.Cut(val, "=")
		v, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(target)), "tx.")
		if !ok || !txName.MatchString(v) {
			return nil, false // another collection, or a name with a macro
		}
		w = append(w, v)
	}
	return w, len(w) > 0
}
