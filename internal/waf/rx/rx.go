// Package rx is the @rx operator the waf package registers with Coraza in
// place of Coraza's own (Coraza v3.8.1's internal/operators/rx.go).
//
// It matches exactly as Coraza's does: Go's regexp over "(?sm)" and the
// rule's pattern (dot matches a newline, ^ and $ match at line breaks:
// ModSecurity's behaviour, which the CRS is written for), or, for a
// pattern whose \x escapes name bytes that are not UTF-8,
// rsc.io/binaryregexp over the pattern as written; when the rule captures,
// the first nine groups go to TX.0-TX.8.
//
// The threat it answers is cost, without giving up detection: Coraza runs
// every @rx pattern of a rule over every value of the rule's variables,
// about 600 regexp runs for a clean GET through the CRS, most of them on
// values that hold nothing the pattern could match. In front of the regexp
// the operator puts two screens derived from the parsed pattern (never
// guessed, unlike Coraza's experimental SecRxPreFilter, which misses CRS
// 942220): a set of ASCII bytes, one of which every match contains, and a
// set of words (literal runs), one of which every match contains. A value
// that fails either is answered "no match" without the regexp. Why that is
// sound is set out at required and requiredWords; the tests check it
// against every CRS pattern and, through Coraza, against Coraza's own
// operator on the CRS's regression corpus.
package rx

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"rsc.io/binaryregexp"
)

// New is the operator factory (plugintypes.OperatorFactory) for @rx.
func New(opts plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	return newRX(opts, true)
}

// NewUnscreened is New without the screens: Coraza's matching alone, the
// reference the screens are measured and tested against.
func NewUnscreened(opts plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	return newRX(opts, false)
}

// rxOperator is @rx on text: Go's regexp over "(?sm)" and the rule's
// pattern, as Coraza compiles it, behind the screens.
type rxOperator struct {
	re     *regexp.Regexp
	screen Screen
}

// binaryRX is @rx on bytes, for patterns that name bytes which are not
// UTF-8 (CRS 933, 934, 941 and 942 have a few, and 944's Java
// serialization magic \xac\xed). Like Coraza, it takes the pattern as
// written, without (?sm).
type binaryRX struct {
	re *binaryregexp.Regexp
}

var (
	_ plugintypes.Operator = (*rxOperator)(nil)
	_ plugintypes.Operator = (*binaryRX)(nil)
)

func newRX(opts plugintypes.OperatorOptions, screen bool) (plugintypes.Operator, error) {
	if namesNonUTF8(opts.Arguments) {
		v, err := memoize("portcullis:rx:binary:"+opts.Arguments, func() (any, error) {
			return binaryregexp.Compile(opts.Arguments)
		})
		if err != nil {
			return nil, err
		}
		return &binaryRX{re: v.(*binaryregexp.Regexp)}, nil
	}
	expr := "(?sm)" + opts.Arguments
	v, err := memoize("portcullis:rx:"+strconv.FormatBool(screen)+":"+expr, func() (any, error) {
		return compileRX(expr, screen)
	})
	if err != nil {
		return nil, err
	}
	return v.(*rxOperator), nil
}

// compileRX compiles expr, with its screen when screen is true and the
// pattern has one.
func compileRX(expr string, screen bool) (*rxOperator, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	op := &rxOperator{re: re}
	if !screen {
		return op, nil
	}
	// regexp.Compile parses with the Perl flags: the same tree.
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if set, ok := required(parsed); ok {
		op.screen.bytes = &set
	}
	if ws, ok := requiredWords(parsed); ok {
		op.screen.words = ws
	}
	return op, nil
}

// Screen is the screens New puts in front of pattern's regexp: TurnsAway
// reports that a value cannot match without running the regexp. The waf
// package uses it, with Bytes, to skip whole rules (its prune.go); why it
// is sound is set out at required and requiredWords.
type Screen struct {
	bytes *byteSet
	words wordScreen
}

