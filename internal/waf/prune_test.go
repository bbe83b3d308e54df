package waf

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/waf/crstest"
	"github.com/portcullis/portcullis/internal/waf/rx"
)

// pruneConfigs are the rule sets the pruning tests compare: every rule
// (paranoia 4, detection only: every rule sees every request) and the
// gateway's default (paranoia 1, blocking), bodies inspected.
var pruneConfigs = []settings{
	{blocking: false, paranoia: 4, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit},
	{blocking: true, paranoia: 1, threshold: 5, inspectBody: true, bodyLimit: defaultBodyLimit},
}

// TestPrunedSameVerdicts sends the CRS's regression corpus through each
// rule set twice, as it is and with pruning, and requires the same
// matched rules with the same messages for every request: no rule pruning
// removed could have matched.
func TestPrunedSameVerdicts(t *testing.T) {
	requests := crstest.Corpus(t)
	for i, s := range pruneConfigs {
		e, _, err := s.build()
		if err != nil {
			t.Fatal(err)
		}
		n, pruned, detections := 0, 0, 0
		for j := i % crstest.Stride(); j < len(requests); j += crstest.Stride() {
			r := requests[j]
			want, got, removed := verdicts(e, r)
			pruned += removed
			if !slices.Equal(got, want) {
				t.Fatalf("config %d, %s: pruned %q, whole %q", i, r.Name, difference(got, want), difference(want, got))
			}
			n++
			if slices.ContainsFunc(want, crstest.IsDetection) {
				detections++
			}
		}
		t.Logf("config %d: %d requests (%d with a match), %d rules pruned, %.1f a request", i, n, detections, pruned, float64(pruned)/float64(n))
		if detections < n/2 {
			t.Fatalf("only %d of %d requests matched: the corpus did not reach the rules", detections, n)
		}
		// Pruning that silently stopped would pass the comparison.
		if pruned < n*40 {
			t.Fatalf("pruning removed %d rules over %d requests; expected dozens a request", pruned, n)
		}
	}
}

// TestPruneCleanGET: a clean GET loses most of its detection rules, and
// a request carrying an attack keeps the rule that catches it.
func TestPruneCleanGET(t *testing.T) {
	e, _, err := pruneConfigs[1].build()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc, target string
		minPruned    int
		keeps        []int
	}{
		{desc: "clean GET", target: "/v1/users?name=" + q("O'Brien") + "&page=2&sort=-created_at", minPruned: 90},
		{desc: "SQL injection keeps 942100", target: "/v1/users?id=" + q("1' OR '1'='1"), keeps: []int{942100}},
		{desc: "path traversal keeps 930100 and 930110", target: "/v1/users?f=..%2F..%2Fetc%2Fpasswd", keeps: []int{930100, 930110}},
		{desc: "Unix command keeps 932160 and 930120", target: "/v1/users?c=" + q(";cat /etc/passwd"), keeps: []int{932160, 930120}},
	}
	for _, tc := range tests {
		tx := e.waf.NewTransaction()
		tx.ProcessURI(tc.target, "GET", "HTTP/1.1")
		tx.AddRequestHeader("Host", "api.example.com")
		tx.AddRequestHeader("User-Agent", "example-client/1.2")
		removed := map[int]bool{}
		spy := &removalSpy{Transaction: tx, corazaTx: tx.(corazaTx), removed: removed}
		n := e.pruner.prune(spy, false)
		if n < tc.minPruned {
			t.Errorf("%s: pruned %d rules, want at least %d", tc.desc, n, tc.minPruned)
		}
		for _, id := range tc.keeps {
			if removed[id] {
				t.Errorf("%s: rule %d pruned", tc.desc, id)
			}
		}
		_ = tx.Close()
	}
}

