package waf

import (
	"maps"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/corazawaf/coraza/v3/types/variables"
)

// Targets, counts and presence: what pruning decides without knowing a
// rule's operator.
//
// The cost. A rule reads its targets' values before its operator says
// no, and most of the CRS's protocol checks name one request header
// (REQUEST_HEADERS:Content-Length, :Accept, :User-Agent, :Range) or count
// one (&REQUEST_HEADERS:Content-Type "@gt 1"). An API client sends few
// headers, so for most of these rules the request has no value at all;
// yet Coraza evaluates each (the RULE collection, the message, the
// variable read), about 1 µs a rule, and pruning used to read a named
// header as every header of the request, so a bearer token's bytes kept
// rules that read only :Range or :X-Filename.
//
// What is decided, besides the operator screens of prune.go:
//   - A named key (REQUEST_HEADERS:Accept, ARGS:id) is read as Coraza
//     reads it, through the collection's FindString, not as the whole
//     collection. A /regex/, 'quoted' or XPath key is still read as the
//     whole collection (a superset).
//   - Presence: a rule whose operator pruning does not model (negated, a
//     numeric or libinjection operator, a transformation imageOf lacks)
//     is decided by its targets' values: with none, it cannot match.
//     Coraza runs the operator, negated or not, only on a value
//     (Transaction.GetField, then a loop over what it returned), and a
//     rule with no match runs no action.
//   - Counts: a count target (&REQUEST_HEADERS:Content-Type) tested with
//     @eq, @gt, @ge, @lt or @le against a number, negated or not, without
//     transformations, is decided by the count, which Coraza works out as
//     the number of values the target reads. A rule whose count cannot
//     be decided is left alone.
//
// Why a count is exact. Coraza counts the values after the rule's
// exclusions (!REQUEST_HEADERS:Referer), those SecRuleUpdateTargetById
// adds after the rule's text, and those a ctl:ruleRemoveTargetById
// removes at run time; pruning counts before them. So a rule with an
// exclusion target, or one any of these may name (narrowing, read from
// the CRS's files and the gateway's directives), has its counts left to
// Coraza. The gateway's own run-time removals (exclusion.go) take
// REQUEST_FILENAME from the XSS rules, which count nothing;
// TestCountedRulesAreNotNarrowed checks that no counted rule of the
// built rule sets is among them.
//
// The body. A body variable's values are known before the phases only
// when no body is handed to Coraza (prune.go, "Bodies"): then no body
// processor runs and FILES, ARGS_POST, XML and MULTIPART_PART_HEADERS
// stay empty. REQUEST_BODY is read as also holding an empty value, as
// ProcessRequestBody may still set it.

// target is one positive target of a rule: a request variable, the key
// it names when that is a plain name ("" reads every value), and whether
// the rule counts its values (&).
type target struct {
	v     variables.RuleVariable
	key   string
	count bool
}

// selector is the target without its count: what is read from the
// transaction.
func (t target) selector() target { return target{v: t.v, key: t.key} }

// plainKey is a key read through FindString: a header, argument or
// cookie name. Anything else (a /regex/, a 'quoted' key, an XPath) is
// read as the whole collection.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// countTest is a numeric comparison of a count with a constant, as
// Coraza's @eq, @gt, @ge, @lt and @le do it.
type countTest struct {
	op      string
	n       int
	negated bool
}

// matches reports whether the test matches a count of k.
func (c countTest) matches(k int) bool {
	var m bool
	switch c.op {
	case "eq":
		m = k == c.n
	case "gt":
		m = k > c.n
	case "ge":
		m = k >= c.n
	case "lt":
		m = k < c.n
	case "le":
		m = k <= c.n
	default:
		return true // not a test countTest reads: may match
	}
	return m != c.negated
}

// counts reports whether the rule has a count target.
func (sr *secRule) counts() bool {
	for _, tg := range sr.targets {
		if tg.count {
			return true
		}
	}
	return false
}

// countTest reads the rule's operator as a count test: a comparison with
// a literal integer, no transformation (the count is compared as
// written), no exclusion target (it would narrow the count).
func (sr *secRule) countTest() (countTest, bool) {
	switch sr.op {
	case "eq", "gt", "ge", "lt", "le":
	default:
		return countTest{}, false
	}
	n, err := strconv.Atoi(sr.arg)
	if err != nil || len(sr.chain) > 0 || sr.unmodelled || sr.excludes {
		return countTest{}, false
	}
	return countTest{op: sr.op, n: n, negated: sr.negated}, true
}

// narrowing is the rules whose targets something other than their own
// text may narrow: named by a SecRuleUpdateTargetById or a
// ctl:ruleRemoveTargetById (ids), tagged with a tag a
// ctl:ruleRemoveTargetByTag names (tags), or any rule at all when a
// directive narrows by message, or names rules in a way not read here.
type narrowing struct {
	ids  map[int]bool
	tags map[string]bool
	all  bool
}

// of reports whether the targets of the rule with id and actions may be
// narrowed.
func (n narrowing) of(id int, actions []string) bool {
	if n.all || n.ids[id] {
		return true
	}
	for _, a := range actions {
		if v, ok := strings.CutPrefix(a, "tag:"); ok && n.tags[strings.Trim(strings.TrimSpace(v), "'")] {
			return true
		}
	}
	return false
}

// narrowingDirective finds what narrows targets: the directive or the
// ctl action, its kind (Id, Tag, Msg) and what follows.
var narrowingDirective = regexp.MustCompile(`(?i)(?:SecRuleUpdateTargetBy|ctl:ruleRemoveTargetBy)(\w+)\s*[=\s]\s*["']?([^"'\s;,]*)`)

// readNarrowing reads the narrowing of the embedded CRS's files and of
// the gateway's directives; a CRS that cannot be read narrows every rule.
func readNarrowing(directives string) narrowing {
	crs := crsNarrowing()
	n := narrowing{ids: maps.Clone(crs.ids), tags: maps.Clone(crs.tags), all: crs.all}
	n.read(directives)
	return n
}

// crsNarrowing is what the embedded CRS's own text narrows, read once per
// process (the same for every build) and never written: readNarrowing
// copies it.
var crsNarrowing = sync.OnceValue(func() narrowing {
	n := narrowing{ids: map[int]bool{}, tags: map[string]bool{}}
	if err := walkCRS(n.read); err != nil {
		n.all = true
	}
	return n
})

// read adds what a seclang text narrows.
func (n *narrowing) read(text string) {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range narrowingDirective.FindAllStringSubmatch(line, -1) {
			switch kind := strings.ToLower(m[1]); {
			case kind == "tag" && m[2] != "":
				n.tags[m[2]] = true
			case kind == "id":
				id, err := strconv.Atoi(m[2])
				if err != nil {
					n.all = true // a range or a list: not read here
					continue
				}
				n.ids[id] = true
			default:
				n.all = true
			}
		}
	}
}
