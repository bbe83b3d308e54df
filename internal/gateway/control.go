package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/admin"
	"github.com/portcullis/portcullis/internal/auth"
	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/intrusion"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/tlspolicy"
)

// The control plane inside a gateway: the store's state kept in memory
// and compiled into the snapshot with the file's config (the same compile
// as a reload, so a store change is checked exactly like a config
// change), the loop that follows the store (PostgreSQL notifications, a
// revision poll, a periodic full resync), usage flushes, and the admin
// listener. The request path reads only the snapshot: a store outage
// stops changes, never traffic.

// controlPlane is nil on a gateway without an admin block.
type controlPlane struct {
	g     *Gateway
	cfg   *config.Admin // as at start; changing it needs a restart (keys aside)
	st    store.Store
	api   *admin.Server
	state atomic.Pointer[store.State]
	node  string

	syncMu     sync.Mutex
	banRev     int64
	banLoaded  bool
	problems   string
	storeErr   atomic.Pointer[error]
	storeErrs  atomic.Uint64
	syncFails  atomic.Uint64
	lastSyncOK atomic.Int64

	flushMu sync.Mutex
	flushed map[string]auth.KeyUsage

	srv  *http.Server
	ln   net.Listener
	addr string
	// cert is the admin listener's certificate (admin.tls), reloaded
	// when its files change as the HTTPS listeners' are; nil without TLS.
	cert   *certSet
	cancel context.CancelFunc
	done   chan struct{}
}

