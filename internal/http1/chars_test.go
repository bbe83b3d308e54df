package http1

import (
	"strings"
	"testing"
)

// valueByteRule is RFC 9110 section 5.5 stated once more, byte by byte:
// the reference the table must agree with.
func valueByteRule(c byte) bool {
	return c == '\t' || (c >= 0x20 && c != 0x7f)
}

func TestValidFieldValue(t *testing.T) {
	token := strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 40) // a bearer token's length and bytes
	for _, tc := range []struct {
		desc string
		v    string
		want bool
	}{
		{"empty", "", true},
		{"short", "gzip", true},
		{"a long token", token, true},
		{"HTAB and SP inside", "a\tb c", true},
		{"obs-text (UTF-8)", "caf\u00e9 \u00fcber alles, na\u00efve", true},
		{"0xff", "\xff\xff", true},
		{"CR", "abcd\refgh", false},
		{"LF at the end of a long value", token + "\n", false},
		{"CRLF forging a line", "v\r\nX-Admin: 1", false},
		{"NUL", "ab\x00", false},
		{"DEL", "abcdefg\x7f", false},
		{"0x1f next to 0x80", "\x80\x1f\x80", false},
	} {
		if got := ValidFieldValue(tc.v); got != tc.want {
			t.Errorf("%s: ValidFieldValue(%q) = %v, want %v", tc.desc, tc.v, got, tc.want)
		}
	}
}

// TestValueBytesAreTheRule: the table behind ValidFieldValue is the rule
// for every byte value.
func TestValueBytesAreTheRule(t *testing.T) {
	for c := 0; c < 256; c++ {
		if isValueByte[c] != valueByteRule(byte(c)) {
			t.Fatalf("isValueByte[%#x] = %v, want %v", c, isValueByte[c], valueByteRule(byte(c)))
		}
	}
}

func BenchmarkValidFieldValue(b *testing.B) {
	v := strings.Repeat("eyJhbGciOiJSUzI1NiJ9.", 40)
	b.SetBytes(int64(len(v)))
	for range b.N {
		if !ValidFieldValue(v) {
			b.Fatal("refused")
		}
	}
}

// ValidFieldValue's sixteen-byte screen must give the rule's answer for
// every byte value at every place in a block, in values of every length
// around the block size, alone and with a HTAB (allowed, but flagged by
// the screen) in the same block.
func TestFieldValueScreenIsTheRule(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 40; pos++ {
			for _, tab := range []bool{false, true} {
				b := []byte(strings.Repeat("v", 40))
				if tab {
					b[pos/2] = '\t'
				}
				b[pos] = byte(c)
				for n := 0; n <= len(b); n++ {
					s := string(b[:n])
					want := true
					for i := 0; i < n; i++ {
						want = want && valueByteRule(s[i])
					}
					if got := ValidFieldValue(s); got != want {
						t.Fatalf("byte %#x at %d (HTAB %v), length %d: %v, want %v", c, pos, tab, n, got, want)
					}
				}
			}
		}
	}
}
