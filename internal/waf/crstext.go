package waf

import (
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
)

// Reading the CRS's own text. Coraza's rule observer shows each rule as
// its first directive only (a chain's later rules are appended to a copy
// it does not show), so what the build needs of a chained rule it reads
// from the embedded files, the same text Coraza compiled.

// walkCRS calls fn with the text of each file of the embedded CRS (its
// rules and setup, Coraza's recommended configuration), data files left
// out.
func walkCRS(fn func(text string)) error {
	return fs.WalkDir(coreruleset.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".data") {
			return err
		}
		b, err := fs.ReadFile(coreruleset.FS, path)
		fn(string(b))
		return err
	})
}

// ruleGroup is one rule of a seclang text: the directive with its id and
// the chained rules after it, each on one line.
type ruleGroup struct {
	id         int // 0 for directives before any rule with an id
	directives []string
}

// ruleID finds a rule's id action.
var ruleID = regexp.MustCompile(`(?:^|["',\s])id:'?([0-9]+)`)

// ruleGroups reads the rules of a seclang text: continued lines joined,
// comments skipped, each SecRule or SecAction with an id beginning a rule
// and an id-less SecRule (a chained rule) joining the rule before it.
func ruleGroups(text string) []ruleGroup {
	text = strings.ReplaceAll(text, "\\\r\n", " ")
	text = strings.ReplaceAll(text, "\\\n", " ")
	var out []ruleGroup
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "SecRule ") && !strings.HasPrefix(line, "SecAction") {
			continue
		}
		if m := ruleID.FindStringSubmatch(line); m != nil || len(out) == 0 {
			id := 0
			if m != nil {
				id, _ = strconv.Atoi(m[1])
			}
			out = append(out, ruleGroup{id: id})
		}
		out[len(out)-1].directives = append(out[len(out)-1].directives, line)
	}
	return out
}
