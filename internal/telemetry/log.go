// Package telemetry holds the gateway's logs: the process log and the JSON
// access log (one line per request). Later it will also hold metrics, traces
// and security alerts.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// NewLogger returns the JSON process logger on w.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// AccessEntry is one access log line. It never holds credentials: the
// gateway logs the path without its query string and no request headers.
type AccessEntry struct {
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

// AccessLog writes access entries as JSON lines. A nil *AccessLog logs nothing.
type AccessLog struct {
	logger *slog.Logger
	closer io.Closer
}

// OpenAccessLog opens the access log named by output: "stdout", "stderr",
// "off" or a file path (appended to, created 0600).
func OpenAccessLog(output string) (*AccessLog, error) {
	var w io.Writer
	var c io.Closer
	switch output {
	case "off":
		return nil, nil
	case "", "stdout":
		w = os.Stdout
	case "stderr":
		w = os.Stderr
	default:
		f, err := os.OpenFile(output, // #nosec G304 -- the path is the operator's access_log.output
			os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("open access log: %w", err)
		}
		w, c = f, f
	}
	return &AccessLog{logger: slog.New(slog.NewJSONHandler(w, nil)), closer: c}, nil
}

// Close closes the log file, if any.
func (a *AccessLog) Close() error {
	if a == nil || a.closer == nil {
		return nil
	}
	return a.closer.Close()
}

// Enabled reports whether entries are written.
func (a *AccessLog) Enabled() bool { return a != nil }

// Log writes one entry.
func (a *AccessLog) Log(e *AccessEntry) {
	if a == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", e.RequestID),
		slog.String("client", e.ClientAddr),
		slog.String("method", e.Method),
		slog.String("host", e.Host),
		slog.String("path", e.Path),
		slog.String("proto", e.Proto),
		slog.String("route", e.Route),
		slog.String("service", e.Service),
		slog.String("upstream", e.Upstream),
		slog.Int("status", e.Status),
		slog.Int64("bytes_in", e.BytesIn),
		slog.Int64("bytes_out", e.BytesOut),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.Float64("upstream_ms", float64(e.UpstreamLatency.Microseconds())/1000),
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	a.logger.LogAttrs(context.Background(), slog.LevelInfo, "access", attrs...)
}
