package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
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
var script = redis.NewScript(`
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
`)

// RedisOptions configure the connection to the shared store.
type RedisOptions struct {
	Address  string
	Password string
	DB       int
	// Timeout bounds every check, dial included (default 50ms).
	Timeout time.Duration
	// Probe is how long after a failure Redis is left alone: during it,
	// checks go straight to the failure mode, so a dead Redis costs one
	// timeout per Probe, not one per request (default 1s).
	Probe time.Duration
}

// Redis is the shared store: one client per Redis, with a short circuit
// breaker. There is no permanent "down" state: once Probe has passed, the
// next check tries Redis again, and a success closes the breaker.
type Redis struct {
	client  *redis.Client
	timeout time.Duration
	probe   time.Duration
	log     *slog.Logger

	downUntil atomic.Int64 // unix nanoseconds; 0 while Redis answers

	// Counters: failed checks, checks answered by the failure mode
	// without trying Redis, and recoveries.
	Failures   atomic.Uint64
	Skipped    atomic.Uint64
	Recoveries atomic.Uint64
}

// NewRedis returns a store for o. It does not connect: the first check does.
func NewRedis(o RedisOptions, log *slog.Logger) *Redis {
	if o.Timeout <= 0 {
		o.Timeout = 50 * time.Millisecond
	}
	if o.Probe <= 0 {
		o.Probe = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	c := redis.NewClient(&redis.Options{
		Addr:                  o.Address,
		Password:              o.Password,
		DB:                    o.DB,
		DialTimeout:           o.Timeout,
		ReadTimeout:           o.Timeout,
		WriteTimeout:          o.Timeout,
		PoolTimeout:           o.Timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1, // a retry would double the time a request waits
		DialerRetries:         1,
		DisableIdentity:       true, // no CLIENT SETINFO round trip on connect
	})
	return &Redis{client: c, timeout: o.Timeout, probe: o.Probe, log: log}
}

// Client is the underlying client (for hooks in tests and benchmarks).
func (r *Redis) Client() *redis.Client { return r.client }

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

// errSkipped is returned while the breaker is open.
var errSkipped = errors.New("rate limit store unavailable (recently failed)")

// allow decides one request. keys[i] is the Redis key of limit i.
func (r *Redis) allow(ctx context.Context, keys []string, ps []param) (Result, error) {
	now := time.Now().UnixNano()
	if !r.available(now) {
		r.Skipped.Add(1)
		return Result{}, errSkipped
	}
	args := make([]any, 0, 2*len(ps))
	for _, p := range ps {
		args = append(args, p.T, p.B)
	}
	cctx, cancel := context.WithTimeout(ctx, r.timeout)
	vals, err := script.Run(cctx, r.client, keys, args...).Int64Slice()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("rate limit check: %w", ctx.Err()) // the client left: not Redis's fault
		}
		r.failed()
		return Result{}, fmt.Errorf("rate limit store: %w", err)
	}
	if len(vals) != 3+len(ps) {
		r.failed()
		return Result{}, fmt.Errorf("rate limit store: script returned %d values, want %d", len(vals), 3+len(ps))
	}
	r.succeeded()
	res := Result{Allowed: vals[0] == 1, Now: vals[1], Wait: vals[2]}
	copy(res.TAT[:len(ps)], vals[3:])
	return res, nil
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

func (r *Redis) failed() {
	r.Failures.Add(1)
	if r.downUntil.Swap(time.Now().Add(r.probe).UnixNano()) == 0 {
		r.log.Warn("rate limit store unreachable; applying the routes' failure mode", "store", "redis", "retry_in", r.probe.String())
	}
}

func (r *Redis) succeeded() {
	if r.downUntil.Load() != 0 && r.downUntil.Swap(0) != 0 {
		r.Recoveries.Add(1)
		r.log.Info("rate limit store reachable again", "store", "redis")
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
