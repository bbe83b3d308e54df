package rx

import (
	"fmt"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/debuglog"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"

	"github.com/portcullis/portcullis/internal/waf/crstest"
)

// crsDirectives is the CRS as the waf package configures it (its
// engine.go), at the given paranoia level and engine mode, with bodies
// inspected. At paranoia 4 in DetectionOnly every rule is active and every
// rule sees every request.
func crsDirectives(paranoia int, engine string) string {
	return fmt.Sprintf(`Include @coraza.conf-recommended
SecRuleEngine %s
SecRequestBodyAccess On
SecResponseBodyAccess Off
SecAuditEngine Off
Include @crs-setup.conf.example
SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"
SecAction "id:900200,phase:1,pass,t:none,nolog,setvar:'tx.allowed_methods=GET HEAD POST OPTIONS PUT PATCH DELETE'"
Include @owasp_crs/REQUEST-*.conf
`, engine, paranoia)
}

// configs are the rule sets the verdict test compares: every rule
// (paranoia 4, detection only) and the gateway's default (paranoia 1,
// blocking).
var configs = []string{crsDirectives(4, "DetectionOnly"), crsDirectives(1, "On")}

func build(t testing.TB, directives string) coraza.WAF {
	t.Helper()
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).
		WithDebugLogger(debuglog.Noop()).WithDirectives(directives))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// corazaWAFs are configs built with Coraza's own @rx operator, before
// TestMain registers New in its place (the registry has no way back).
var corazaWAFs []coraza.WAF

func TestMain(m *testing.M) {
	for _, d := range configs {
		w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).
			WithDebugLogger(debuglog.Noop()).WithDirectives(d))
		if err != nil {
			fmt.Fprintln(os.Stderr, "building the CRS with Coraza's operator:", err)
			os.Exit(2)
		}
		corazaWAFs = append(corazaWAFs, w)
	}
	plugins.RegisterOperator("rx", New)
	os.Exit(m.Run())
}

var (
	crsPatternsOnce sync.Once
	crsPatterns     []string
)

// crsRXPatterns is every @rx pattern of the CRS, as Coraza hands it to the
// operator, recorded by building the rule set once with a recording
// operator. It must not run in parallel with other builds (no test of the
// package is parallel).
func crsRXPatterns(t testing.TB) []string {
	t.Helper()
	crsPatternsOnce.Do(func() {
		seen := map[string]bool{}
		plugins.RegisterOperator("rx", func(opts plugintypes.OperatorOptions) (plugintypes.Operator, error) {
			if !seen[opts.Arguments] {
				seen[opts.Arguments] = true
				crsPatterns = append(crsPatterns, opts.Arguments)
			}
			return New(opts)
		})
		defer plugins.RegisterOperator("rx", New)
		build(t, configs[0])
		slices.Sort(crsPatterns)
	})
	if len(crsPatterns) < 200 {
		t.Fatalf("recorded %d @rx patterns; the CRS has hundreds", len(crsPatterns))
	}
	return crsPatterns
}

// captureState is the part of a transaction an operator uses.
type captureState struct {
	plugintypes.TransactionState
	capturing bool
	fields    [9]string
}

func (s *captureState) Capturing() bool              { return s.capturing }
func (s *captureState) CaptureField(i int, v string) { s.fields[i] = v }

