package ascii

import (
	"strings"
	"testing"
)

func TestEqualFoldLower(t *testing.T) {
	for _, tc := range []struct {
		desc, s, lower string
		want           bool
	}{
		{"same", "bearer", "bearer", true},
		{"upper and mixed case", "BeArEr", "bearer", true},
		{"different", "basic", "bearer", false},
		{"longer", "bearers", "bearer", false},
		{"KELVIN SIGN is not k", "\u212Aey", "key", false},
		{"LONG S is not s", "ba\u017Fic", "basic", false},
		{"no folding of non-letters", "content_length", "content-length", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := EqualFoldLower(tc.s, tc.lower); got != tc.want {
				t.Fatalf("EqualFoldLower(%q, %q) = %v, want %v", tc.s, tc.lower, got, tc.want)
			}
		})
	}
}

// TestUnhex checks every byte: the sixteen digits of each case have their
// values, and no other byte is a digit.
func TestUnhex(t *testing.T) {
	const digits = "0123456789abcdef"
	for c := 0; c < 256; c++ {
		want, isDigit := -1, false
		for v := 0; v < 16; v++ {
			if byte(c) == digits[v] || byte(c) == strings.ToUpper(digits)[v] {
				want, isDigit = v, true
			}
		}
		v, ok := Unhex(byte(c))
		if ok != isDigit || (ok && int(v) != want) {
			t.Fatalf("Unhex(%q) = %d, %v; want %d, %v", byte(c), v, ok, want, isDigit)
		}
	}
}

// TestIsUnreserved checks every byte against RFC 3986 section 2.3's list.
func TestIsUnreserved(t *testing.T) {
	const unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	for c := 0; c < 256; c++ {
		if got, want := IsUnreserved(byte(c)), strings.IndexByte(unreserved, byte(c)) >= 0; got != want {
			t.Fatalf("IsUnreserved(%q) = %v, want %v", byte(c), got, want)
		}
	}
}

func TestPercentByte(t *testing.T) {
	for _, tc := range []struct {
		desc string
		s    string
		i    int
		want byte
		ok   bool
	}{
		{"upper case", "%2F", 0, '/', true},
		{"lower case", "%2f", 0, '/', true},
		{"inside a path", "/a%41b", 2, 'A', true},
		{"high byte", "%ff", 0, 0xff, true},
		{"not hex", "%G1", 0, 0, false},
		{"second digit not hex", "%1g", 0, 0, false},
		{"one digit at the end", "/a%2", 2, 0, false},
		{"nothing after it", "%", 0, 0, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, ok := PercentByte(tc.s, tc.i)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("PercentByte(%q, %d) = %q, %v; want %q, %v", tc.s, tc.i, got, ok, tc.want, tc.ok)
			}
		})
	}
}
