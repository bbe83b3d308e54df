package protect

import (
	"strings"
	"testing"
)

// FuzzParseCIDRList checks that the list parser never panics, and that
// what it accepts is normalized and parses back to itself.
func FuzzParseCIDRList(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8\n# c\n\n2001:db8::/32 # x\n",
		"::ffff:1.2.3.4/120\n", "fe80::1%eth0\n", "1.2.3.4\r\n", "#\n#\n", "0.0.0.0/0\n::/0",
		"1.2.3.4/33\n", "\x00\n", "::ffff:0:0/95",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ps, err := ParseCIDRList(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				t.Fatalf("not normalized: %v", p)
			}
			q, err := ParsePrefix(p.String())
			if err != nil || q != p {
				t.Fatalf("%v does not round-trip: %v %v", p, q, err)
			}
		}
		s := NewIPSet(ps)
		for _, p := range ps {
			if !s.Contains(p.Addr()) {
				t.Fatalf("set does not contain %v", p.Addr())
			}
		}
	})
}
