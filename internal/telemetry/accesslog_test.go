package telemetry

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a writer that keeps every Write call separately.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) all() (calls int, out []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes), bytes.Join(r.writes, nil)
}

func noReport(error) {}

// decodeLines checks that out is whole JSON lines and returns each line's
// request_id.
func decodeLines(t *testing.T, out []byte) []string {
	t.Helper()
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON (%v): %q", len(ids)+1, err, sc.Bytes())
		}
		id, _ := m["request_id"].(string)
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) > 0 && out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline")
	}
	return ids
}

func TestAccessLogConcurrent(t *testing.T) {
	const goroutines, perG = 16, 500
	rec := &recorder{}
	a := newAccessLog(rec, nil, noReport)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				a.Log(&AccessEntry{RequestID: fmt.Sprintf("g%d-%d", g, i), Path: `/a"b\c`, Status: 200, Duration: time.Duration(i) * time.Microsecond})
			}
		})
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	calls, out := rec.all()
	seen := map[string]int{}
	for _, id := range decodeLines(t, out) {
		seen[id]++
	}
	for g := range goroutines {
		for i := range perG {
			if n := seen[fmt.Sprintf("g%d-%d", g, i)]; n != 1 {
				t.Fatalf("g%d-%d written %d times", g, i, n)
			}
		}
	}
	if len(seen) != goroutines*perG {
		t.Fatalf("%d distinct lines, want %d", len(seen), goroutines*perG)
	}
	// A batch is whole lines: no line is split across writes.
	rec.mu.Lock()
	for _, w := range rec.writes {
		if len(w) == 0 || w[len(w)-1] != '\n' {
			t.Fatalf("a write does not end a line: %q", w)
		}
	}
	rec.mu.Unlock()
	t.Logf("%d lines in %d writes", goroutines*perG, calls)
}

func TestAccessLogCloseFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	a, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		a.Log(&AccessEntry{RequestID: fmt.Sprint(i)})
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Logging after Close drops the line and does not panic; Close again is a no-op.
	a.Log(&AccessEntry{RequestID: "late"})
	a.Flush()
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	out, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ids := decodeLines(t, out)
	if len(ids) != 1000 {
		t.Fatalf("%d lines, want 1000", len(ids))
	}
	for i, id := range ids { // one goroutine logs in order
		if id != fmt.Sprint(i) {
			t.Fatalf("line %d is %q", i, id)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

// TestAccessLogBatchesRequestsInFlight: lines logged by requests that are
// ready to run when the writer wakes go out in the writer's next write,
// not one write each. On one P the writer, woken by the first line, waits
// its window while the goroutines already waiting log theirs. Without the
// wait, every line is a write of its own.
func TestAccessLogBatchesRequestsInFlight(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const requests = 40
	rec := &recorder{}
	a := newAccessLog(rec, nil, noReport)
	defer a.Close()
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() { a.Log(&AccessEntry{RequestID: fmt.Sprint(i)}) }) // ready, not yet run
	}
	a.Log(&AccessEntry{RequestID: "first"}) // wakes the writer
	wg.Wait()
	a.Flush()
	calls, out := rec.all()
	if n := len(decodeLines(t, out)); n != requests+1 {
		t.Fatalf("%d lines written, want %d", n, requests+1)
	}
	if calls > requests/4 {
		t.Fatalf("%d lines in %d writes: the writer did not wait for the requests in flight", requests+1, calls)
	}
	t.Logf("%d lines in %d writes", requests+1, calls)
}

// TestAccessLogGathersLinesForAWindow: the writer, woken by a line, waits
// gatherWindow before it writes, so lines logged one after another go out
// together even when the writer could run between them (the logging
// goroutine yields after each line, as a request does when it waits for
// its next one); the lines are still written soon after, with no Flush to
// push them. On one P the order is deterministic: a writer that only
// yields once when woken writes every line or two on its own here.
func TestAccessLogGathersLinesForAWindow(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const lines = 200 // a few hundred µs of Log calls, well inside the window
	rec := &recorder{}
	a := newAccessLog(rec, nil, noReport)
	defer a.Close()
	start := time.Now()
	for i := range lines {
		a.Log(&AccessEntry{RequestID: fmt.Sprint(i)})
		runtime.Gosched()
	}
	logged := time.Since(start)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Microsecond) {
		if _, out := rec.all(); bytes.Count(out, []byte("\n")) == lines {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lines were not written within 5 s without a Flush")
		}
	}
	calls, out := rec.all()
	if n := len(decodeLines(t, out)); n != lines {
		t.Fatalf("%d lines written, want %d", n, lines)
	}
	// At most one write a window the loop took, and one more for a loop
	// that straddles a window's end: a writer that did not wait makes one
	// per line or two.
	if limit := 2 + int(logged/gatherWindow); calls > limit {
		t.Fatalf("%d lines logged in %v went out in %d writes: the writer did not wait its window", lines, logged, calls)
	}
	t.Logf("%d lines logged in %v, written in %d writes", lines, logged, calls)
}

