package runtimetune

import (
	"errors"
	"io/fs"
	"runtime/debug"
	"testing"
)

// restore puts the runtime back as the test found it.
func restore(t *testing.T) {
	gc := debug.SetGCPercent(100)
	mem := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(mem)
	})
}

func fakeEnv(vars map[string]string, files map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return vars[k] },
		ReadFile: func(p string) ([]byte, error) {
			if v, ok := files[p]; ok {
				return []byte(v), nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

func TestApply(t *testing.T) {
	const gib = int64(1) << 30
	cases := []struct {
		name     string
		vars     map[string]string
		files    map[string]string
		wantGC   int
		wantFrom string
		wantMem  int64
		memFrom  string
	}{
		{name: "defaults, no cgroup", wantGC: DefaultGCPercent, wantFrom: "default"},
		{name: "cgroup v2 limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"},
			wantGC: DefaultGCPercent, wantFrom: "default", wantMem: gib * 9 / 10, memFrom: "/sys/fs/cgroup/memory.max"},
		{name: "cgroup v2 unlimited", files: map[string]string{"/sys/fs/cgroup/memory.max": "max\n"},
			wantGC: DefaultGCPercent, wantFrom: "default"},
		{name: "cgroup v1 limit", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648"},
			wantGC: DefaultGCPercent, wantFrom: "default", wantMem: 2 * gib * 9 / 10, memFrom: "/sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{name: "cgroup v1 unlimited", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"},
			wantGC: DefaultGCPercent, wantFrom: "default"},
		{name: "garbage in the cgroup file", files: map[string]string{"/sys/fs/cgroup/memory.max": "lots"},
			wantGC: DefaultGCPercent, wantFrom: "default"},
		{name: "operator's GOGC wins", vars: map[string]string{"GOGC": "150"}, wantGC: 150, wantFrom: "GOGC"},
		{name: "operator's GOMEMLIMIT wins over the cgroup", vars: map[string]string{"GOMEMLIMIT": "256MiB"},
			files:  map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"},
			wantGC: DefaultGCPercent, wantFrom: "default", wantMem: 256 << 20, memFrom: "GOMEMLIMIT"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			restore(t)
			// The runtime read GOGC/GOMEMLIMIT at start; play that part.
			if tc.vars["GOGC"] != "" {
				debug.SetGCPercent(tc.wantGC)
			}
			if tc.vars["GOMEMLIMIT"] != "" {
				debug.SetMemoryLimit(tc.wantMem)
			}
			s := Apply(fakeEnv(tc.vars, tc.files))
			if s.GCPercent != tc.wantGC || s.GCPercentSource != tc.wantFrom {
				t.Errorf("gc = %d from %q, want %d from %q", s.GCPercent, s.GCPercentSource, tc.wantGC, tc.wantFrom)
			}
			if got := debug.SetGCPercent(tc.wantGC); got != tc.wantGC {
				t.Errorf("runtime gc percent = %d, want %d", got, tc.wantGC)
			}
			if s.MemoryLimit != tc.wantMem || s.MemoryLimitFrom != tc.memFrom {
				t.Errorf("memory limit = %d from %q, want %d from %q", s.MemoryLimit, s.MemoryLimitFrom, tc.wantMem, tc.memFrom)
			}
			if tc.wantMem > 0 {
				if got := debug.SetMemoryLimit(-1); got != tc.wantMem {
					t.Errorf("runtime memory limit = %d, want %d", got, tc.wantMem)
				}
			}
		})
	}
}

func TestParseLimit(t *testing.T) {
	for in, want := range map[string]bool{"": false, "max": false, "0": false, "-1": false, "12x": false, "1048576": true, " 1048576\n": true} {
		if _, ok := parseLimit(in); ok != want {
			t.Errorf("parseLimit(%q) ok = %v, want %v", in, ok, want)
		}
	}
	if _, err := (fakeEnv(nil, nil)).ReadFile("/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("fake env must report missing files")
	}
}
