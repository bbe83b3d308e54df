package waf

import (
	"maps"
	"strings"
	"sync"
)

// Chains pruned by their later rules.
//
// The cost. A chain matches only when every one of its rules matches, but
// Coraza evaluates the first rule on its own first, and many of the CRS's
// protocol checks begin with a test every ordinary request passes:
// 920170 is "REQUEST_METHOD @rx ^(?:GET|HEAD)$" chained to
// "REQUEST_HEADERS:Content-Length !@rx ^0?$" (a GET with a body), 920171
// the same with a Transfer-Encoding count, 920180 "REQUEST_PROTOCOL
// !@within HTTP/2 ..." chained to "REQUEST_METHOD @streq POST" and two
// header counts. A GET matches the first rule of each, and Coraza then
// does a matched rule's work (the MATCHED_* variables, the chain's
// evaluation) before the chain fails: about 2 µs each on every GET.
//
// What is pruned. The chain is removed with its first rule when one of
// its later rules (links) cannot match the request. A link is decided as
// a first rule is (secRule.prunable): by its operator's screen
// (prune.go), by its targets having no value, or by a count
// (counting.go), a count only when nothing narrows the chain's targets.
// Any other link (MATCHED_VARS, TX) is taken as one that may match. The links are read from the CRS's text
// (crstext.go), since Coraza shows only a chain's first rule.
//
// Why it is sound. A rule's non-disruptive actions (setvar, ctl, capture)
// run when it matches, whether or not its chain then does; so only a
// chain whose first rule has none of them is pruned this way (its
// actions are the metadata, the transformations, and the disruptive
// action, which runs only when the whole chain matched). What a first rule
// that matched leaves besides is the MATCHED_* variables, which the next
// rule resets and which no rule outside a chain reads
// (TestRuleSetKeepsPruningAssumptions). A link's targets are request
// variables no rule writes, so an earlier rule of the chain cannot change
// what the link sees.

// chainStarterActions are the actions a chain's first rule may have for
// the chain to be pruned by its links: none of them does anything unless
// the whole chain matches.
var chainStarterActions = map[string]bool{
	"id": true, "phase": true, "t": true, "msg": true, "logdata": true, "tag": true, "ver": true,
	"severity": true, "rev": true, "accuracy": true, "maturity": true, "chain": true,
	"block": true, "deny": true, "drop": true, "pass": true, "status": true,
	"log": true, "nolog": true, "auditlog": true, "noauditlog": true,
}

// crsChains is the later rules of each chain of the embedded CRS, by the
// chain's id, read once per process (the CRS is embedded: the same for
// every build) and never written: ruleChains copies it.
var crsChains = sync.OnceValue(func() map[int][]string {
	out := map[int][]string{}
	_ = walkCRS(func(text string) {
		for _, g := range ruleGroups(text) {
			if g.id != 0 && len(g.directives) > 1 {
				out[g.id] = g.directives[1:]
			}
		}
	})
	return out
})

// ruleChains is the later rules of each chain, by the chain's id: the
// CRS's (crsChains) and the directives' own, which win.
func ruleChains(directives string) map[int][]string {
	chains := maps.Clone(crsChains())
	for _, g := range ruleGroups(directives) {
		if g.id != 0 && len(g.directives) > 1 {
			chains[g.id] = g.directives[1:]
		}
	}
	return chains
}

// chainStarter reports whether a rule's own actions let its chain be
// pruned by its links: it has a chain, and nothing else that acts when it
// alone matches.
func chainStarter(sr secRule) bool {
	if !hasAction(sr.actions, "chain") {
		return false
	}
	for _, a := range sr.actions {
		name, _, _ := strings.Cut(a, ":")
		if !chainStarterActions[strings.TrimSpace(name)] {
			return false
		}
	}
	return true
}

// readLink reads one later rule of the chain id starts; ok is false
// when pruning cannot decide it. A link is read as a first rule is
// (secRule.prunable), with one more condition: its id is the chain's, so
// a count in it is decided only when nothing narrows the chain's targets.
func (p *pruner) readLink(raw string, id int, actions []string, readIndex map[string]int) (prunable, bool) {
	sr, err := parseSecRule(raw)
	if err != nil {
		return prunable{}, false
	}
	pr, ok := sr.prunable()
	if !ok || sr.counts() && p.narrowed.of(id, actions) {
		return prunable{}, false
	}
	p.addReads(&pr, sr, readIndex)
	return pr, true
}
