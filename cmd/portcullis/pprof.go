//go:build pprof

package main

// Built only with -tags pprof (docs/performance.md, "Profiling"): serves net/http/pprof on
// 127.0.0.1:6060 for profiling under load. Never in a release binary.

import (
	"net/http"
	_ "net/http/pprof" // #nosec G108 -- profiling build only, loopback only
	"time"
)

func init() {
	go func() {
		srv := &http.Server{Addr: "127.0.0.1:6060", ReadHeaderTimeout: 5 * time.Second}
		_ = srv.ListenAndServe()
	}()
}
