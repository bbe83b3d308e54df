package waf

import (
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Unread variables: the fold's rule sets only the TX variables a rule left
// in the rule set may read.
//
// The cost. The fold's SecAction (fold.go) sets 44 variables on every
// request at paranoia 1, each setvar a macro expansion and a keyed write
// (about 10 µs of a clean GET). Half of them are read only by rules the
// build has already worked out or left out: the setup's version (901001),
// the sampling percentage (901400), the early-blocking switch, the
// response side's thresholds and scores (this gateway runs no response
// phase), the paranoia levels above the one set.
//
// What counts as a read. Any mention of the variable in a rule that stays
// (tx.name in a macro or a setvar, TX:name or &TX:name as a target), in
// the rule's whole text with its chained rules (Coraza shows only a
// chain's first rule, so the CRS's own files are read), a TX:/regex/
// target whose regexp matches the name, or the whole TX collection as a
// target. Only the rules of the rule set are read: not those left out at
// build (excluded, decided by the paranoia level, folded), nor the CRS's
// files the gateway does not include (the response side, the reporting);
// the gateway's directives are read rule by rule, like the CRS's files. A setvar that writes the variable counts as a
// read too: it keeps a variable that needs no keeping, never drops one
// that does.
//
// Why an unread variable may go. TX holds only what rules put there, and
// a variable no remaining rule mentions can change nothing a rule does;
// the gateway itself reads no TX variable (it reads the interruption and
// the matched rules). TestFoldedInitSameState compares the whole TX
// collection after each phase with the rule set as written, less exactly
// these variables.

// txMention is what one rule of a text (with its chained rules) reads of
// TX.
type txMention struct {
	id    int      // the rule's id; 0 for a directive outside any rule
	names []string // lowercased names after tx. or TX:
	rx    []string // TX:/regex/ targets
	all   bool     // the whole TX collection is a target
}

var (
	// txNamed finds tx.name and TX:name (macros, setvars, targets).
	txNamed = regexp.MustCompile(`(?i)\btx[.:]([a-z0-9_]+)`)
	// txRegexTarget finds TX:/regex/ targets.
	txRegexTarget = regexp.MustCompile(`(?i)\btx:/((?:[^/\\]|\\.)*)/`)
)

// txMentions reads what each rule of a seclang text (ruleGroups) reads
// of TX.
func txMentions(text string) []txMention {
	var out []txMention
	for _, g := range ruleGroups(text) {
		m := txMention{id: g.id}
		for _, line := range g.directives {
			for _, n := range txNamed.FindAllStringSubmatch(line, -1) {
				m.names = append(m.names, strings.ToLower(n[1]))
			}
			for _, x := range txRegexTarget.FindAllStringSubmatch(line, -1) {
				m.rx = append(m.rx, x[1])
			}
			if vars, ok := strings.CutPrefix(line, "SecRule "); ok {
				vars, _, _ = strings.Cut(vars, " ")
				for _, v := range strings.Split(vars, "|") {
					if strings.EqualFold(strings.TrimLeft(v, "!&"), "TX") {
						m.all = true
					}
				}
			}
		}
		out = append(out, m)
	}
	return out
}

// crsMentions is txMentions over every file of the embedded CRS, read
// once; a file that does not read gives one mention of everything.
var crsMentions = sync.OnceValue(func() []txMention {
	var out []txMention
	if err := walkCRS(func(text string) { out = append(out, txMentions(text)...) }); err != nil {
		return []txMention{{all: true}}
	}
	return out
})

// unreadVars is the names among vars that no rule of kept (the ids of the
// rule set's rules left in) mentions in the CRS or in directives.
func unreadVars(vars [][2]string, kept map[int]bool, directives string) []string {
	mentions := slices.Concat(crsMentions(), txMentions(directives))
	read := map[string]bool{}
	var rxs []*regexp.Regexp
	for _, m := range mentions {
		if m.id != 0 && !kept[m.id] {
			continue // left out at build, or a file the rule set does not include
		}
		if m.all {
			return nil
		}
		for _, n := range m.names {
			read[n] = true
		}
		for _, expr := range m.rx {
			re, err := regexp.Compile("(?i)" + expr)
			if err != nil {
				return nil // a target not understood may read anything
			}
			rxs = append(rxs, re)
		}
	}
	var out []string
	for _, nv := range vars {
		if !read[nv[0]] && !slices.ContainsFunc(rxs, func(re *regexp.Regexp) bool { return re.MatchString(nv[0]) }) {
			out = append(out, nv[0])
		}
	}
	return out
}