// ScreenOf is pattern's screens as New compiles them; ok is false when New
// gives the pattern none: it has none, it does not parse, or it names
// bytes that are not UTF-8 (the byte engine, which is not screened).
func ScreenOf(pattern string) (s Screen, ok bool) {
	if namesNonUTF8(pattern) {
		return s, false
	}
	parsed, err := syntax.Parse("(?sm)"+pattern, syntax.Perl)
	if err != nil {
		return s, false
	}
	if set, ok := required(parsed); ok {
		s.bytes = &set
	}
	if ws, ok := requiredWords(parsed); ok {
		s.words = ws
	}
	return s, s.bytes != nil || s.words != nil
}

// Bytes is the byte screen (bit b of set[b>>6] for each ASCII byte b, one
// of which every match contains); ok is false without one.
func (s Screen) Bytes() (set [2]uint64, ok bool) {
	if s.bytes == nil {
		return set, false
	}
	return *s.bytes, true
}

// TurnsAway reports whether a screen shows that value cannot match.
func (s Screen) TurnsAway(value string) bool {
	return s.bytes != nil && !s.bytes.anyIn(value) || s.words != nil && !s.words.anyIn(value)
}

// compiled holds every pattern compiled here, for the process's life:
// the operators of every rule set (Coraza's memoizer is one per WAF, and
// each reload builds a new one) and Match share one compiled regexp per
// pattern. Its keys are bounded by the patterns of the rule sets the
// process compiles: the embedded CRS's.
var compiled sync.Map // key -> *rxOperator or *binaryRX

func memoize(key string, fn func() (any, error)) (any, error) {
	if v, ok := compiled.Load(key); ok {
		return v, nil
	}
	v, err := fn()
	if err != nil {
		return nil, err
	}
	v, _ = compiled.LoadOrStore(key, v)
	return v, nil
}

// Match is pattern's @rx as New compiles it, without the capture: whether
// a value matches, exactly as the rule's operator decides it (screens,
// then the regexp). The waf package's pruning runs it on values it knows
// exactly, to leave out a rule that cannot match before Coraza evaluates
// it. It shares the compiled regexp with the operators New makes.
func Match(pattern string) (func(string) bool, error) {
	op, err := newRX(plugintypes.OperatorOptions{Arguments: pattern}, true)
	if err != nil {
		return nil, err
	}
	switch o := op.(type) {
	case *rxOperator:
		return func(v string) bool { return !o.turnsAway(v) && o.re.MatchString(v) }, nil
	case *binaryRX:
		return o.re.MatchString, nil
	}
	return nil, fmt.Errorf("rx: operator %T", op)
}

// Evaluate reports whether value matches and, when the rule captures,
// sets TX.0 to TX.8 from the match, as Coraza's operator does.
func (o *rxOperator) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if o.turnsAway(value) {
		return false
	}
	// Most values match nothing. Go's matcher answers "does it match"
	// without tracking groups, which is cheaper than finding them, so a
	// capturing rule asks that first and finds the groups only for a
	// value that matches.
	if !o.re.MatchString(value) {
		return false
	}
	if !tx.Capturing() {
		return true
	}
	return capture(tx, value, o.re.FindStringSubmatchIndex(value))
}

// turnsAway reports whether a screen shows that value cannot match.
func (o *rxOperator) turnsAway(value string) bool { return o.screen.TurnsAway(value) }

func (o *binaryRX) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if !o.re.MatchString(value) { // as rxOperator's
		return false
	}
	if !tx.Capturing() {
		return true
	}
	return capture(tx, value, o.re.FindStringSubmatchIndex(value))
}

// capture hands the first nine groups of match (index pairs into value,
// nil when nothing matched) to the transaction; a group that took no part
// in the match is empty.
func capture(tx plugintypes.TransactionState, value string, match []int) bool {
	if match == nil {
		return false
	}
	for i := 0; i < len(match)/2 && i < 9; i++ {
		if match[2*i] < 0 {
			tx.CaptureField(i, "")
			continue
		}
		tx.CaptureField(i, value[match[2*i]:match[2*i+1]])
	}
	return true
}