// verdicts is r's verdict through e's rule set as it is (whole) and
// with pruning (pruned), and how many rules pruning removed.
func verdicts(e *engine, r crstest.Request) (whole, pruned []string, removed int) {
	whole = e.withoutExclusions(crstest.Verdict(e.waf, r, nil))
	pruned = crstest.Verdict(e.waf, r, func(tx types.Transaction, body bool) { removed = e.pruner.prune(tx, body) })
	return whole, pruned, removed
}

// ruleVerdicts compiles directives and returns verdicts for a GET of uri.
func ruleVerdicts(t *testing.T, directives, uri string) (whole, pruned []string, removed int) {
	t.Helper()
	e, err := compileRules(directives, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return verdicts(e, crstest.Request{Name: uri, Method: "GET", URI: uri, Version: "HTTP/1.1",
		Headers: map[string]string{"Host": "example.com"}})
}

// withoutExclusions is a verdict without the tag exclusions pruning works
// out (exclusion.go): those leave the transaction, so a whole rule set's
// verdict lists them (as matched, without a message) and a pruned one
// does not.
func (e *engine) withoutExclusions(verdict []string) []string {
	return slices.DeleteFunc(verdict, func(line string) bool {
		id, _, _ := strings.Cut(line, " ")
		for _, x := range e.pruner.exclusions {
			if id == strconv.Itoa(x.id) {
				return true
			}
		}
		return false
	})
}

// prunedVerdict is r's verdict through e's rule set with pruning, and the
// rules pruning removed.
func prunedVerdict(e *engine, r crstest.Request) (verdict []string, removed map[int]bool) {
	verdict = crstest.Verdict(e.waf, r, func(tx types.Transaction, body bool) {
		spy := &removalSpy{Transaction: tx, corazaTx: tx.(corazaTx), removed: map[int]bool{}}
		e.pruner.prune(spy, body)
		removed = spy.removed
	})
	return verdict, removed
}

// removalSpy records the rules prune removes.
type removalSpy struct {
	types.Transaction
	corazaTx
	removed map[int]bool
}

func (s *removalSpy) RemoveRuleByID(id int) {
	s.removed[id] = true
	s.corazaTx.RemoveRuleByID(id)
}

// RemoveRuleByIDRange records every id of the range as removed.
func (s *removalSpy) RemoveRuleByIDRange(start, end int) {
	for id := start; id <= end; id++ {
		s.removed[id] = true
	}
	s.corazaTx.RemoveRuleByIDRange(start, end)
}

// TestImagesCoverCorazasTransformations runs every transformation
// pruning models, and every transformation chain of the CRS, through
// Coraza itself over the corpus's values and values aimed at each
// transformation: the output's bytes must lie in imageOf, and where
// exactOf claims to know the output, it must be the output.
func TestImagesCoverCorazasTransformations(t *testing.T) {
	values := append(crstest.Values(t),
		"", "%", "%4", "%41", "%u0041", "%U0041", "a+b", "&lt;&#x41;&amp", `\x41\u0041\n`, "/* c */", "<!-- c -->", "a--b", "a#b",
		"\x00a\x00", " \t\n\v\f\r", "\u0085\u00a0", "\u212a\u0130", "\xff\xfe", "a/./b/../c", `a\b\..\c`, "c:\\x::$DATA", "f.txt. ",
		".", "./", "..", "/", "a/", `"'^,;`, "A B(C/D", "İSTANBUL", "\xc0\xaf",
		"a b", " a", "a ", "a  b", "a /b", "a (b", "a\tb", "Bearer eyJ.A-b_c", "a ,b", "a \"/b")
	chains := map[string][]string{}
	for name := range transforms {
		chains[name] = []string{name}
	}
	for _, raw := range crsRuleTexts(t) {
		sr, err := parseSecRule(raw)
		if err == nil && len(sr.chainNames) > 0 && !sr.unmodelled {
			chains[strings.Join(sr.chainNames, ",")] = sr.chainNames
		}
	}
	checked := 0
	for key, names := range chains {
		var chain []transform
		for _, n := range names {
			chain = append(chain, transforms[n])
		}
		w := transformWAF(t, names)
		for i := 0; i < len(values); i += crstest.Stride() {
			v := values[i]
			out := transformed(t, w, v)
			img := imageOf(value{s: v, bytes: bytesOf(v)}, chain)
			for j := 0; j < len(out); j++ {
				if !img.has(out[j]) {
					t.Fatalf("%s on %.200q gives %.200q: byte %#x not in the image", key, v, out, out[j])
				}
			}
			if x, ok := exactOf(value{s: v, bytes: bytesOf(v)}, chain); ok && x != out {
				t.Fatalf("%s on %.200q: exactOf says %.200q, Coraza gives %.200q", key, v, x, out)
			}
			checked++
		}
	}
	t.Logf("%d chains, %d checks", len(chains), checked)
}

// transformWAF is a rule set of one rule that captures ARGS_GET:v after
// the chain into TX.out, in brackets (an empty setvar value reads as 0).
func transformWAF(t testing.TB, names []string) coraza.WAF {
	t.Helper()
	ts := ""
	for _, n := range names {
		ts += ",t:" + n
	}
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(
		`SecRule ARGS_GET:v "@rx ^(.*)$" "id:1,phase:1,pass,nolog,capture,t:none` + ts + `,setvar:'tx.out=[%{TX.1}]'"`))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// transformed is v after w's chain, as Coraza computes it.
func transformed(t testing.TB, w coraza.WAF, v string) string {
	t.Helper()
	tx := w.NewTransaction()
	defer func() { _ = tx.Close() }()
	tx.AddGetRequestArgument("v", v)
	tx.ProcessRequestHeaders()
	vars := tx.(interface {
		Variables() plugintypes.TransactionVariables
	}).Variables()
	out := vars.TX().Get("out")
	if len(out) != 1 || len(out[0]) < 2 || out[0][0] != '[' || out[0][len(out[0])-1] != ']' {
		t.Fatalf("no output for %q: %q", v, out)
	}
	return out[0][1 : len(out[0])-1]
}

// crsRuleTexts is the text of every rule of the gateway's paranoia 4
// rule set, as Coraza hands it to the rule observer.
func crsRuleTexts(t testing.TB) []string {
	t.Helper()
	var out []string
	cfg := experimental.WAFConfigWithRuleObserver(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).
		WithDirectives(pruneConfigs[0].directives()), func(r types.RuleMetadata) { out = append(out, r.Raw()) })
	if _, err := coraza.NewWAF(cfg); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestParseSecRuleMatchesCoraza: the @rx argument parseSecRule reads from
// each rule's text is the one Coraza handed the operator. Coraza creates
// a rule's operator while parsing it and shows the rule to the observer
// right after, so the last argument recorded before the observer call is
// the rule's own.
func TestParseSecRuleMatchesCoraza(t *testing.T) {
	var recorded []string
	plugins.RegisterOperator("rx", func(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
		recorded = append(recorded, o.Arguments)
		return rx.New(o)
	})
	defer plugins.RegisterOperator("rx", rx.New)
	checked := 0
	cfg := experimental.WAFConfigWithRuleObserver(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).
		WithDirectives(pruneConfigs[0].directives()), func(r types.RuleMetadata) {
		sr, err := parseSecRule(r.Raw())
		if err != nil || sr.op != "rx" {
			return
		}
		if len(recorded) == 0 || recorded[len(recorded)-1] != sr.arg {
			t.Errorf("rule %d: parsed %q, Coraza's operator got %q", r.ID(), sr.arg, recorded[len(recorded)-1])
		}
		checked++
	})
	if _, err := coraza.NewWAF(cfg); err != nil {
		t.Fatal(err)
	}
	if checked < 200 {
		t.Fatalf("checked %d @rx rules; the CRS has over 200", checked)
	}
}

