package waf

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/types"
	"github.com/corazawaf/coraza/v3/types/variables"
	"github.com/corazawaf/libinjection-go"
	ahocorasick "github.com/petar-dambovaliev/aho-corasick"

	"github.com/portcullis/portcullis/internal/waf/rx"
)

// Pruning: rules a request cannot match are not evaluated at all.
//
// The threat is cost. Coraza evaluates every rule of a phase for every
// request, and most of a clean GET's 0.5 ms goes to rules whose operator
// cannot match any of the request's values: Coraza still copies the
// variables, transforms every value, expands the rule's msg and logdata and
// fills the RULE collection before the operator says no (docs/performance.md,
// "The WAF route"). The rx screens made the operator's "no" cheap; pruning
// skips the rule around it.
//
// What is pruned. Before the first phase, the policy computes, for each
// variable the prunable rules read, the set of bytes its values can hold
// after each transformation chain (imageOf) and, where the chain is sure
// to leave them as they are or only change their case, the transformed
// values themselves (exactOf). It removes from the transaction (Coraza's
// own RemoveRuleByID, what ctl:ruleRemoveById does) every prunable rule
// whose operator needs a byte none of the sets has, or that cannot match
// any of the exact values: the operator itself (the same matcher Coraza
// runs: the gateway's @rx with its screens, libinjection, the phrase
// automaton, the literal comparisons), so that Coraza evaluates only the
// rules that match or that read a value pruning cannot know exactly. A
// negated operator is decided the same way when the matcher is the
// operator exactly (exactOperators): it may match a value it turns away.
// A rule is screened by its operator when all of these hold, which
// newPruner checks on the rule's own text (Raw, exactly what Coraza
// parsed):
//   - its operator is @rx, @detectXSS, @detectSQLi, @pm, @pmFromFile,
//     @validateByteRange, or @contains, @beginsWith, @endsWith, @streq,
//     @within or a numeric comparison (@eq, @gt, @ge, @lt, @le) with a
//     literal argument (or a macro of a TX constant the build knows,
//     knownArg); when it is negated, one of exactOperators
//     (a negated operator matches a value the operator turns away, which
//     no byte set or screen can show);
//   - every target is a request variable whose values are fixed before the
//     phase runs (requestVars): TX or any variable rules or the engine
//     write is not;
//   - every transformation is one imageOf models.
// A rule whose targets are request variables but whose operator or
// transformations fail the others is decided by its targets alone: no
// value, or a count it cannot match (counting.go). And no rule inside
// the window of a skip:N action is pruned (a removed rule does not count
// toward N, so removing one would move the skip).
//
// Why a pruned rule could not have matched. A rule matches only if its
// operator matches a transformed value of one of its targets (a chain's
// later rules run only after the first matched, so a first rule that
// cannot match takes its chain with it). A selected target (a regex key,
// an exclusion, a ctl that removes a target) reads a subset of the values
// pruning reads (a named key is read as Coraza reads it, counting.go); a
// negated operator needs a value it turns away, so more values never hide
// one. imageOf over-approximates
// a chain's output bytes from the input's and is never smaller than its
// input, so it also covers multiMatch, which runs the operator on the
// value before each step as well; the exact values of a multiMatch rule
// are every step's. The operator's need set holds a byte every matching value
// contains. A rule that cannot match runs no action, sets no variable and
// logs nothing, so removing it changes nothing a later rule or the verdict
// can see. TestPrunedSameVerdicts sends the CRS's regression corpus
// through the rule set with and without pruning and requires the same
// matched rules and messages; TestImagesCoverCorazasTransformations runs
// each modelled transformation through Coraza itself.
//
// Bodies. Variables fed by the body (ARGS, ARGS_POST, REQUEST_BODY, XML,
// FILES, and the body processor's REQBODY_ERROR, MULTIPART_STRICT_ERROR
// and REQUEST_BODY_LENGTH) are filled inside ProcessRequestBody, after the
// last point the policy can remove a rule, so rules reading them are
// pruned only when no body is handed to Coraza.

// byteSet is a set of bytes: bit b&63 of word b>>6.
type byteSet [4]uint64

func (s *byteSet) add(b byte)          { s[b>>6] |= 1 << (b & 63) }
func (s byteSet) has(b byte) bool      { return s[b>>6]&(1<<(b&63)) != 0 }
func (s byteSet) meets(o byteSet) bool { return s[0]&o[0]|s[1]&o[1]|s[2]&o[2]|s[3]&o[3] != 0 }
func (s *byteSet) union(o byteSet) {
	s[0] |= o[0]
	s[1] |= o[1]
	s[2] |= o[2]
	s[3] |= o[3]
}

var allBytes = byteSet{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}

// highBytes is 0x80-0xff: a value with one is not ASCII.
var highBytes = byteSet{0, 0, ^uint64(0), ^uint64(0)}

func bytesOf(v string) byteSet {
	var s byteSet
	for i := 0; i < len(v); i++ {
		s.add(v[i])
	}
	return s
}

// transform is what pruning knows of one Coraza transformation: an
// over-approximation of the bytes its output can hold given its input's.
// When the input holds a byte of trigger, the output may hold any byte
// (a decoder met its escape character, a Unicode-aware function met a byte
// that is not ASCII); otherwise the output holds at most the input's
// bytes, plus adds, plus the lower (or upper) case of its ASCII letters.
// urlDecode is a decoder handled from the value itself (see imageOf).
type transform struct {
	trigger   byteSet
	adds      byteSet
	lower     bool
	upper     bool
	urlDecode bool
	// asciiIdentity: the output is the input when the input is ASCII (and
	// trigger covers every other input), so a URL decode after it still
	// reads the value as it is.
	asciiIdentity bool
	// exact is the output itself and its bytes, for the inputs where it
	// is easy to be sure of (ok false for the others), given the input
	// and its bytes; nil when never.
	exact func(v string, b byteSet) (string, byteSet, bool)
}

// identityUnless is an exact function: the value as it is, when it has
// none of the bytes in changes.
func identityUnless(changes byteSet) func(string, byteSet) (string, byteSet, bool) {
	return func(v string, b byteSet) (string, byteSet, bool) {
		if b.meets(changes) {
			return "", b, false
		}
		return v, b, true
	}
}