// namesNonUTF8 reports whether pattern, with its \xHH and \x{HH} escapes
// read as bytes, is not UTF-8: Coraza's test (v3.8.1) for matching bytes
// rather than text, repeated here so that the same CRS patterns take the
// same engine (TestNamesNonUTF8 lists them).
func namesNonUTF8(pattern string) bool {
	decoded := make([]byte, 0, len(pattern))
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '\\' || i+3 >= len(pattern) || pattern[i+1] != 'x' {
			decoded = append(decoded, c)
			continue
		}
		digits, next := pattern[i+2:i+4], i+3
		if pattern[i+2] == '{' {
			end := -1
			for j := i + 3; j < len(pattern); j++ {
				if pattern[j] == '}' {
					end = j
					break
				}
			}
			if end < 0 {
				decoded = append(decoded, c)
				continue
			}
			// Coraza reads the first two digits of a braced escape.
			digits, next = pattern[i+3:min(end, i+5)], end
		}
		v, err := strconv.ParseUint(digits, 16, 8)
		if err != nil {
			decoded = append(decoded, c)
			continue
		}
		decoded = append(decoded, byte(v))
		i = next
	}
	return !utf8.Valid(decoded)
}

// byteSet is a set of ASCII bytes.
type byteSet [2]uint64

func (s *byteSet) add(b byte)      { s[b>>6] |= 1 << (b & 63) }
func (s *byteSet) has(b byte) bool { return b < utf8.RuneSelf && s[b>>6]&(1<<(b&63)) != 0 }
func (s *byteSet) union(o byteSet) { s[0] |= o[0]; s[1] |= o[1] }

// anyIn reports whether v holds a byte of s.
func (s *byteSet) anyIn(v string) bool {
	for i := 0; i < len(v); i++ {
		if s.has(v[i]) {
			return true
		}
	}
	return false
}

// required is the byte screen of a parsed pattern: a set of ASCII bytes such
// that every text re matches holds at least one of them; ok is false when
// the pattern has no such set (it can match the empty text, or any
// character, or it needs only non-ASCII characters).
//
// Why a value without those bytes cannot match. Go's regexp reads the
// value as UTF-8 and takes each byte of an invalid sequence as U+FFFD, so
// an ASCII byte in the value is always that character and an ASCII
// character can only match that byte. A literal character under (?i)
// matches every character of its case-folding orbit (unicode.SimpleFold),
// so it counts only when the whole orbit is ASCII: k, s (K, ſ) and the
// like never enter a screen. Character classes arrive from the parser
// with folding already applied and are used only when wholly ASCII.
// Concatenation needs every part, so any part's set will do (the rarest
// is taken); alternation needs one branch, so it takes the union and
// fails if any branch fails; repetition needs its operand only when the
// minimum count is at least one; anchors, empty matches and . give
// nothing.
func required(re *syntax.Regexp) (set byteSet, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		found := false
		for _, r := range re.Rune {
			if s, ok := runeBytes(r, re.Flags&syntax.FoldCase != 0); ok && (!found || cost(s) < cost(set)) {
				set, found = s, true
			}
		}
		return set, found
	case syntax.OpCharClass:
		if len(re.Rune) == 0 {
			return set, false // matches nothing; no screen needed or given
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= utf8.RuneSelf {
				return set, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				set.add(byte(r)) // #nosec G115 -- r <= re.Rune[i+1] < utf8.RuneSelf, checked above
			}
		}
		return set, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return set, false
	case syntax.OpConcat:
		found := false
		for _, sub := range re.Sub {
			if s, ok := required(sub); ok && (!found || cost(s) < cost(set)) {
				set, found = s, true
			}
		}
		return set, found
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, ok := required(sub)
			if !ok {
				return set, false
			}
			set.union(s)
		}
		return set, true
	}
	return set, false
}

// runeBytes is the set of bytes that stand for r in a value: r and, when
// fold is set, the rest of its case-folding orbit; ok is false when one of
// them is not ASCII.
func runeBytes(r rune, fold bool) (set byteSet, ok bool) {
	if r >= utf8.RuneSelf {
		return set, false
	}
	set.add(byte(r)) // #nosec G115 -- r < utf8.RuneSelf, checked above
	if !fold {
		return set, true
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return set, false
		}
		set.add(byte(f)) // #nosec G115 -- f < utf8.RuneSelf, checked above
	}
	return set, true
}

// cost ranks screens by how often their bytes turn up in ordinary values
// (letters, digits and the space often, punctuation seldom): the lower,
// the more values the screen turns away.
func cost(s byteSet) int {
	c := 0
	for b := byte(0); b < utf8.RuneSelf; b++ {
		if !s.has(b) {
			continue
		}
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == ' ':
			c += 10
		default:
			c++
		}
	}
	return c
}

