package gateway

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// certPollInterval is how often certificate files are checked for
// changes. Polling (not inotify) also sees atomic symlink swaps such as
// Kubernetes secret updates.
const certPollInterval = 2 * time.Second

// Run starts the gateway and serves until SIGTERM or SIGINT, reloading on
// SIGHUP and when the config file changes. It returns after draining.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Signals and the file watcher are in place before Start reports
	// ready: a SIGHUP or a config write right after /readyz turns 200 must
	// reload, not kill the process or go unnoticed.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)

	changes := g.watchConfig(ctx)
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

// watchConfig reports changes to the config file. It watches the directory,
// because editors and deploy tools replace files by renaming, and debounces
// bursts of events into one reload.
func (g *Gateway) watchConfig(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		g.log.Warn("config file watching unavailable; reload with SIGHUP", "error", err)
		return out
	}
	abs, _ := filepath.Abs(g.opts.ConfigPath)
	if err := w.Add(filepath.Dir(abs)); err != nil {
		g.log.Warn("config file watching unavailable; reload with SIGHUP", "error", err)
		_ = w.Close()
		return out
	}
	go func() {
		defer w.Close()
		var timer *time.Timer
		var fire <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) != abs || ev.Op == fsnotify.Chmod {
					continue
				}
				if timer == nil {
					timer = time.NewTimer(200 * time.Millisecond)
				} else {
					timer.Reset(200 * time.Millisecond)
				}
				fire = timer.C
			case <-fire:
				fire = nil
				select {
				case out <- struct{}{}:
				default:
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				g.log.Warn("config watcher", "error", err)
			}
		}
	}()
	return out
}
