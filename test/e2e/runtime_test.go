package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGarbageCollectorSettings: the gateway runs its collector at 400%
// heap growth unless the operator set GOGC, and says which it uses.
func TestGarbageCollectorSettings(t *testing.T) {
	cfg := fmt.Sprintf(`version: 1
listeners: [{name: public, address: %q}]
services: [{name: svc, targets: [{url: "http://127.0.0.1:9"}]}]
routes: [{name: r, paths: [{prefix: /}], service: svc}]
ops: {address: %q}
access_log: {output: "off"}
`, freeAddr(t), freeAddr(t))
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, gogc string
		wantGC     float64
		wantFrom   string
	}{
		{"default", "", 400, "default"},
		{"operator's GOGC", "150", 150, "GOGC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := []string{"GORACE=atexit_sleep_ms=0"}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOGC=") {
					env = append(env, kv)
				}
			}
			if tc.gogc != "" {
				env = append(env, "GOGC="+tc.gogc)
			}
			var stderr syncBuffer
			cmd := exec.Command(binPath, "run", "--config", path)
			cmd.Env, cmd.Stderr = env, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			deadline := time.Now().Add(20 * time.Second)
			for {
				for _, line := range strings.Split(stderr.String(), "\n") {
					var rec map[string]any
					if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "garbage collector" {
						continue
					}
					if rec["gc_percent"] != tc.wantGC || rec["gc_percent_from"] != tc.wantFrom {
						t.Fatalf("log line %s: want gc_percent %v from %q", line, tc.wantGC, tc.wantFrom)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no garbage collector line in the process log:\n%s", stderr.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
