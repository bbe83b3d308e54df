// Package telemetry holds the gateway's logs: the process log and the JSON
// access log (one line per request). Later it will also hold metrics, traces
// and security alerts.
package telemetry

import (
	"io"
	"log/slog"
)

// NewLogger returns the JSON process logger on w.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
