// Package crstest is the OWASP CRS's own regression corpus (the tests/
// directory of github.com/corazawaf/coraza-coreruleset, read from the
// module cache) for the waf packages' tests: the requests, the values in
// them, and a request's verdict through a rule set.
package crstest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
	"go.yaml.in/yaml/v3"
)

// moduleDir is the directory of the coraza-coreruleset module, whose
// tests/ directory holds the CRS's regression corpus (not embedded in the
// module's rule FS).
func moduleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-json", "github.com/corazawaf/coraza-coreruleset/v4").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var m struct{ Dir string }
	if err := json.Unmarshal(out, &m); err != nil || m.Dir == "" {
		t.Fatalf("go list: %v %s", err, out)
	}
	return m.Dir
}

// raceStride: under the race detector the corpus tests take every
// raceStride-th case (regexp matching runs about ten times slower there);
// without it they take all.
const raceStride = 24

// Stride is the step through the corpus tests take: every case, or every
// raceStride-th under the race detector.
func Stride() int {
	if raceEnabled {
		return raceStride
	}
	return 1
}

// Request is one stage of a CRS regression test.
type Request struct {
	Name    string
	Method  string
	URI     string
	Version string
	Headers map[string]string
	Data    string
}

var (
	corpusOnce sync.Once
	corpus     []Request
)

// Corpus reads the CRS regression corpus: every stage with an input
// given as fields (those given only as an encoded raw request, a few
// dozen, are left out).
func Corpus(t testing.TB) []Request {
	t.Helper()
	corpusOnce.Do(func() {
		root := filepath.Join(moduleDir(t), "tests")
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var f struct {
				Tests []struct {
					ID     int `yaml:"test_id"`
					Stages []struct {
						Input struct {
							Method  string            `yaml:"method"`
							URI     string            `yaml:"uri"`
							Version string            `yaml:"version"`
							Headers map[string]string `yaml:"headers"`
							Data    any               `yaml:"data"`
						} `yaml:"input"`
					} `yaml:"stages"`
				} `yaml:"tests"`
			}
			if err := yaml.Unmarshal(raw, &f); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			for _, tc := range f.Tests {
				for i, st := range tc.Stages {
					in := st.Input
					if in.URI == "" {
						continue
					}
					r := Request{
						Name:    fmt.Sprintf("%s/%d/%d", strings.TrimSuffix(filepath.Base(path), ".yaml"), tc.ID, i),
						Method:  cmpOr(in.Method, "GET"),
						URI:     in.URI,
						Version: cmpOr(in.Version, "HTTP/1.1"),
						Headers: in.Headers,
					}
					switch d := in.Data.(type) {
					case string:
						r.Data = d
					case []any:
						for _, line := range d {
							r.Data += fmt.Sprint(line) + "\r\n"
						}
					}
					corpus = append(corpus, r)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	if len(corpus) < 3000 {
		t.Fatalf("read %d corpus requests; the CRS has thousands", len(corpus))
	}
	return corpus
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Values is the text the screen is tried on: every URI, header
// value and body of the corpus, whole and cut at & and =, raw,
// percent-decoded and lowercased (the CRS's usual transformations), the
// waf package's attack requests, and values aimed at the screens' reading
// of characters (folding beyond ASCII, bytes that are not UTF-8).
func Values(t testing.TB) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	var add func(string)
	add = func(v string) {
		for _, w := range []string{v, strings.ToLower(v)} {
			if !seen[w] {
				seen[w] = true
				out = append(out, w)
			}
		}
		if d, err := url.QueryUnescape(v); err == nil && d != v {
			add(d)
		}
	}
	addParts := func(v string) {
		add(v)
		for _, kv := range strings.FieldsFunc(v, func(r rune) bool { return r == '&' || r == '?' }) {
			add(kv)
			if _, val, ok := strings.Cut(kv, "="); ok {
				add(val)
			}
		}
	}
	for _, r := range Corpus(t) {
		addParts(r.URI)
		addParts(r.Data)
		for k, v := range r.Headers {
			add(k)
			add(v)
		}
	}
	for _, v := range []string{"1' OR '1'='1", "1 UNION SELECT password FROM users", "<script>alert(1)</script>",
		"127.0.0.1;cat /etc/passwd", "../../etc/passwd", "${jndi:ldap://x/a}", "2.2250738585072011e-308"} {
		addParts(v)
	}
	for _, v := range []string{"", "\xff", "\u212a", "\u017f", "\u212aill -9", "\u017fcript", "<\u017fcript>", "\xc0\xbc\xff<", "O'Brien", "-created_at", "2"} {
		add(v)
	}
	return out
}

// IsDetection reports whether a crstest.Verdict line is a detection rule's
// (CRS 911000-944999), not setup, paranoia-level skipping or scoring.
func IsDetection(line string) bool {
	var id int
	_, err := fmt.Sscanf(line, "%d", &id)
	return err == nil && id >= 911000 && id < 945000
}

// Verdict is the matched rules (id and message, which carries the
// anomaly scores) of r, in the order they matched. before, when not nil,
// runs once the URI and the headers are in, before the first phase, and
// is told whether a body follows.
func Verdict(w coraza.WAF, r Request, before func(tx types.Transaction, body bool)) []string {
	var matched []string
	out := Run(w, r, Hooks{Before: before, After: func(tx types.Transaction, phase types.RulePhase) {
		if phase != types.PhaseRequestBody {
			return
		}
		for _, m := range tx.MatchedRules() {
			// Not m.Data(): which of several matching values it names follows
			// Coraza's map order, which differs from run to run.
			matched = append(matched, fmt.Sprintf("%d %s", m.Rule().ID(), m.Message()))
		}
	}})
	return append(out, matched...)
}

// Hooks are what Run calls on the way: Before once the URI and the
// headers are in (told whether a body follows), After at the end of each
// request phase that ran (phase 1, and phase 2 unless phase 1
// interrupted; both as 2 when it did, so that After sees the end).
type Hooks struct {
	Before func(tx types.Transaction, body bool)
	After  func(tx types.Transaction, phase types.RulePhase)
}

// Run sends r through a new transaction of w, phases 1 and 2, as the
// gateway does, and closes it. Errors on the way come back as lines.
func Run(w coraza.WAF, r Request, h Hooks) []string {
	tx := w.NewTransaction()
	defer func() { _ = tx.Close() }()
	tx.ProcessConnection("127.0.0.1", 40000, "127.0.0.1", 80)
	tx.ProcessURI(r.URI, r.Method, r.Version)
	// In the order of their names: two names that differ only in case
	// (Content-Type, content-type) are one header to Coraza, whose rules
	// read its first value, so a map's order would give two runs of one
	// request different verdicts.
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		tx.AddRequestHeader(k, r.Headers[k])
	}
	if h.Before != nil {
		h.Before(tx, r.Data != "")
	}
	after := func(phase types.RulePhase) {
		if h.After != nil {
			h.After(tx, phase)
		}
	}
	var out []string
	if it := tx.ProcessRequestHeaders(); it != nil {
		after(types.PhaseRequestBody)
		return out
	}
	after(types.PhaseRequestHeaders)
	if r.Data != "" {
		if it, _, err := tx.WriteRequestBody([]byte(r.Data)); err != nil || it != nil {
			out = append(out, fmt.Sprintf("body: %v %v", err, it))
		}
	}
	if _, err := tx.ProcessRequestBody(); err != nil {
		out = append(out, "body error: "+err.Error())
	}
	after(types.PhaseRequestBody)
	return out
}
