package waf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/debuglog"
	"github.com/corazawaf/coraza/v3/experimental"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/portcullis/portcullis/internal/waf/rx"
)

// The @rx operator is the gateway's (package rx: Coraza's matching behind
// screens that skip the regexp for values it cannot match), registered over
// Coraza's for the whole process; the CRS is the only rule set the process
// compiles.
func init() {
	plugins.RegisterOperator("rx", rx.New)
}

// settings is everything that changes the compiled rule set. Two policies
// with equal settings share one coraza.WAF.
type settings struct {
	blocking    bool
	paranoia    int
	threshold   int
	exclusions  []int // sorted, unique
	inspectBody bool
	bodyLimit   int64
}

// key identifies the compiled WAF in the long-lived state memo.
func (s settings) key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "waf:blocking=%t;pl=%d;threshold=%d;body=%t;limit=%d;exclude=", s.blocking, s.paranoia, s.threshold, s.inspectBody, s.bodyLimit)
	for i, id := range s.exclusions {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(id))
	}
	return b.String()
}

// allowedMethods widens CRS's default (GET HEAD POST OPTIONS) to what a
// REST API uses; which methods a route accepts is the router's business.
const allowedMethods = "GET HEAD POST OPTIONS PUT PATCH DELETE"

// directives is the SecLang configuration for s: Coraza's recommended
// base, then the gateway's overrides, then the CRS setup with the
// policy's paranoia level and threshold, the request rules, and the
// exclusions (which must come after the rules they remove).
func (s settings) directives() string {
	engine := "DetectionOnly"
	if s.blocking {
		engine = "On"
	}
	bodyAccess := "Off"
	if s.inspectBody {
		bodyAccess = "On"
	}
	var b strings.Builder
	b.WriteString("Include @coraza.conf-recommended\n")
	fmt.Fprintf(&b, "SecRuleEngine %s\n", engine)
	fmt.Fprintf(&b, "SecRequestBodyAccess %s\n", bodyAccess)
	// The policy never hands Coraza more than bodyLimit bytes, and keeps
	// them in memory (no temporary files).
	fmt.Fprintf(&b, "SecRequestBodyLimit %d\n", s.bodyLimit)
	fmt.Fprintf(&b, "SecRequestBodyInMemoryLimit %d\n", s.bodyLimit)
	b.WriteString("SecRequestBodyLimitAction ProcessPartial\n")
	// Responses are not inspected, and the gateway logs matches itself.
	b.WriteString("SecResponseBodyAccess Off\n")
	b.WriteString("SecAuditEngine Off\n")
	b.WriteString("Include @crs-setup.conf.example\n")
	fmt.Fprintf(&b, `SecAction "id:900000,phase:1,pass,t:none,nolog,setvar:tx.blocking_paranoia_level=%d"`+"\n", s.paranoia)
	fmt.Fprintf(&b, `SecAction "id:900110,phase:1,pass,t:none,nolog,setvar:tx.inbound_anomaly_score_threshold=%d,setvar:tx.outbound_anomaly_score_threshold=4"`+"\n", s.threshold)
	fmt.Fprintf(&b, `SecAction "id:900200,phase:1,pass,t:none,nolog,setvar:'tx.allowed_methods=%s'"`+"\n", allowedMethods)
	b.WriteString("Include @owasp_crs/REQUEST-*.conf\n")
	for _, id := range s.exclusions {
		fmt.Fprintf(&b, "SecRuleRemoveById %d\n", id)
	}
	return b.String()
}

// engine is one compiled rule set and its pruner.
type engine struct {
	waf    coraza.WAF
	pruner *pruner
	// skipped is the rules the paranoia jumps left out (paranoia.go).
	skipped []int
	// folded is the initialization rules worked out at build, replaced by
	// the rule foldID (fold.go).
	folded []int
	// unset is the folded variables the fold's rule leaves out, read by
	// no rule of the lean rule set (unread.go).
	unset []string
	// writeOnly is the rules left out because they only write variables
	// no rule left reads, and writeOnlyVars those variables (writeonly.go).
	writeOnly     []int
	writeOnlyVars []string
}

// build compiles the CRS for s. It takes hundreds of milliseconds, which
// is why policies share the result through the state memo. Coraza shows
// each rule it adds to the rule observer, in order; the pruner is read
// from them.
func (s settings) build() (*engine, time.Duration, error) {
	start := time.Now()
	e, err := compileRules(s.directives(), s.exclusions, s.paranoia)
	if err != nil {
		return nil, 0, fmt.Errorf("building the rule set: %w", err)
	}
	return e, time.Since(start), nil
}

