package ijson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	long := "9007199254740992" + strings.Repeat("0", 400)
	for _, tc := range []struct {
		desc, in string
		want     string // "" accepted, else the reason
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, ""},
		{"scalar at the top", `"text"`, ""},
		{"number at the top", `-0.5e-3`, ""},
		{"whitespace around", " \t\r\n{} \n", ""},
		{"same name in sibling objects", `[{"a":1},{"a":2}]`, ""},
		{"same name at different depths", `{"a":{"a":1}}`, ""},
		{"names differing in case", `{"a":1,"A":2}`, ""},
		{"escaped pair (U+1F600)", `"\ud83d\ude00"`, ""},
		{"raw 4-byte UTF-8", "\"\U0001F600\"", ""},
		{"U+FFFD is a character", `"\ufffd"`, ""},
		{"largest safe integer", `9007199254740991`, ""},
		{"2^53 is a double", `9007199254740992`, ""},
		{"2^54 is a double", `-18014398509481984`, ""},
		{"1e20 is a double", `1e20`, ""},
		{"largest double", `1.7976931348623157e308`, ""},
		{"fraction rounds below 2^53", `0.1`, ""},
		{"smallest subnormal", `5e-324`, ""},
		{"zero with an exponent", `0e400`, ""},
		{"negative zero", `-0.0`, ""},

		{"duplicate name", `{"qty":-5,"qty":1}`, ReasonDuplicate},
		{"duplicate name, nested", `{"a":[{"b":{"c":1,"c":2}}]}`, ReasonDuplicate},
		{"duplicate name spelled with an escape", `{"a":1,"\u0061":2}`, ReasonDuplicate},
		{"duplicate name, escaped slash", `{"/":1,"\/":2}`, ReasonDuplicate},
		{"duplicate name, same value", `{"a":1,"a":1}`, ReasonDuplicate},
		{"lone high surrogate", `"\ud800"`, ReasonSurrogate},
		{"lone low surrogate", `"\udc00"`, ReasonSurrogate},
		{"reversed pair", `"\udc00\ud800"`, ReasonSurrogate},
		{"high then a letter", `"\ud800x"`, ReasonSurrogate},
		{"lone surrogate in a name", `{"\ud800":1}`, ReasonSurrogate},
		{"invalid UTF-8 byte", "\"\xff\"", ReasonUTF8},
		{"overlong slash", "\"\xc0\xaf\"", ReasonUTF8},
		{"encoded surrogate (CESU)", "\"\xed\xa0\x80\"", ReasonUTF8},
		{"truncated sequence", "\"\xe2\x82\"", ReasonUTF8},
		{"invalid UTF-8 in a name", "{\"\xff\":1}", ReasonUTF8},
		{"noncharacter U+FFFF escaped", `"\uffff"`, ReasonNoncharacter},
		{"noncharacter U+FDD0 raw", "\"\uFDD0\"", ReasonNoncharacter},
		{"noncharacter U+10FFFF as a pair", `"\udbff\udfff"`, ReasonNoncharacter},
		{"noncharacter in a name", `{"\ufffe":1}`, ReasonNoncharacter},
		{"2^53+1", `9007199254740993`, ReasonNumberRounded},
		{"-(2^53+1)", `-9007199254740993`, ReasonNumberRounded},
		{"2^53+1 with a fraction rounds like a double", `9007199254740993.0`, ""},
		{"2^53+1 with an exponent rounds like a double", `9.007199254740993e15`, ""},
		{"just under 2^53 with a fraction", `9007199254740991.5`, ""},
		{"2^64", `18446744073709551616`, ""},
		{"2^64+1", `18446744073709551617`, ReasonNumberRounded},
		{"an integer beyond 2^53 with an exponent rounds like a double", `100000000000001e3`, ""},
		{"the same integer written out is not a double", `100000000000001000`, ReasonNumberRounded},
		{"too long to compare", long, ReasonNumberRange},
		{"1e308 written out is not a double", "-1" + strings.Repeat("0", 308), ReasonNumberRounded},
		{"2^1023 written out is a double", pow2(1023), ""},
		{"2^1023+1 written out", pow2plus1(1023), ReasonNumberRounded},
		{"beyond the largest double", `1e400`, ReasonNumberRange},
		{"negative beyond the largest double", `-1.8e308`, ReasonNumberRange},
		{"underflow to zero", `1e-400`, ReasonNumberZero},
		{"underflow in an object", `{"p":-2e-324}`, ReasonNumberZero},

		{"empty", ``, ReasonSyntax},
		{"only whitespace", "  ", ReasonSyntax},
		{"byte order mark", "\xef\xbb\xbf{}", ReasonSyntax},
		{"two values", `{}{}`, ReasonSyntax},
		{"trailing garbage", `{} x`, ReasonSyntax},
		{"trailing comma", `[1,]`, ReasonSyntax},
		{"single quotes", `{'a':1}`, ReasonSyntax},
		{"NaN", `NaN`, ReasonSyntax},
		{"leading zero", `01`, ReasonSyntax},
		{"control character in a string", "\"\x01\"", ReasonSyntax},
		{"bad escape", `"\x"`, ReasonSyntax},
		{"unterminated", `{"a":`, ReasonSyntax},
		{"too deep", deep, ReasonDepth},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := Check([]byte(tc.in))
			if got := Reason(err); got != tc.want {
				t.Fatalf("Check(%.60q) = %v, want reason %q", tc.in, err, tc.want)
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Offset < 0 || e.Offset > int64(len(tc.in)) {
					t.Fatalf("error %v has no offset within the input", err)
				}
			}
		})
	}
}

