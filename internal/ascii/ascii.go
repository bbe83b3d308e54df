// Package ascii holds the gateway's ASCII-only byte and text rules, one
// copy each for the packages that must agree on them: protocol tokens
// compared without case (header names, auth schemes), the hex digits of
// percent-escapes, chunk sizes and JSON escapes, and RFC 3986's
// unreserved characters.
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

// Unhex returns the value of the hex digit c (RFC 5234 HEXDIG, either
// case): percent-escapes (RFC 3986 section 2.1), chunk sizes (RFC 9112
// section 7.1) and JSON's \u escapes all use it. ok is false for any other
// byte, so a caller never reads a digit that is not one.
func Unhex(c byte) (v byte, ok bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// IsUnreserved reports RFC 3986's unreserved characters (section 2.3):
// ALPHA, DIGIT, '-', '.', '_' and '~', which a URI never needs to
// percent-encode; an escape of one decodes to the same resource.
func IsUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// PercentByte returns the byte that the percent-escape at s[i] (a '%',
// RFC 3986 section 2.1) stands for. ok is false when two hex digits do
// not follow.
func PercentByte(s string, i int) (b byte, ok bool) {
	if i+2 >= len(s) {
		return 0, false
	}
	hi, ok1 := Unhex(s[i+1])
	lo, ok2 := Unhex(s[i+2])
	return hi<<4 | lo, ok1 && ok2
}