// caseUnless is an exact function for an ASCII case mapping, when the
// value has none of the bytes in changes (which include every byte that
// is not ASCII).
func caseUnless(changes byteSet, lower bool) func(string, byteSet) (string, byteSet, bool) {
	return func(v string, b byteSet) (string, byteSet, bool) {
		if b.meets(changes) {
			return "", b, false
		}
		if lower {
			v = strings.ToLower(v)
		} else {
			v = strings.ToUpper(v)
		}
		return v, bytesOf(v), true
	}
}

// cmdLineExact is cmdLine's output when it only lowercases: the value has
// none of the bytes it deletes or turns into a space, and every space in
// it stays (none before another, a / or a (). A bearer token's one space
// is such a value.
func cmdLineExact(v string, b byteSet) (string, byteSet, bool) {
	if b.has(' ') {
		for i := 0; i+1 < len(v); i++ {
			if v[i] == ' ' && (v[i+1] == ' ' || v[i+1] == '/' || v[i+1] == '(') {
				return "", b, false
			}
		}
	}
	return cmdLineLower(v, b)
}

var cmdLineLower = caseUnless(union(highBytes, bytesOf("\\\"'^,;\t\r\n")), true)

// whole adapts an exact function of the value alone.
func whole(f func(string) (string, bool)) func(string, byteSet) (string, byteSet, bool) {
	return func(v string, _ byteSet) (string, byteSet, bool) {
		out, ok := f(v)
		return out, bytesOf(out), ok
	}
}

// normalisePath is Coraza's normalisePath (filepath.Clean, "." becoming
// empty, a trailing slash kept).
func normalisePath(v string) (string, bool) {
	if v == "" {
		return v, true
	}
	clean := filepath.Clean(v)
	if clean == "." {
		return "", true
	}
	if v[len(v)-1] == '/' {
		return clean + "/", true
	}
	return clean, true
}

// normalisePathWin is Coraza's normalisePathWin on the values where it is
// normalisePath: no backslash, no colon (alternate data streams), no
// segment ending in a dot or a space (which Windows strips).
func normalisePathWin(v string) (string, bool) {
	if strings.ContainsAny(v, `\:`) {
		return "", false
	}
	out, _ := normalisePath(v)
	for seg := range strings.SplitSeq(out, "/") {
		if seg != "" && (seg[len(seg)-1] == '.' || seg[len(seg)-1] == ' ') {
			return "", false
		}
	}
	return out, true
}

