package waf

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// Tag exclusions: the CRS's 941010 worked out by pruning.
//
// The cost. 941010 is
//
//	SecRule REQUEST_FILENAME "!@validateByteRange 20,45-47,48-57,65-90,95,97-122" \
//	    "id:941010,phase:1,pass,t:none,nolog,...,ctl:ruleRemoveTargetByTag=xss-perf-disable;REQUEST_FILENAME"
//
// A path of letters, digits and - . / _ cannot carry cross-site
// scripting, so the XSS rules (tagged xss-perf-disable) need not read it.
// The rule matches on nearly every request, and Coraza's ctl then walks
// every rule of the rule set comparing each of its tags (about 2,000
// string comparisons) before it removes the target from the 35 it finds:
// about 9 µs of a clean GET's 170 (docs/performance.md).
//
// What pruning does instead. The rule set is fixed at build, so the tagged
// rules are found once, then. Per request, pruning removes the rule from
// the transaction (as it removes a rule that cannot match) and, when the
// rule would have matched (every byte of the path in its ranges, the empty
// path too, as Coraza's operator reads it), removes the target from each
// tagged rule it did not prune itself, with the same call the ctl makes
// (Transaction.RemoveRuleTargetByID). The XSS rules then read what they
// would have read.
//
// When it may. Only a rule of exactly this form is taken (one target,
// REQUEST_FILENAME without transformation; the negated @validateByteRange;
// pass, nolog, tags, the version and the one ctl; no chain), and only when
// nothing can keep it from running while a tagged rule still runs:
//   - every tagged rule runs after it (a later phase, or later in its own);
//   - no skip:N steps over it, no skipAfter before it in its phase jumps
//     past it, no rule before it has an allow;
//   - no ctl anywhere in the CRS or the gateway's directives (read from
//     their text, since a chained rule's actions are not in what Coraza
//     shows of it) removes it or its target without removing every tagged
//     rule too: CRS 905100's ruleRemoveByTag=OWASP_CRS (a local "GET /")
//     removes them all; a ruleRemoveById naming it would not.
//
// What a request sees of the change: the rule is no longer among the
// transaction's matched rules. It has no message, so no verdict, log line
// or refusal names it (matchedIDs lists rules with a message); the tests
// that compare whole verdicts leave it out of both sides.
type tagExclusion struct {
	id    int
	valid byteSet // the bytes the ranges allow
	// targets: the tagged rules, with their position in the rule set's
	// order (removal.go).
	targets []exclusionTarget
}

type exclusionTarget struct {
	id  int
	pos int
}

// exclusionRule reads the one form taken: REQUEST_FILENAME, the negated
// byte-range test, and ctl:ruleRemoveTargetByTag=TAG;REQUEST_FILENAME.
var exclusionRule = regexp.MustCompile(`^SecRule REQUEST_FILENAME "!@validateByteRange ([0-9,\- ]+)" "`)

// exclusionActions are the actions such a rule may have besides its ctl.
var exclusionActions = map[string]bool{"id": true, "phase": true, "pass": true, "t": true, "nolog": true, "tag": true, "ver": true}

// tagsOf is the tags of a rule's own text (a chain's first rule: the tags
// Coraza's ctl compares).
func tagsOf(sr secRule) []string {
	var tags []string
	for _, a := range sr.actions {
		if v, ok := strings.CutPrefix(a, "tag:"); ok {
			tags = append(tags, strings.Trim(strings.TrimSpace(v), "'"))
		}
	}
	return tags
}

// newTagExclusions finds the exclusions pruning may work out in the rule
// set's rules (in order; gone: left out at build), with order the rule
// set's ids in order and directives the gateway's own text.
func newTagExclusions(rules []ruleText, gone map[int]bool, order *ruleOrder, directives string) []tagExclusion {
	var lean []ruleText
	for _, rt := range rules {
		if !gone[rt.id] {
			lean = append(lean, rt)
		}
	}
	var out []tagExclusion
	for i, rt := range lean {
		x, tag, eTags, ok := readExclusion(rt)
		if !ok || !runsUnhindered(lean, i) {
			continue
		}
		allHave := map[string]bool{} // tags every tagged rule has
		first := true
		for j, t := range lean {
			if t.id == 0 {
				continue
			}
			sr, err := parseSecRule(t.raw)
			if err != nil {
				continue
			}
			tags := tagsOf(sr)
			if !slices.Contains(tags, tag) {
				continue
			}
			if t.phase < rt.phase || t.phase == rt.phase && j < i {
				x.targets = nil
				break // a tagged rule runs before it
			}
			pos, ok := order.pos[t.id]
			if !ok {
				x.targets = nil
				break // not in the order: cannot be looked up per request
			}
			x.targets = append(x.targets, exclusionTarget{id: t.id, pos: pos})
			if first {
				for _, tg := range tags {
					allHave[tg] = true
				}
				first = false
			}
			for tg := range allHave {
				if !slices.Contains(tags, tg) {
					delete(allHave, tg)
				}
			}
		}
		if len(x.targets) == 0 || !removalsHarmless(x.id, eTags, tag, allHave, append(crsRemovals(), ctlRemovals(directives)...)) {
			continue
		}
		out = append(out, x)
	}
	return out
}

