package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/upstream"
)

// largeConfig returns the YAML of a config with n routes over 20 services:
// host-bound and host-less routes, mostly prefixes, some exact paths, a few
// regexes, method lists and header policies on some.
func largeConfig(n int) string {
	var b strings.Builder
	b.WriteString("version: 1\nlisteners: [{name: public, address: \"127.0.0.1:0\"}]\naccess_log: {output: \"off\"}\nops: {address: \"127.0.0.1:0\"}\nservices:\n")
	for s := range 20 {
		fmt.Fprintf(&b, "  - name: svc%d\n    targets: [{url: \"http://127.0.0.1:%d\"}, {url: \"http://127.0.0.2:%d\"}]\n", s, 20000+s, 20000+s)
	}
	b.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    service: svc%d\n", i, i%20)
		switch {
		case i%7 == 0:
			fmt.Fprintf(&b, "    hosts: [\"*.w%d.example.com\"]\n", i%30)
		case i%3 == 0:
			fmt.Fprintf(&b, "    hosts: [h%d.example.com, h%d.example.org]\n", i%100, i%100)
		}
		switch {
		case i%500 == 7:
			fmt.Fprintf(&b, "    paths: [{regex: \"/re%d/[0-9]+/items\"}]\n", i)
		case i%10 == 0:
			fmt.Fprintf(&b, "    paths: [{exact: /api/v1/exact%d}, {exact: /api/v2/exact%d}]\n", i, i)
		default:
			fmt.Fprintf(&b, "    paths: [{prefix: /api/v1/r%d}]\n", i)
		}
		if i%4 == 0 {
			b.WriteString("    methods: [GET, POST]\n")
		}
		if i%5 == 0 {
			fmt.Fprintf(&b, "    rewrite: /internal/r%d\n", i)
			fmt.Fprintf(&b, "    policies: [{kind: request_headers, set: {X-Route: r%d}}, {kind: response_headers, remove: [Server]}]\n", i)
		}
	}
	return b.String()
}

func parseLarge(tb testing.TB, n int) *config.Config {
	tb.Helper()
	cfg, err := config.Parse("large.yaml", []byte(largeConfig(n)))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func BenchmarkCompile5000Routes(b *testing.B) {
	cfg := parseLarge(b, 5000)
	reg := upstream.NewRegistry()
	defer reg.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := Compile(cfg, reg); err != nil {
			b.Fatal(err)
		}
	}
}

// heapAfterGC is the live heap once garbage is collected.
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestReloadMemoryStaysFlat compiles a 5,000-route config many times and
// swaps each snapshot in as a reload does (compile, store, prune), with one
// registry: old snapshots must become garbage and the registry must not
// accumulate pools. Parsing is left out; it is not what a leak would hide in.
func TestReloadMemoryStaysFlat(t *testing.T) {
	const reloads = 50
	path := filepath.Join(t.TempDir(), "large.yaml")
	if err := os.WriteFile(path, []byte(largeConfig(5000)), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{ConfigPath: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer g.reg.Close()
	cfg := g.snap.Load().cfg

	var baseline uint64
	for i := range reloads {
		s, err := Compile(cfg, g.reg)
		if err != nil {
			t.Fatal(err)
		}
		g.snap.Store(s)
		g.reg.Prune(s.services)
		if i == 2 {
			baseline = heapAfterGC()
		}
	}
	final := heapAfterGC()
	runtime.KeepAlive(g) // the live snapshot counts in both measurements
	t.Logf("heap after %d compiles: %d KiB (baseline %d KiB)", reloads, final>>10, baseline>>10)
	if final > 2*baseline {
		t.Fatalf("heap grew from %d KiB to %d KiB over %d compiles", baseline>>10, final>>10, reloads)
	}
}

// BenchmarkReload5000Routes is a whole reload of a 5,000-route file: read
// and strict decoding, validation, compile and swap, as Reload does it.
func BenchmarkReload5000Routes(b *testing.B) {
	data := []byte(largeConfig(5000))
	reg := upstream.NewRegistry()
	defer reg.Close()
	var cur atomic.Pointer[Snapshot]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg, err := config.Parse("large.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		s, err := Compile(cfg, reg)
		if err != nil {
			b.Fatal(err)
		}
		cur.Store(s)
		reg.Prune(s.services)
	}
}
