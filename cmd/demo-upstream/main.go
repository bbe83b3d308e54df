// Command demo-upstream is a tiny HTTP server to put behind Portcullis in the
// quickstart and the benchmarks. It answers every request with a JSON
// description of what it received, so a newcomer can see exactly what the
// gateway forwarded (rewritten path, X-Forwarded-For, X-Request-Id, ...).
//
// Endpoints (see handler.go):
//
//	GET /ok        "ok", 2 bytes of text/plain (for benchmarks)
//	GET /events    5 server-sent events, 200 ms apart
//	GET /redirect  302 to this server's own absolute URL, to show Location rewriting
//	anything else  JSON echo of the request
//
// Usage:
//
//	demo-upstream -addr 127.0.0.1:9000 -name demo
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on (host:port)")
	name := flag.String("name", "demo-upstream", "server name reported in every echo answer")
	flag.Parse()

	if err := run(*addr, *name); err != nil {
		log.Printf("demo-upstream: %v", err)
		os.Exit(1)
	}
}

// run serves until SIGINT or SIGTERM, then shuts down gracefully.
func run(addr, name string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// The real address (not the flag) so that -addr :0 still yields a
	// usable absolute URL for /redirect.
	self := "http://" + ln.Addr().String()

	srv := &http.Server{
		Handler:           newHandler(name, self),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Printf("demo-upstream %q listening on %s", name, self)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
