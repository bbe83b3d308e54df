package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/redisconn"
)

// script decides one request against every limit of a set, atomically, in
// one round trip. KEYS[i] holds limit i's TAT (microseconds, Redis's own
// clock, so gateway nodes need not agree on the time); ARGV[2i-1] is its
// emission interval T and ARGV[2i] its burst B. All limits are checked
// before any is written: a refused request consumes nothing. Each key
// expires when its TAT falls into the past, when it would say no more than
// a missing key. Numbers are written with %.0f: Lua's tostring would cut
// a 16-digit time to 14 significant digits.
//
// Returns {admitted (1|0), now, wait, tat_1 .. tat_n}.
const scriptSrc = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local tats = {}
local ok = 1
local wait = 0
for i = 1, n do
  local T = tonumber(ARGV[2*i-1])
  local B = tonumber(ARGV[2*i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local allow_at = tat + T - B * T
  if now < allow_at then
    ok = 0
    if allow_at - now > wait then wait = allow_at - now end
  end
  tats[i] = tat
end
if ok == 1 then
  for i = 1, n do
    tats[i] = tats[i] + tonumber(ARGV[2*i-1])
    redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.floor((tats[i] - now) / 1000) + 1)
  end
end
local out = {ok, now, wait}
for i = 1, n do out[3 + i] = tats[i] end
return out
`

var script = redis.NewScript(scriptSrc)

// RedisOptions configure the connection to the shared store.
type RedisOptions struct {
	// Server is how Redis is reached: address, credentials, database, TLS.
	Server config.RedisServer
	// Timeout is how long Redis may take to answer one batch of checks,
	// dial included, before it counts as down (DefaultRedisTimeout).
	Timeout time.Duration
	// Probe is how long after a failure Redis is left alone: during it,
	// checks go straight to the failure mode, so a dead Redis costs one
	// timeout per Probe, not one per request (default 1s).
	Probe time.Duration
}

// DefaultRedisTimeout is how long Redis may take to answer before it
// counts as down. A healthy Redis answers in microseconds, but under load
// its answer can take tens of milliseconds to be read (Redis, the gateway
// and everything else share the CPUs): a timeout near that latency turns
// load into "Redis is down", and the failure mode (each node's own limiter)
// then admits up to N times the limit across N nodes. One second is far
// above any load-induced delay and still short for a Redis that is gone.
const DefaultRedisTimeout = time.Second

// maxInflight is how many batches may be on the wire at once (each on its
// own pooled connection), and maxBatch how many checks one batch carries.
// Checks that arrive while every slot is busy wait for the next batch,
// however many they are: under load, batches grow instead of round trips
// multiplying. A check waits for at most the batch in flight on its slot
// and its own, each bounded by Timeout.
const (
	maxInflight = 4
	maxBatch    = 512
)

// Redis is the shared store: one client per Redis, with a short circuit
// breaker. There is no permanent "down" state: once Probe has passed, the
// next check tries Redis again, and a success closes the breaker.
//
// Concurrent checks are batched: each check is one EVALSHA, and every
// check waiting when a connection is free goes out in one pipeline (one
// write, one read of all the answers). A check is still exactly one script
// run, atomic on its own; a batch only shares the round trip. Without
// batching, a loaded gateway opened one round trip per request, waited for
// pooled connections, and its checks timed out while Redis was healthy:
// each timeout fell back to the node's own limiter and the cluster
// admitted a multiple of its limit.
type Redis struct {
	client  *redis.Client
	address string
	timeout time.Duration
	probe   time.Duration
	log     *slog.Logger

	downUntil atomic.Int64 // unix nanoseconds; 0 while Redis answers
	downSince atomic.Int64 // unix nanoseconds of the failure that opened the breaker
	// degradedAtDown is Failures+Skipped when the breaker opened: the
	// recovery event reports how many checks the failure mode decided.
	degradedAtDown atomic.Uint64

	mu       sync.Mutex
	queue    []*call
	inflight int

	// Counters: failed checks, checks answered by the failure mode
	// without trying Redis, recoveries, and batches sent.
	Failures   atomic.Uint64
	Skipped    atomic.Uint64
	Recoveries atomic.Uint64
	Batches    atomic.Uint64
}

// call is one check waiting for its batch.
type call struct {
	keys []string
	args []any
	vals []int64
	err  error
	done chan struct{}
}

// NewRedis returns a store for o. It does not connect: the first check
// does. An error is a tls block whose files do not load.
func NewRedis(o RedisOptions, log *slog.Logger) (*Redis, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultRedisTimeout
	}
	if o.Probe <= 0 {
		o.Probe = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	ro, err := redisconn.Options(&o.Server, o.Timeout, log)
	if err != nil {
		return nil, fmt.Errorf("redis.%w", err)
	}
	ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = o.Timeout, o.Timeout, o.Timeout
	ro.PipelinePoolSize = maxInflight
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1 // a retry would double the time a request waits, and run scripts twice
	ro.DialerRetries = 1
	ro.DisableIdentity = true // no CLIENT SETINFO round trip on connect
	// nor a CLIENT MAINT_NOTIFICATIONS one (a Redis Enterprise feature)
	ro.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	c := redis.NewClient(ro)
	return &Redis{client: c, address: o.Server.Address, timeout: o.Timeout, probe: o.Probe, log: log}, nil
}

// Client is the underlying client (for hooks in tests and benchmarks).
func (r *Redis) Client() *redis.Client { return r.client }

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// errSkipped is returned while the breaker is open.
var errSkipped = errors.New("rate limit store unavailable (recently failed)")

// allow decides one request. keys[i] is the Redis key of limit i.
func (r *Redis) allow(ctx context.Context, keys []string, ps []param) (Result, error) {
	if r.downUntil.Load() > time.Now().UnixNano() {
		r.Skipped.Add(1) // fast path while the breaker is open: no queueing
		return Result{}, errSkipped
	}
	c := &call{keys: keys, args: make([]any, 0, 2*len(ps)), done: make(chan struct{})}
	for _, p := range ps {
		c.args = append(c.args, p.T, p.B)
	}
	r.mu.Lock()
	r.queue = append(r.queue, c)
	lead := r.inflight < maxInflight
	if lead {
		r.inflight++
	}
	r.mu.Unlock()
	if lead {
		// This check's own goroutine sends the batch (it is in it): no
		// hand-off when the store is idle. Batches that queued meanwhile
		// go on in a goroutine that keeps this slot.
		if r.flushOnce() {
			go r.flush()
		}
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		// The client left: its check may still run (and be counted), which
		// errs on the side of admitting less.
		return Result{}, fmt.Errorf("rate limit check: %w", ctx.Err())
	}
	if c.err != nil {
		return Result{}, c.err
	}
	if len(c.vals) != 3+len(ps) {
		return Result{}, fmt.Errorf("rate limit store: script returned %d values, want %d", len(c.vals), 3+len(ps))
	}
	res := Result{Allowed: c.vals[0] == 1, Now: c.vals[1], Wait: c.vals[2]}
	copy(res.TAT[:len(ps)], c.vals[3:])
	return res, nil
}

// flush sends batches until the queue is empty, then frees its slot.
func (r *Redis) flush() {
	for r.flushOnce() {
	}
}

// flushOnce sends one batch from the queue; it reports whether checks are
// still queued (the slot is kept for them) or not (the slot is freed).
func (r *Redis) flushOnce() bool {
	r.mu.Lock()
	n := min(len(r.queue), maxBatch)
	batch := make([]*call, n)
	copy(batch, r.queue)
	r.queue = append(r.queue[:0], r.queue[n:]...)
	if n == 0 {
		r.inflight--
		r.mu.Unlock()
		return false
	}
	r.mu.Unlock()
	r.exec(batch)
	r.mu.Lock()
	more := len(r.queue) > 0
	if !more {
		r.inflight--
	}
	r.mu.Unlock()
	return more
}

// exec runs one batch as one pipeline and wakes its checks.
func (r *Redis) exec(batch []*call) {
	defer func() {
		for _, c := range batch {
			close(c.done)
		}
	}()
	if !r.available(time.Now().UnixNano()) {
		r.Skipped.Add(uint64(len(batch)))
		for _, c := range batch {
			c.err = errSkipped
		}
		return
	}
	r.Batches.Add(1)
	err := r.run(batch, false)
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// Redis restarted or its script cache was flushed: EVAL sends the
		// source and caches it again.
		err = r.run(batch, true)
	}
	if err != nil {
		r.Failures.Add(uint64(len(batch)))
		r.failed(err, uint64(len(batch)))
		err = fmt.Errorf("rate limit store: %w", err)
		for _, c := range batch {
			c.err = err
		}
		return
	}
	r.succeeded()
}

// run sends the batch's scripts in one round trip, bounded by the timeout,
// and stores each check's answer. Its error is the first command's failure:
// a network error fails them all, and a reply error (a script error, an
// out-of-memory or read-only Redis) means Redis cannot keep the limits
// either.
func (r *Redis) run(batch []*call, eval bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		if eval {
			cmds[i] = pipe.Eval(ctx, scriptSrc, c.keys, c.args...)
		} else {
			cmds[i] = pipe.EvalSha(ctx, script.Hash(), c.keys, c.args...)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, c := range batch {
		vals, err := cmds[i].Int64Slice()
		if err != nil {
			return err
		}
		c.vals = vals
	}
	return nil
}

// available reports whether a check may try Redis. While the breaker is
// open it says no; once Probe has passed, exactly one caller gets yes (and
// pushes the deadline on, so the others keep failing fast meanwhile).
func (r *Redis) available(now int64) bool {
	d := r.downUntil.Load()
	if d == 0 {
		return true
	}
	if now < d {
		return false
	}
	return r.downUntil.CompareAndSwap(d, now+r.probe.Nanoseconds())
}

// failed opens the breaker. The first failure of an outage is logged, once,
// as an event with the store's address and the error; checks then go to
// the routes' failure mode until a probe succeeds.
func (r *Redis) failed(err error, n uint64) {
	now := time.Now()
	if r.downUntil.Swap(now.Add(r.probe).UnixNano()) == 0 {
		r.downSince.Store(now.UnixNano())
		r.degradedAtDown.Store(r.Failures.Load() + r.Skipped.Load() - n)
		r.log.Warn("rate limit store unreachable; applying the routes' failure mode",
			"event", "ratelimit_store_down", "store", "redis", "address", r.address,
			"error", err.Error(), "retry_in", r.probe.String())
	}
}

// succeeded closes the breaker; the recovery event says how long Redis was
// away and how many checks the failure mode decided meanwhile.
func (r *Redis) succeeded() {
	if r.downUntil.Load() != 0 && r.downUntil.Swap(0) != 0 {
		r.Recoveries.Add(1)
		r.log.Info("rate limit store reachable again",
			"event", "ratelimit_store_up", "store", "redis", "address", r.address,
			"down_for", time.Duration(time.Now().UnixNano()-r.downSince.Load()).Round(time.Millisecond).String(),
			"checks_in_failure_mode", r.Failures.Load()+r.Skipped.Load()-r.degradedAtDown.Load())
	}
}

// redisKeys returns the Redis key of each limit of a set for one request
// key: prefix{base}:name. The braces make every key of one request hash to
// the same Redis Cluster slot, which a multi-key script needs.
func redisKeys(prefix string, base []byte, names []string, dst []string) []string {
	for _, n := range names {
		b := make([]byte, 0, len(prefix)+len(base)+len(n)+3)
		b = append(b, prefix...)
		b = append(b, '{')
		b = append(b, base...)
		b = append(b, '}', ':')
		b = append(b, n...)
		dst = append(dst, string(b))
	}
	return dst
}
