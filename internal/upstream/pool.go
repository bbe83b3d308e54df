package upstream

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis/portcullis/internal/clienttls"
	"github.com/portcullis/portcullis/internal/http1"
)

// Passive health without passive_health: after ejectAfter consecutive dial
// failures a target is skipped by Pick for the registry's ejection period.
const ejectAfter = 3

// pool is everything the gateway keeps per target: idle keep-alive
// connections, the open-connection count, the in-flight count that
// least_connections reads and the passive health state. Pools live in the
// Registry and are shared by every Service that names the same target with
// the same connection settings.
type pool struct {
	key    string
	scheme string
	host   string // authority as configured: URL.Host and default Host header
	addr   string // dial address, host:port

	dialer      net.Dialer
	respTimeout time.Duration
	idleTimeout time.Duration
	maxIdle     int
	maxConns    int // 0: unlimited
	ejectFor    time.Duration

	tr   *http.Transport     // https targets only
	tlsm *clienttls.Material // https targets only: CA, client certificate, identity

	inflight     atomic.Int64
	fails        atomic.Int32
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 when healthy

	// Resilience (health.go, breaker.go); nil or zero when not configured.
	unhealthy atomic.Bool // active health checks failed
	passive   *passive    // passive_health: replaces the dial-failure ejection
	br        *breaker
	hcStop    context.CancelFunc
	hcDone    chan struct{}

	// State-change events (events.go): the registry's logger and the
	// services that name the target (under mu).
	log      *logRef
	services []string

	mu      sync.Mutex
	idle    []*conn // LIFO: the newest idle connection is last
	open    int     // connections counted against maxConns (dialing, busy, idle)
	waiters []chan *conn
	closed  bool // pruned: connections are closed instead of kept idle
}

// sendInWaitIdle is how long a connection may have been idle for its next
// bodiless request to be sent from inside the wait for the response (one
// read system call less). A connection idle longer is sent to and then
// read, so that an upstream that half-closed it on its idle timeout (and
// will never answer) is found at once by the read and the request retried
// on a new connection: idle timeouts are seconds, busy connections are
// reused within milliseconds.
const sendInWaitIdle = time.Second

// conn is one HTTP/1.1 connection with its own buffers, reused with it.
type conn struct {
	p      *pool
	nc     net.Conn
	cc     *http1.ClientConn // the response parser and its buffers
	bw     *bufio.Writer     // cc's request writer
	body   bodyReader        // the Body of the response being read
	idleAt time.Time
	// sendInWait: the connection is new or was idle less than
	// sendInWaitIdle, so a bodiless request is sent from inside the wait
	// for its response (http1.ClientConn.FlushInWait).
	sendInWait bool
	// rdl is the read deadline in force (setReadDeadline).
	rdl time.Time
	// abortFn is c.abort, bound once: a method value per request allocates.
	abortFn func()
}

// abort closes the connection; it runs when the request context ends.
func (c *conn) abort() { _ = c.nc.Close() }

// available reports whether Pick may choose the target: healthy for the
// active checks, not ejected by passive health, breaker not open. Healthy
// targets cost three atomic loads and no clock read.
func (p *pool) available() bool {
	if p.unhealthy.Load() {
		return false
	}
	if u := p.ejectedUntil.Load(); u != 0 {
		if time.Now().UnixNano() < u {
			return false
		}
		if p.ejectedUntil.CompareAndSwap(u, 0) {
			p.event(slog.LevelInfo, "upstream target back in rotation: passive ejection ended", EventTargetHealthy, slog.String("check", "passive"))
		}
	}
	if b := p.br; b != nil && b.state.Load() != breakerClosed {
		return b.allows(time.Now().UnixNano())
	}
	return true
}

func (p *pool) dialFailed() {
	if p.passive != nil { // passive_health counts every failure itself
		return
	}
	if p.fails.Add(1) >= ejectAfter {
		p.fails.Store(0)
		until := time.Now().Add(p.ejectFor)
		if p.ejectedUntil.Swap(until.UnixNano()) == 0 {
			p.ejected(until, "connections refused or timed out")
		}
	}
}

func (p *pool) dialSucceeded() {
	if p.fails.Load() != 0 {
		p.fails.Store(0)
	}
}