func pow2(n uint) string { return new(big.Int).Lsh(big.NewInt(1), n).String() }

func pow2plus1(n uint) string {
	return new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), n), big.NewInt(1)).String()
}

// FuzzCheck: whatever Check accepts, encoding/json decodes without error,
// its decoder sees no member name twice in any object (so no parser that
// keeps the first or the last can read it differently), and the
// re-encoded value is accepted again: with its numbers as written, always;
// from float64s, but for the integer literals Go's encoder may write.
func FuzzCheck(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if Check(data) != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted %q, which encoding/json finds invalid", data)
		}
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatalf("accepted %q, which encoding/json does not decode: %v", data, err)
		}
		if dup := duplicateName(t, data); dup != "" {
			t.Fatalf("accepted %q, in which encoding/json reads the name %q twice", data, dup)
		}
		// Re-encoded from float64s. Go writes an integral double below
		// 1e21 as an integer literal of its shortest digits, which need
		// not be the double's exact value ("100000000000001e3", accepted
		// as the double it rounds to, becomes "100000000000001000"), and
		// an integer literal that is not exactly a double is refused by
		// rule (ReasonNumberRounded). Any other refusal is a fault.
		again, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("re-encoding %q: %v", data, err)
		}
		if err := Check(again); err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Reason != ReasonNumberRounded {
				t.Fatalf("the re-encoding %q of accepted %q is refused: %v", again, data, err)
			}
		}
		// Re-encoded with the numbers as written (json.Number): accepted.
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var n any
		if err := dec.Decode(&n); err != nil {
			t.Fatalf("accepted %q, which encoding/json does not decode with UseNumber: %v", data, err)
		}
		asWritten, err := json.Marshal(n)
		if err != nil {
			t.Fatalf("re-encoding %q with its numbers as written: %v", data, err)
		}
		if err := Check(asWritten); err != nil {
			t.Fatalf("the re-encoding %q of accepted %q (numbers as written) is refused: %v", asWritten, data, err)
		}
	})
}

// duplicateName walks encoding/json's tokens and returns a member name
// that occurs twice in one object, "" when there is none.
func duplicateName(t *testing.T, data []byte) string {
	t.Helper()
	type frame struct {
		object bool
		key    bool // the next token of this object is a name
		names  map[string]bool
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return ""
		}
		if err != nil {
			t.Fatalf("tokens of accepted %q: %v", data, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := tok.(string)
			if top.names[name] {
				return name
			}
			top.names[name] = true
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true // this token is a member's value
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, key: true, names: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
	}
}

// BenchmarkCheck measures the check of a 1 KiB order document.
func BenchmarkCheck(b *testing.B) {
	doc := []byte(`{"order":{"id":"o-123","customer":{"name":"Ada","email":"ada@example.com"},` +
		`"lines":[` + strings.Repeat(`{"sku":"A-1","qty":2,"price":12.5,"note":"caf\u00e9"},`, 15) +
		`{"sku":"B-2","qty":1,"price":3}]}}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(doc); err != nil {
			b.Fatal(err)
		}
	}
}