// compileRules compiles directives (with the embedded CRS as their root)
// and reads the pruner from the rules Coraza adds; removed is the ids the
// directives' SecRuleRemoveById lines take out again. With paranoia above
// 0 (the level the directives set) the rule set is compiled a second time,
// lean: without the rules the CRS's paranoia jumps leave out at that level
// (paranoia.go), with the CRS's initialization folded into one rule
// written after the setup include (fold.go; the build fails if the rule
// did not land where the rules it replaces were), and with a constant
// logdata (quietLogdata). Paranoia 0 compiles the directives as written,
// the reference the tests compare with.
func compileRules(directives string, removed []int, paranoia int) (*engine, error) {
	rules, w, err := compileObserved(directives)
	if err != nil {
		return nil, err
	}
	if paranoia == 0 {
		return &engine{waf: w, pruner: newPruner(rules, removed, directives, nil)}, nil
	}
	written := rules
	fold, folding := foldInit(rules, removed)
	folding = folding && strings.Contains(directives, setupInclude)
	known := levelsKnown(paranoia)
	if folding {
		known = fold.known(paranoia, directives)
	}
	skipped := paranoiaSkips(rules, removed, known, ruleChains(directives))
	var left []int // every rule the lean build leaves out
	left = append(append(left, removed...), skipped...)
	if folding {
		left = append(left, fold.ids...)
	}
	gone := make(map[int]bool, len(left))
	for _, id := range left {
		gone[id] = true
	}
	writeOnly, writeOnlyVars := writeOnlyRules(rules, gone, directives)
	for _, id := range writeOnly {
		gone[id] = true
	}
	left = append(left, writeOnly...)
	if folding {
		kept := map[int]bool{}
		for _, rt := range rules {
			kept[rt.id] = !gone[rt.id]
		}
		fold.unset = unreadVars(fold.vars, kept, directives)
		directives = strings.Replace(directives, setupInclude, setupInclude+fold.secAction(), 1)
	}
	var b strings.Builder
	b.WriteString(directives)
	for _, id := range left[len(removed):] {
		fmt.Fprintf(&b, "SecRuleRemoveById %d\n", id)
	}
	for _, id := range quietLogdata(rules, gone) {
		fmt.Fprintf(&b, "SecRuleUpdateActionById %d \"logdata:%s\"\n", id, quietData)
	}
	if rules, w, err = compileObserved(b.String()); err != nil {
		return nil, err
	}
	e := &engine{waf: w, pruner: newPruner(rules, left, b.String(), &known), skipped: skipped, writeOnly: writeOnly, writeOnlyVars: writeOnlyVars}
	e.pruner.headers = restrictedHeaderLists(rules, gone, known)
	e.pruner.exclusions = newTagExclusions(rules, gone, &e.pruner.order, b.String())
	if folding {
		if err := foldLanded(written, rules, gone, fold); err != nil {
			return nil, err
		}
		e.folded = fold.ids
		e.unset = fold.unset
	}
	return e, nil
}

// foldLanded checks that the fold's rule runs where the rules it replaces
// did: phase 1 of the lean build is phase 1 as written, less the rules
// left out, with the fold's rule in the place of the run's first rule.
func foldLanded(written, lean []ruleText, gone map[int]bool, f initFold) error {
	var want, got []int
	for _, rt := range written {
		if rt.phase != types.PhaseRequestHeaders {
			continue
		}
		if rt.id == f.ids[0] {
			want = append(want, foldID)
		}
		if rt.id == 0 || !gone[rt.id] {
			want = append(want, rt.id)
		}
	}
	for _, rt := range lean {
		if rt.phase == types.PhaseRequestHeaders && (rt.id == 0 || !gone[rt.id]) {
			got = append(got, rt.id)
		}
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("the CRS initialization folded at build did not land where its rules were (phase 1 %v, want %v)", got, want)
	}
	return nil
}

// quietData is the logdata every rule gets in place of its own.
const quietData = "-"

// quietLogdata returns the ids of the rules (less those in gone) that
// have a logdata, to be given quietData instead. Coraza expands a rule's
// logdata each time it evaluates the rule, matched or not (the CRS's is
// "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}:
// %{MATCHED_VAR}": three lookups and a string built per rule per
// request), and nothing reads it here: the gateway logs the ids and the
// messages of the matched rules, never their data (the client's input),
// and no CRS rule reads %{rule.logdata} (TestRuleSetKeepsPruningAssumptions).
// A constant is one token, which the expansion returns as it is.
func quietLogdata(rules []ruleText, gone map[int]bool) []int {
	var ids []int
	for _, rt := range rules {
		if rt.id > 0 && !gone[rt.id] && strings.Contains(rt.raw, "logdata:") {
			ids = append(ids, rt.id)
		}
	}
	return ids
}