// transforms is every transformation pruning models, by Coraza's name
// (v3.8.1, internal/transformations); a rule with any other is not
// pruned. Each entry is checked against Coraza's own implementation by
// TestImagesCoverCorazasTransformations.
var transforms = map[string]transform{
	// Unicode-aware case mapping can turn a non-ASCII character into an
	// ASCII one (U+212A, the Kelvin sign, lowercases to k), and an invalid
	// byte into U+FFFD.
	"lowercase": {trigger: highBytes, lower: true, exact: caseUnless(highBytes, true)},
	"uppercase": {trigger: highBytes, upper: true, exact: caseUnless(highBytes, false)},
	// Deletes \ " ' ^, turns , ; and whitespace into one space, deletes a
	// space before / or (, lowercases ASCII.
	"cmdLine": {trigger: highBytes, adds: bytesOf(" "), lower: true, exact: cmdLineExact},
	// Whitespace (with U+0085 and U+00A0) becomes one space.
	"compressWhitespace": {adds: bytesOf(" "), exact: identityUnless(union(highBytes, bytesOf(" \t\n\v\f\r")))},
	// Only deletes.
	"removeWhitespace":   {trigger: highBytes, exact: identityUnless(union(highBytes, bytesOf(" \t\n\v\f\r")))},
	"removeNulls":        {exact: identityUnless(bytesOf("\x00"))},
	"removeCommentsChar": {exact: identityUnless(bytesOf("/*<-#"))},
	"trim":               {},
	"trimLeft":           {},
	"trimRight":          {},
	"replaceNulls":       {adds: bytesOf(" "), exact: identityUnless(bytesOf("\x00"))},
	// A comment becomes a space; removeComments can also leave the NUL it
	// pads its input with.
	"replaceComments": {adds: bytesOf(" "), exact: identityUnless(bytesOf("*"))},
	"removeComments":  {adds: bytesOf(" \x00"), exact: identityUnless(bytesOf("*#-"))},
	// filepath.Clean, and the Windows variant's \ to /.
	"normalizePath":    {adds: bytesOf("./"), exact: whole(normalisePath)},
	"normalisePath":    {adds: bytesOf("./"), exact: whole(normalisePath)},
	"normalizePathWin": {adds: bytesOf("./"), exact: whole(normalisePathWin)},
	"normalisePathWin": {adds: bytesOf("./"), exact: whole(normalisePathWin)},
	// Escape decoders: without their escape character they copy.
	"htmlEntityDecode": {trigger: bytesOf("&"), exact: identityUnless(bytesOf("&"))},
	"jsDecode":         {trigger: bytesOf(`\`), exact: identityUnless(bytesOf(`\`))},
	"cssDecode":        {trigger: bytesOf(`\`), exact: identityUnless(bytesOf(`\`))},
	"escapeSeqDecode":  {trigger: bytesOf(`\`), exact: identityUnless(bytesOf(`\`))},
	"utf8toUnicode":    {trigger: highBytes, asciiIdentity: true, exact: identityUnless(highBytes)},
	"urlDecode":        {urlDecode: true, exact: identityUnless(bytesOf("%+"))},
	"urlDecodeUni":     {urlDecode: true, exact: identityUnless(bytesOf("%+"))},
	"length": {adds: bytesOf("0123456789"), exact: whole(func(v string) (string, bool) {
		return strconv.Itoa(len(v)), true
	})},
	"hexEncode": {adds: bytesOf("0123456789abcdef"), exact: whole(func(v string) (string, bool) {
		return hex.EncodeToString([]byte(v)), true
	})},
}

func union(a, b byteSet) byteSet {
	a.union(b)
	return a
}

// exactOf is val after chain, when every step's exact function is sure.
func exactOf(val value, chain []transform) (string, bool) {
	out, ok := appendExact(nil, val, chain, false)
	if !ok {
		return "", false
	}
	return out[0], true
}

// appendExact appends val after chain to out, and with steps the value
// before each step too (what multiMatch evaluates), when every step's
// exact function is sure; ok is false when one is not.
func appendExact(out []string, val value, chain []transform, steps bool) ([]string, bool) {
	v, b := val.s, val.bytes
	for _, t := range chain {
		if t.exact == nil {
			return out, false
		}
		if steps {
			out = append(out, v)
		}
		var ok bool
		if v, b, ok = t.exact(v, b); !ok {
			return out, false
		}
	}
	return append(out, v), true
}

// imageOf is the set of bytes chain can produce from v (the value before
// any transformation), never smaller than v's own bytes.
//
// URL decoding is read from the value: %HH adds the byte it names, + adds
// a space, and %u (urlDecodeUni's %uHHHH) adds any byte. That is exact
// only on the value itself, so a URL decode that follows a transformation
// other than utf8toUnicode (which leaves ASCII as it is) falls back to:
// any % gives any byte.
func imageOf(val value, chain []transform) byteSet {
	v, s := val.s, val.bytes
	pristine := true // s is still v's bytes as they are
	for _, t := range chain {
		if s.meets(t.trigger) {
			return allBytes
		}
		if t.urlDecode {
			if !pristine {
				if s.has('%') {
					return allBytes
				}
			} else if s.has('%') || s.has('+') {
				d, ok := urlDecodedBytes(v)
				if !ok {
					return allBytes
				}
				s.union(d)
			}
			s.add(' ')
			pristine = false
			continue
		}
		s.union(t.adds)
		const upperLetters = 0x07fffffe // A-Z: bits 1-26 of word 1 (0x41-0x5a); a-z are 32 bits up
		if t.lower {
			s[1] |= (s[1] & upperLetters) << 32
		}
		if t.upper {
			s[1] |= (s[1] >> 32) & upperLetters
		}
		if !t.asciiIdentity {
			pristine = false
		}
	}
	return s
}

// urlDecodedBytes is the bytes URL decoding of v adds: each %HH's byte;
// ok is false for %u, whose code point can become any byte.
func urlDecodedBytes(v string) (s byteSet, ok bool) {
	for i := 0; i < len(v); i++ {
		if v[i] != '%' || i+1 >= len(v) {
			continue
		}
		if v[i+1] == 'u' || v[i+1] == 'U' {
			return s, false
		}
		if i+2 < len(v) {
			if h, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
				s.add(byte(h))
			}
		}
	}
	return s, true
}

// varClass says when a variable's values are fixed: fromHead ones once
// the URI and the headers are in, fromBody ones only when no body is
// handed to Coraza (the body processors fill them inside
// ProcessRequestBody).
type varClass uint8

const (
	fromHead varClass = iota + 1
	fromBody
)

// requestVars are the variables pruning reads; a rule reading any other
// is not pruned.
var requestVars = map[variables.RuleVariable]varClass{
	variables.ArgsGet:              fromHead,
	variables.ArgsGetNames:         fromHead,
	variables.RequestHeaders:       fromHead,
	variables.RequestHeadersNames:  fromHead,
	variables.RequestCookies:       fromHead,
	variables.RequestCookiesNames:  fromHead,
	variables.RequestURI:           fromHead,
	variables.RequestURIRaw:        fromHead,
	variables.RequestFilename:      fromHead,
	variables.RequestBasename:      fromHead,
	variables.RequestLine:          fromHead,
	variables.QueryString:          fromHead,
	variables.RequestMethod:        fromHead,
	variables.RequestProtocol:      fromHead,
	variables.Args:                 fromBody,
	variables.ArgsNames:            fromBody,
	variables.ArgsPost:             fromBody,
	variables.ArgsPostNames:        fromBody,
	variables.RequestBody:          fromBody,
	variables.XML:                  fromBody,
	variables.Files:                fromBody,
	variables.FilesNames:           fromBody,
	variables.MultipartPartHeaders: fromBody,
	// The body processor's state: set only inside ProcessRequestBody, by
	// a body processor (REQUEST_BODY_LENGTH starts at "0", the others
	// empty), which runs only on a body handed to Coraza.
	variables.ReqbodyError:         fromBody,
	variables.MultipartStrictError: fromBody,
	variables.RequestBodyLength:    fromBody,
}

// prunable is one rule pruning may remove.
type prunable struct {
	id      int
	pos     int     // in the rule set's order (removal.go)
	need    byteSet // one of these bytes is in every value the operator matches
	hasNeed bool
	// mayMatch is false for a (transformed) value the operator cannot
	// match; nil when pruning knows no such test.
	mayMatch func(string) bool
	reads    []int // indexes into pruner.reads: (target, chain) pairs
	body     bool  // reads a fromBody variable
	// presence: pruning knows nothing of the operator (not screened, or
	// behind a transformation imageOf lacks), so the rule may match
	// whenever one of its reads has a value (counting.go).
	presence bool
	// negated: the operator is negated and mayMatch is the operator
	// itself (exactOperators): the rule may match a value known exactly
	// that mayMatch turns away, or one not known exactly.
	negated bool
	// counts is the rule's count targets (indexes into pruner.targets),
	// tested with count (counting.go).
	counts []int
	count  countTest
	// unscreened: pruning knows nothing of the rule's own operator; it is
	// pruned only by its links.
	unscreened bool
	// links is the later rules of the rule's chain pruning decides
	// (chain.go): the chain cannot match if one of them cannot.
	links []prunable
}

// read is one (variable, transformation chain) pair some prunable rule
// reads.
type read struct {
	t     int // index into pruner.targets
	chain []transform
	// steps: the rule has multiMatch, so Coraza runs the operator on the
	// value before each transformation as well as after the last, and
	// the exact values of the read are every step's.
	steps bool
}

// pruner is the prunable rules of one rule set, in rule order.
type pruner struct {
	// headers is the restricted-header chains pruning decides itself
	// (headers.go).
	headers []headerList
	// markers decides when the SecMarkers may go (markers.go).
	markers markerGate
	// exclusions is the tag exclusions pruning works out (exclusion.go).
	exclusions []tagExclusion
	// order is the rule set's ids in order, for handing Coraza runs of
	// them as ranges (removal.go).
	order   ruleOrder
	rules   []prunable
	reads   []read
	targets []target // the targets reads and counts read
	// narrowed is what may narrow a rule's targets at run time or after
	// its text (counting.go): a count of such a rule is not decided.
	narrowed narrowing
	// views holds the requestViews of finished requests, cleared, for
	// the next ones: a view is some 20 KB (a readView for each of the
	// 200-odd reads), which every request allocated afresh.
	views sync.Pool
}

// ruleText is what newPruner needs of a rule Coraza built: its id, phase
// and the directive as written (types.RuleMetadata's ID, Phase, Raw).
type ruleText struct {
	id    int
	phase types.RulePhase
	raw   string
}

// newPruner reads the rule set's rules in order (as Coraza added them;
// removed lists the ids SecRuleRemoveById took out after). A rule that
// cannot be read or is not prunable is left alone: pruning only ever
// leaves more rules to Coraza.
func newPruner(rules []ruleText, removed []int, directives string, known *txKnown) *pruner {
	gone := map[int]bool{}
	for _, id := range removed {
		gone[id] = true
	}
	narrowed := readNarrowing(directives)
	p := &pruner{markers: newMarkerGate(rules, gone, narrowed), order: newRuleOrder(rules, gone), narrowed: narrowed}
	chains := ruleChains(directives)
	readIndex := map[string]int{}
	windows := skipWindows{}
	folded := false // the fold's rule has run: its values hold
	for _, rt := range rules {
		if gone[rt.id] {
			continue
		}
		folded = folded || rt.id == foldID
		inSkip := windows.next(rt.phase)
		sr, err := parseSecRule(rt.raw)
		if err != nil {
			continue // SecAction, SecMarker, or not read: left alone
		}
		windows.open(rt.phase, sr)
		if inSkip || rt.id == 0 || (rt.phase != types.PhaseRequestHeaders && rt.phase != types.PhaseRequestBody) {
			continue
		}
		if known != nil && macroOperators[sr.op] && (rt.phase != types.PhaseRequestHeaders || known.after < 0 || folded) {
			sr.arg = knownArg(sr.arg, *known)
		}
		pr, ok := sr.prunable()
		if ok && sr.counts() && p.narrowed.of(rt.id, sr.actions) {
			ok = false
		}
		var links []prunable
		if chainStarter(sr) {
			for _, raw := range chains[rt.id] {
				if l, decided := p.readLink(raw, rt.id, sr.actions, readIndex); decided {
					links = append(links, l)
				}
			}
		}
		if !ok && len(links) == 0 {
			continue
		}
		if !ok {
			pr = prunable{unscreened: true} // pruned only by its links
		} else {
			p.addReads(&pr, sr, readIndex)
		}
		pr.id = rt.id
		pr.pos = p.order.pos[rt.id]
		pr.links = links
		p.rules = append(p.rules, pr)
	}
	return p
}

// macroOperators are the operators whose argument Coraza expands as a
// macro and pruning runs itself (operatorScreen): knownArg applies to
// them only. They are the only ones the CRS gives a whole %{tx.*}
// argument; an @rx with one would need the gateway's @rx (package rx)
// checked to expand it as Coraza's does first.
var macroOperators = map[string]bool{"within": true, "eq": true, "gt": true, "ge": true, "lt": true, "le": true}

// knownArg is an operator's argument with a macro that is the whole
// argument and names a TX variable the build knows (%{tx.allowed_methods},
// which 911100's "@within" reads: the setup's constant, which no rule
// changes, paranoia.go) replaced by its value, as Coraza would expand it;
// any other argument as it is.
func knownArg(arg string, known txKnown) string {
	m := txMacro.FindStringSubmatch(arg)
	if m == nil || m[0] != arg {
		return arg
	}
	if v, ok := known.values[strings.ToLower(m[1])]; ok {
		return v
	}
	return arg
}

// addReads registers the reads of sr's targets for pr (shared by every
// rule that reads the same variable through the same transformations).
func (p *pruner) addReads(pr *prunable, sr secRule, readIndex map[string]int) {
	for _, tg := range sr.targets {
		if requestVars[tg.v] == fromBody {
			pr.body = true
		}
		ti := slices.Index(p.targets, tg.selector())
		if ti < 0 {
			ti = len(p.targets)
			p.targets = append(p.targets, tg.selector())
		}
		if tg.count {
			pr.counts = append(pr.counts, ti)
			continue
		}
		key := tg.v.Name() + ":" + tg.key + "|" + strings.Join(sr.chainNames, ",") + "|" + strconv.FormatBool(sr.multiMatch)
		i, seen := readIndex[key]
		if !seen {
			i = len(p.reads)
			readIndex[key] = i
			p.reads = append(p.reads, read{t: ti, chain: sr.chain, steps: sr.multiMatch})
		}
		pr.reads = append(pr.reads, i)
	}
}

// corazaTx is the part of Coraza's transaction (*corazawaf.Transaction)
// pruning uses beyond types.Transaction: the collections rules read, and
// the per-transaction rule removal ctl:ruleRemoveById uses.
type corazaTx interface {
	Collection(variables.RuleVariable) collection.Collection
	RemoveRuleByID(int)
	RemoveRuleByIDRange(start, end int)
	RemoveRuleTargetByID(id int, variable variables.RuleVariable, key string, keyRx *regexp.Regexp)
}

// prune removes from tx every prunable rule of phases 1 and 2 that cannot
// match, and returns how many it removed. Call it once the URI and the
// headers are in, before ProcessRequestHeaders. With body true (a body
// will be handed to Coraza) rules reading a fromBody variable stay.
func (p *pruner) prune(tx types.Transaction, body bool) int {
	ctx, ok := tx.(corazaTx)
	if p == nil || !ok {
		return 0
	}
	req := p.view(ctx)
	defer p.release(req)
	removed := 0
	if p.markers.removable(ctx) {
		ctx.RemoveRuleByID(markerID)
	}
	rm := newRemoval(&p.order, req.marks)
	for _, h := range p.headers {
		if !h.restricted(ctx) {
			rm.add(h.id)
			removed++
		}
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.body && body {
			continue
		}
		if p.mayMatch(req, r, body) {
			continue
		}
		rm.marks[r.pos] = true
		removed++
	}
	for i := range p.exclusions {
		p.exclusions[i].apply(ctx, &rm)
		removed++
	}
	rm.hand(ctx)
	return removed
}

// requestView is what prune has worked out of one request so far.
type requestView struct {
	tx     corazaTx
	reads  []readView     // by pruner.reads index
	values []targetValues // by pruner.targets index, read once
	// exact and vals back the reads' exact values and the targets'
	// values; marks is the removal's (one per rule of the order).
	exact []string
	vals  []value
	marks []bool
}

// view is a cleared requestView for tx, from the pool when it has one.
func (p *pruner) view(tx corazaTx) *requestView {
	req, _ := p.views.Get().(*requestView)
	if req == nil {
		req = &requestView{
			reads:  make([]readView, len(p.reads)),
			values: make([]targetValues, len(p.targets)),
			marks:  make([]bool, len(p.order.ids)),
		}
	}
	req.tx = tx
	return req
}

// release clears req and puts it back in the pool. Clearing drops every
// reference to the request's values (a bearer token among them), so the
// pool holds none of a finished request's data.
func (p *pruner) release(req *requestView) {
	clear(req.reads)
	clear(req.values)
	clear(req.exact)
	clear(req.vals)
	clear(req.marks)
	req.exact, req.vals, req.tx = req.exact[:0], req.vals[:0], nil
	p.views.Put(req)
}

// targetValues is one target's values in a transaction, read once.
type targetValues struct {
	read bool
	// count is how many values the collection holds under the target,
	// as Coraza counts them for &VARIABLE (before a rule's exclusions).
	count int
	// vals is the values pruning reads: those, or one empty value for a
	// variable the transaction lacks or that ProcessRequestBody may
	// still set.
	vals []value
}

// value is one value of a variable, with its bytes.
type value struct {
	s     string
	bytes byteSet
}

// readView is what prune has worked out of one read, filled as rules ask.
type readView struct {
	imaged, exacted bool
	image           byteSet
	exact           []string // the transformed values, when exactOK
	exactOK         bool
}

// valuesOf is the values of p.targets[ti] in req's transaction.
func (p *pruner) valuesOf(req *requestView, ti int) []value {
	return p.targetOf(req, ti).vals
}

// targetOf reads p.targets[ti] in req's transaction, once: the values
// Coraza's GetField starts from (FindString for a named key of a keyed
// collection, FindAll otherwise), before any exclusion narrows them.
func (p *pruner) targetOf(req *requestView, ti int) *targetValues {
	tv := &req.values[ti]
	if tv.read {
		return tv
	}
	tv.read = true
	tg := p.targets[ti]
	col := req.tx.Collection(tg.v)
	if col == nil {
		tv.vals = []value{{}} // read as an empty value: never fewer than Coraza sees
		return tv
	}
	var mds []types.MatchData
	keyed, isKeyed := col.(collection.Keyed)
	if isKeyed && tg.key != "" {
		mds = keyed.FindString(tg.key)
	} else {
		mds = col.FindAll()
	}
	tv.count = len(mds)
	start := len(req.vals)
	for _, md := range mds {
		req.vals = append(req.vals, value{s: md.Value(), bytes: bytesOf(md.Value())})
	}
	if requestVars[tg.v] == fromBody && !isKeyed {
		// ProcessRequestBody may still set it to an empty body's value
		// (REQUEST_BODY becomes ""; t:length makes that "0"). The keyed
		// body variables (FILES, XML, ARGS_POST...) are filled only by
		// a body processor, which runs only on a body handed to Coraza,
		// and then rules reading them are not pruned (r.body).
		req.vals = append(req.vals, value{})
	}
	tv.vals = req.vals[start:len(req.vals):len(req.vals)]
	return tv
}

// mayMatch reports whether r may match the request: its own operator
// may (operatorMayMatch), and so may each link of its chain that pruning
// decides (body: a body will be handed to Coraza, so a link reading one
// is not decided).
func (p *pruner) mayMatch(req *requestView, r *prunable, body bool) bool {
	if !r.unscreened && !p.operatorMayMatch(req, r) {
		return false
	}
	for i := range r.links {
		l := &r.links[i]
		if l.body && body {
			continue
		}
		if !p.operatorMayMatch(req, l) {
			return false
		}
	}
	return true
}

// operatorMayMatch reports whether r's operator may match a transformed
// value of one of its reads: a read whose image lacks the need set
// cannot; one whose values are all known exactly can only through a value
// mayMatch lets through.
func (p *pruner) operatorMayMatch(req *requestView, r *prunable) bool {
	for _, ti := range r.counts {
		if r.count.matches(p.targetOf(req, ti).count) {
			return true
		}
	}
	for _, ri := range r.reads {
		v := &req.reads[ri]
		rd := p.reads[ri]
		if r.presence {
			if len(p.valuesOf(req, rd.t)) > 0 {
				return true
			}
			continue
		}
		if r.hasNeed && !r.negated {
			if !v.imaged {
				v.imaged = true
				for _, val := range p.valuesOf(req, rd.t) {
					v.image.union(imageOf(val, rd.chain))
					if v.image == allBytes {
						break
					}
				}
			}
			if !v.image.meets(r.need) {
				continue
			}
		}
		if r.mayMatch == nil {
			return true
		}
		if !v.exacted {
			v.exacted, v.exactOK = true, true
			start := len(req.exact)
			for _, val := range p.valuesOf(req, rd.t) {
				if req.exact, v.exactOK = appendExact(req.exact, val, rd.chain, rd.steps); !v.exactOK {
					break
				}
			}
			v.exact = req.exact[start:len(req.exact):len(req.exact)]
		}
		if !v.exactOK {
			return true
		}
		for _, x := range v.exact {
			if r.mayMatch(x) != r.negated {
				return true
			}
		}
	}
	return false
}

// secRule is a SecRule directive as pruning reads it.
type secRule struct {
	targets []target // positive targets, deduplicated
	// odd: a target outside requestVars, or a count pruning cannot take
	// (of a /regex/ or quoted key).
	odd bool
	// excludes: a target starts with ! (it narrows the rule's values).
	excludes   bool
	negated    bool
	op, arg    string
	chain      []transform
	chainNames []string
	unmodelled bool // a transformation transforms lacks
	// transformCount counts t: actions, t:none included.
	transformCount int
	multiMatch     bool
	actions        []string
}

var errNotSecRule = errors.New("not a SecRule")

// transformActions finds t: actions in an action list.
var transformActions = regexp.MustCompile(`(?:^|,)\s*t\s*:`)

// parseSecRule reads raw ("SecRule VARIABLES "OPERATOR" "ACTIONS"") the way
// Coraza's seclang parser (v3.8.1, rule_parser.go) does for what pruning
// needs: the operator string is the first double-quoted string after the
// variables, unquoted and with \" unescaped; an operator without @ is
// @rx. TestParseSecRuleMatchesCoraza checks every CRS rule's @rx
// argument against the one Coraza handed the operator.
func parseSecRule(raw string) (secRule, error) {
	var sr secRule
	rest, ok := strings.CutPrefix(strings.TrimLeft(raw, " \t"), "SecRule ")
	if !ok {
		return sr, errNotSecRule
	}
	rest = strings.Trim(rest, " ")
	vars, rest, ok := strings.Cut(rest, " ")
	if !ok {
		return sr, fmt.Errorf("no operator: %q", raw)
	}
	rest = strings.TrimLeft(rest, " ")
	op, rest, err := cutQuoted(rest)
	if err != nil {
		return sr, err
	}
	op = strings.ReplaceAll(op, `\"`, `"`)
	actions := ""
	if rest = strings.TrimLeft(rest, " "); rest != "" {
		if len(rest) < 2 || rest[0] != '"' || rest[len(rest)-1] != '"' {
			return sr, fmt.Errorf("actions not quoted: %q", raw)
		}
		actions = rest[1 : len(rest)-1]
	}
	if err := sr.readVars(vars); err != nil {
		return sr, err
	}
	sr.readOperator(op)
	sr.readActions(actions)
	if n := len(transformActions.FindAllStringIndex(actions, -1)); n != sr.transformCount {
		// The comma split disagrees with a plain reading: leave the rule
		// alone rather than miss a transformation.
		sr.unmodelled = true
	}
	return sr, nil
}

// parseDirective reads a SecRule as parseSecRule does, and a SecAction as
// a rule with its actions only (no targets, no operator).
func parseDirective(raw string) (secRule, error) {
	sr, err := parseSecRule(raw)
	if rest, ok := strings.CutPrefix(strings.TrimSpace(raw), "SecAction"); ok && errors.Is(err, errNotSecRule) {
		sr = secRule{}
		sr.readActions(strings.Trim(rest, ` "`))
		return sr, nil
	}
	return sr, err
}

// cutQuoted cuts the double-quoted string s starts with: a quote preceded
// by an odd number of backslashes does not end it. It returns the text
// between the quotes.
func cutQuoted(s string) (string, string, error) {
	if s == "" || s[0] != '"' {
		return "", "", fmt.Errorf("operator not quoted: %q", s)
	}
	backslashes := 0
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			backslashes++
		case s[i] == '"' && backslashes%2 == 0:
			return s[1:i], s[i+1:], nil
		default:
			backslashes = 0
		}
	}
	return "", "", fmt.Errorf("unterminated operator: %q", s)
}