// readExclusion reads a rule of the form taken, with the tag its ctl
// names and the rule's own tags.
func readExclusion(rt ruleText) (x tagExclusion, tag string, tags []string, ok bool) {
	m := exclusionRule.FindStringSubmatch(rt.raw)
	if m == nil || rt.id == 0 {
		return x, "", nil, false
	}
	sr, err := parseSecRule(rt.raw)
	if err != nil || len(sr.chain) > 0 || sr.unmodelled {
		return x, "", nil, false
	}
	for _, a := range sr.actions {
		name, val, _ := strings.Cut(a, ":")
		name = strings.TrimSpace(name)
		if name == "ctl" {
			t, ok := strings.CutPrefix(strings.Trim(strings.TrimSpace(val), "'"), "ruleRemoveTargetByTag=")
			t, v, ok2 := strings.Cut(t, ";")
			if !ok || !ok2 || v != "REQUEST_FILENAME" || tag != "" || t == "" {
				return x, "", nil, false
			}
			tag = t
			continue
		}
		if !exclusionActions[name] || name == "t" && strings.Trim(strings.TrimSpace(val), "'") != "none" {
			return x, "", nil, false
		}
	}
	valid, err := byteRanges(m[1])
	if tag == "" || err != nil {
		return x, "", nil, false
	}
	return tagExclusion{id: rt.id, valid: valid}, tag, tagsOf(sr), true
}

// runsUnhindered reports whether no flow action of the rules before
// lean[i] can keep it from running: no skip:N window holds it, no
// skipAfter of its phase before it jumps to a marker after it, no allow.
func runsUnhindered(lean []ruleText, i int) bool {
	e := lean[i]
	after := map[string]bool{} // markers after the rule
	for _, rt := range lean[i+1:] {
		if name, ok := strings.CutPrefix(rt.raw, "SecMarker "); ok {
			after[strings.Trim(strings.TrimSpace(name), `"'`)] = true
		}
	}
	skipLeft := 0
	for _, rt := range lean[:i] {
		if rt.phase != e.phase && rt.id != 0 {
			continue
		}
		if skipLeft > 0 {
			skipLeft--
		}
		if rt.id == 0 {
			continue
		}
		sr, err := parseDirective(rt.raw)
		if err != nil {
			return false // a rule not read may jump anywhere
		}
		if hasAction(sr.actions, "allow") {
			return false
		}
		skipLeft = max(skipLeft, sr.skip())
		for _, a := range sr.actions {
			if m, ok := strings.CutPrefix(a, "skipAfter:"); ok && after[strings.Trim(strings.TrimSpace(m), "'")] {
				return false
			}
		}
	}
	return skipLeft == 0
}

// ctlRemoval is one ctl:ruleRemove... action: its kind (the part after
// "ruleRemove") and value.
type ctlRemoval struct{ kind, value string }

var ctlRemove = regexp.MustCompile(`ctl:ruleRemove([A-Za-z]+)=([^,"'\\\n]*)`)

// ctlRemovals finds the ctl:ruleRemove actions of texts, comment lines
// left out.
func ctlRemovals(texts ...string) []ctlRemoval {
	var out []ctlRemoval
	for _, text := range texts {
		for line := range strings.Lines(text) {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			for _, m := range ctlRemove.FindAllStringSubmatch(line, -1) {
				out = append(out, ctlRemoval{kind: m[1], value: strings.TrimSpace(m[2])})
			}
		}
	}
	return out
}

// crsRemovals is the ctl:ruleRemove actions of every file of the embedded
// CRS; one that does not read gives a removal of every rule (nothing is
// then worked out).
var crsRemovals = sync.OnceValue(func() []ctlRemoval {
	var texts []string
	if err := walkCRS(func(text string) { texts = append(texts, text) }); err != nil {
		return []ctlRemoval{{kind: "ById", value: "1-999999999"}}
	}
	return ctlRemovals(texts...)
})

// removalsHarmless reports whether none of removals can take away rule id
// (tagged eTags) or its target while a rule tagged tag still runs; allHave
// is the tags every such rule has.
func removalsHarmless(id int, eTags []string, tag string, allHave map[string]bool, removals []ctlRemoval) bool {
	for _, r := range removals {
		switch r.kind {
		case "ById":
			if covers(r.value, id) {
				return false
			}
		case "ByTag":
			if slices.Contains(eTags, r.value) && !allHave[r.value] {
				return false
			}
		case "ByMsg", "TargetByMsg":
			// The rule has no msg: neither matches it (readExclusion
			// takes no msg action).
		case "TargetById":
			target, _, _ := strings.Cut(r.value, ";")
			if covers(target, id) {
				return false
			}
		case "TargetByTag":
			t, v, _ := strings.Cut(r.value, ";")
			if t == tag && v == "REQUEST_FILENAME" {
				continue // the exclusion's own action
			}
			if slices.Contains(eTags, t) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// covers reports whether an id or range ("942100", "942100-942199")
// includes id; one that does not read covers everything.
func covers(value string, id int) bool {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(value), "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return true
	}
	return a <= id && id <= b
}

// apply works the exclusion out for tx: the rule removed and, when it
// would have matched, its target removed from each tagged rule pruning
// left in (pruned: the indexes of the rules pruning removed).
func (x *tagExclusion) apply(tx corazaTx, rm *removal) {
	rm.add(x.id)
	path := ""
	if c, ok := tx.Collection(variables.RequestFilename).(collection.Single); ok {
		path = c.Get() // the one value the rule reads (FindAll would allocate it)
	}
	for i := 0; i < len(path); i++ {
		if !x.valid.has(path[i]) {
			return // a byte outside the ranges: the rule would not match
		}
	}
	for _, t := range x.targets {
		if rm.marks[t.pos] {
			continue
		}
		tx.RemoveRuleTargetByID(t.id, variables.RequestFilename, "", nil)
	}
}
