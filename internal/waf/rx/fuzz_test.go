package rx

import (
	"regexp"
	"testing"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// FuzzScreenSound: for any pattern Go's regexp compiles and any value, a
// value the screens turn away is one the regexp does not match. The seeds
// are a few CRS-like patterns and the values that trip byte-level reading
// (folding beyond ASCII, bytes that are not UTF-8).
func FuzzScreenSound(f *testing.F) {
	for _, s := range [][2]string{
		{`(?i)select.*from`, "SELECT * FROM t"},
		{`(?i)kill`, "\u212aILL"},
		{`(?i)<script`, "<\u017fcript"},
		{`a.b`, "a\xffb"},
		{`[<>]\x{fffd}`, "x<\xff"},
		{`(?:runtime|processbuilder)`, "java.lang.Runtime"},
		{`(?i)\b(?:union|select)\b`, "UnIoN"},
		{`(?:ab){2,}c|d+`, "ababc"},
		{`^$`, ""},
		{`(?i)[k-m]x`, "\u212aX"},
		{`(?i)\x{212a}`, "k"},
		{`\xac\xed\x00\x05`, "\xac\xed\x00\x05"},
		{`(?:^|[/;\x5c])\.{2,3}[/;\x5c]`, "a/../b"},
		{`(?i)(?:ab){2,}`, "xAbaBy"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, value string) {
		ref, err := regexp.Compile("(?sm)" + pattern)
		if err != nil {
			return
		}
		op, err := New(plugintypes.OperatorOptions{Arguments: pattern})
		if err != nil {
			t.Fatalf("%q: Go's regexp compiles it, New refuses: %v", pattern, err)
		}
		rx, ok := op.(*rxOperator)
		if !ok {
			return // the byte engine has no screens
		}
		if rx.turnsAway(value) && ref.MatchString(value) {
			t.Fatalf("pattern %q matches %q, which its screens turn away", pattern, value)
		}
		if got, want := op.Evaluate(&captureState{}, value), ref.MatchString(value); got != want {
			t.Fatalf("pattern %q on %q: operator %t, regexp %t", pattern, value, got, want)
		}
	})
}
