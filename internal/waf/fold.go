package waf

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/corazawaf/coraza/v3/types"
)

// The CRS's setup and initialization run as rules on every request. The
// setup (crs-setup.conf and the gateway's own SecActions) sets TX
// variables; then REQUEST-901 gives each variable the setup did not set a
// default, one rule per variable:
//
//	SecRule &TX:reporting_level "@eq 0" "id:901111,phase:1,pass,nolog,...,setvar:'tx.reporting_level=4'"
//
// and zeroes the scores in one SecAction. 29 rules in CRS 4.25, every one of
// which matches (or, for a variable the setup set, fails to) the same way
// for every request: each pays Coraza's cost for a matched rule (the
// variable counted, MATCHED_VAR and the matched-rule record kept) to write
// the same constants again. Nothing in them depends on the request: TX
// starts empty, and what these rules read is what the rules before them
// wrote. So foldInit works them out at build, as a transaction would run
// them, and the rule set is built with one SecAction (foldID) in their
// place that sets the same variables to the same values. The transaction's
// TX is the same after it as after the rules it replaces
// (TestFoldedInitSameState compares the whole collection on the CRS's
// corpus), and so is every verdict (TestLeanRuleSetSameVerdicts).
//
// foldInit takes the run of phase 1 rules it can work out that starts at
// the first such rule; the run ends at the first rule it cannot (901340
// reads the request's body processor). A rule it can work out is:
//   - a SecAction that only sets TX variables to constants (or to TX
//     variables already known): it always runs;
//   - a SecRule on the count of one TX variable (&TX:name "@eq N"): the
//     count is known (1 if a rule of the run set the variable, else 0), so
//     the rule either always matches (then it may only set TX variables,
//     as above) or never does (then what it would do does not matter:
//     901001's deny, 901320's chain).
//
// It gives up (no fold) when anything before the run could make a
// transaction step over part of it or change TX (a skip, a skipAfter, a
// ctl, a setvar). The fold rule is written right after the CRS setup
// include, the place of the run's first rule (900990, the setup's own);
// compileRules checks that it landed there.
//
// The run's outcome is then known for the rest of the rule set wherever
// no other rule writes the variable (initFold.known): paranoia.go decides
// the tests of such variables at build as it does the paranoia jumps.

// foldID is the id of the SecAction that replaces the run: in the CRS's
// setup range (900000-900999), which the gateway never reports as a
// detection (matchedIDs), and used by no CRS rule.
const foldID = 900999

// setupInclude is the directive after which the fold rule is written.
const setupInclude = "Include @crs-setup.conf.example\n"

// initFold is a run of rules worked out at build.
type initFold struct {
	ids  []int       // the rules of the run, to be left out
	vars [][2]string // TX name, value: the run's outcome, in the order first set
	raws []string    // the rules' texts
	last int         // the index of the run's last rule in the rules walked
	// unset is the variables of vars the fold's rule leaves out: no rule
	// left in the rule set reads them (unread.go).
	unset []string
}

// foldActions are the actions a rule of the run that runs may have besides
// its setvars: none of them does anything when the rule matches.
var foldActions = map[string]bool{"id": true, "phase": true, "pass": true, "nolog": true, "tag": true, "ver": true}

// txName is a TX variable name a fold can set: no macro, no regex.
var txName = regexp.MustCompile(`^[a-z0-9_]+$`)

// txMacro is a macro naming a TX variable, %{TX.name}.
var txMacro = regexp.MustCompile(`(?i)%\{tx\.([a-z0-9_]+)\}`)