// TestRuleSetKeepsPruningAssumptions: pruning reads each rule's own text,
// so nothing in the rule set may change a rule after it: no
// SecRuleUpdateActionById (new transformations), no
// SecRuleUpdateTargetBy* that adds a target (only exclusions, "!..."),
// no SecDefaultAction with a transformation, no SecRuleRemoveBy* but the
// gateway's own exclusions (which newPruner is told of). A CRS update
// that breaks one fails here, not silently.
func TestRuleSetKeepsPruningAssumptions(t *testing.T) {
	updateTarget := regexp.MustCompile(`(?m)^\s*SecRuleUpdateTargetBy\w+\s+\S+\s+"?([^"\n]*)`)
	files := 0
	err := fs.WalkDir(coreruleset.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".conf") || strings.HasSuffix(path, ".example") || strings.HasSuffix(path, "-recommended")) {
			return err
		}
		b, err := fs.ReadFile(coreruleset.FS, path)
		if err != nil {
			return err
		}
		files++
		for _, line := range strings.Split(string(b), "\n") {
			l := strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(l, "SecRuleUpdateActionBy"), strings.HasPrefix(l, "SecRuleRemoveBy"):
				t.Errorf("%s: %s", path, l)
			case strings.HasPrefix(l, "SecDefaultAction") && strings.Contains(l, "t:"):
				t.Errorf("%s: %s", path, l)
			case strings.Contains(strings.ToLower(l), "rule.logdata"), strings.Contains(strings.ToLower(l), "rule:logdata"):
				// The build gives every rule a constant logdata (quietLogdata).
				t.Errorf("%s reads a rule's logdata: %s", path, l)
			case strings.HasPrefix(line, "SecRule ") && strings.Contains(strings.Fields(l)[1], "MATCHED_VAR"):
				// A rule not in a chain that reads the last matched
				// variable would read a rule the build left out or folded
				// (paranoia.go, fold.go): the CRS reads it only in chains,
				// the match of the rule before.
				t.Errorf("%s reads another rule's match: %s", path, l)
			}
		}
		for _, m := range updateTarget.FindAllStringSubmatch(string(b), -1) {
			for _, target := range strings.Split(m[1], "|") {
				if !strings.HasPrefix(target, "!") {
					t.Errorf("%s: %s adds a target", path, m[0])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("read %d rule files", files)
	}
	for _, d := range strings.Split(pruneConfigs[1].directives(), "\n") {
		if strings.HasPrefix(d, "SecRuleUpdate") || strings.HasPrefix(d, "SecDefaultAction") {
			t.Errorf("the gateway's directives: %s", d)
		}
	}
}

// TestParseSecRule reads targets, operators and transformations as
// Coraza's parser does.
func TestParseSecRule(t *testing.T) {
	tests := []struct {
		desc, raw          string
		vars               []string
		odd, excludes, neg bool
		op, arg            string
		chain              string
		unmodelled         bool
		skip               int
	}{
		{desc: "targets, exclusion with a regex key holding a pipe", raw: `SecRule ARGS|!ARGS:/a|b/|REQUEST_HEADERS:User-Agent "@rx x" "id:1,t:none,t:lowercase"`,
			vars: []string{"ARGS", "REQUEST_HEADERS:User-Agent"}, excludes: true, op: "rx", arg: "x", chain: "lowercase"},
		{desc: "count target", raw: `SecRule &ARGS "@eq 0" "id:1"`, vars: []string{"&ARGS"}, op: "eq", arg: "0"},
		{desc: "count of a named header", raw: `SecRule &REQUEST_HEADERS:Content-Type "@gt 1" "id:1"`, vars: []string{"&REQUEST_HEADERS:Content-Type"}, op: "gt", arg: "1"},
		{desc: "count of a regex key", raw: `SecRule &ARGS:/^a/ "@eq 0" "id:1"`, odd: true, op: "eq", arg: "0"},
		{desc: "regex key read as the whole collection", raw: `SecRule ARGS:/^a/|ARGS "@rx x" "id:1"`, vars: []string{"ARGS"}, op: "rx", arg: "x"},
		{desc: "TX target", raw: `SecRule TX:foo "@rx x" "id:1"`, odd: true, op: "rx", arg: "x"},
		{desc: "XML XPath key", raw: `SecRule XML:/*|ARGS "@rx x" "id:1"`, vars: []string{"XML", "ARGS"}, op: "rx", arg: "x"},
		{desc: "implicit @rx with an escaped quote", raw: `SecRule ARGS "a\"b" "id:1"`, vars: []string{"ARGS"}, op: "rx", arg: `a"b`},
		{desc: "negated", raw: `SecRule ARGS "!@rx x" "id:1"`, vars: []string{"ARGS"}, neg: true, op: "rx", arg: "x"},
		{desc: "t:none clears", raw: `SecRule ARGS "@rx x" "id:1,t:lowercase,t:none,t:urlDecodeUni"`, vars: []string{"ARGS"}, op: "rx", arg: "x", chain: "urlDecodeUni"},
		{desc: "comma inside a quoted action", raw: `SecRule ARGS "@rx x" "id:1,msg:'a, t:none, b',t:lowercase"`, vars: []string{"ARGS"}, op: "rx", arg: "x", chain: "lowercase", unmodelled: true},
		{desc: "unmodelled transformation", raw: `SecRule ARGS "@rx x" "id:1,t:base64Decode"`, vars: []string{"ARGS"}, op: "rx", arg: "x", chain: "base64Decode", unmodelled: true},
		{desc: "skip", raw: `SecRule ARGS "@streq JSON" "id:1,skip:2"`, vars: []string{"ARGS"}, op: "streq", arg: "JSON", skip: 2},
	}
	for _, tc := range tests {
		sr, err := parseSecRule(tc.raw)
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		var vars []string
		for _, tg := range sr.targets {
			v := tg.v.Name()
			if tg.key != "" {
				v += ":" + tg.key
			}
			if tg.count {
				v = "&" + v
			}
			vars = append(vars, v)
		}
		got := fmt.Sprintf("%v %v %v %v %s %q %s %v %d", vars, sr.odd, sr.excludes, sr.negated, sr.op, sr.arg, strings.Join(sr.chainNames, ","), sr.unmodelled, sr.skip())
		want := fmt.Sprintf("%v %v %v %v %s %q %s %v %d", tc.vars, tc.odd, tc.excludes, tc.neg, tc.op, tc.arg, tc.chain, tc.unmodelled, tc.skip)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", tc.desc, got, want)
		}
	}
	for _, raw := range []string{`SecAction "id:1,pass"`, `SecRule ARGS`, `SecRule ARGS "@rx x`} {
		if _, err := parseSecRule(raw); err == nil {
			t.Errorf("%q: parsed", raw)
		}
	}
}

