package gateway

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// certPollInterval is how often certificate files are checked for
// changes. Polling (not inotify) also sees atomic symlink swaps such as
// Kubernetes secret updates.
const certPollInterval = 2 * time.Second

// Run starts the gateway and serves until SIGTERM or SIGINT, reloading on
// SIGHUP and when the config file is replaced (see configfile.go). It
// returns after draining.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Signals and the file watcher are in place before Start reports
	// ready: a SIGHUP or a config write right after /readyz turns 200 must
	// reload, not kill the process or go unnoticed.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	changes := g.watchConfig(ctx, g.opts.Watch)
	if err := g.Start(); err != nil {
		return err
	}
	certTick := time.NewTicker(certPollInterval)
	defer certTick.Stop()

	for {
		select {
		case <-ctx.Done():
			return g.drain()
		case s := <-sigs:
			if s == syscall.SIGHUP {
				_ = g.Reload()
				continue
			}
			g.log.Info("shutting down", "signal", s.String(), "drain_timeout", g.DrainTimeout().String())
			return g.drain()
		case <-changes:
			_ = g.Reload()
		case <-certTick.C:
			g.refreshCertificates()
		}
	}
}

func (g *Gateway) drain() error {
	ctx, cancel := context.WithTimeout(context.Background(), g.DrainTimeout())
	defer cancel()
	err := g.Shutdown(ctx)
	if err != nil {
		g.log.Warn("drain deadline reached; remaining connections closed", "error", err)
	} else {
		g.log.Info("stopped")
	}
	return nil
}