// readVars reads the targets: names split at | outside a /regex/ or
// 'quoted' key. An exclusion (!) only narrows a target: it is skipped
// and noted (excludes). A count (&) is a target of its own; a variable
// outside requestVars, or a count of a key read as the whole collection,
// makes the rule odd (not prunable).
func (sr *secRule) readVars(vars string) error {
	for len(vars) > 0 {
		end, err := targetEnd(vars)
		if err != nil {
			return err
		}
		t := vars[:end]
		vars = strings.TrimPrefix(vars[end:], "|")
		if strings.HasPrefix(t, "!") {
			sr.excludes = true
			continue
		}
		count := strings.HasPrefix(t, "&")
		name, key, _ := strings.Cut(strings.TrimPrefix(t, "&"), ":")
		v, err := variables.Parse(name)
		if err != nil || requestVars[v] == 0 {
			sr.odd = true
			continue
		}
		if key != "" && !plainKey.MatchString(key) {
			// A /regex/, 'quoted' or XPath key: read as the whole
			// collection (a superset of its values), which is no count.
			if count {
				sr.odd = true
				continue
			}
			key = ""
		}
		if tg := (target{v: v, key: key, count: count}); !slices.Contains(sr.targets, tg) {
			sr.targets = append(sr.targets, tg)
		}
	}
	return nil
}

