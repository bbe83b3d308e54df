package gateway

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/telemetry"
)

// The access log across reloads.
//
// A reload opens the log again, so that what the file says is what serves:
//   - a changed access_log.output takes effect (it used to be read at start
//     only: a reload that moved the log to a file went on writing to stdout,
//     and said nothing);
//   - a file is opened again even when its path did not change, so that a
//     log rotated by renaming (logrotate without copytruncate, then SIGHUP,
//     as for nginx's USR1) is written anew under its name instead of into
//     the renamed file forever.
//
// Requests take the log when they write their line (one atomic load), so a
// request that ends after the swap writes to the new log. One that took the
// old log just before the swap still writes its line there: the old log is
// closed (everything pending written) accessLogRetire after the swap, or at
// shutdown, whichever comes first. No line is dropped.

// accessLogRetire is how long a replaced log stays open for the requests
// that took it just before the swap: far longer than the few instructions
// between taking the log and queuing the line.
const accessLogRetire = time.Second

// accessLogs holds the gateway's current access log's output and the
// replaced logs not yet closed.
type accessLogs struct {
	mu      sync.Mutex
	output  string
	opened  bool
	retired map[*telemetry.AccessLog]bool
}

// swapAccessLog makes the log of output the one requests write to. stdout,
// stderr and off are kept when they did not change; a file is opened again.
// A log that cannot be opened leaves the current one in place.
func (g *Gateway) swapAccessLog(output string) error {
	l := &g.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.opened && output == l.output && !config.IsLogFile(output) {
		return nil
	}
	al, err := telemetry.OpenAccessLog(output)
	if err != nil {
		return err
	}
	old := g.accessLog.Swap(al)
	l.output, l.opened = output, true
	if old != nil {
		if l.retired == nil {
			l.retired = map[*telemetry.AccessLog]bool{}
		}
		l.retired[old] = true
		time.AfterFunc(accessLogRetire, func() { l.retire(old) })
	}
	return nil
}

// retire closes a replaced log once, unless shutdown already did.
func (l *accessLogs) retire(old *telemetry.AccessLog) {
	l.mu.Lock()
	mine := l.retired[old]
	delete(l.retired, old)
	l.mu.Unlock()
	if mine {
		_ = old.Close()
	}
}

// closeAll closes the current log and every replaced one still open: at
// shutdown, after the drain, and when start fails.
func (l *accessLogs) closeAll(cur *atomic.Pointer[telemetry.AccessLog]) error {
	l.mu.Lock()
	logs := []*telemetry.AccessLog{cur.Load()}
	for old := range l.retired {
		logs = append(logs, old)
	}
	clear(l.retired)
	l.mu.Unlock()
	var err error
	for _, al := range logs {
		err = errors.Join(err, al.Close())
	}
	return err
}
