package intrusion

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/config"
	"github.com/portcullis/portcullis/internal/redisconn"
)

// redisBans shares bans through one sorted set: member = client address,
// score = end of the ban in unix milliseconds. Every node adds its bans
// and reads the whole set of bans in force every sync interval, so the
// request path never waits on Redis.
type redisBans struct {
	client  *redis.Client
	key     string
	timeout time.Duration
}

const defaultRedisPrefix = "portcullis:ids:"

func newRedisBans(rc *config.IntrusionRedis, log *slog.Logger) (*redisBans, error) {
	prefix := rc.Prefix
	if prefix == "" {
		prefix = defaultRedisPrefix
	}
	timeout := rc.Timeout.Or(500 * time.Millisecond)
	o, err := redisconn.Options(&rc.RedisServer, timeout, log)
	if err != nil {
		return nil, fmt.Errorf("intrusion_detection.redis.%w", err)
	}
	o.ReadTimeout, o.WriteTimeout = timeout, timeout
	o.PoolSize, o.MaxRetries = 4, 1
	return &redisBans{
		client:  redis.NewClient(o),
		key:     prefix + "bans",
		timeout: timeout,
	}, nil
}

// add publishes a ban; the set lives as long as its longest ban.
func (r *redisBans) add(ctx context.Context, a netip.Addr, until time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ms := until.UnixMilli()
	pipe := r.client.TxPipeline()
	// GT: a shorter ban never shortens a longer one made elsewhere. The
	// set outlives the longest possible ban; ended members are pruned by
	// every reader.
	pipe.ZAddArgs(ctx, r.key, redis.ZAddArgs{GT: true, Members: []redis.Z{{Score: float64(ms), Member: a.String()}}})
	pipe.Expire(ctx, r.key, config.MaxBanDuration+time.Hour)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis ban: %w", err)
	}
	return nil
}

// current returns the bans in force at now, dropping the ended ones.
func (r *redisBans) current(ctx context.Context, now time.Time) (map[netip.Addr]time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	pipe := r.client.Pipeline()
	pipe.ZRemRangeByScore(ctx, r.key, "-inf", ms)
	rng := pipe.ZRangeByScoreWithScores(ctx, r.key, &redis.ZRangeBy{Min: "(" + ms, Max: "+inf"})
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("redis bans: %w", err)
	}
	out := map[netip.Addr]time.Time{}
	for _, z := range rng.Val() {
		s, _ := z.Member.(string)
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue // not ours; never trust the store blindly
		}
		out[a] = time.UnixMilli(int64(z.Score))
	}
	return out, nil
}

func (r *redisBans) close() { _ = r.client.Close() }