// targetEnd is the length of the first target of vars. A key starting
// with / is a regex up to the next unescaped / (XML's is an XPath, up to
// the next |), one starting with ' runs to the next '.
func targetEnd(vars string) (int, error) {
	colon := strings.IndexByte(vars, ':')
	pipe := strings.IndexByte(vars, '|')
	toPipe := len(vars)
	if pipe >= 0 {
		toPipe = pipe
	}
	if colon < 0 || colon > toPipe || colon+1 >= len(vars) {
		return toPipe, nil
	}
	name := strings.TrimLeft(vars[:colon], "!&")
	switch {
	case vars[colon+1] == '/' && !strings.EqualFold(name, "XML"):
		for i := colon + 2; i < len(vars); i++ {
			if vars[i] == '\\' {
				i++
				continue
			}
			if vars[i] == '/' {
				return i + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated regex key: %q", vars)
	case vars[colon+1] == '\'':
		if j := strings.IndexByte(vars[colon+2:], '\''); j >= 0 {
			return colon + 2 + j + 1, nil
		}
		return 0, fmt.Errorf("unterminated quoted key: %q", vars)
	}
	return toPipe, nil
}

func (sr *secRule) readOperator(op string) {
	switch {
	case op == "" || op[0] != '@' && op[0] != '!':
		op = "@rx " + op
	case op == "!":
		op = "!@rx"
	case len(op) > 1 && op[0] == '!' && op[1] != '@':
		op = "!@rx " + op[1:]
	}
	name, arg, _ := strings.Cut(op, " ")
	name = strings.TrimSpace(name)
	if strings.HasPrefix(name, "!") {
		sr.negated = true
		name = name[1:]
	}
	sr.op = strings.TrimPrefix(name, "@")
	sr.arg = strings.TrimSpace(arg)
}

// readActions splits the actions at commas outside 'quotes' and reads
// the transformations (t:none clears the list, as in Coraza).
func (sr *secRule) readActions(actions string) {
	quoted := false
	start := 0
	for i := 0; i <= len(actions); i++ {
		if i < len(actions) {
			if actions[i] == '\'' {
				quoted = !quoted
			}
			if quoted || actions[i] != ',' {
				continue
			}
		}
		a := strings.TrimSpace(actions[start:i])
		start = i + 1
		if a == "" {
			continue
		}
		sr.actions = append(sr.actions, a)
		if a == "multiMatch" {
			sr.multiMatch = true
		}
		name, val, _ := strings.Cut(a, ":")
		if strings.TrimSpace(name) != "t" {
			continue
		}
		val = strings.Trim(strings.TrimSpace(val), "'")
		sr.transformCount++
		if val == "none" {
			sr.chain, sr.chainNames, sr.unmodelled = nil, nil, false
			continue
		}
		t, ok := transforms[val]
		if !ok {
			sr.unmodelled = true
		}
		sr.chain = append(sr.chain, t)
		sr.chainNames = append(sr.chainNames, val)
	}
}

// skipWindows follows the skip:N windows of a walk over the rules in
// order: per phase, how many more rules the open window steps over.
type skipWindows map[types.RulePhase]int

// next counts one rule of phase ph and reports whether it is inside a
// window.
func (w skipWindows) next(ph types.RulePhase) bool {
	if w[ph] > 0 {
		w[ph]--
		return true
	}
	return false
}

// open starts sr's skip:N window, if it has one, at the next rule of ph.
func (w skipWindows) open(ph types.RulePhase, sr secRule) {
	if n := sr.skip(); n > 0 {
		w[ph] = max(w[ph], n)
	}
}

// skip is N of a skip:N action, 0 without one.
func (sr *secRule) skip() int {
	for _, a := range sr.actions {
		if v, ok := strings.CutPrefix(a, "skip:"); ok {
			n, err := strconv.Atoi(strings.Trim(v, "'"))
			if err != nil || n < 1 {
				return 1 << 30 // unreadable: nothing after it is pruned
			}
			return n
		}
	}
	return 0
}

// prunable reports whether the rule may be pruned, with what decides it:
// its count test when it counts (counting.go), its operator's screen when
// pruning models the operator and the transformations, and otherwise
// whether its targets have values (presence).
func (sr *secRule) prunable() (prunable, bool) {
	if sr.odd || len(sr.targets) == 0 {
		return prunable{}, false
	}
	if sr.counts() {
		ct, ok := sr.countTest()
		if !ok {
			return prunable{}, false
		}
		// The other targets' values meet a numeric comparison: pruning
		// reads only whether they have any.
		return prunable{count: ct, presence: true}, true
	}
	if sr.unmodelled {
		return prunable{presence: true}, true
	}
	need, hasNeed, mayMatch, ok := operatorScreen(sr.op, sr.arg)
	if !ok {
		return prunable{presence: true}, true
	}
	if sr.negated {
		// A negated operator matches a value the operator does not: it
		// is decided on exact values only, by an operator mayMatch is
		// exactly (not a screen, which would let a value through that
		// the operator turns away).
		if !exactOperators[sr.op] {
			return prunable{presence: true}, true
		}
		return prunable{mayMatch: mayMatch, negated: true}, true
	}
	return prunable{need: need, hasNeed: hasNeed, mayMatch: mayMatch}, true
}

// operatorScreen is what pruning knows of the operator: need, a set of
// bytes one of which every value it matches contains (hasNeed false
// without one), and mayMatch, false for a value it cannot match (nil
// without one). ok is false when it has neither.
func operatorScreen(op, arg string) (need byteSet, hasNeed bool, mayMatch func(string) bool, ok bool) {
	switch op {
	case "rx":
		// The operator itself, as Coraza runs it (the gateway's @rx):
		// its screens, then the regexp on a value they let through.
		match, err := rx.Match(arg)
		if err != nil {
			return need, false, nil, false
		}
		if screen, ok := rx.ScreenOf(arg); ok {
			if ascii, ok := screen.Bytes(); ok {
				need, hasNeed = byteSet{ascii[0], ascii[1]}, true
			}
		}
		return need, hasNeed, match, true
	case "detectXSS":
		// Coraza's operators call libinjection and nothing else
		// (v3.8.1, internal/operators/detect_xss.go, detect_sqli.go).
		return need, false, libinjection.IsXSS, true
	case "detectSQLi":
		return need, false, func(v string) bool {
			found, _ := libinjection.IsSQLi(v)
			return found
		}, true
	case "pm":
		// Coraza lowercases the phrases (strings.ToLower) and splits them
		// at each space.
		return phraseScreen(strings.Split(strings.ToLower(arg), " "))
	case "pmFromFile", "pmf":
		sc := dataFileScreen(arg)
		return sc.need, sc.hasNeed, sc.mayMatch, sc.ok
	case "validateByteRange":
		// Matches a value holding a byte outside the ranges: those bytes
		// are the need set, and the operator itself is mayMatch.
		valid, err := byteRanges(arg)
		if err != nil {
			return need, false, nil, false
		}
		for i := range need {
			need[i] = ^valid[i]
		}
		return need, true, func(v string) bool { return bytesOf(v).meets(need) }, true
	case "eq", "gt", "ge", "lt", "le":
		// Coraza's numeric operators compare strconv.Atoi of the value
		// with strconv.Atoi of the argument, either reading 0 when it is
		// not a number (v3.8.1, internal/operators/eq.go and the
		// others); a macro is expanded per transaction.
		if strings.Contains(arg, "%{") {
			return need, false, nil, false
		}
		k, _ := strconv.Atoi(arg)
		cmp := map[string]func(v int) bool{
			"eq": func(v int) bool { return v == k },
			"gt": func(v int) bool { return v > k },
			"ge": func(v int) bool { return v >= k },
			"lt": func(v int) bool { return v < k },
			"le": func(v int) bool { return v <= k },
		}[op]
		return need, false, func(v string) bool {
			n, _ := strconv.Atoi(v)
			return cmp(n)
		}, true
	case "within":
		// Coraza's @within: the argument contains the value
		// (strings.Contains, so an empty value is within any argument).
		if strings.Contains(arg, "%{") {
			return need, false, nil, false
		}
		return need, false, func(v string) bool { return strings.Contains(arg, v) }, true
	case "contains", "beginsWith", "endsWith", "streq":
		// Literal and case-sensitive; a macro (%{...}) is expanded per
		// transaction, so its bytes are not known here.
		if arg == "" || strings.Contains(arg, "%{") {
			return need, false, nil, false
		}
		need.add(rarest(arg))
		match := map[string]func(string, string) bool{
			"contains":   strings.Contains,
			"beginsWith": strings.HasPrefix,
			"endsWith":   strings.HasSuffix,
			"streq":      func(v, a string) bool { return v == a },
		}[op]
		return need, true, func(v string) bool { return match(v, arg) }, true
	}
	return need, false, nil, false
}

// exactOperators are those whose operatorScreen mayMatch is the operator
// itself, true exactly for the values it matches: a negated one can be
// decided on them (secRule.prunable).
var exactOperators = map[string]bool{
	"rx": true, "detectXSS": true, "detectSQLi": true, "validateByteRange": true,
	"contains": true, "beginsWith": true, "endsWith": true, "streq": true,
	"eq": true, "gt": true, "ge": true, "lt": true, "le": true, "within": true,
}

// screen is what operatorScreen returns, kept for a data file.
type screen struct {
	need     byteSet
	hasNeed  bool
	mayMatch func(string) bool
	ok       bool
}

// dataFileScreens holds the screen of each CRS data file (@pmFromFile)
// once built, for the process's life: every WAF route and every reload
// shares it (the automaton is read-only; a search keeps its state on its
// own). Its keys are bounded by the data files embedded in the binary:
// dataFile reads nothing else, and a name it cannot read is not stored.
var dataFileScreens sync.Map // data file name -> *screen

// dataFileScreenBuilds counts the data-file screens built (tests read it).
var dataFileScreenBuilds atomic.Int64

// dataFileScreen is the screen of the CRS data file name, built the first
// time it is asked for; a name dataFile cannot read gets none (ok false)
// and is not kept.
func dataFileScreen(name string) *screen {
	if sc, ok := dataFileScreens.Load(name); ok {
		return sc.(*screen)
	}
	phrases, err := dataFile(name)
	if err != nil {
		return &screen{}
	}
	dataFileScreenBuilds.Add(1)
	sc := new(screen)
	sc.need, sc.hasNeed, sc.mayMatch, sc.ok = phraseScreen(phrases)
	v, _ := dataFileScreens.LoadOrStore(name, sc)
	return v.(*screen)
}

// dfaPhrases is the length of the longest phrase list whose automaton is
// a DFA; longer lists get an NFA. A DFA is faster to search (the NFA walks
// sparse state lists, and allocates, at each byte) and costs memory and
// build time. Measured on the CRS data files the request rules read
// (docs/performance.md, "Who switches, and the system-call floor"): as
// DFAs they hold 14 MB of heap against 3 MB as NFAs and take 0.25 s to
// build, once per process (dataFileScreens), and a WAF request costs
// 0.944x the CPU (in process, client and upstream included) it did with
// NFAs for every list of 64 phrases or more (Coraza's own choice for
// @pmFromFile, which pruning used to copy), about half of it from the
// three longest lists (521-977 phrases). The bound
// covers every CRS data file; a list past it (a @pm argument of thousands
// of phrases) gets an NFA, whose size grows with the phrases alone.
const dfaPhrases = 2048

// phraseScreen is @pm's and @pmFromFile's screen over their (lowercased)
// phrases, matched as Coraza matches them: Aho-Corasick from the same
// library, ignoring ASCII case, leftmost-longest (a DFA or an NFA finds
// the same matches: dfaPhrases chooses for speed, not meaning). A match
// holds every byte of one phrase, so one byte of each phrase, in both
// cases, makes a need set.
func phraseScreen(phrases []string) (need byteSet, hasNeed bool, mayMatch func(string) bool, ok bool) {
	if len(phrases) == 0 {
		return need, false, nil, false
	}
	for _, phrase := range phrases {
		if phrase == "" {
			return need, false, nil, false // an empty phrase matches anything
		}
		c := rarest(phrase)
		need.add(c)
		if 'a' <= c && c <= 'z' {
			need.add(c - 'a' + 'A')
		}
	}
	return need, true, phraseMatcher(phrases, len(phrases) <= dfaPhrases), true
}

// phraseMatcher reports whether a value holds one of phrases, in any
// ASCII case; dfa chooses the automaton.
func phraseMatcher(phrases []string, dfa bool) func(string) bool {
	b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{
		AsciiCaseInsensitive: true,
		MatchKind:            ahocorasick.LeftMostLongestMatch,
		DFA:                  dfa,
	})
	m := b.Build(phrases)
	return func(v string) bool { return m.Iter(v).Next() != nil }
}

// dataFile is a @pmFromFile data file of the CRS as Coraza reads it: from
// the directory of the rule files (@owasp_crs in the embedded FS), each
// line trimmed and lowercased, empty lines and # comments left out.
func dataFile(name string) ([]string, error) {
	if name == "" || strings.Contains(name, "://") || path.IsAbs(name) {
		return nil, fmt.Errorf("data file %q: not a CRS file", name)
	}
	b, err := fs.ReadFile(coreruleset.FS, path.Join("@owasp_crs", name))
	if err != nil {
		return nil, err
	}
	var out []string
	for line := range strings.Lines(string(b)) {
		l := strings.TrimSpace(line)
		if l == "" || l[0] == '#' {
			continue
		}
		out = append(out, strings.ToLower(l))
	}
	return out, nil
}

// byteRanges is @validateByteRange's argument ("1-255", "9,10,13,32-126")
// as Coraza reads it.
func byteRanges(arg string) (byteSet, error) {
	var valid byteSet
	if arg == "" {
		return valid, errors.New("empty range: matches every value")
	}
	for _, br := range strings.Split(arg, ",") {
		start, end, isRange := strings.Cut(strings.TrimSpace(br), "-")
		if !isRange {
			end = start
		}
		s, err1 := strconv.Atoi(start)
		e, err2 := strconv.Atoi(end)
		if err1 != nil || err2 != nil || s < 0 || e > 255 {
			return valid, fmt.Errorf("bad range %q", br)
		}
		for i := s; i <= e; i++ {
			valid.add(byte(i)) // #nosec G115 -- 0 <= s <= i <= e <= 255
		}
	}
	return valid, nil
}

// rarest picks the byte of s least likely to be in an ordinary value: any
// one would do for soundness, a rare one prunes more.
func rarest(s string) byte {
	best, bestScore := s[0], 3
	for i := 0; i < len(s); i++ {
		c := s[i]
		score := 0
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
			score = 2
		case '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '/':
			score = 1
		}
		if score < bestScore {
			best, bestScore = c, score
		}
	}
	return best
}