// TestSkipWindowNotPruned: a rule removed inside a skip:N window would
// move the skip to the next rule, so the N rules after a skip stay.
func TestSkipWindowNotPruned(t *testing.T) {
	rules := []ruleText{
		{id: 1, phase: 2, raw: `SecRule REQUEST_HEADERS "@streq JSON" "id:1,pass,skip:1"`},
		{id: 2, phase: 2, raw: `SecRule ARGS "@rx <script" "id:2,block"`},
		{id: 3, phase: 2, raw: `SecRule ARGS "@rx <script" "id:3,block"`},
	}
	p := newPruner(rules, nil, "", nil)
	var ids []int
	for _, r := range p.rules {
		ids = append(ids, r.id)
	}
	if !slices.Equal(ids, []int{1, 3}) {
		t.Fatalf("prunable %v, want [1 3]", ids)
	}
	// Removed by the configuration, rule 2 is not there to be skipped:
	// the window moves to rule 3.
	p = newPruner(rules, []int{2}, "", nil)
	ids = ids[:0]
	for _, r := range p.rules {
		ids = append(ids, r.id)
	}
	if !slices.Equal(ids, []int{1}) {
		t.Fatalf("with 2 removed: prunable %v, want [1]", ids)
	}
}

// difference is the lines of a that b lacks.
func difference(a, b []string) []string {
	var out []string
	for _, l := range a {
		if !slices.Contains(b, l) {
			out = append(out, l)
		}
	}
	return out
}

