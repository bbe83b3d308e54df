package waf

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// The CRS refuses restricted header names with a chain (920450, and 920451
// at paranoia 2) that every request with headers runs in full:
//
//	SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" "id:920450,...,capture,t:none,t:lowercase,...,setvar:'tx.header_name_920450_%{tx.0}=/%{tx.0}/',chain"
//	    SecRule TX:/^header_name_920450_/ "@within %{tx.restricted_headers_basic}" "setvar:..."
//
// The first rule matches every header name: a capture, a macro expanded
// and a TX variable written per header. The chain then matches only if
// some lowercased name h has "/h/" within the list, a constant the build
// knows (fold.go). So pruning asks that question itself, with the same
// test @within makes (strings.Contains), and leaves the chain out of a
// request none of whose header names is on the list: on a browser-like
// request with eleven headers, about 8% of the WAF's cost. What the
// request then lacks is the chain's own bookkeeping: the
// tx.header_name_920450_* variables, which only its second rule reads,
// and its TX:0 capture, which no rule reads without capturing first
// (TestPrunedSameVerdicts compares the verdicts on the CRS's corpus).
//
// The rule observer shows only a chain's first rule, so the chain is
// recognised in the CRS's own text, written exactly as above; any other
// text leaves the rule to Coraza.

// headerList is one such chain: its id and the list its names are
// looked up in.
type headerList struct {
	id   int
	list string
}

// restrictedChain is the CRS's text of the chain, id and list captured.
var restrictedChain = regexp.MustCompile(`SecRule REQUEST_HEADERS_NAMES "@rx \^\.\*\$" \\\s*"id:(\d+),\\\s*phase:1,\\\s*block,\\\s*capture,\\\s*t:none,t:lowercase,\\[^"]*?setvar:'tx\.header_name_(\d+)_%\{tx\.0\}=/%\{tx\.0\}/',\\\s*chain"\s*SecRule TX:/\^header_name_(\d+)_/ "@within %\{tx\.([a-z_]+)\}" \\\s*"setvar:'tx\.inbound_anomaly_score_pl\d=\+%\{tx\.critical_anomaly_score\}'"`)

// restrictedHeaderLists returns the chains of the rule set (rules, less
// those in gone) whose list the build knows.
func restrictedHeaderLists(rules []ruleText, gone map[int]bool, known txKnown) []headerList {
	text, err := fs.ReadFile(coreruleset.FS, "@owasp_crs/REQUEST-920-PROTOCOL-ENFORCEMENT.conf")
	if err != nil {
		return nil
	}
	present := map[int]bool{}
	for _, rt := range rules {
		if rt.id != 0 && !gone[rt.id] && strings.HasPrefix(rt.raw, `SecRule REQUEST_HEADERS_NAMES "@rx ^.*$" `) {
			present[rt.id] = true
		}
	}
	var out []headerList
	for _, m := range restrictedChain.FindAllStringSubmatch(string(text), -1) {
		id, _ := strconv.Atoi(m[1])
		list, ok := known.values[m[4]]
		if m[2] != m[1] || m[3] != m[1] || !present[id] || !ok {
			continue
		}
		out = append(out, headerList{id: id, list: list})
	}
	return out
}

// restricted reports whether a header name of tx's request is on the
// list: "/name/" (lowercased) within it, as the chain's @within tests.
func (h headerList) restricted(tx corazaTx) bool {
	names := tx.Collection(variables.RequestHeadersNames)
	if names == nil {
		return true
	}
	for _, md := range names.FindAll() {
		if h.lists(md.Value()) {
			return true
		}
	}
	return false
}

// lists reports whether strings.Contains(h.list, "/"+strings.ToLower(name)+"/")
// without building the string (a request path, once per header): for an
// ASCII name, a slash-bounded window of the list equal to the name
// lowercased byte by byte; any other name takes the plain path.
func (h headerList) lists(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			return strings.Contains(h.list, "/"+strings.ToLower(name)+"/")
		}
	}
	l := h.list
	for i := strings.IndexByte(l, '/'); i >= 0 && i+len(name)+1 < len(l); {
		if w := l[i+1 : i+1+len(name)]; l[i+1+len(name)] == '/' && lowerEqual(w, name) {
			return true
		}
		next := strings.IndexByte(l[i+1:], '/')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// lowerEqual reports whether w is name with ASCII capitals lowered.
func lowerEqual(w, name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if w[i] != c {
			return false
		}
	}
	return true
}
