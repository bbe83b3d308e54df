package telemetry

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// AccessEntry is one access log line. It never holds credentials: the
// gateway logs the path without its query string and no request headers.
type AccessEntry struct {
	// Time is when the request started. It is not written: the line's
	// "time" is when Log is called, at the end of the request.
	Time            time.Time
	RequestID       string
	ClientAddr      string
	Method          string
	Host            string
	Path            string
	Proto           string
	Route           string
	Service         string
	Upstream        string
	Status          int
	BytesIn         int64
	BytesOut        int64
	Duration        time.Duration
	UpstreamLatency time.Duration
	// Reason is the precise cause of a refusal or failure (never sent to the client).
	Reason string
}

// maxPending bounds the bytes of lines waiting for the writer. Past it, Log
// waits for the writer rather than dropping lines or growing without limit:
// when the output is slower than the traffic, requests slow down instead of
// losing their record.
const maxPending = 4 << 20

// gatherWindow is how long the writer, woken by a line, waits for more
// before it writes. What it saves is the writer's wake-up and its write(2),
// which are per batch. Measured on issue 12's chain under wrk -c64 (15-20k
// req/s on a noisy day), against yielding once to the goroutines ready to
// run (the design before): batches of 15-30 lines instead of 7-9, 0.05 log
// writes a request instead of 0.12, voluntary context switches 0.12
// instead of 0.19, and the chain's req/s 1.06x and CPU a request 0.95x
// (medians of 14 rounds in three interleaved runs; docs/performance.md,
// "The access log's window"). 1 ms is far below what anyone reading the
// log can notice, and it loses no line: Flush and Close wait for the write.
const gatherWindow = time.Millisecond

// initialBuffer is the starting capacity of each of the two batch buffers,
// so that a steady trickle of requests never grows them.
const initialBuffer = 64 << 10

// AccessLog writes access entries as JSON lines. A nil *AccessLog logs nothing.
//
// Log encodes the line into a pending buffer and wakes a writer goroutine,
// which takes the whole buffer and writes it with one Write (group commit).
// Woken, the writer first waits gatherWindow, so that the lines the
// requests in flight log meanwhile go out in the same write: a write(2)
// and a wake-up per batch, not per line. A line reaches the output about
// gatherWindow after Log returns; a busy gateway makes one write and one
// wake-up a window, whatever its request rate. The two buffers are swapped
// and reused.
type AccessLog struct {
	w      io.Writer
	closer io.Closer
	report func(error) // told about the first failed write only

	mu      sync.Mutex
	cond    sync.Cond // on mu; broadcast when the writer takes or finishes a batch, and on Close
	pending []byte    // encoded lines not yet taken by the writer
	logged  uint64    // lines appended to pending, ever
	written uint64    // lines whose batch the writer has finished with (written or failed)
	closed  bool

	wake chan struct{} // capacity 1: there are lines to write
	done chan struct{} // closed when the writer goroutine has exited

	failures atomic.Uint64
	firstErr error // set by the writer goroutine; read after done
}

// OpenAccessLog opens the access log named by output: "stdout", "stderr",
// "off" or a file path (appended to, created 0600).
func OpenAccessLog(output string) (*AccessLog, error) {
	switch output {
	case "off":
		return nil, nil
	case "", "stdout":
		return newAccessLog(os.Stdout, nil, reportWriteError), nil
	case "stderr":
		return newAccessLog(os.Stderr, nil, reportWriteError), nil
	}
	f, err := os.OpenFile(output, // #nosec G304 -- the path is the operator's access_log.output
		os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return newAccessLog(f, f, reportWriteError), nil
}

// reportWriteError goes to the default logger, which the gateway sets to
// its JSON process log.
func reportWriteError(err error) {
	slog.Error("access log write failed; lines are lost and later failures are counted, not logged", "error", err)
}

// newAccessLog starts the writer goroutine on w; Close closes c (if not nil).
func newAccessLog(w io.Writer, c io.Closer, report func(error)) *AccessLog {
	a := &AccessLog{
		w:       w,
		closer:  c,
		report:  report,
		pending: make([]byte, 0, initialBuffer),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	a.cond.L = &a.mu
	go a.run(make([]byte, 0, initialBuffer))
	return a
}

// Enabled reports whether entries are written.
func (a *AccessLog) Enabled() bool { return a != nil }

// Log queues one entry for the writer. It waits only when maxPending bytes
// are already queued. After Close, the entry is dropped: the output may be
// closed, and only handlers that outlived the shutdown drain get there.
func (a *AccessLog) Log(e *AccessEntry) {
	if a == nil {
		return
	}
	now := time.Now()
	a.mu.Lock()
	for len(a.pending) >= maxPending && !a.closed {
		a.cond.Wait()
	}
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.pending = appendAccessJSON(a.pending, now, e)
	a.logged++
	a.mu.Unlock()
	a.signal()
}

// signal wakes the writer without blocking: if a wake-up is already
// queued, the writer has yet to take the pending buffer, and will take
// this line with it.
func (a *AccessLog) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// run is the writer goroutine. batch is its buffer, swapped with pending.
func (a *AccessLog) run(batch []byte) {
	defer close(a.done)
	for {
		<-a.wake
		// The requests in flight log their lines into this batch.
		time.Sleep(gatherWindow)
		a.mu.Lock()
		batch, a.pending = a.pending, batch[:0]
		lines, stop := a.logged, a.closed
		a.mu.Unlock()
		a.cond.Broadcast() // pending has room again
		if len(batch) > 0 {
			if _, err := a.w.Write(batch); err != nil {
				a.failed(err)
			}
		}
		a.mu.Lock()
		a.written = lines
		a.mu.Unlock()
		a.cond.Broadcast() // for Flush
		if stop {
			return // closed is set before the last wake-up: nothing can follow
		}
	}
}

// failed counts a failed write and reports the first. The batch is not
// retried: retrying a full disk or a closed pipe would only spin.
func (a *AccessLog) failed(err error) {
	if a.failures.Add(1) == 1 {
		a.firstErr = err
		a.report(err)
	}
}

// WriteErrors is the number of writes that failed (each loses a batch of
// lines).
func (a *AccessLog) WriteErrors() uint64 {
	if a == nil {
		return 0
	}
	return a.failures.Load()
}

// Flush waits until every entry logged before the call has been written
// (or its write has failed).
func (a *AccessLog) Flush() {
	if a == nil {
		return
	}
	a.mu.Lock()
	// Every logged line has a wake-up queued or is in the batch the writer
	// is on, so written catches up without a nudge.
	for target := a.logged; a.written < target; {
		a.cond.Wait()
	}
	a.mu.Unlock()
}

// Close writes every pending entry, stops the writer and closes the log
// file, if any. Entries logged after Close are dropped. The error reports
// failed writes (over the log's life) and the file's close.
func (a *AccessLog) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	already := a.closed
	a.closed = true
	a.mu.Unlock()
	if already {
		<-a.done
		return nil
	}
	a.cond.Broadcast() // Log calls waiting for room give up
	a.signal()
	<-a.done
	var err error
	if n := a.failures.Load(); n > 0 {
		err = fmt.Errorf("access log: %d writes failed, the first: %w", n, a.firstErr)
	}
	if a.closer != nil {
		err = errors.Join(err, a.closer.Close())
	}
	return err
}
