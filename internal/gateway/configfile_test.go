package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestStrictPrefixIsNeverApplied: what was loaded is compared with the
// file once more before it goes live; a load that is the beginning of the
// file as it is now was read mid-write.
func TestStrictPrefixIsNeverApplied(t *testing.T) {
	for _, tc := range []struct {
		desc, loaded, now string
		changed           bool
		stillWriting      bool
	}{
		{desc: "unchanged", loaded: "version: 1\n", now: "version: 1\n"},
		{desc: "grew after the read: still being written", loaded: "version: 1\n", now: "version: 1\nroutes: []\n", changed: true, stillWriting: true},
		{desc: "replaced by something else", loaded: "version: 1\nroutes: []\n", now: "version: 1\n", changed: true},
		{desc: "same length, other bytes", loaded: "a: 1\n", now: "b: 1\n", changed: true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tc.now), 0o600); err != nil {
				t.Fatal(err)
			}
			changed, err := changedSince(p, []byte(tc.loaded))
			if changed != tc.changed || errors.Is(err, errStillWriting) != tc.stillWriting {
				t.Fatalf("changed %v, err %v", changed, err)
			}
		})
	}
}
