package ascii

import "testing"

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
