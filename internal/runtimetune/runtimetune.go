// Package runtimetune sets the Go runtime's garbage collector for a
// gateway: a process with a small live heap and a high allocation rate,
// where the default GOGC=100 collects far more often than memory requires.
//
// The operator's GOGC and GOMEMLIMIT always win. Without them the gateway
// collects at 400% heap growth, and when the process runs in a cgroup with
// a memory limit (a container), a soft memory limit of 90% of it makes the
// collector work harder near the limit instead of letting the kernel kill
// the process.
package runtimetune

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultGCPercent is the heap growth between collections when GOGC is
// not set. Measured under load on one plain route (docs/performance.md):
// fewer collections mean more requests per second and a lower p99; the
// cost is a peak heap up to five times the live heap, bounded by the
// memory limit below when there is one.
const DefaultGCPercent = 400

// memoryLimitShare is the part of the cgroup's limit used as the soft
// memory limit: the rest is headroom for memory the Go runtime does not
// count (thread stacks outside the heap, the kernel's socket buffers are
// not ours but the page cache of log files is charged to the cgroup).
const memoryLimitShare = 0.9

// cgroupLimitFiles are where cgroup v2 and v1 publish the memory limit.
var cgroupLimitFiles = []string{
	"/sys/fs/cgroup/memory.max",
	"/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// Settings is what Apply decided, for the start-up log line.
type Settings struct {
	GCPercent       int    // -1 when GOGC=off
	GCPercentSource string // "GOGC" or "default"
	MemoryLimit     int64  // bytes; 0 when there is none
	MemoryLimitFrom string // "GOMEMLIMIT", a cgroup file, or "" when none
}

// Env is what Apply reads from its surroundings; Apply(OS()) reads the
// process environment and the real files.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// OS is the process's own environment.
func OS() Env { return Env{Getenv: os.Getenv, ReadFile: os.ReadFile} }

// Apply sets the collector's target and memory limit and reports them.
func Apply(env Env) Settings {
	var s Settings
	if v := env.Getenv("GOGC"); v != "" {
		// The runtime has already read it; report what it holds.
		s.GCPercent = debug.SetGCPercent(-1)
		debug.SetGCPercent(s.GCPercent)
		s.GCPercentSource = "GOGC"
	} else {
		debug.SetGCPercent(DefaultGCPercent)
		s.GCPercent, s.GCPercentSource = DefaultGCPercent, "default"
	}
	if env.Getenv("GOMEMLIMIT") != "" {
		s.MemoryLimit = debug.SetMemoryLimit(-1) // -1 reads without changing
		s.MemoryLimitFrom = "GOMEMLIMIT"
		return s
	}
	for _, f := range cgroupLimitFiles {
		b, err := env.ReadFile(f)
		if err != nil {
			continue
		}
		limit, ok := parseLimit(string(b))
		if !ok {
			continue
		}
		s.MemoryLimit = int64(float64(limit) * memoryLimitShare)
		s.MemoryLimitFrom = f
		debug.SetMemoryLimit(s.MemoryLimit)
		return s
	}
	return s
}

// parseLimit reads a cgroup memory limit: a number of bytes, or "max"
// (v2) or a huge number (v1's "no limit", near MaxInt64) for none.
func parseLimit(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if v == "" || v == "max" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || n >= math.MaxInt64/2 {
		return 0, false
	}
	return n, true
}
