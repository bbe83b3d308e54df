// Package gateway runs Portcullis: it compiles configuration into immutable
// snapshots, binds the public listeners (plain and TLS) and the operations
// listener, proxies requests through the current snapshot, swaps snapshots
// atomically on reload, and drains in-flight requests on shutdown.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/concurrency"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/events"
	"github.com/portcullis/portcullis/internal/http1"
	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/metrics"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/telemetry"
	"github.com/portcullis/portcullis/internal/tlspolicy"
	"github.com/portcullis/portcullis/internal/tracing"
	"github.com/portcullis/portcullis/internal/upstream"
)

// Options configure a Gateway.
type Options struct {
	ConfigPath string
	Logger     *slog.Logger
	Version    string
	// Watch is when the config file reloads by itself: WatchReplace
	// (default), WatchContent or WatchOff (see configfile.go).
	Watch string
}

// Gateway is a running Portcullis instance.
type Gateway struct {
	opts  Options
	log   *slog.Logger
	snap  atomic.Pointer[Snapshot]
	reg   *upstream.Registry
	state *pipeline.SharedValues // policy state that outlives snapshots
	ids   *requestIDs
	// accessLog is the log requests write to; a reload opens it again
	// (accesslog.go).
	accessLog atomic.Pointer[telemetry.AccessLog]
	logs      accessLogs
	// detector is the intrusion detector (nil when not configured); it
	// lives beside the snapshots and hands its bans over on reload.
	detector atomic.Pointer[intrusion.Detector]
	// control is the admin API and its store (nil without an admin block).
	control *controlPlane
	// obs records metrics of each request (observe.go); detTotals keeps
	// intrusion detection's counters across reloads (metrics.go).
	obs       *observer
	detTotals detectorTotals
	// stream is the security event stream (nil: off; events.go).
	stream      atomic.Pointer[events.Stream]
	evFam       *events.Families
	streamCfg   config.SecurityEvents
	streamBuilt bool
	// tracer is the OpenTelemetry tracer (nil: tracing off; tracing.go).
	tracer atomic.Pointer[tracing.Tracer]
	// alerts evaluates threshold alerts (alerts.go).
	alerts *alertLoop

	reloadMu  sync.Mutex
	listeners []config.Listener // as bound at start; changing them needs a restart
	servers   []*publicServer
	// clientCAs are the client certificate CAs of the HTTPS listeners
	// and the admin listener, set at start, reloaded with certificates.
	clientCAs []*clientCAs
	bound     map[string]string // listener name -> bound address
	ops       *http.Server
	opsAddr   string
	ready     atomic.Bool
	reloads   atomic.Uint64
	failures  atomic.Uint64
	lastFail  reloadStatus
	wg        sync.WaitGroup

	seenMu sync.Mutex
	seen   os.FileInfo // the config file last read, to recognise a replacement
}

