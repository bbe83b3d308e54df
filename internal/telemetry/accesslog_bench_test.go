package telemetry

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchEntry is a typical access line's entry.
var benchEntry = AccessEntry{
	RequestID: "01J0000000000000000000000", ClientAddr: "203.0.113.7", Method: "GET",
	Host: "api.example.com", Path: "/v1/orders/42", Proto: "HTTP/1.1", Route: "orders",
	Service: "orders", Upstream: "10.0.0.1:8080", Status: 200, BytesOut: 1234,
	Duration: 1512 * time.Microsecond, UpstreamLatency: 1207 * time.Microsecond,
}

// BenchmarkAccessLog compares the batched writer with the slog path it
// replaced, both appending to a file, from parallel goroutines. The
// batched figures include the final flush.
func BenchmarkAccessLog(b *testing.B) {
	e := benchEntry
	b.Run("slog", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "access.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		l := slog.New(slog.NewJSONHandler(f, nil))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.LogAttrs(context.Background(), slog.LevelInfo, "access", slogAttrs(&e)...)
			}
		})
	})
	b.Run("batched", func(b *testing.B) {
		a, err := OpenAccessLog(filepath.Join(b.TempDir(), "access.log"))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a.Log(&e)
			}
		})
		if err := a.Close(); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkAppendAccessJSON is the formatting of one line alone.
func BenchmarkAppendAccessJSON(b *testing.B) {
	e := benchEntry
	at := time.Date(2026, 12, 3, 14, 30, 0, 123456789, time.UTC)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAccessJSON(buf[:0], at, &e)
	}
}