func TestAccessLogFlush(t *testing.T) {
	rec := &recorder{}
	a := newAccessLog(rec, nil, noReport)
	defer a.Close()
	for i := range 3 {
		a.Log(&AccessEntry{RequestID: fmt.Sprint(i)})
		a.Flush()
		if _, out := rec.all(); len(decodeLines(t, out)) != i+1 {
			t.Fatalf("after Flush: %q", out)
		}
	}
}

// TestAccessLogSlowWriterBlocks: when the output does not keep up, Log
// waits once maxPending bytes are queued, and no line is lost.
func TestAccessLogSlowWriterBlocks(t *testing.T) {
	pr, pw := io.Pipe()
	a := newAccessLog(pw, nil, noReport)
	reason := strings.Repeat("r", 64<<10)
	const total = 100 // about 6.3 MiB: more than maxPending plus the stuck batch
	var logged atomic.Int64
	go func() {
		for i := range total {
			a.Log(&AccessEntry{RequestID: fmt.Sprint(i), Reason: reason})
			logged.Add(1)
		}
	}()

	// Nobody reads the pipe: the writer is stuck on its first batch and
	// Log stops appending once pending is full.
	state := func() (pending int, appended uint64) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.pending), a.logged
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pending, _ := state(); pending >= maxPending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pending never filled up")
		}
		time.Sleep(time.Millisecond)
	}
	_, stuck := state()
	time.Sleep(50 * time.Millisecond)
	pending, appended := state()
	if appended != stuck || appended >= total || logged.Load() >= total {
		t.Fatalf("Log did not wait: %d then %d of %d lines appended", stuck, appended, total)
	}
	if pending > maxPending+len(reason)+1024 {
		t.Fatalf("pending grew to %d bytes", pending)
	}

	// Once the output reads again, everything is written.
	var out bytes.Buffer
	copied := make(chan error, 1)
	go func() { _, err := io.Copy(&out, pr); copied <- err }()
	for logged.Load() < total {
		time.Sleep(time.Millisecond)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if err := <-copied; err != nil {
		t.Fatal(err)
	}
	ids := decodeLines(t, out.Bytes())
	if len(ids) != total {
		t.Fatalf("%d lines, want %d", len(ids), total)
	}
	for i, id := range ids {
		if id != fmt.Sprint(i) {
			t.Fatalf("line %d is %q", i, id)
		}
	}
}

type failingWriter struct{ calls atomic.Int64 }

func (f *failingWriter) Write([]byte) (int, error) {
	f.calls.Add(1)
	return 0, errors.New("disk full")
}

func TestAccessLogFailingWriter(t *testing.T) {
	fw := &failingWriter{}
	var reports atomic.Int64
	a := newAccessLog(fw, nil, func(error) { reports.Add(1) })
	done := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for i := range 1000 {
					a.Log(&AccessEntry{RequestID: fmt.Sprint(i)})
				}
			})
		}
		wg.Wait()
		a.Flush()
		done <- a.Close()
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("Close = %v, want the write failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logging to a failing writer hung")
	}
	if n := reports.Load(); n != 1 {
		t.Errorf("%d reports, want 1", n)
	}
	if a.WriteErrors() == 0 || a.WriteErrors() != uint64(fw.calls.Load()) {
		t.Errorf("WriteErrors = %d, writes = %d", a.WriteErrors(), fw.calls.Load())
	}
}

func TestAccessLogNil(t *testing.T) {
	var a *AccessLog
	if a.Enabled() {
		t.Error("a nil log is enabled")
	}
	a.Log(&AccessEntry{})
	a.Flush()
	if a.WriteErrors() != 0 || a.Close() != nil {
		t.Error("a nil log misbehaves")
	}
}

func TestOpenAccessLog(t *testing.T) {
	if a, err := OpenAccessLog("off"); a != nil || err != nil {
		t.Errorf("off = %v, %v", a, err)
	}
	for _, out := range []string{"", "stdout", "stderr"} {
		a, err := OpenAccessLog(out)
		if err != nil || !a.Enabled() {
			t.Fatalf("%q = %v, %v", out, a, err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("%q: Close: %v", out, err)
		}
	}
	if _, err := OpenAccessLog(filepath.Join(t.TempDir(), "missing", "access.log")); err == nil {
		t.Error("a file in a missing directory opened")
	}
}