// TestOperatorScreens: for each operator pruning reads, a value the
// operator matches meets the need set and passes mayMatch, and a value
// it cannot match is turned away by one of them.
func TestOperatorScreens(t *testing.T) {
	tests := []struct {
		desc, op, arg, value string
		matches              bool
	}{
		{desc: "pm in another case", op: "pm", arg: "foo bar", value: "xFOOx", matches: true},
		{desc: "pm phrase lowercased by Coraza", op: "pm", arg: "Foo", value: "xfoo", matches: true},
		{desc: "pm none", op: "pm", arg: "foo bar", value: "baz", matches: false},
		{desc: "contains", op: "contains", arg: "#", value: "a#b", matches: true},
		{desc: "contains none", op: "contains", arg: "#", value: "ab", matches: false},
		{desc: "beginsWith", op: "beginsWith", arg: "GET /", value: "GET /x", matches: true},
		{desc: "beginsWith elsewhere", op: "beginsWith", arg: "GET /", value: "x GET /", matches: false},
		{desc: "endsWith", op: "endsWith", arg: ".php", value: "a.php", matches: true},
		{desc: "streq", op: "streq", arg: "JSON", value: "JSON", matches: true},
		{desc: "streq case", op: "streq", arg: "JSON", value: "json", matches: false},
		{desc: "rx", op: "rx", arg: "(?i)select", value: "SeLeCt", matches: true},
		{desc: "rx none", op: "rx", arg: "(?i)select", value: "delete", matches: false},
		{desc: "validateByteRange", op: "validateByteRange", arg: "32-126", value: "a\x01", matches: true},
		{desc: "validateByteRange none", op: "validateByteRange", arg: "32-126", value: "abc", matches: false},
		{desc: "rx past its screen", op: "rx", arg: "(?i)sel.ct", value: "select", matches: true},
		{desc: "rx dot matches a newline", op: "rx", arg: "(?i)sel.ct", value: "sel\nct", matches: true},
		{desc: "rx with the screen let through, no match", op: "rx", arg: "^select$", value: "xselect", matches: false},
		{desc: "rx without a screen", op: "rx", arg: ".*", value: "", matches: true},
		{desc: "rx on bytes", op: "rx", arg: `\xac\xed`, value: "a\xac\xed", matches: true},
		{desc: "rx on bytes, no match", op: "rx", arg: `\xac\xed`, value: "ab", matches: false},
		{desc: "detectXSS", op: "detectXSS", value: "<script>alert(1)</script>", matches: true},
		{desc: "detectXSS none", op: "detectXSS", value: "hello", matches: false},
		{desc: "detectSQLi", op: "detectSQLi", value: "1' OR '1'='1", matches: true},
		{desc: "detectSQLi none", op: "detectSQLi", value: "hello", matches: false},
		{desc: "within", op: "within", arg: "GET HEAD POST", value: "HEAD", matches: true},
		{desc: "within none", op: "within", arg: "GET HEAD POST", value: "PUT", matches: false},
		{desc: "within, a part of a word", op: "within", arg: "GET HEAD POST", value: "EA", matches: true},
		{desc: "within, the empty value", op: "within", arg: "GET", value: "", matches: true},
		{desc: "eq, not a number reads 0", op: "eq", arg: "0", value: "", matches: true},
		{desc: "eq none", op: "eq", arg: "0", value: "1", matches: false},
		{desc: "gt", op: "gt", arg: "5", value: "6", matches: true},
		{desc: "ge none", op: "ge", arg: "5", value: "4", matches: false},
		{desc: "lt", op: "lt", arg: "5", value: "-1", matches: true},
		{desc: "le none", op: "le", arg: "5", value: "6", matches: false},
	}
	for _, tc := range tests {
		need, hasNeed, mayMatch, ok := operatorScreen(tc.op, tc.arg)
		if !ok {
			t.Fatalf("%s: no screen", tc.desc)
		}
		passes := (!hasNeed || need.meets(bytesOf(tc.value))) && (mayMatch == nil || mayMatch(tc.value))
		if tc.matches && !passes {
			t.Errorf("%s: %q matches %s %q but the screen turns it away", tc.desc, tc.value, tc.op, tc.arg)
		}
		if !tc.matches && passes {
			t.Errorf("%s: %q cannot match %s %q but the screen lets it through", tc.desc, tc.value, tc.op, tc.arg)
		}
	}
	for _, tc := range []struct{ op, arg string }{{"pm", "a  b"}, {"contains", ""}, {"streq", "%{tx.x}"}, {"rx", "("}, {"validateByteRange", ""}, {"within", "%{tx.allowed_methods}"}, {"gt", "%{tx.n}"}} {
		if _, _, _, ok := operatorScreen(tc.op, tc.arg); ok {
			t.Errorf("%s %q: screened", tc.op, tc.arg)
		}
	}
}