// openControl opens the store, reads its state and makes the admin API;
// nothing is bound yet. A store that cannot be opened stops the start: a
// node must not serve without the consumers the operators created.
func (g *Gateway) openControl(cfg *config.Config) error {
	a := cfg.Admin
	if a == nil {
		return nil
	}
	kr, err := keyringOf(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var st store.Store
	switch a.Store.Driver {
	case config.StorePostgres:
		st, err = store.OpenPostgres(ctx, store.PostgresOptions{DSN: a.Store.DSN, Schema: a.Store.Schema, Logger: g.log}, kr)
	default:
		st, err = store.OpenSQLite(ctx, a.Store.Path, kr)
	}
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	cp := &controlPlane{g: g, cfg: a, st: st, node: host + "/" + a.Address, flushed: map[string]auth.KeyUsage{}}
	if err := configureAudit(cfg, st, g.log); err != nil {
		_ = st.Close()
		return err
	}
	cur, err := st.State(ctx)
	if err != nil {
		_ = st.Close()
		return err
	}
	cp.reportProblems(cur)
	cp.state.Store(cur)
	cp.lastSyncOK.Store(time.Now().UnixMilli())
	cp.api = admin.New(admin.Options{Store: st, Runtime: cp, Logger: g.log, Certificates: certMappings(a), Node: cp.node,
		Sessions: a.Sessions, Events: g.stream.Load})
	g.control = cp
	return nil
}

func certMappings(a *config.Admin) []config.AdminClientCertificate {
	if a.TLS == nil {
		return nil
	}
	return a.TLS.ClientCertificates
}

// keyringOf parses the master keys; errors never repeat a key.
func keyringOf(cfg *config.Config) (*store.Keyring, error) {
	s := cfg.Admin.Store
	if s.MasterKey == "" {
		return store.NewKeyring(nil)
	}
	cur, err := store.ParseMasterKey(s.MasterKey)
	if err != nil {
		return nil, config.Errors{cfg.ErrorAtPath("admin.store.master_key", err.Error())}
	}
	var prev [][]byte
	for i, k := range s.PreviousMasterKeys {
		b, err := store.ParseMasterKey(k)
		if err != nil {
			return nil, config.Errors{cfg.ErrorAtPath(fmt.Sprintf("admin.store.previous_master_keys[%d]", i), err.Error())}
		}
		prev = append(prev, b)
	}
	kr, err := store.NewKeyring(cur, prev...)
	if err != nil {
		return nil, config.Errors{cfg.ErrorAtPath("admin.store.previous_master_keys", err.Error())}
	}
	return kr, nil
}

// compile merges the store's consumers into a file config and compiles
// the result; every load (start, reload) and every store change goes
// through it.
func (g *Gateway) compile(file *config.Config) (*Snapshot, error) {
	cfg := file
	if cp := g.control; cp != nil {
		if err := cp.checkAdminChange(file); err != nil {
			return nil, err
		}
		st := cp.state.Load()
		merged, err := file.WithStoreConsumers(st.ConfigConsumers())
		if err != nil {
			return nil, err
		}
		// ${store:NAME} webhook secrets take the store's values: a
		// secret changed through the admin API applies like a reload.
		if merged, err = merged.WithStoreSecrets(st.SecretValue); err != nil {
			return nil, err
		}
		cfg = merged
	}
	s, err := CompileWith(cfg, g.reg, g.state)
	if err != nil {
		return nil, err
	}
	s.file = file
	s.version = file.SHA256[:min(16, len(file.SHA256))] // the loaded bytes, not the file as it is now
	return s, nil
}

// checkAdminChange refuses a reload that changes the admin block (other
// than the master keys, which take effect at once).
func (cp *controlPlane) checkAdminChange(file *config.Config) error {
	if cp.cfg == nil || cp.cfg == file.Admin {
		return nil
	}
	if file.Admin == nil {
		return errors.New("admin removed: restart to apply")
	}
	a, b := *cp.cfg, *file.Admin
	a.Store.MasterKey, a.Store.PreviousMasterKeys = "", nil
	b.Store.MasterKey, b.Store.PreviousMasterKeys = "", nil
	if !reflect.DeepEqual(a, b) {
		return errors.New("admin settings changed (other than master keys): restart to apply")
	}
	if !reflect.DeepEqual(cp.cfg.Store.MasterKey, file.Admin.Store.MasterKey) || !reflect.DeepEqual(cp.cfg.Store.PreviousMasterKeys, file.Admin.Store.PreviousMasterKeys) {
		kr, err := keyringOf(file)
		if err != nil {
			return err
		}
		cp.st.SetKeyring(kr)
		cp.cfg = file.Admin
		cp.g.log.Info("store master keys changed", "key_id", kr.CurrentID())
		// Secrets that did not open before may open now.
		go func() { _ = cp.sync(context.Background(), true) }()
	}
	return nil
}

// bindAdmin binds the admin listener (never a proxy listener's address:
// the config refuses that).
func (g *Gateway) bindAdmin() error {
	cp := g.control
	if cp == nil {
		return nil
	}
	ln, err := net.Listen("tcp", cp.cfg.Address)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	if t := cp.cfg.TLS; t != nil {
		tc, cert, err := adminTLS(t)
		if err != nil {
			_ = ln.Close()
			return err
		}
		ln, cp.cert = tls.NewListener(ln, tc), cert
		if t.ClientCAFile != "" {
			// A certificate is asked for, verified when sent, and
			// optional: a caller may use a token instead.
			cas, err := newClientCAs(tc, t.ClientCAFile, adminCertOwner, tls.VerifyClientCertIfGiven, nil, nil)
			if err != nil {
				_ = ln.Close()
				return fmt.Errorf("admin.tls.client_ca_file: %w", err)
			}
			g.clientCAs = append(g.clientCAs, cas)
		}
	}
	cp.ln, cp.addr = ln, ln.Addr().String()
	return nil
}

// adminCertOwner names the admin listener where certificate reloads are
// logged and listed on /readyz (the field "listener"); a proxy listener's
// name cannot contain a space, so it is never taken for one.
const adminCertOwner = "admin API"

// adminTLS is the admin listener's TLS config (bindAdmin adds the client
// CAs, reloaded as a listener's). Its certificate is a
// certSet of one, so that a certificate renewed on disk (cert-manager,
// certbot) is served without a restart, as on the HTTPS listeners, and a
// broken renewal keeps the previous one serving.
func adminTLS(t *config.AdminTLS) (*tls.Config, *certSet, error) {
	cs, errs := loadCertSet([]config.Certificate{{CertFile: t.CertFile, KeyFile: t.KeyFile}})
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("admin.tls: %w", errs[0])
	}
	tc := tlspolicy.Config(tls.VersionTLS12)
	tc.NextProtos = []string{"h2", "http/1.1"}
	tc.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cs.certs[0].cur.Load(), nil }
	return tc, cs, nil
}