// foldInit returns the run of phase 1 rules (rules as Coraza added them,
// less those in removed) that it can work out at build, and its outcome.
// ok is false when there is nothing to fold or something before the run
// could change its course.
func foldInit(rules []ruleText, removed []int) (initFold, bool) {
	gone := make(map[int]bool, len(removed))
	for _, id := range removed {
		gone[id] = true
	}
	var f initFold
	tx := map[string]string{}
	index := map[string]int{} // name -> index in f.vars
	for i, rt := range rules {
		if rt.id != 0 && gone[rt.id] || rt.phase != types.PhaseRequestHeaders {
			continue
		}
		sets, runs, known := workOut(rt.raw, tx)
		if !known {
			if len(f.ids) > 0 {
				break // the end of the run
			}
			if !inert(rt.raw) {
				return initFold{}, false
			}
			continue
		}
		f.ids = append(f.ids, rt.id)
		f.raws = append(f.raws, rt.raw)
		f.last = i
		if !runs {
			continue
		}
		for _, nv := range sets {
			tx[nv[0]] = nv[1]
			if j, ok := index[nv[0]]; ok {
				f.vars[j][1] = nv[1]
				continue
			}
			index[nv[0]] = len(f.vars)
			f.vars = append(f.vars, nv)
		}
	}
	return f, len(f.ids) > 1
}

// workOut reads one rule against tx, the TX variables the run has set so
// far. known is whether the rule's outcome is known at build; runs is
// whether it matches; sets is what it then writes, in order, with the
// macros resolved.
func workOut(raw string, tx map[string]string) (sets [][2]string, runs, known bool) {
	if actions, ok := secActionActions(raw); ok {
		var sr secRule
		sr.readActions(actions)
		sets, ok := onlySetvars(sr.actions, tx)
		return sets, true, ok
	}
	sr, err := parseSecRule(raw)
	if err != nil || sr.negated || sr.op != "eq" || sr.transformCount > 0 {
		return nil, false, false
	}
	fields := strings.Fields(raw)
	name, ok := strings.CutPrefix(strings.ToLower(fields[1]), "&tx:")
	if !ok || !txName.MatchString(name) {
		return nil, false, false
	}
	want, err := strconv.Atoi(sr.arg)
	if err != nil {
		return nil, false, false
	}
	count := 0
	if _, set := tx[name]; set {
		count = 1
	}
	if count != want {
		return nil, false, true // never matches: what it would do does not matter
	}
	sets, ok = onlySetvars(sr.actions, tx)
	return sets, true, ok
}

// secActionActions returns the action list of a SecAction.
func secActionActions(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(raw), "SecAction ")
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' {
		return "", false
	}
	return rest[1 : len(rest)-1], true
}

// onlySetvars returns the TX variables actions set, with the macros
// resolved against tx, when setting them is all the actions do (besides
// foldActions and t:none).
func onlySetvars(actions []string, tx map[string]string) ([][2]string, bool) {
	var sets [][2]string
	for _, a := range actions {
		name, val, _ := strings.Cut(a, ":")
		name = strings.TrimSpace(name)
		switch {
		case foldActions[name]:
		case name == "t" && strings.Trim(strings.TrimSpace(val), "'") == "none":
		case name == "setvar":
			nv, ok := constantSetvar(val, tx)
			if !ok {
				return nil, false
			}
			tx = withVar(tx, nv)
			sets = append(sets, nv)
		default:
			return nil, false
		}
	}
	return sets, true
}

// withVar is tx with nv set, as a copy: a rule's later setvars read its
// earlier ones, and tx itself is the caller's.
func withVar(tx map[string]string, nv [2]string) map[string]string {
	out := make(map[string]string, len(tx)+1)
	for k, v := range tx {
		out[k] = v
	}
	out[nv[0]] = nv[1]
	return out
}