// compileObserved compiles directives and returns the rules Coraza added,
// in order, as its rule observer saw them (those SecRuleRemoveById takes
// out again among them).
func compileObserved(directives string) ([]ruleText, coraza.WAF, error) {
	var rules []ruleText
	cfg := experimental.WAFConfigWithRuleObserver(coraza.NewWAFConfig().
		WithRootFS(coreruleset.FS).
		WithDebugLogger(corazaLogger()).
		WithDirectives(directives), func(r types.RuleMetadata) {
		rules = append(rules, ruleText{id: r.ID(), phase: r.Phase(), raw: r.Raw()})
	})
	w, err := coraza.NewWAF(cfg)
	if err != nil {
		return nil, nil, err
	}
	return rules, w, nil
}

// normalizeExclusions sorts and de-duplicates rule ids.
func normalizeExclusions(ids []int) []int {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// macroKeyMissing is the warning Coraza writes when a macro names a
// variable the transaction does not have. Coraza expands every rule's msg
// and logdata each time the rule is evaluated, matched or not, so on the
// CRS three rules (922100's %{ARGS._charset_}, 943110's and 943120's
// %{TX.9431x0_MATCHED_VAR_NAME}) produce it for every request: three
// process-log lines per request that say nothing about the request or the
// rule set (docs/performance.md, "The WAF route").
const macroKeyMissing = "key not found in collection, returning the original text"

// corazaLogger is Coraza's debug log routed to the JSON process log
// (slog's default logger, which the gateway sets): Coraza's own default
// writes plain text to standard error, and every line the gateway writes
// is JSON. Only warnings and errors are kept, less macroKeyMissing; the
// output a SecDebugLog directive names is ignored, the process log is the
// one destination.
//
// The threat: a client decides how often Coraza warns. Coraza writes
// "Processing request body whose size reached the configured limit" for
// every request whose body reaches SecRequestBodyLimit (detection mode
// inspects such bodies in part and lets them through), so a stream of
// large requests would turn into a stream of process-log lines that buries
// what an operator reads and fills the disk. Each distinct message is
// therefore written at most once per warnWindow; the next line written for
// it says how many were held back ("suppressed"), so the count is never
// lost.
func corazaLogger() debuglog.Logger {
	th := newWarnThrottle(warnWindow, time.Now)
	return debuglog.DefaultWithPrinterFactory(func(io.Writer) debuglog.Printer {
		return func(lvl debuglog.Level, message, fields string) {
			if message == macroKeyMissing {
				return
			}
			ok, suppressed := th.allow(message)
			if !ok {
				return
			}
			level := slog.LevelWarn
			if lvl == debuglog.LevelError {
				level = slog.LevelError
			}
			attrs := []any{"component", "waf", "fields", strings.TrimSpace(fields)}
			if suppressed > 0 {
				attrs = append(attrs, "suppressed", suppressed)
			}
			slog.Default().Log(context.Background(), level, message, attrs...)
		}
	}).WithLevel(debuglog.LevelWarn)
}

// warnWindow is how often one Coraza message may reach the process log.
const warnWindow = 10 * time.Second

// warnKeysMax bounds the messages the throttle tracks. Coraza's messages
// are constant strings, a few dozen in all; should that ever change, the
// messages past the bound share one budget instead of growing the map.
const warnKeysMax = 256

// warnThrottle lets each message through at most once per window and
// counts the ones it held back.
type warnThrottle struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	byMsg  map[string]*warnState
}

type warnState struct {
	last       time.Time
	suppressed int
}

func newWarnThrottle(window time.Duration, now func() time.Time) *warnThrottle {
	return &warnThrottle{window: window, now: now, byMsg: map[string]*warnState{}}
}

// allow reports whether message may be written now and, when it may, how
// many of it were held back since it was last written.
func (w *warnThrottle) allow(message string) (bool, int) {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.byMsg[message]
	if st == nil {
		if len(w.byMsg) >= warnKeysMax {
			message = ""
			st = w.byMsg[message]
		}
		if st == nil {
			w.byMsg[message] = &warnState{last: now}
			return true, 0
		}
	}
	if now.Sub(st.last) < w.window {
		st.suppressed++
		return false, 0
	}
	n := st.suppressed
	st.last, st.suppressed = now, 0
	return true, n
}