// Load reads and validates a config file and compiles it against a
// throwaway registry: what `portcullis validate` runs.
func Load(path string) (*config.Config, error) {
	cfg, _, _, err := loadConfigFile(path)
	if err != nil {
		return nil, err
	}
	reg := upstream.NewRegistry()
	defer reg.Close()
	if _, err := Compile(cfg, reg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// New loads and compiles the config; nothing is bound yet.
func New(opts Options) (*Gateway, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg, data, fi, err := loadConfigFile(opts.ConfigPath)
	if err != nil {
		return nil, err
	}
	g := &Gateway{opts: opts, log: opts.Logger, reg: upstream.NewRegistry(), state: pipeline.NewSharedValues(), ids: newRequestIDs(), bound: map[string]string{}}
	g.reg.SetLogger(opts.Logger) // upstream TLS files reloaded or failing to
	g.obs = newObserver(metrics.Of(g.state))
	g.obs.reg.MustRegister(newStateCollector(g))
	g.evFam = events.NewFamilies(g.obs.reg)
	g.alerts = newAlertLoop(g)
	if err := g.openControl(cfg); err != nil {
		g.reg.Close()
		return nil, err
	}
	s, err := g.compile(cfg)
	if err != nil {
		g.reg.Close()
		g.closeControl()
		return nil, err
	}
	if err := g.swapAccessLog(cfg.AccessLog.Output); err != nil {
		g.reg.Close()
		return nil, err
	}
	if err := g.swapStream(s.cfg); err != nil {
		g.reg.Close()
		_ = g.logs.closeAll(&g.accessLog)
		return nil, err
	}
	if err := g.swapDetector(s.cfg); err != nil {
		g.reg.Close()
		_ = g.logs.closeAll(&g.accessLog)
		g.stream.Load().Close()
		return nil, err
	}
	if err := g.swapTracer(s.cfg); err != nil {
		g.reg.Close()
		_ = g.logs.closeAll(&g.accessLog)
		g.stream.Load().Close()
		if d := g.detector.Load(); d != nil {
			d.Close()
		}
		g.closeControl()
		return nil, err
	}
	if err := g.recordConfig(context.Background(), nil, "start", cfg, data); err != nil {
		g.reg.Close()
		_ = g.logs.closeAll(&g.accessLog)
		g.stream.Load().Close()
		g.closeControl()
		g.tracer.Load().Close()
		return nil, err
	}
	g.snap.Store(s)
	g.listeners = cfg.Listeners
	g.setSeen(fi)
	return g, nil
}

// Start binds every listener, then starts serving. If any address cannot
// be bound, nothing serves and the error names the listener.
func (g *Gateway) Start() error {
	cfg := g.snap.Load().cfg
	var lns []net.Listener
	closeAll := func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}
	for _, lc := range cfg.Listeners {
		ln, err := net.Listen("tcp", lc.Address)
		if err != nil {
			closeAll()
			return fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		lns = append(lns, ln)
		g.bound[lc.Name] = ln.Addr().String()
	}
	var opsLn net.Listener
	if !cfg.Ops.Disable {
		var err error
		opsLn, err = net.Listen("tcp", cfg.Ops.Address)
		if err != nil {
			closeAll()
			return fmt.Errorf("ops listener: %w", err)
		}
		g.opsAddr = opsLn.Addr().String()
	}
	if err := g.bindAdmin(); err != nil {
		closeAll()
		if opsLn != nil {
			_ = opsLn.Close()
		}
		return err
	}

	errLog := log.New(&slogWriter{log: g.log}, "", 0)
	servers := make([]*publicServer, len(cfg.Listeners))
	for i, lc := range cfg.Listeners {
		srv, err := g.newServer(lc, errLog)
		if err != nil {
			closeAll()
			if opsLn != nil {
				_ = opsLn.Close()
			}
			return err
		}
		servers[i] = srv
	}
	for i, lc := range cfg.Listeners {
		srv := servers[i]
		g.servers = append(g.servers, srv)
		ln := lns[i]
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			// Connection limits come first: a refused connection costs no
			// TLS handshake and no HTTP parsing.
			lim := concurrency.ConnLimits{Max: lc.MaxConnections, PerClient: lc.MaxConnectionsPerClient, RefuseHTTP: lc.TLS == nil,
				Exempt: func(a netip.Addr) bool { return g.snap.Load().trusted.contains(a) },
				Client: func(a netip.Addr) netip.Addr { return config.ClientKey(a, g.snap.Load().cfg.ClientIPv6Prefix) }}
			if err := srv.serve(concurrency.NewListener(ln, lim)); err != nil {
				g.log.Error("listener stopped", "listener", lc.Name, "error", err)
			}
		}()
		g.log.Info("listening", "listener", lc.Name, "address", ln.Addr().String(), "tls", lc.TLS != nil)
	}
	if opsLn != nil {
		g.ops = operatorServer(g.opsHandler(), errLog)
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			if err := g.ops.Serve(opsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				g.log.Error("ops listener stopped", "error", err)
			}
		}()
		g.log.Info("ops listening", "address", g.opsAddr)
		g.warnOpsOpen(false, cfg.Ops.Allow)
	}
	g.warnClearSinks(nil, cfg)
	g.startControl(errLog)
	g.wg.Add(1)
	go g.alerts.run()
	g.ready.Store(true)
	return nil
}