// startControl serves the admin API and starts following the store.
func (g *Gateway) startControl(errLog *log.Logger) {
	cp := g.control
	if cp == nil {
		return
	}
	cp.srv = operatorServer(cp.api.Handler(), errLog)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := cp.srv.Serve(cp.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("admin listener stopped", "error", err)
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	cp.cancel, cp.done = cancel, make(chan struct{})
	go cp.run(ctx)
	g.log.Info("admin listening", "address", cp.addr, "tls", cp.cfg.TLS != nil, "store", cp.st.Driver())
}

// stopControl stops the admin API and the loop, and flushes usage once
// more so nothing counted is lost.
func (g *Gateway) stopControl(ctx context.Context) {
	cp := g.control
	if cp == nil {
		return
	}
	if cp.srv != nil {
		_ = cp.srv.Shutdown(ctx)
	}
	if cp.cancel != nil {
		cp.cancel()
		<-cp.done
	}
	fctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := cp.FlushUsage(fctx); err != nil {
		g.log.Warn("usage not flushed at shutdown", "error", err)
	}
	_ = cp.st.Close()
}

// AdminAddr is the admin listener's bound address ("" without one).
func (g *Gateway) AdminAddr() string {
	if g.control == nil {
		return ""
	}
	return g.control.addr
}

func (cp *controlPlane) run(ctx context.Context) {
	defer close(cp.done)
	s := cp.cfg.Store
	poll := time.NewTicker(s.PollInterval.D())
	resync := time.NewTicker(s.ResyncInterval.D())
	flush := time.NewTicker(s.UsageFlushInterval.D())
	defer poll.Stop()
	defer resync.Stop()
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cp.st.Changes():
			_ = cp.sync(ctx, false)
		case <-poll.C:
			_ = cp.sync(ctx, false)
		case <-resync.C:
			_ = cp.sync(ctx, true)
		case <-flush.C:
			if err := cp.FlushUsage(ctx); err != nil && ctx.Err() == nil {
				cp.g.log.Warn("usage not flushed to the store; it will be retried", "error", err)
			}
		}
	}
}

// sync reads the store when its revision moved (or always, with force)
// and serves what it holds.
func (cp *controlPlane) sync(ctx context.Context, force bool) error {
	cp.syncMu.Lock()
	defer cp.syncMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	rev, err := cp.st.Revision(rctx)
	if err != nil {
		cp.down(ctx, err)
		return err
	}
	cur := cp.state.Load()
	if !force && cur != nil && rev == cur.Revision {
		cp.up()
		return nil
	}
	st, err := cp.st.State(rctx)
	if err != nil {
		cp.down(ctx, err)
		return err
	}
	cp.up()
	cp.reportProblems(st)
	cp.state.Store(st)
	cp.applyBans(ctx, st)
	return cp.recompile()
}

