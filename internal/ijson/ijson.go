package ijson

import (
	"bytes"
	"errors"
	"io"
	"math"
	"math/big"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// Reasons of a refusal: a fixed set, never input data.
const (
	ReasonSyntax        = "malformed JSON"
	ReasonDuplicate     = "duplicate member name"
	ReasonUTF8          = "invalid UTF-8"
	ReasonSurrogate     = "lone surrogate escape"
	ReasonNoncharacter  = "Unicode noncharacter"
	ReasonNumberRange   = "number beyond the range of a double"
	ReasonNumberRounded = "integer not exactly a double (beyond 2^53)"
	ReasonNumberZero    = "nonzero number that rounds to zero"
	ReasonDepth         = "nesting too deep"
)

// Error is a refusal: what was wrong and where (the byte offset into the
// checked text, approximate for syntax errors).
type Error struct {
	Reason string
	Offset int64
}

func (e *Error) Error() string {
	return "not I-JSON: " + e.Reason + " at byte " + strconv.FormatInt(e.Offset, 10)
}

// Reason returns the fixed reason of a Check error, or "" when err is not
// one.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// twoTo53 is 2^53, where consecutive doubles become 2 apart.
const twoTo53 = 1 << 53

var decOpts = []jsontext.Options{
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
}

// Check returns nil when data is exactly one I-JSON text, and an *Error
// saying why not otherwise. It does not retain data.
func Check(data []byte) error {
	d := jsontext.NewDecoder(bytes.NewReader(data), decOpts...)
	if _, err := d.ReadValue(); err != nil {
		return classify(data, err)
	}
	if _, err := d.ReadValue(); err != io.EOF {
		// Whatever follows the value, a second value or garbage.
		return &Error{Reason: ReasonSyntax, Offset: d.InputOffset()}
	}
	return scan(data)
}

// classify names the decoder's refusal with a fixed reason.
func classify(data []byte, err error) error {
	var se *jsontext.SyntacticError
	off := int64(0)
	if errors.As(err, &se) {
		off = se.ByteOffset
	}
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName):
		return &Error{Reason: ReasonDuplicate, Offset: off}
	case !utf8.Valid(data):
		return &Error{Reason: ReasonUTF8, Offset: int64(invalidUTF8At(data))}
	case off >= 0 && off < int64(len(data)) && surrogateEscapeAt(data[off:]):
		return &Error{Reason: ReasonSurrogate, Offset: off}
	case se != nil && se.Err != nil && se.Err.Error() == "exceeded max depth":
		return &Error{Reason: ReasonDepth, Offset: off}
	}
	return &Error{Reason: ReasonSyntax, Offset: off}
}

// Ambiguous reports an error of Check for a text that parses as JSON but
// is not I-JSON (as opposed to a syntax error).
func Ambiguous(err error) bool {
	r := Reason(err)
	return r != "" && r != ReasonSyntax && r != ReasonDepth
}

// LogReason is the reason a refusal logs: "malformed JSON" for a syntax
// error, "ambiguous JSON: <rule>" for a text that parses but is not
// I-JSON. It is a fixed text, never input data.
func LogReason(err error) string {
	if Ambiguous(err) {
		return "ambiguous JSON: " + Reason(err)
	}
	if Reason(err) == ReasonDepth {
		return "malformed JSON: " + ReasonDepth
	}
	return "malformed JSON"
}

// Detail is the sentence a client is told about an ambiguous text: which
// rule it breaks, never a piece of it.
func Detail(err error) string {
	return "It is not I-JSON (RFC 7493): " + Reason(err) + "."
}

// invalidUTF8At is the offset of the first invalid UTF-8 sequence.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// surrogateEscapeAt reports whether b starts with a \u escape of a
// surrogate half (where the decoder stopped at an unpaired one).
func surrogateEscapeAt(b []byte) bool {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return false
	}
	v, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return err == nil && utf16.IsSurrogate(rune(v))
}

// scan checks the numbers and the strings of a text the decoder has
// accepted (so its syntax, escapes and UTF-8 are known to be valid).
func scan(b []byte) error {
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '"':
			end, err := scanString(b, i)
			if err != nil {
				return err
			}
			i = end
		case c == '-' || ('0' <= c && c <= '9'):
			j := i + 1
			for j < len(b) && isNumberByte(b[j]) {
				j++
			}
			if r := checkNumber(b[i:j]); r != "" {
				return &Error{Reason: r, Offset: int64(i)}
			}
			i = j
		default:
			i++
		}
	}
	return nil
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// scanString checks the string starting at b[start] (its opening quote)
// for noncharacters and returns the offset after its closing quote.
func scanString(b []byte, start int) (int, error) {
	i := start + 1
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c == '\\':
			if b[i+1] != 'u' {
				i += 2
				continue
			}
			r := hex4(b[i+2 : i+6])
			n := 6
			if utf16.IsSurrogate(r) { // a valid pair: the decoder checked it
				r = utf16.DecodeRune(r, hex4(b[i+8:i+12]))
				n = 12
			}
			if noncharacter(r) {
				return 0, &Error{Reason: ReasonNoncharacter, Offset: int64(i)}
			}
			i += n
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if noncharacter(r) {
				return 0, &Error{Reason: ReasonNoncharacter, Offset: int64(i)}
			}
			i += n
		}
	}
	return i, nil
}

func hex4(b []byte) rune {
	v, _ := strconv.ParseUint(string(b), 16, 16)
	return rune(v)
}

// noncharacter reports the Unicode noncharacters: U+FDD0..U+FDEF and
// U+nFFFE, U+nFFFF in every plane.
func noncharacter(r rune) bool {
	return (r >= 0xFDD0 && r <= 0xFDEF) || r&0xFFFE == 0xFFFE
}

// checkNumber returns the reason a valid number literal is refused, or "".
func checkNumber(lit []byte) string {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || math.IsInf(f, 0) {
		return ReasonNumberRange
	}
	if f == 0 {
		if nonzeroMantissa(lit) {
			return ReasonNumberZero
		}
		return ""
	}
	if math.Abs(f) < twoTo53 || bytes.ContainsAny(lit, ".eE") {
		return ""
	}
	// In range, an integer literal has at most 309 digits: the exact
	// comparison is bounded.
	exact, ok := new(big.Rat).SetString(string(lit))
	if !ok || exact.Cmp(new(big.Rat).SetFloat64(f)) != 0 {
		return ReasonNumberRounded
	}
	return ""
}

// nonzeroMantissa reports a nonzero digit before the exponent.
func nonzeroMantissa(lit []byte) bool {
	for _, c := range lit {
		if c == 'e' || c == 'E' {
			return false
		}
		if '1' <= c && c <= '9' {
			return true
		}
	}
	return false
}
