// Package ascii holds the gateway's ASCII-only text rules, shared by the
// packages that compare protocol tokens (header names, auth schemes).
//
// The threat: strings.EqualFold folds Unicode, so "\u212A" (KELVIN SIGN)
// equals "k" and "\u017F" (LONG S) equals "s". A token compared that way
// could be spelled in a form that one component accepts and the next (an
// upstream, a log parser) reads as something else. Protocol tokens are
// ASCII (RFC 9110 section 5.6.2), and so is every comparison here.
package ascii

// EqualFoldLower reports whether s equals lower, a lower-case ASCII
// string, with ASCII letters of s compared case-insensitively. Bytes
// outside ASCII never match a letter.
func EqualFoldLower(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
