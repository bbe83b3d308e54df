package validate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/pipeline"
	"github.com/portcullis/portcullis/internal/ratelimit"
	"github.com/portcullis/portcullis/internal/redisconn"
)

// Replay protection (on by default). A signed request is accepted once:
// RFC 9421 section 7.2.2 leaves replay to the verifier, and a signature
// that passes the clock check can otherwise be sent again, unchanged, for
// as long as max_skew allows. What may be used once is
//
//   - the (key, nonce) pair when the signature carries a nonce, so that a
//     nonce cannot be reused even under a new signature; or
//   - the (key, signature value) pair when it does not: the signature
//     bytes themselves (HMAC and Ed25519 signatures are deterministic, so
//     two identical requests signed in the same second are the same
//     signature: a client that sends such requests adds a nonce).
//
// Each is remembered until the signature could no longer pass the clock
// check (created + max_skew, or expires if sooner). The store is this
// process's memory, or Redis when one is configured for the route (the
// policy's own redis block, a rate_limit policy of the route with store:
// redis, or intrusion_detection with store: redis), so that every gateway
// node sharing that Redis accepts a signature once in all: one SET NX PX,
// one round trip. When Redis cannot answer, the request is refused with
// 503 (fail closed: an unrecorded signature could be replayed on another
// node), the failure counted (portcullis_redis_errors_total{component=
// "signature"}) and the outage logged once.

// replayStore records a key until expiry; a key already held is a replay.
type replayStore interface {
	record(ctx context.Context, key string, expiry, now time.Time) (nonceResult, error)
}

var (
	_ replayStore = (*nonceStore)(nil)
	_ replayStore = (*RedisReplay)(nil)
)

func (s *nonceStore) record(_ context.Context, key string, expiry, now time.Time) (nonceResult, error) {
	return s.add(key, expiry, now), nil
}

// replayKey names what a signature may use once: 16 bytes of SHA-256 over
// the key id and the nonce (or, without one, the signature value).
func replayKey(keyID string, in *signedInput) string {
	h := sha256.New()
	h.Write([]byte(keyID))
	if in.nonce != "" {
		h.Write([]byte{0, 'n', 0})
		h.Write([]byte(in.nonce))
	} else {
		h.Write([]byte{0, 's', 0})
		h.Write(in.signature)
	}
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0])[:16])
}

// RedisReplay is the replay store shared through Redis.
type RedisReplay struct {
	client  *redis.Client
	prefix  string
	address string
	timeout time.Duration
	down    atomic.Bool
	// Errors counts signed requests refused because Redis did not answer.
	Errors atomic.Uint64
}

const defaultReplayPrefix = "pcl:sig:"

// record is one SET key 1 NX PX ttl: set only when absent, expiring with
// the signature's window.
func (s *RedisReplay) record(ctx context.Context, key string, expiry, now time.Time) (nonceResult, error) {
	ttl := expiry.Sub(now)
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ok, err := s.client.SetNX(ctx, s.prefix+hex.EncodeToString([]byte(key)), "1", ttl).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.Errors.Add(1)
		if !s.down.Swap(true) {
			slog.Default().Warn("signature replay store unreachable; signed requests are refused until it answers (fail closed)",
				"event", "signature_replay_store_down", "store", "redis", "address", s.address, "error", err.Error())
		}
		return 0, fmt.Errorf("signature replay store: %w", err)
	}
	if s.down.Load() && s.down.Swap(false) {
		slog.Default().Info("signature replay store reachable again",
			"event", "signature_replay_store_up", "store", "redis", "address", s.address)
	}
	if !ok {
		return nonceReplayed, nil
	}
	return nonceFresh, nil
}

// compileReplayStore picks the store: the policy's own redis block, else
// the Redis of a rate_limit policy of the same route, else the one
// intrusion detection shares bans through, else this process's memory.
// Clients are shared with the rate limits (ratelimit.SharedRedis).
func compileReplayStore(own *ratelimit.RedisConfig, env pipeline.CompileEnv) (replayStore, error) {
	prefix := defaultReplayPrefix
	var opts *ratelimit.RedisOptions
	switch rl := ratelimit.RouteRedis(env.Config, env.RouteConfig); {
	case own != nil:
		o, err := own.Options()
		if err != nil {
			return nil, err
		}
		opts = &o
		if own.Prefix != "" {
			prefix = own.Prefix
		}
	case rl != nil:
		// A block that does not check out is reported by the rate_limit
		// policy itself, and the config does not load.
		if o, err := rl.Options(); err == nil {
			opts = &o
		}
	case env.Config != nil && env.Config.IntrusionDetection != nil && env.Config.IntrusionDetection.Store == "redis" && env.Config.IntrusionDetection.Redis != nil:
		opts = intrusionRedisOptions(env.Config.IntrusionDetection.Redis)
	}
	if opts == nil && env.Config != nil && env.Config.Admin != nil && env.Config.Admin.Store.Driver == config.StorePostgres {
		// A PostgreSQL store is how several nodes share one state; a
		// signature recorded in one node's memory would be accepted once
		// more by every other node within max_skew.
		return nil, env.Config.ErrorAtPath(env.Path, "the replay store would be this node's memory, and admin.store is PostgreSQL (several nodes): a signature would be accepted once per node, not once; give the policy a redis block (or use the route's rate_limit Redis or intrusion_detection's), or set replay_protection: false to accept replays knowingly")
	}
	if opts == nil {
		st, err := env.State.Get("validate.signature.nonces", func() (any, error) { return newNonceStore(nonceShardCap), nil })
		if err != nil {
			return nil, err
		}
		return st.(*nonceStore), nil
	}
	client, err := ratelimit.SharedRedis(env.State, *opts)
	if err != nil {
		return nil, err
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = ratelimit.DefaultRedisTimeout
	}
	key := fmt.Sprintf("validate.signature.replay.%s.%d.%q", redisconn.Key(&opts.Server), opts.Timeout, prefix)
	v, err := env.State.Get(key, func() (any, error) {
		return &RedisReplay{client: client.Client(), prefix: prefix, address: opts.Server.Address, timeout: timeout}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*RedisReplay), nil
}

func intrusionRedisOptions(rc *config.IntrusionRedis) *ratelimit.RedisOptions {
	return &ratelimit.RedisOptions{Server: rc.RedisServer, Timeout: rc.Timeout.D()}
}