// recompile compiles the current file config with the store's consumers
// and swaps it in; on failure the previous snapshot keeps serving.
func (cp *controlPlane) recompile() error {
	g := cp.g
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	old := g.snap.Load()
	s, err := g.compile(old.file)
	if err != nil {
		cp.syncFails.Add(1)
		g.log.Error("store change not applied: it does not compile with this node's config; the previous consumers keep serving", "error", err)
		return err
	}
	// The event stream and the alert webhooks follow a store secret they
	// reference (each is rebuilt only when its settings changed).
	if err := g.swapStream(s.cfg); err != nil {
		cp.syncFails.Add(1)
		g.log.Error("store change not applied to the security event stream", "error", err)
		return err
	}
	if !reflect.DeepEqual(alertsOf(old.cfg), alertsOf(s.cfg)) {
		if err := g.swapDetector(s.cfg); err != nil {
			cp.syncFails.Add(1)
			g.log.Error("store change not applied to the intrusion alerts", "error", err)
			return err
		}
	}
	g.snap.Store(s)
	return nil
}

// alertsOf is the intrusion alert settings of cfg (nil without any).
func alertsOf(cfg *config.Config) *config.IntrusionAlerts {
	if cfg.IntrusionDetection == nil {
		return nil
	}
	return cfg.IntrusionDetection.Alerts
}

func (cp *controlPlane) reportProblems(st *store.State) {
	p := strings.Join(st.Problems, "; ")
	if p != "" && p != cp.problems {
		cp.g.log.Error("store records left out", "problems", p)
	}
	cp.problems = p
}

func (cp *controlPlane) down(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	cp.storeErrs.Add(1)
	if cp.storeErr.Swap(&err) == nil {
		cp.g.log.Error("store unavailable: traffic keeps flowing with the last state; admin changes are refused until it is back", "error", err)
	}
}

func (cp *controlPlane) up() {
	cp.lastSyncOK.Store(time.Now().UnixMilli())
	if cp.storeErr.Swap(nil) != nil {
		cp.g.log.Info("store available again")
	}
}

// applyBans brings the detector's table in line with the store's manual
// bans and lifts. Lifts recorded before this node read the store the
// first time are history and are not applied again.
func (cp *controlPlane) applyBans(ctx context.Context, st *store.State) {
	d := cp.g.detector.Load()
	if d == nil {
		return
	}
	now := time.Now()
	for _, b := range st.Bans {
		if cp.banLoaded && b.Rev <= cp.banRev {
			continue
		}
		a, err := netip.ParseAddr(b.Address)
		if err != nil {
			continue
		}
		switch {
		case b.Lifted:
			if cp.banLoaded {
				_ = d.Lift(ctx, a, false)
			}
		case b.Until.After(now):
			d.Ban(a, b.Until)
		}
	}
	cp.banRev, cp.banLoaded = st.Revision, true
}

// storeStatus is the store part of /readyz.
func (cp *controlPlane) storeStatus() map[string]any {
	m := map[string]any{"driver": cp.st.Driver(), "status": "ok", "errors": cp.storeErrs.Load(), "sync_failures": cp.syncFails.Load()}
	if st := cp.state.Load(); st != nil {
		m["revision"] = st.Revision
	}
	if ms := cp.lastSyncOK.Load(); ms != 0 {
		m["last_ok"] = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
	}
	if e := cp.storeErr.Load(); e != nil {
		m["status"] = "unavailable"
	}
	return m
}

// --- admin.Runtime ---

var _ admin.Runtime = (*controlPlane)(nil)

func (cp *controlPlane) FileConfig() *config.Config    { return cp.g.snap.Load().file }
func (cp *controlPlane) State() *store.State           { return cp.state.Load() }
func (cp *controlPlane) ConfigVersion() string         { return cp.g.snap.Load().version }
func (cp *controlPlane) Reload() error                 { return cp.g.Reload() }
func (cp *controlPlane) Detector() *intrusion.Detector { return cp.g.detector.Load() }
func (cp *controlPlane) LocalUsage() []auth.KeyUsage {
	return auth.UsageOf(cp.g.state)
}

func (cp *controlPlane) StoreError() error {
	if e := cp.storeErr.Load(); e != nil {
		return *e
	}
	return nil
}

func (cp *controlPlane) Sync(ctx context.Context) error { return cp.sync(ctx, false) }

