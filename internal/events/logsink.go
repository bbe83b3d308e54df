package events

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// queueSize bounds each sink's queue: past it, events are dropped and
// counted rather than making a request wait.
const queueSize = 4096

// logSink writes one JSON line per event to its own output.
type logSink struct {
	s     *Stream
	path  string // the file, or "" for stdout and stderr
	queue chan []byte
	wg    sync.WaitGroup

	mu sync.Mutex // w and c: the writer swaps them when the file is opened again
	w  io.Writer
	c  io.Closer
}

func newLogSink(output string, s *Stream) (*logSink, error) {
	ls := &logSink{s: s, queue: make(chan []byte, queueSize)}
	switch output {
	case "stdout":
		ls.w = os.Stdout
	case "stderr":
		ls.w = os.Stderr
	default:
		f, err := openLogFile(output)
		if err != nil {
			return nil, err
		}
		ls.path, ls.w, ls.c = output, f, f
	}
	ls.wg.Add(1)
	go ls.run()
	return ls, nil
}

func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600) // #nosec G304 -- the operator's configured path
	if err != nil {
		return nil, fmt.Errorf("observability.security_events.output: %w", err)
	}
	return f, nil
}

// reopen opens the file again under its name (after a rotation by rename)
// and writes the next batches there; the old file is closed once the batch
// being written to it is done. A file that cannot be opened leaves the
// old one in use.
func (l *logSink) reopen() error {
	if l.path == "" {
		return nil
	}
	f, err := openLogFile(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.c
	l.w, l.c = f, f
	l.mu.Unlock()
	return old.Close()
}

func (l *logSink) name() string { return "log" }

func (l *logSink) send(_ *Event, line []byte) {
	select {
	case l.queue <- line:
	default:
		l.s.dropped.WithLabelValues("log").Inc()
	}
}

func (l *logSink) run() {
	defer l.wg.Done()
	var buf []byte
	for line := range l.queue {
		buf = append(buf[:0], line...)
		// Whatever else is queued goes out in the same write.
	more:
		for {
			select {
			case next, ok := <-l.queue:
				if !ok {
					break more
				}
				buf = append(buf, next...)
			default:
				break more
			}
		}
		l.mu.Lock()
		_, _ = l.w.Write(buf)
		l.mu.Unlock()
	}
}

func (l *logSink) close() {
	close(l.queue)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		_ = l.c.Close()
	}
}