// TestPruneMultiMatchSeesEveryStep: with multiMatch, Coraza runs the
// operator on the value before each transformation too, so a rule that
// matches only the untransformed value must not be pruned.
func TestPruneMultiMatchSeesEveryStep(t *testing.T) {
	want, got, pruned := ruleVerdicts(t, `SecRuleEngine On
SecRule ARGS "@rx Foo" "id:1,phase:1,pass,log,msg:'multi',multiMatch,t:none,t:lowercase"
SecRule ARGS "@rx Foo" "id:2,phase:1,pass,log,msg:'single',t:none,t:lowercase"`, "/?a=Foo")
	if !slices.Equal(want, []string{"1 multi"}) {
		t.Fatalf("Coraza's verdict %q, want rule 1 alone", want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pruned %q, whole %q", got, want)
	}
	if pruned != 1 {
		t.Fatalf("pruned %d rules, want rule 2 alone", pruned)
	}
}

// TestPruneEmptyBodyVariables: without a body, ProcessRequestBody can
// still give a body variable an empty value (REQUEST_BODY, when a rule
// forces it), which t:length turns into "0": pruning reads body variables
// as holding an empty value too.
func TestPruneEmptyBodyVariables(t *testing.T) {
	want, got, _ := ruleVerdicts(t, `SecRuleEngine On
SecRequestBodyAccess On
SecRule REQUEST_METHOD "@rx ." "id:9,phase:1,pass,nolog,ctl:forceRequestBodyVariable=On"
SecRule REQUEST_BODY "@rx ^0$" "id:1,phase:2,pass,log,msg:'empty body',t:none,t:length"`, "/")
	if !slices.Equal(want, []string{"9 ", "1 empty body"}) {
		t.Fatalf("Coraza's verdict %q, want rules 9 and 1", want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pruned %q, whole %q", got, want)
	}
}

// TestPruneConcurrent: one pruner serves every request of a rule set at
// once (its matchers and screens are shared, read-only); under -race this
// shows they are not written, and each request gets the same rules
// removed as when pruned alone.
func TestPruneConcurrent(t *testing.T) {
	e, _, err := pruneConfigs[1].build()
	if err != nil {
		t.Fatal(err)
	}
	targets := []string{"/v1/users?name=" + q("O'Brien") + "&page=2", "/a?q=" + q("<script>alert(1)</script>"),
		"/a?c=" + q(";cat /etc/passwd"), "/chain-waf/ok?q=hello"}
	prune := func(target string) int {
		tx := e.waf.NewTransaction()
		defer func() { _ = tx.Close() }()
		tx.ProcessURI(target, "GET", "HTTP/1.1")
		tx.AddRequestHeader("Host", "api.example.com")
		tx.AddRequestHeader("User-Agent", "Mozilla/5.0 (X11; Linux x86_64)")
		return e.pruner.prune(tx, false)
	}
	alone := make([]int, len(targets))
	for i, target := range targets {
		alone[i] = prune(target)
	}
	errs := make(chan string, 64)
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for k := range 20 {
				i := (g + k) % len(targets)
				if n := prune(targets[i]); n != alone[i] {
					errs <- fmt.Sprintf("%s: %d rules pruned, %d alone", targets[i], n, alone[i])
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestPhraseScreenDFAAgreesWithNFA: dfaPhrases picks the automaton for
// speed only. For every CRS data file a request rule reads, the DFA and
// the NFA over its phrases say the same of each phrase (as sent, upper
// case, inside other text), of each phrase with its last byte changed, and
// of values a clean request carries.
func TestPhraseScreenDFAAgreesWithNFA(t *testing.T) {
	files := []string{"lfi-os-files.data", "unix-shell.data", "restricted-files.data", "windows-powershell-commands.data",
		"restricted-upload.data", "php-function-names-933150.data", "ssrf.data", "java-classes.data",
		"scanners-user-agents.data", "php-variables.data", "ssrf-no-scheme.data", "ai-critical-artifacts.data"}
	clean := []string{"", "hello", "/chain-waf/ok", "q=hello", "Mozilla/5.0 (X11; Linux x86_64)", "application/json",
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIn0.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl", "bench.test", "*/*"}
	for _, name := range files {
		phrases, err := dataFile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		dfa, nfa := phraseMatcher(phrases, true), phraseMatcher(phrases, false)
		values := slices.Clone(clean)
		for _, p := range phrases {
			values = append(values, p, strings.ToUpper(p), "x/"+p+"?y", p[:len(p)-1]+"\x00")
		}
		matched := 0
		for _, v := range values {
			d, n := dfa(v), nfa(v)
			if d != n {
				t.Fatalf("%s: %q: DFA %v, NFA %v", name, v, d, n)
			}
			if d {
				matched++
			}
		}
		if matched < len(phrases) { // every phrase matches itself at least
			t.Fatalf("%s: %d of %d values matched, fewer than the %d phrases", name, matched, len(values), len(phrases))
		}
	}
}

// TestDataFileScreenBuiltOnce: a data file's screen is built once and
// shared (every WAF route, every reload); a name that is not a CRS data
// file gets no screen and is not kept.
func TestDataFileScreenBuiltOnce(t *testing.T) {
	const name = "java-classes.data"
	phrases, err := dataFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := operatorScreen("pmFromFile", name); !ok {
		t.Fatal("no screen for a CRS data file")
	}
	built := dataFileScreenBuilds.Load()
	for _, op := range []string{"pmFromFile", "pmf"} {
		_, _, mayMatch, ok := operatorScreen(op, name)
		if !ok || !mayMatch("x "+strings.ToUpper(phrases[0])+" y") || mayMatch("hello") {
			t.Fatalf("%s: the kept screen does not screen", op)
		}
	}
	if n := dataFileScreenBuilds.Load() - built; n != 0 {
		t.Fatalf("%d more screens built for a data file already screened", n)
	}
	for _, bad := range []string{"no-such-file.data", "../etc/passwd", "/etc/passwd", "http://example.com/x.data"} {
		if _, _, _, ok := operatorScreen("pmFromFile", bad); ok {
			t.Errorf("%q: screened", bad)
		}
		if _, ok := dataFileScreens.Load(bad); ok {
			t.Errorf("%q: kept", bad)
		}
	}
}