// Check compiles the file config with the given store consumers, against
// throwaway long-lived state, exactly as a store change will compile.
func (cp *controlPlane) Check(consumers []config.Consumer) error {
	file := cp.g.snap.Load().file
	merged, err := file.WithStoreConsumers(consumers)
	if err != nil {
		return err
	}
	if err := auth.CheckConsumers(merged); err != nil {
		return err
	}
	_, err = CompileWith(merged, cp.g.reg, cp.g.state)
	return err
}

// FlushUsage adds what this node counted since the last flush to the
// store; on failure nothing is marked flushed, so the next try sends it.
func (cp *controlPlane) FlushUsage(ctx context.Context) error {
	cp.flushMu.Lock()
	defer cp.flushMu.Unlock()
	cur := auth.UsageOf(cp.g.state)
	var deltas []store.Usage
	for _, u := range cur {
		prev := cp.flushed[u.ID]
		if u.Requests == prev.Requests && u.Refused == prev.Refused && !u.LastUsed.After(prev.LastUsed) {
			continue
		}
		d := store.Usage{KeyID: u.ID, Consumer: u.Consumer, Requests: u.Requests - prev.Requests, Refused: u.Refused - prev.Refused, LastUsed: u.LastUsed}
		if u.LastClient.IsValid() {
			d.LastClient = u.LastClient.String()
		}
		deltas = append(deltas, d)
	}
	if len(deltas) == 0 {
		return nil
	}
	if err := cp.st.AddUsage(ctx, deltas); err != nil {
		return err
	}
	for _, u := range cur {
		cp.flushed[u.ID] = u
	}
	return nil
}

func (cp *controlPlane) Routes() []admin.RouteView {
	snap := cp.g.snap.Load()
	cfg := snap.cfg
	compiled := make(map[string]*route, len(snap.routes))
	for _, rt := range snap.routes {
		compiled[rt.name] = rt
	}
	out := make([]admin.RouteView, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		v := admin.RouteView{Name: r.Name, Hosts: nonNilStrings(r.Hosts), Methods: nonNilStrings(r.Methods), Service: r.Service, Auth: r.Auth, Paths: []string{}, Policies: []string{}}
		for _, p := range r.Paths {
			switch {
			case p.Exact != "":
				v.Paths = append(v.Paths, "exact:"+p.Exact)
			case p.Prefix != "":
				v.Paths = append(v.Paths, "prefix:"+p.Prefix)
			default:
				v.Paths = append(v.Paths, "regex:"+p.Regex)
			}
		}
		for _, p := range r.Policies {
			v.Policies = append(v.Policies, p.Kind)
		}
		v.Phases = phaseViews(compiled[r.Name])
		out = append(out, v)
	}
	return out
}

func (cp *controlPlane) Services() []admin.ServiceView {
	cfg := cp.g.snap.Load().cfg
	out := make([]admin.ServiceView, 0, len(cfg.Services))
	for _, s := range cfg.Services {
		v := admin.ServiceView{Name: s.Name, LoadBalancing: s.LoadBalancing.Algorithm, Targets: []string{}}
		for _, t := range s.Targets {
			v.Targets = append(v.Targets, t.URL)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// closeControl closes the store of a gateway that failed to start.
func (g *Gateway) closeControl() {
	if g.control != nil {
		_ = g.control.st.Close()
	}
}

// phaseViews lists a compiled route's policies in the order they run.
func phaseViews(rt *route) []admin.PhaseView {
	if rt == nil {
		return nil
	}
	var out []admin.PhaseView
	for ph, kinds := range rt.kinds {
		if len(kinds) > 0 {
			out = append(out, admin.PhaseView{Phase: pipeline.Phase(ph).String(), Policies: append([]string(nil), kinds...)})
		}
	}
	if len(rt.respKinds) > 0 {
		out = append(out, admin.PhaseView{Phase: "response", Policies: append([]string(nil), rt.respKinds...)})
	}
	return out
}
