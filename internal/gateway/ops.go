package gateway

import (
	"encoding/json"
	"log"
	"net/http"
	"net/netip"
	"sort"
	"time"

	"github.com/portcullis/portcullis/internal/auth"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/dashboard"
)

// operatorServer is the net/http server of the listeners that serve
// operators rather than traffic: the ops listener (health, metrics, the
// dashboard) and the admin API. Both answer short requests, so both bound
// what a client may hold: 5 s for the head, 30 s for the whole request,
// 60 s to write the answer, 2 minutes idle, 64 KiB of header (431 above).
// Without them a client that opens connections and never finishes a
// request, or keeps them idle, holds a file descriptor each for as long as
// it likes.
func operatorServer(h http.Handler, errLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
}

// opsHandler serves the operations listener. Nothing here is ever served
// on a public listener.
func (g *Gateway) opsHandler() http.Handler {
	return g.opsAllowed(g.opsMux())
}

// opsAllowed refuses, with 403, a peer outside ops.allow (read from the
// live snapshot, so a reload changes it). The listener usually sits where
// services can reach it, for the identity assertion's JWKS; without the
// list, any of them could also read /stats/auth (every API key id and the
// last client address of each), the metrics, the readiness detail and the
// dashboard. The JWKS stays open: public keys, and the services need it.
func (g *Gateway) opsAllowed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := g.snap.Load(); s != nil && len(s.opsAllow) > 0 && r.URL.Path != jwksPath {
			peer, err := netip.ParseAddrPort(r.RemoteAddr)
			if err != nil || !s.opsAllow.contains(peer.Addr()) {
				writeJSON(w, http.StatusForbidden, map[string]any{"error": "this address may not use the operations listener (ops.allow)"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) opsMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !g.ready.Load() || g.snap.Load() == nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready"})
			return
		}
		body := map[string]any{
			"status":          "ready",
			"reloads":         g.reloads.Load(),
			"reload_failures": g.failures.Load(),
			"config_sha256":   g.snap.Load().file.SHA256, // which content of the file is live
		}
		if last := g.lastFail.view(); last != nil {
			body["last_reload_error"] = last // the old config still serves
		}
		// A certificate whose files fail to reload keeps the previous
		// one serving: the node stays ready, the failure shows here.
		var certErrs []map[string]any
		for name, cs := range g.snap.Load().certs {
			certErrs = append(certErrs, cs.failures(name)...)
		}
		if cp := g.control; cp != nil && cp.cert != nil {
			certErrs = append(certErrs, cp.cert.failures(adminCertOwner)...)
		}
		for _, c := range g.clientCAs {
			certErrs = append(certErrs, c.failures()...)
		}
		if len(certErrs) > 0 {
			sort.Slice(certErrs, func(i, j int) bool {
				a, b := certErrs[i], certErrs[j]
				return certErrKey(a) < certErrKey(b)
			})
			body["certificate_errors"] = certErrs
		}
		// A store outage does not make the node unready: it serves what
		// it holds. It shows here, for operators and alerting.
		if g.control != nil {
			body["store"] = g.control.storeStatus()
		}
		writeJSON(w, http.StatusOK, body)
	})
	// What authentication saw, for operators: outcomes per route, method
	// and reason (the portcullis_auth_total counters), and API key usage
	// (ids only, never keys), in snake_case like the rest of the JSON
	// (docs/observability.md#operations-endpoints).
	mux.HandleFunc("GET /stats/auth", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"authentication": auth.CountsOf(g.state),
			"api_keys":       auth.UsageOf(g.state),
		})
	})
	// The identity assertion's public keys, for services (verify package).
	mux.HandleFunc("GET "+jwksPath, g.jwksHandler)
	// Prometheus metrics (metrics.go); every label value is a configured
	// name or one of a fixed set.
	mux.Handle("GET /metrics", g.metricsHandler())
	// The dashboard (internal/dashboard): a page reading /metrics and, with
	// an admin token, the admin API's read endpoints through its relay.
	var adminAPI http.Handler
	if g.control != nil {
		adminAPI = g.control.api.Handler()
	}
	mux.Handle(dashboard.Prefix, dashboard.Handler(adminAPI))
	mux.Handle("GET /dashboard", http.RedirectHandler(dashboard.Prefix, http.StatusFound))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// certErrKey orders /readyz's certificate_errors: by listener, then file
// (a certificate's cert_file or a client CA's ca_file).
func certErrKey(e map[string]any) string {
	file, _ := e["cert_file"].(string)
	if ca, ok := e["ca_file"].(string); ok {
		file = ca
	}
	listener, _ := e["listener"].(string)
	return listener + "\x00" + file
}

// opsOpenToAll reports an ops listener that every peer reaching it may
// use: bound beyond loopback (a wildcard address included; loopback as the
// admin listener judges it, config.IsLoopbackAddress) with no ops.allow.
// It is allowed (a private network may be the guard), and logged at
// start: the listener serves API key ids and client addresses.
func opsOpenToAll(addr string, allow []string) bool {
	return len(allow) == 0 && !config.IsLoopbackAddress(addr)
}