// get returns an idle connection (reused=true) or a new one. fresh skips
// the idle stack when a new connection may be opened: the stale-connection
// retry wants a connection that cannot be stale. At MaxConnsPerTarget it
// waits for a returned connection or a freed slot until ctx ends.
func (p *pool) get(ctx context.Context, fresh bool) (c *conn, reused bool, err error) {
	p.mu.Lock()
	canOpen := p.maxConns <= 0 || p.open < p.maxConns
	if n := len(p.idle); n > 0 && !(fresh && canOpen) {
		c = p.idle[n-1]
		if idle := time.Since(c.idleAt); idle < p.idleTimeout {
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			c.sendInWait = idle < sendInWaitIdle
			return c, true, nil
		}
		// The newest idle connection expired, so all of them did.
		stale := p.takeIdle(n)
		p.mu.Unlock()
		closeConns(stale)
		return p.get(ctx, fresh)
	}
	if canOpen {
		p.open++
		p.mu.Unlock()
		return p.dial(ctx)
	}
	w := make(chan *conn, 1)
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()

	select {
	case c = <-w:
		if c != nil {
			return c, true, nil
		}
		return p.dial(ctx) // a slot was handed over
	case <-ctx.Done():
	}
	p.mu.Lock()
	removed := false
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			removed = true
			break
		}
	}
	p.mu.Unlock()
	if !removed { // a connection or slot is on its way: pass it on
		if c = <-w; c != nil {
			p.put(c)
		} else {
			p.releaseSlot()
		}
	}
	return nil, false, fmt.Errorf("upstream %s: waiting for a connection: %w", p.host, ctx.Err())
}

// takeIdle removes the n oldest idle connections; p.mu must be held.
func (p *pool) takeIdle(n int) []*conn {
	stale := make([]*conn, n)
	copy(stale, p.idle[:n])
	rest := copy(p.idle, p.idle[n:])
	clear(p.idle[rest:])
	p.idle = p.idle[:rest]
	p.open -= n
	return stale
}

func closeConns(cs []*conn) {
	for _, c := range cs {
		_ = c.nc.Close()
	}
}

// dial opens a connection; the caller already holds a slot for it.
func (p *pool) dial(ctx context.Context) (*conn, bool, error) {
	nc, err := p.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		p.releaseSlot()
		if ctx.Err() == nil { // a client that went away is not the target's fault
			p.dialFailed()
		}
		return nil, false, fmt.Errorf("upstream %s: connect: %w", p.host, err)
	}
	p.dialSucceeded()
	cc := http1.NewClientConn(nc)
	c := &conn{p: p, nc: nc, cc: cc, bw: cc.Writer(), sendInWait: true}
	c.abortFn = c.abort
	return c, false, nil
}

// releaseSlot gives up one open-connection slot, handing it to the oldest
// waiter if there is one.
func (p *pool) releaseSlot() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.popWaiter()
		p.mu.Unlock()
		w <- nil
		return
	}
	p.open--
	p.mu.Unlock()
}

// popWaiter removes the oldest waiter; p.mu must be held.
func (p *pool) popWaiter() chan *conn {
	w := p.waiters[0]
	n := copy(p.waiters, p.waiters[1:])
	p.waiters[n] = nil
	p.waiters = p.waiters[:n]
	return w
}

// discard closes a connection that must not be reused.
func (p *pool) discard(c *conn) {
	_ = c.nc.Close()
	p.releaseSlot()
}

// put returns a connection whose last exchange ended cleanly.
func (p *pool) put(c *conn) {
	if c.cc.Buffered() != 0 { // bytes beyond the response: the stream is not trustworthy
		p.discard(c)
		return
	}
	c.idleAt = time.Now()
	p.mu.Lock()
	if len(p.waiters) > 0 {
		w := p.popWaiter()
		p.mu.Unlock()
		w <- c
		return
	}
	if p.closed || len(p.idle) >= p.maxIdle {
		p.open--
		p.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// dropIdleSince closes idle connections that went idle no later than t:
// when one of them turned out closed by the server, the older ones are
// likely closed too.
func (p *pool) dropIdleSince(t time.Time) {
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && !p.idle[n].idleAt.After(t) {
		n++
	}
	stale := p.takeIdle(n)
	p.mu.Unlock()
	closeConns(stale)
}

// reap closes idle connections older than the idle timeout.
func (p *pool) reap(now time.Time) {
	p.dropIdleSince(now.Add(-p.idleTimeout))
}

// idleCount reports the number of idle connections (for tests and metrics).
func (p *pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// close marks the pool pruned and closes its idle connections. Requests in
// flight finish; their connections are closed when returned.
func (p *pool) close() {
	p.stopChecks()
	p.mu.Lock()
	p.closed = true
	stale := p.takeIdle(len(p.idle))
	p.mu.Unlock()
	closeConns(stale)
	if p.tr != nil {
		p.tr.CloseIdleConnections()
	}
}