func TestRequiredScreen(t *testing.T) {
	for _, c := range []struct {
		pattern string
		want    string // the screen's bytes; "" for none
	}{
		{`<script`, "<"},
		{`(?i)select`, "Ee"}, // s folds to the long s; of equal costs the first wins
		{`abc|x<y`, "<a"},
		{`a*`, ""},
		{`a?b+`, "b"},
		{`(?:ab){0,3}`, ""},
		{`(?:ab){2,3}`, "a"},
		{`^$`, ""},
		{`.x`, "x"},
		{`[<>]`, "<>"},
		{`[^<]`, ""},
		{`é`, ""},
		{`(?i)k`, ""},  // K, k and the Kelvin sign
		{`(?i)s`, ""},  // S, s and the long s
		{`(?i)ks`, ""}, // both letters fold beyond ASCII
		{`(?i)kx`, "Xx"},
		{`\x{fffd}`, ""},
		{`a|`, ""},
	} {
		parsed, err := syntax.Parse("(?sm)"+c.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		set, ok := required(parsed)
		var got strings.Builder
		for b := byte(0); b < 128; b++ {
			if ok && set.has(b) {
				got.WriteByte(b)
			}
		}
		if ok != (c.want != "") || got.String() != c.want {
			t.Errorf("%q: screen %q (ok %t), want %q", c.pattern, got.String(), ok, c.want)
		}
	}
}

func TestRequiredWords(t *testing.T) {
	for _, c := range []struct {
		pattern string
		want    string // the words, space-separated, fold ones marked ~; "" for none
	}{
		{`<script`, "<script"},
		{`(?i)<script`, "~cript"}, // the long s splits the run: <, cript
		{`(?i)\bunion\b.*select`, "~union"},
		{`(?i)select`, "~elect"},
		{`(?i)kill`, "~ill"},
		{`java\.lang\.(?:runtime|processbuilder)`, "java.lang."},
		{`(?:runtime|processbuilder)`, "runtime processbuilder"},
		{`a*`, ""},
		{`(?:ab){0,2}c`, "c"},
		{`[<>]x`, "x"}, // of equal cost, the first part
		{`[<>]`, "< >"},
		{`[a-e]`, ""},
		{`é`, ""},
		{`a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q`, ""}, // more than maxWords
		{`(?:^|[/;\x5c])\.{2,3}[/;\x5c]`, ".."},   // CRS 930110: n copies of a literal back to back
		{`(?:ab){2,}c`, "abab"},
		{`(?i)(?:ab){3}`, "~ababab"},
		{`a{20}`, "aaaaaaaa"}, // at most maxRepeat copies
		{`(?i)k{2}`, ""},      // K, k and the Kelvin sign: no word
		{`(?:ab|cd){2}`, "ab cd"},
		{`(?:a\b){2}`, "a"}, // not a literal: one copy
	} {
		parsed, err := syntax.Parse("(?sm)"+c.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		ws, ok := requiredWords(parsed)
		var got []string
		for _, w := range ws {
			if w.fold {
				got = append(got, "~"+w.s)
			} else {
				got = append(got, w.s)
			}
		}
		if ok != (c.want != "") || strings.Join(got, " ") != c.want {
			t.Errorf("%q: words %q (ok %t), want %q", c.pattern, got, ok, c.want)
		}
	}
}

// TestScreenEdgeCases: values a byte screen could get wrong if it read
// bytes where Go's regexp reads characters.
func TestScreenEdgeCases(t *testing.T) {
	for _, c := range []struct {
		pattern, value string
		want           bool
	}{
		{`(?i)kill`, "\u212aILL", true},     // the Kelvin sign folds to k
		{`(?i)script`, "\u017fcript", true}, // the long s folds to s
		{`a.b`, "a\xffb", true},             // an invalid byte is one character
		{`<x`, "\xff<x", true},
		{`<x`, "\xc3<x", true}, // a truncated sequence does not swallow the <
		{`<x`, "x<", false},
		{`(?i)union`, "UNION", true},
		{`(?i)union`, "onion", false},
		{`(?i)select`, "\u017fELECT", true}, // the word screen keeps "elect"
		{`(?i)select`, "selec t", false},
		{`(?:runtime|processbuilder)`, "java.lang.ProcessBuilder", false},
		{`(?:runtime|processbuilder)`, "x=processbuilder", true},
	} {
		op, err := New(plugintypes.OperatorOptions{Arguments: c.pattern})
		if err != nil {
			t.Fatal(err)
		}
		if got := op.Evaluate(&captureState{}, c.value); got != c.want {
			t.Errorf("%q on %q: %t, want %t", c.pattern, c.value, got, c.want)
		}
	}
}

// TestNamesNonUTF8: the CRS patterns that Coraza (v3.8.1, internal/
// operators/rx.go) matches as bytes with rsc.io/binaryregexp take the same
// engine here, and no others do: those naming \xHH or \x{HH} bytes that
// are not UTF-8.
func TestNamesNonUTF8(t *testing.T) {
	for _, c := range []struct {
		pattern string
		want    bool
	}{
		{`\xac\xed\x00\x05`, true},
		{`\x{bc}[^>\x{be}]*[>\x{be}]`, true},
		{`[\x7f-\x{ff}]`, true},
		{`\x{e2}\x80[\x98\x99]`, true},
		{`\x{c2}\x{b4}`, false}, // the UTF-8 of U+00B4
		{`\x41\x{42}`, false},
		{`[\s\x0b]`, false},
		{`\\`, false},
		{`\x{ff00}`, true}, // Coraza reads two digits of a braced escape
		{`\x`, false},
	} {
		if got := namesNonUTF8(c.pattern); got != c.want {
			t.Errorf("%q: %t, want %t", c.pattern, got, c.want)
		}
	}
	var binary []string
	for _, p := range crsRXPatterns(t) {
		if namesNonUTF8(p) {
			binary = append(binary, p)
		}
	}
	// 10 in CRS 4.25: 933's PHP variable names (\x7f-\x{ff}), 934's, 941's
	// US-ASCII encoded XSS (\x{bc}), 942's character-anomaly rules
	// (\x{e2}\x80), 944's Java serialization magic (\xac\xed).
	t.Logf("%d CRS patterns match bytes", len(binary))
	if len(binary) < 8 || len(binary) > 14 {
		t.Fatalf("%d CRS patterns match bytes: %q", len(binary), binary)
	}
	for _, p := range binary {
		op, err := New(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := op.(*binaryRX); !ok {
			t.Fatalf("%q compiled as %T", p, op)
		}
	}
}

// TestScreensOnCRSPatterns runs every screened @rx pattern of the CRS
// over crstest.Values: every value the screen turns away must be one
// that Go's regexp does not match either (a value the screen lets through
// goes to that same regexp, so the answers agree by construction). A
// screen that turned away a value its pattern matches would be a missed
// attack.
func TestScreensOnCRSPatterns(t *testing.T) {
	patterns := crsRXPatterns(t)
	values := crstest.Values(t)
	screened, checked := 0, 0
	for _, p := range patterns {
		op, err := New(plugintypes.OperatorOptions{Arguments: p})
		if err != nil {
			t.Fatal(err)
		}
		rx, ok := op.(*rxOperator)
		if !ok {
			continue // the byte patterns are not screened
		}
		if rx.screen.bytes == nil && rx.screen.words == nil {
			continue // Go's regexp sees every value
		}
		screened++
		ref := regexp.MustCompile("(?sm)" + p)
		for i := 0; i < len(values); i += crstest.Stride() {
			v := values[i]
			if !rx.turnsAway(v) {
				continue // the operator hands v to ref itself
			}
			checked++
			if ref.MatchString(v) {
				t.Fatalf("pattern %q matches %q, which its screen turns away", p, v)
			}
			if op.Evaluate(&captureState{}, v) || op.Evaluate(&captureState{capturing: true}, v) {
				t.Fatalf("pattern %q: the operator matched %q past its screen", p, v)
			}
		}
	}
	t.Logf("%d patterns (%d screened), %d values, %d values turned away and checked", len(patterns), screened, len(values), checked)
	if screened < len(patterns)/2 {
		t.Fatalf("only %d of %d patterns have a screen", screened, len(patterns))
	}
}

// TestSameVerdictsAsCoraza sends the CRS's regression corpus through the
// rule sets of configs built with Coraza's own @rx operator and with New,
// and requires the same matched rules with the same messages for every
// request: the screens turn away no value a rule would have matched, and
// the matching behind them (flags, the byte engine's patterns, captures
// that messages use) is Coraza's.
func TestSameVerdictsAsCoraza(t *testing.T) {
	requests := crstest.Corpus(t)
	for i, d := range configs {
		ours := build(t, d)
		matched, n := 0, 0
		for j := i % crstest.Stride(); j < len(requests); j += crstest.Stride() {
			r := requests[j]
			want := crstest.Verdict(corazaWAFs[i], r, nil)
			got := crstest.Verdict(ours, r, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("config %d, %s: ours %q, Coraza's %q", i, r.Name, got, want)
			}
			n++
			if slices.ContainsFunc(want, crstest.IsDetection) {
				matched++
			}
		}
		t.Logf("config %d: %d requests, %d with a detection", i, n, matched)
		if matched < n/2 {
			t.Fatalf("only %d of %d requests matched a detection rule: the corpus did not reach the rules", matched, n)
		}
	}
}

// TestCaptureOnlyOnMatch: a capturing rule's groups are what Coraza's
// operator hands the transaction (the first nine, "" for a group that took
// no part) when the value matches, and nothing is captured when it does
// not (the operator asks whether the value matches before finding groups).
func TestCaptureOnlyOnMatch(t *testing.T) {
	tests := []struct {
		desc, pattern, value string
		want                 bool
		fields               [9]string
	}{
		{desc: "text: groups of a match", pattern: `(sel)(ect)?\s+(\w+)`, value: "x select name", want: true,
			fields: [9]string{"select name", "sel", "ect", "name"}},
		{desc: "text: a group that took no part is empty", pattern: `(sel)(ect)?\s+(\w+)`, value: "sel name", want: true,
			fields: [9]string{"sel name", "sel", "", "name"}},
		{desc: "text: no match, nothing captured", pattern: `(sel)(ect)?\s+(\w+)`, value: "selection", want: false},
		{desc: "bytes: groups of a match", pattern: `(\xac\xed)(\x00)`, value: "a\xac\xed\x00b", want: true,
			fields: [9]string{"\xac\xed\x00", "\xac\xed", "\x00"}},
		{desc: "bytes: no match, nothing captured", pattern: `(\xac\xed)(\x00)`, value: "a\xac\x00", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.desc, func(t *testing.T) {
			op, err := New(plugintypes.OperatorOptions{Arguments: tc.pattern})
			if err != nil {
				t.Fatal(err)
			}
			st := &captureState{capturing: true}
			if got := op.Evaluate(st, tc.value); got != tc.want {
				t.Fatalf("Evaluate(%q) = %v, want %v", tc.value, got, tc.want)
			}
			if st.fields != tc.fields {
				t.Fatalf("captured %q, want %q", st.fields, tc.fields)
			}
			st = &captureState{}
			if got := op.Evaluate(st, tc.value); got != tc.want || st.fields != ([9]string{}) {
				t.Fatalf("not capturing: Evaluate = %v, captured %q", got, st.fields)
			}
		})
	}
}
