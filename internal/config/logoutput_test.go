package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateLogOutputs: a log output naming a file must be one the
// gateway can create or append to, or validate would pass a config that
// then fails to start.
func TestValidateLogOutputs(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.log")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc, output, want string
	}{
		{"stdout", "stdout", ""},
		{"off", "off", ""},
		{"a new file in a directory that exists", filepath.Join(dir, "new.log"), ""},
		{"a file that exists", existing, ""},
		{"a directory that does not exist", filepath.Join(dir, "missing", "a.log"), "does not exist"},
		{"a directory, not a file", dir, "is a directory, not a file"},
		{"a device", os.DevNull, ""},
		{"a file where the directory should be", filepath.Join(existing, "a.log"), "does not exist"},
	} {
		for _, field := range []string{"access_log: {output: %q}", "observability: {security_events: {output: %q}}"} {
			src := minimal + strings.Replace(field, "%q", `"`+tc.output+`"`, 1) + "\n"
			_, err := Parse("gw.yaml", []byte(src))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s (%s): %v", tc.desc, field, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ".output: ")):
				t.Errorf("%s (%s): error %v, want one at the output naming %q", tc.desc, field, err, tc.want)
			}
		}
	}
}
