package metrics

import "strconv"

// wafGroups are the group label's values of waf_blocks_total: the rule
// files of the OWASP Core Rule Set, named by the hundred-thousands of their
// rule ids, plus "other" (custom rules, refusals that are not a rule's).
var wafGroups = [...]struct {
	prefix int // rule id / 1000
	name   string
}{
	{911, "method_enforcement"},
	{913, "scanner_detection"},
	{920, "protocol_enforcement"},
	{921, "protocol_attack"},
	{922, "multipart_attack"},
	{930, "lfi"},
	{931, "rfi"},
	{932, "rce"},
	{933, "php"},
	{934, "generic"},
	{941, "xss"},
	{942, "sqli"},
	{943, "session_fixation"},
	{944, "java"},
	{949, "anomaly_score"},
	{0, "other"},
}

// WAFGroup names the CRS group of a rule id ("other" when it is none).
func WAFGroup(rule string) string { return wafGroups[wafGroupIndex(rule)].name }

func wafGroupIndex(rule string) int {
	id, err := strconv.Atoi(rule)
	if err != nil {
		return len(wafGroups) - 1
	}
	for i, g := range wafGroups {
		if g.prefix != 0 && id/1000 == g.prefix {
			return i
		}
	}
	return len(wafGroups) - 1
}
