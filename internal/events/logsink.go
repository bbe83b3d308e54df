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
	w     io.Writer
	c     io.Closer
	queue chan []byte
	wg    sync.WaitGroup
}

func newLogSink(output string, s *Stream) (*logSink, error) {
	ls := &logSink{s: s, queue: make(chan []byte, queueSize)}
	switch output {
	case "stdout":
		ls.w = os.Stdout
	case "stderr":
		ls.w = os.Stderr
	default:
		f, err := os.OpenFile(output, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600) // #nosec G304 -- the operator's configured path
		if err != nil {
			return nil, fmt.Errorf("observability.security_events.output: %w", err)
		}
		ls.w, ls.c = f, f
	}
	ls.wg.Add(1)
	go ls.run()
	return ls, nil
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
		_, _ = l.w.Write(buf)
	}
}

func (l *logSink) close() {
	close(l.queue)
	l.wg.Wait()
	if l.c != nil {
		_ = l.c.Close()
	}
}
