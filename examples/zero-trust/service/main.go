// Command service is an example service behind Portcullis that accepts
// only requests that came through the gateway: it verifies the gateway's
// identity assertion with github.com/portcullis/portcullis/verify and
// greets the caller the gateway authenticated. See docs/zero-trust.md.
//
//	SERVICE_NAME=orders JWKS_URL=http://127.0.0.1:9901/.well-known/portcullis/jwks.json \
//	  go run ./examples/zero-trust/service
package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/portcullis/portcullis/verify"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	v, err := verify.New(verify.Config{
		// The service's name in the gateway's config: assertions for any
		// other service are refused.
		Audience: getenv("SERVICE_NAME", "orders"),
		// The gateway's key set, on its operations listener.
		JWKSURL: getenv("JWKS_URL", "http://127.0.0.1:9901"+verify.JWKSPath),
		Issuer:  getenv("ISSUER", verify.DefaultIssuer),
		Leeway:  2 * time.Second,
		Logger:  log,
	})
	if err != nil {
		log.Error("verify", "error", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := v.Prefetch(ctx); err != nil {
		// Not fatal: keys are fetched again on the first request.
		log.Warn("the gateway's keys could not be fetched yet", "error", err)
	}
	cancel()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		id, _ := verify.FromContext(r.Context()) // always set behind the middleware
		if !id.Anonymous && !id.HasScope("orders:read") {
			http.Error(w, "missing scope orders:read", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"hello":  id.Consumer,
			"groups": id.Groups,
			"route":  id.Route,
		})
	})
	addr := getenv("LISTEN", "127.0.0.1:9001")
	srv := &http.Server{Addr: addr, Handler: v.Middleware(mux), ReadHeaderTimeout: 10 * time.Second}
	// Bound before "listening" is logged: whoever waits for that line can
	// connect at once.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("listen", "error", err)
		os.Exit(1)
	}
	log.Info("listening", "address", addr)
	if err := srv.Serve(ln); err != nil {
		log.Error("serve", "error", err)
		os.Exit(1)
	}
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
