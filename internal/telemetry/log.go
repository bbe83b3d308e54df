// Package telemetry holds the gateway's logs: the JSON process log, the
// routing of libraries' own log output into it (libraries.go), and the JSON
// access log (one line per request). Metrics are in internal/metrics, the
// security event stream in internal/events.
package telemetry

import (
	"io"
	"log/slog"
)

// NewLogger returns the JSON process logger on w.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