func (g *Gateway) newServer(lc config.Listener, errLog *log.Logger) (*publicServer, error) {
	var handler http.Handler
	if lc.RedirectToHTTPS != nil {
		handler = redirectHandler(lc.RedirectToHTTPS.Port)
	} else {
		ph := &proxyHandler{gw: g, listener: lc.Name, tls: lc.TLS != nil, keepSeparatorHeaders: lc.AllowUnderscoreAndDotHeaders}
		if lc.TLS != nil && lc.TLS.HSTS != nil {
			ph.hsts = hstsValue(lc.TLS.HSTS)
		}
		if lc.TLS != nil {
			ph.allowSNIMismatch = lc.TLS.AllowSNIHostMismatch
		}
		handler = ph
	}
	readHeader := lc.ReadHeaderTimeout.Or(10 * time.Second)
	read := lc.ReadTimeout.Or(60 * time.Second)
	write := lc.WriteTimeout.D()
	idle := lc.IdleTimeout.Or(120 * time.Second)
	maxHeader := int(lc.MaxHeaderBytes.Or(64 << 10))
	ps := &publicServer{
		name:    lc.Name,
		handler: handler,
		h1: &http1.Server{
			Handler:           handler,
			Refuse:            g.refuseMalformed,
			MaxHeaderBytes:    maxHeader,
			ReadHeaderTimeout: readHeader,
			ReadTimeout:       read,
			WriteTimeout:      write,
			IdleTimeout:       idle,
			ErrorLog:          errLog,
		},
		log: g.log,
	}
	if lc.TLS == nil {
		return ps, nil
	}
	name := lc.Name
	minVersion, err := tlspolicy.Version(lc.TLS.MinVersion, tls.VersionTLS12)
	if err != nil {
		return nil, fmt.Errorf("listener %q: tls.%w", lc.Name, err)
	}
	ps.tlsConfig = tlspolicy.Config(minVersion)
	ps.tlsConfig.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cs := g.snap.Load().certs[name]
		if cs == nil {
			return nil, errors.New("no certificate")
		}
		return cs.get(hello), nil
	}
	// Set explicitly: per-SNI configs (client auth) are clones made from it.
	ps.tlsConfig.NextProtos = []string{"http/1.1"}
	if !lc.HTTP2.Disable {
		ps.tlsConfig.NextProtos = []string{"h2", "http/1.1"}
	}
	if ca := lc.TLS.ClientAuth; ca != nil {
		// Revocation before the client CAs: the configs handed to
		// handshakes are clones of this one and must carry it.
		rc, err := revocationChecker(ca, g.log)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", lc.Name, err)
		}
		if rc != nil {
			ps.tlsConfig.VerifyConnection = rc.VerifyConnection
		}
		cas, err := newClientCAs(ps.tlsConfig, ca.CAFile, lc.Name, clientAuthMode(ca), ca.Hosts, rc)
		if err != nil {
			return nil, fmt.Errorf("listener %q: client_auth.ca_file: %w", lc.Name, err)
		}
		g.clientCAs = append(g.clientCAs, cas)
	}
	ps.handshake = handshakeTimeout(readHeader, read, write)
	if !lc.HTTP2.Disable {
		// Only connections that negotiated h2 reach it (publicServer.serveTLS).
		protocols := new(http.Protocols)
		protocols.SetHTTP1(true)
		protocols.SetHTTP2(true)
		ps.h2 = &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: readHeader,
			ReadTimeout:       read,
			WriteTimeout:      write,
			IdleTimeout:       idle,
			MaxHeaderBytes:    maxHeader,
			ErrorLog:          errLog,
			TLSConfig:         ps.tlsConfig,
			Protocols:         protocols,
			HTTP2: &http.HTTP2Config{
				MaxConcurrentStreams: int(nonZero(lc.HTTP2.MaxConcurrentStreams, 250)),
				MaxReadFrameSize:     int(nonZero(lc.HTTP2.MaxReadFrameSize, 1<<20)),
			},
		}
	}
	return ps, nil
}