// constantSetvar reads "tx.name=value" (quoted or not): a plain
// assignment, the value's %{TX.name} macros resolved against tx. Any
// other form (=+, =-, !, another collection, another macro, a name with a
// macro) is not constant.
func constantSetvar(s string, tx map[string]string) ([2]string, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = s[1 : len(s)-1]
	}
	name, val, ok := strings.Cut(s, "=")
	name = strings.ToLower(name)
	name, isTX := strings.CutPrefix(name, "tx.")
	if !ok || !isTX || !txName.MatchString(name) || strings.HasPrefix(val, "+") || strings.HasPrefix(val, "-") {
		return [2]string{}, false
	}
	resolved := true
	val = txMacro.ReplaceAllStringFunc(val, func(m string) string {
		v, set := tx[strings.ToLower(txMacro.FindStringSubmatch(m)[1])]
		resolved = resolved && set
		return v
	})
	if !resolved || strings.Contains(val, "%{") || strings.ContainsAny(val, `'"\`) {
		return [2]string{}, false
	}
	return [2]string{name, val}, true
}

// inert reports whether a rule before the run can neither step over part
// of it nor change what it reads: no skip, skipAfter, ctl or setvar.
func inert(raw string) bool {
	if strings.HasPrefix(strings.TrimSpace(raw), "SecMarker") {
		return true
	}
	sr, err := parseSecRule(raw)
	if err != nil {
		return false
	}
	for _, a := range sr.actions {
		name, _, _ := strings.Cut(a, ":")
		switch strings.TrimSpace(name) {
		case "skip", "skipAfter", "setvar":
			return false
		case "ctl":
			if !strings.HasPrefix(strings.TrimSpace(a[4:]), "requestBodyProcessor=") {
				return false
			}
		}
	}
	return true
}

// secAction is the fold's rule: one SecAction setting the run's outcome.
func (f initFold) secAction() string {
	var b strings.Builder
	fmt.Fprintf(&b, `SecAction "id:%d,phase:1,pass,t:none,nolog`, foldID)
	for _, nv := range f.vars {
		if !slices.Contains(f.unset, nv[0]) {
			fmt.Fprintf(&b, `,setvar:'tx.%s=%s'`, nv[0], nv[1])
		}
	}
	b.WriteString("\"\n")
	return b.String()
}

// known is what the build knows of TX after the run (txKnown): the
// paranoia levels, the run's outcome for each variable no setvar outside
// the run names (in the CRS's files or in directives), and, as absent,
// the variables no setvar names at all. A setvar whose name has a macro
// (tx.header_name_920450_%{tx.0}) names every variable its literal part
// begins.
func (f initFold) known(pl int, directives string) txKnown {
	k := levelsKnown(pl)
	all := crsWrites().plus(countWrites(directives))
	run := countWrites(f.raws...)
	written := func(name string, outside bool) bool {
		n := all.names[name]
		if outside {
			n -= run.names[name]
		}
		return n > 0 || slices.ContainsFunc(all.prefixes, func(p string) bool { return strings.HasPrefix(name, p) })
	}
	for _, nv := range f.vars {
		if !written(nv[0], true) {
			k.values[nv[0]] = nv[1]
		}
	}
	k.absent = func(name string) bool { return !written(name, false) }
	k.after = f.last
	return k
}

// setvarTarget finds the TX variable a setvar names, up to a macro in the
// name.
var setvarTarget = regexp.MustCompile(`(?i)setvar:\s*'?\s*!?\s*tx\.([a-z0-9_]*)(%\{)?`)

// txWrites is the setvars found in texts: how many name each variable,
// and the literal beginnings of names with a macro.
type txWrites struct {
	names    map[string]int
	prefixes []string
}

// countWrites reads the setvars of texts, less comment lines.
func countWrites(texts ...string) txWrites {
	w := txWrites{names: map[string]int{}}
	for _, text := range texts {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range setvarTarget.FindAllStringSubmatch(line, -1) {
				if m[2] != "" {
					w.prefixes = append(w.prefixes, strings.ToLower(m[1]))
					continue
				}
				w.names[strings.ToLower(m[1])]++
			}
		}
	}
	return w
}

// plus is w and o counted together.
func (w txWrites) plus(o txWrites) txWrites {
	out := txWrites{names: maps.Clone(w.names), prefixes: slices.Concat(w.prefixes, o.prefixes)}
	for name, n := range o.names {
		out.names[name] += n
	}
	return out
}

// crsWrites is the setvars of every file of the embedded CRS (its rules
// and setup, Coraza's recommended configuration), counted once. Should a
// file not read, every name counts as written: nothing is then taken as
// known or absent.
var crsWrites = sync.OnceValue(func() txWrites {
	var texts []string
	if err := walkCRS(func(text string) { texts = append(texts, text) }); err != nil {
		return txWrites{names: map[string]int{}, prefixes: []string{""}}
	}
	return countWrites(texts...)
})
