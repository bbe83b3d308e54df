package validate

import "testing"

// Parsing then serializing gives RFC 8941's canonical form.
func TestSFDictionaryCanonical(t *testing.T) {
	cases := []struct{ in, want string }{
		{`sig1=("@method" "@path");created=1618884473;keyid="k"`, `sig1=("@method" "@path");created=1618884473;keyid="k"`},
		{`sig1=(  "a"   "b"  );created=1`, `sig1=("a" "b");created=1`},
		{`a=();b`, `a=();b`},
		{`x=?1, y=?0, z`, `x=?1, y=?0, z=?1`},
		{`d=1.500, e=-0.0, f=007`, `d=1.5, e=-0.0, f=7`},
		{`s="a\"b\\c";p=tok/en:x`, `s="a\"b\\c";p=tok/en:x`},
		{`b=:aGVsbG8:`, `b=:aGVsbG8=:`},
		{`a=1,a=2`, `a=2`},
		{"a=1,\tb=2", `a=1, b=2`},
		{`sig=("@method";req "x";bs);p;q=?0`, `sig=("@method";req "x";bs);p;q=?0`},
	}
	for _, c := range cases {
		d, err := parseSFDictionary(c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := serializeDict(d); got != c.want {
			t.Errorf("%q: got %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSFDictionaryInvalid(t *testing.T) {
	for _, in := range []string{
		`A=1`, `a=`, `a=1,`, `a=1 b=2`, `a=("x"`, `a=("x""y")`, `a="unterminated`, `a="bad\escape"`,
		"a=\"ctl\x01\"", `a=:not base64!:`, `a=:abc`, `a=1234567890123456`, `a=1234567890123.5`, `a=1.2345`,
		`a=1.`, `a=-`, `a=?2`, `a=(1);`, `a=1;B=2`, `,a=1`, `a=é`,
	} {
		if d, err := parseSFDictionary(in); err == nil {
			t.Errorf("%q parsed as %q", in, serializeDict(d))
		}
	}
}

func TestSFLimits(t *testing.T) {
	many := ""
	for i := 0; i <= sfMaxMembers; i++ {
		if i > 0 {
			many += ","
		}
		many += "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if _, err := parseSFDictionary(many); err == nil {
		t.Fatal("too many members accepted")
	}
	list := "a=("
	for i := 0; i <= sfMaxList; i++ {
		list += "1 "
	}
	if _, err := parseSFDictionary(list + ")"); err == nil {
		t.Fatal("too long a list accepted")
	}
}

// serializeDict is the canonical text of a parsed dictionary.
func serializeDict(d []sfMember) string {
	var b []byte
	for i, m := range d {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, m.Key...)
		switch {
		case m.IsList:
			b = append(b, '=')
			b = appendSFInnerList(b, m.List, m.Params)
		default:
			b = append(b, '=')
			b = appendSFItem(b, m.Item)
			b = appendSFParams(b, m.Params)
		}
	}
	return string(b)
}