func nonZero(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

func hstsValue(h *config.HSTS) string {
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.D()/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// redirectHandler answers every request with a 308 to the same URL on HTTPS.
func redirectHandler(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		if host == "" || r.URL.Path == "" || r.URL.Path[0] != '/' {
			pipeline.NewProblem(http.StatusBadRequest, "The request is malformed.", "redirect without host").Write(w, "")
			return
		}
		if port != 0 && port != 443 {
			host = net.JoinHostPort(host, strconv.Itoa(port))
		} else if hostOnly(host) != host {
			host = "[" + host + "]"
		}
		target := "https://" + host + r.URL.RequestURI()
		w.Header().Set("Location", target)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// Reload compiles the config file again and swaps it in. A config that
// fails to load or compile never goes live: the old snapshot keeps serving.
func (g *Gateway) Reload() error { return g.reloadAs(context.Background(), nil) }

// reloadAs is Reload on behalf of an admin (nil: the file changed or a
// signal asked): the new config is recorded in the config history, and
// for an admin the record must succeed before it goes live.
func (g *Gateway) reloadAs(ctx context.Context, actor *store.Actor) error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	prev := g.snap.Load().cfg
	err := g.reload(ctx, actor)
	if err != nil {
		g.failures.Add(1)
		g.lastFail.set(err)
		g.log.Error("reload failed; the previous config keeps serving", "event", "config_reload_failed", "config", g.opts.ConfigPath, "error", err)
		return err
	}
	g.reloads.Add(1)
	g.lastFail.set(nil)
	g.log.Info("config reloaded", "event", "config_reloaded", "config", g.opts.ConfigPath, "sha256", g.snap.Load().file.SHA256)
	g.warnChanges(prev)
	return nil
}

// warnChanges logs, once a new config is live (a reload, a rollback), the
// exposures it opened that prev, the config before it, did not have.
func (g *Gateway) warnChanges(prev *config.Config) {
	now := g.snap.Load().cfg
	g.warnOpsOpen(opsOpenToAll(g.opsAddr, prev.Ops.Allow), now.Ops.Allow)
	g.warnClearSinks(clearSinks(prev), now)
}

// warnOpsOpen logs that the ops listener is open to every peer that
// reaches it (opsOpenToAll) when allow, its allow list now, leaves it so
// and it was not open already: at start, and on the reload or rollback
// that removes the list (ops.allow applies on reload; the listener stays
// where it is bound). A reload that changes nothing about it says nothing
// again.
func (g *Gateway) warnOpsOpen(wasOpen bool, allow []string) {
	if g.opsAddr == "" || wasOpen || !opsOpenToAll(g.opsAddr, allow) {
		return
	}
	g.log.Warn("the ops listener is open to every peer that reaches it: ops.allow is not set and its address is not loopback, so /stats/auth (API key ids, client addresses), the metrics and the dashboard are readable by any of them; list the operators', scrapers' and probes' networks in ops.allow (docs/configuration.md#ops)",
		"address", g.opsAddr)
}

// reload loads the config file and swaps it in, unless the file changed
// while it was loaded: a file that grew from what was read is still being
// written and is not applied; one replaced meanwhile is loaded again.
func (g *Gateway) reload(ctx context.Context, actor *store.Actor) error {
	for range 3 {
		data, fi, err := readConfigFile(g.opts.ConfigPath)
		if err != nil {
			return err
		}
		g.setSeen(fi) // tried, whatever it holds: only a new file is tried again
		cfg, err := parseConfig(g.opts.ConfigPath, data)
		if err != nil {
			return err
		}
		s, err := g.check(cfg)
		if err != nil {
			return err
		}
		changed, err := changedSince(g.opts.ConfigPath, data)
		if !changed {
			if err := g.recordConfig(ctx, actor, "reload", cfg, data); err != nil {
				return err
			}
			return g.apply(cfg, s)
		}
		g.reg.Prune(g.snap.Load().services) // the pools only s would have used
		if err != nil {
			return err
		}
	}
	return errors.New("the config file kept changing while it was loaded: not applied")
}

// check compiles cfg for a reload, refusing what needs a restart.
func (g *Gateway) check(cfg *config.Config) (*Snapshot, error) {
	if !reflect.DeepEqual(listenerShape(cfg.Listeners), listenerShape(g.listeners)) {
		return nil, errors.New("listeners changed (addresses, timeouts or TLS settings other than certificates): restart to apply")
	}
	// The listener's address and switch need a restart; its allow list
	// is read from the snapshot and applies on reload.
	if old := g.snap.Load().cfg.Ops; cfg.Ops.Address != old.Address || cfg.Ops.Disable != old.Disable {
		return nil, errors.New("ops listener changed: restart to apply")
	}
	return g.compile(cfg)
}

// apply makes s, compiled from cfg, the live snapshot.
func (g *Gateway) apply(_ *config.Config, s *Snapshot) error {
	// First, as it is the part most likely to fail (a directory gone): a
	// failed reload then changes nothing else.
	if err := g.swapAccessLog(s.cfg.AccessLog.Output); err != nil {
		return err
	}
	// s.cfg, not the file: it holds the store's ${store:NAME} secrets.
	if err := g.swapStream(s.cfg); err != nil {
		return err
	}
	if err := g.swapDetector(s.cfg); err != nil {
		return err
	}
	if err := g.swapTracer(s.cfg); err != nil {
		return err
	}
	g.snap.Store(s)
	g.reg.Prune(s.services)
	return nil
}

// swapDetector builds the intrusion detector of cfg (taking over the bans
// of the current one) and retires the old one.
func (g *Gateway) swapDetector(cfg *config.Config) error {
	old := g.detector.Load()
	idc := cfg.IntrusionDetection
	if idc == nil && cfg.Admin != nil {
		idc = &config.IntrusionDetection{} // no rules: it holds the bans made through the admin API
	}
	var d *intrusion.Detector
	if idc != nil {
		var err error
		if d, err = intrusion.NewDetector(idc, cfg.ClientIPv6Bits(), g.log, old); err != nil {
			return err
		}
	}
	g.detTotals.swap(&g.detector, d, old)
	if old != nil {
		old.Close()
	}
	return nil
}

// listenerShape is what of a listener is fixed at bind time: everything
// but the certificate files, which reload.
func listenerShape(ls []config.Listener) []config.Listener {
	out := make([]config.Listener, len(ls))
	for i, l := range ls {
		out[i] = l
		if l.TLS != nil {
			t := *l.TLS
			t.Certificates = nil
			out[i].TLS = &t
		}
	}
	return out
}

// Shutdown stops accepting, marks the gateway not ready, and waits for
// in-flight requests until ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.ready.Store(false)
	var wg sync.WaitGroup
	errs := make([]error, len(g.servers))
	for i, srv := range g.servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = srv.shutdown(ctx)
		}()
	}
	wg.Wait()
	if g.ops != nil {
		_ = g.ops.Shutdown(ctx)
	}
	g.stopControl(ctx)
	g.alerts.close()
	g.wg.Wait()
	g.reg.Close()
	// Long-lived policy state (JWKS refreshers, caches) stops here.
	g.state.Range(func(_ string, v any) {
		if c, ok := v.(interface{ Close() }); ok {
			c.Close()
		}
	})
	g.stream.Load().Close() // after the drain: the last refusals' events are written
	g.tracer.Load().Close() // and the last spans exported
	if d := g.detector.Load(); d != nil {
		d.Close()
	}
	_ = g.logs.closeAll(&g.accessLog)
	return errors.Join(errs...)
}

// Addr returns the address a listener is bound to ("" if unknown).
func (g *Gateway) Addr(listener string) string { return g.bound[listener] }

// OpsAddr returns the operations listener's bound address.
func (g *Gateway) OpsAddr() string { return g.opsAddr }

// DrainTimeout is how long Shutdown should wait for in-flight requests.
func (g *Gateway) DrainTimeout() time.Duration {
	return g.snap.Load().cfg.Shutdown.DrainTimeout.Or(30 * time.Second)
}

// refreshCertificates reloads certificate and client CA files that
// changed on disk: the HTTPS listeners' and the admin listener's.
func (g *Gateway) refreshCertificates() {
	for name, cs := range g.snap.Load().certs {
		cs.refreshAll(g.log, name)
	}
	if cp := g.control; cp != nil && cp.cert != nil {
		cp.cert.refreshAll(g.log, adminCertOwner)
	}
	for _, c := range g.clientCAs {
		c.refresh(g.log)
	}
}

// slogWriter routes net/http's error log (TLS handshake errors, bad
// requests) to the structured log at debug level.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.log.Debug("http server", "message", string(trimNL(p)))
	return len(p), nil
}

func trimNL(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}
