package ipfilter

import (
	"strings"
	"testing"
)

// FuzzParseCIDRList checks that the list parser never panics, and that
// what it accepts is normalized and parses back to itself.
// The seed corpus is in testdata/fuzz/FuzzParseCIDRList.
func FuzzParseCIDRList(f *testing.F) {
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
