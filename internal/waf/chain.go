package waf

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/types/variables"
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
// its later rules (links) cannot match the request. A link is decided
// when it is
//   - a count of one request header tested with @eq (negated or not):
//     the count is the request's;
//   - a rule whose every target is a named request header
//     (REQUEST_HEADERS:Content-Length): with none of those headers there
//     is no value, and Coraza runs an operator (negated or not) only on a
//     value;
//   - a rule pruning could prune on its own (prune.go's conditions: a
//     screened operator, request variables, modelled transformations).
//
// Any other link (a count of something else, MATCHED_VARS, TX) is taken
// as one that may match. The links are read from the CRS's text
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

// link is one later rule of a chain, as pruning decides it.
type link struct {
	kind linkKind
	// linkHeaderCount: the count.
	count headerCount
	// linkHeadersOnly: the header names (lowercased).
	names []string
	// linkScreened: the rule as pruning reads a rule it could prune.
	rule prunable
}

// headerCount is a rule "SecRule &REQUEST_HEADERS:name "@eq n" ..." (or
// "!@eq n"): it matches when the request has (or, negated, has not)
// exactly n headers named name.
type headerCount struct {
	name    string // lowercased, as Coraza keys REQUEST_HEADERS
	n       int
	negated bool
}

// headerCountRule reads a headerCount rule's target and operator.
var headerCountRule = regexp.MustCompile(`^SecRule &REQUEST_HEADERS:([A-Za-z0-9_-]+) "(!?)@eq ([0-9]{1,4})" `)

// readHeaderCount reads a headerCount rule.
func readHeaderCount(raw string) (headerCount, bool) {
	m := headerCountRule.FindStringSubmatch(raw)
	if m == nil {
		return headerCount{}, false
	}
	n, err := strconv.Atoi(m[3])
	if err != nil {
		return headerCount{}, false
	}
	return headerCount{name: strings.ToLower(m[1]), n: n, negated: m[2] == "!"}, true
}

// matches reports whether the count rule matches a request with headers.
func (hc headerCount) matches(headers collection.Map) bool {
	return (len(headers.Get(hc.name)) == hc.n) != hc.negated
}

type linkKind uint8

const (
	linkHeaderCount linkKind = iota + 1
	linkHeadersOnly
	linkScreened
)

// chainStarterActions are the actions a chain's first rule may have for
// the chain to be pruned by its links: none of them does anything unless
// the whole chain matches.
var chainStarterActions = map[string]bool{
	"id": true, "phase": true, "t": true, "msg": true, "logdata": true, "tag": true, "ver": true,
	"severity": true, "rev": true, "accuracy": true, "maturity": true, "chain": true,
	"block": true, "deny": true, "drop": true, "pass": true, "status": true,
	"log": true, "nolog": true, "auditlog": true, "noauditlog": true,
}

// headerTarget is one named request header target.
var headerTarget = regexp.MustCompile(`^REQUEST_HEADERS:([A-Za-z0-9_-]+)$`)

// crsChains is the later rules of each chain of the embedded CRS, by the
// chain's id, read at build (not kept).
func crsChains() map[int][]string {
	out := map[int][]string{}
	_ = walkCRS(func(text string) {
		for _, g := range ruleGroups(text) {
			if g.id != 0 && len(g.directives) > 1 {
				out[g.id] = g.directives[1:]
			}
		}
	})
	return out
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

// readLink reads one later rule of a chain; ok is false when pruning
// cannot decide it.
func (p *pruner) readLink(raw string, readIndex map[string]int) (link, bool) {
	if hc, ok := readHeaderCount(raw); ok {
		return link{kind: linkHeaderCount, count: hc}, true
	}
	rest, ok := strings.CutPrefix(raw, "SecRule ")
	if !ok {
		return link{}, false
	}
	vars, _, _ := strings.Cut(rest, " ")
	var names []string
	for _, t := range strings.Split(vars, "|") {
		m := headerTarget.FindStringSubmatch(t)
		if m == nil {
			names = nil
			break
		}
		names = append(names, strings.ToLower(m[1]))
	}
	if names != nil {
		return link{kind: linkHeadersOnly, names: names}, true
	}
	sr, err := parseSecRule(raw)
	if err != nil {
		return link{}, false
	}
	pr, ok := sr.prunable()
	if !ok {
		return link{}, false
	}
	p.addReads(&pr, sr, readIndex)
	return link{kind: linkScreened, rule: pr}, true
}

// linkMayMatch reports whether l may match the request.
func (p *pruner) linkMayMatch(req *requestView, l *link) bool {
	switch l.kind {
	case linkHeaderCount:
		headers, ok := req.tx.Collection(variables.RequestHeaders).(collection.Map)
		if !ok {
			return true
		}
		return l.count.matches(headers)
	case linkHeadersOnly:
		headers, ok := req.tx.Collection(variables.RequestHeaders).(collection.Map)
		if !ok {
			return true
		}
		for _, name := range l.names {
			if len(headers.Get(name)) > 0 {
				return true
			}
		}
		return false
	case linkScreened:
		return p.operatorMayMatch(req, &l.rule)
	}
	return true
}
