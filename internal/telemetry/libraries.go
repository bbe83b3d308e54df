package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Every line the gateway process writes is JSON (docs/observability.md,
// "The process log"). The log package's default logger follows
// slog.SetDefault; net/http's servers get an ErrorLog (gateway); the WAF
// gets a debug logger (waf); the libraries that write to standard error
// through a logger of their own are routed here.

// RouteLibraryLogs sends the output of libraries with their own loggers
// (the Redis client, which otherwise prints "redis: ..." lines to
// standard error) to l as JSON, with a component field.
func RouteLibraryLogs(l *slog.Logger) {
	redis.SetLogger(redisLogger{l.With("component", "redis")})
}

// redisLogger is go-redis's Logging interface over slog.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.WarnContext(ctx, strings.TrimSpace(fmt.Sprintf(format, v...)))
}