// word is a string every match of some part of a pattern contains; under
// fold, compared with ASCII case folding (s is lowercase then).
type word struct {
	s    string
	fold bool
}

// wordScreen is a set of words at least one of which is in every value a
// pattern matches.
type wordScreen []word

// maxWords bounds a word screen: an alternation of more words than this
// is left to the byte screen and the regexp.
const maxWords = 16

// anyIn reports whether v contains a word of ws.
func (ws wordScreen) anyIn(v string) bool {
	for _, w := range ws {
		if !w.fold {
			if strings.Contains(v, w.s) {
				return true
			}
			continue
		}
		if containsFold(v, w.s) {
			return true
		}
	}
	return false
}

// containsFold reports whether v contains lower (lowercase ASCII) with
// ASCII letters compared regardless of case.
func containsFold(v, lower string) bool {
	for i := 0; i+len(lower) <= len(v); i++ {
		j := 0
		for ; j < len(lower); j++ {
			c := v[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lower[j] {
				break
			}
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// requiredWords is the word screen of a parsed pattern: words at least one
// of which every text re matches contains; ok is false when there is none
// (or more than maxWords). It follows required's rules, with strings in
// place of bytes: a literal gives its longest run of characters that stand
// for themselves in ASCII (under (?i), only characters whose whole folding
// orbit is ASCII; a character outside the run splits it, since the run
// must then occur whole on either side), and those characters are
// adjacent bytes in the value because each is one byte there. A
// character class gives its characters when it has at most four, all
// ASCII. A concatenation takes its most selective part's words.
func requiredWords(re *syntax.Regexp) (ws wordScreen, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		var best, run []byte
		for _, r := range re.Rune {
			if _, ok := runeBytes(r, fold); ok {
				c := byte(r) // #nosec G115 -- runeBytes is ok only for r < utf8.RuneSelf
				if fold && 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				run = append(run, c)
				if len(run) > len(best) {
					best = slices.Clone(run)
				}
				continue
			}
			run = run[:0]
		}
		if len(best) == 0 {
			return nil, false
		}
		return wordScreen{{s: string(best), fold: fold}}, true
	case syntax.OpCharClass:
		n := 0
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1] >= utf8.RuneSelf {
				return nil, false
			}
			n += int(re.Rune[i+1]-re.Rune[i]) + 1
		}
		if n == 0 || n > 4 {
			return nil, false
		}
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				ws = append(ws, word{s: string(r)})
			}
		}
		return ws, true
	case syntax.OpCapture, syntax.OpPlus:
		return requiredWords(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		ws, ok := requiredWords(re.Sub[0])
		if ok && re.Min >= 2 && wholeLiteral(re.Sub[0], ws) {
			// x{n,} matches n copies of x back to back: when x is a
			// literal that is its own word, so is x repeated.
			ws = wordScreen{{s: strings.Repeat(ws[0].s, min(re.Min, maxRepeat)), fold: ws[0].fold}}
		}
		return ws, ok
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if s, ok := requiredWords(sub); ok && (ws == nil || wordCost(s) < wordCost(ws)) {
				ws = s
			}
		}
		return ws, ws != nil
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, ok := requiredWords(sub)
			if !ok || len(ws)+len(s) > maxWords {
				return nil, false
			}
			ws = append(ws, s...)
		}
		return ws, true
	}
	return nil, false
}

// maxRepeat bounds the copies of a literal a repetition's word holds (a
// shorter word is still in every match, only less selective).
const maxRepeat = 8

// wholeLiteral reports whether ws, the word screen of re, is re's whole
// text: re is a literal of which every character stands for itself.
func wholeLiteral(re *syntax.Regexp, ws wordScreen) bool {
	return re.Op == syntax.OpLiteral && len(ws) == 1 && len(ws[0].s) == len(re.Rune)
}

// wordCost ranks word screens: fewer and longer words turn more values
// away.
func wordCost(ws wordScreen) int {
	shortest := len(ws[0].s)
	for _, w := range ws[1:] {
		shortest = min(shortest, len(w.s))
	}
	return len(ws) * 100 / shortest
}
