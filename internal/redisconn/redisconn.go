// Package redisconn opens the gateway's connections to Redis: the shared
// rate-limit counters, the signature replay store and intrusion
// detection's shared bans. One configuration block (config.RedisServer)
// says how a Redis is reached, and one function turns it into go-redis
// options, so every user of Redis gets the same credentials and the same
// TLS.
//
// Threat: the counters and bans decide who gets in. A Redis across the
// network reached in plain TCP gives whoever sits on the path the Redis
// password (AUTH is sent in the clear) and the power to rewrite every
// decision: reset a rate limit, lift a ban, replay a signed request. With
// a tls block the connection is TLS by the gateway's one policy
// (internal/tlspolicy), the server is verified as a service's https://
// targets are (internal/clienttls: ca_file, server_name,
// expected_identity), and the gateway can present a client certificate for
// a Redis that requires one (tls-auth-clients yes). Certificate files are
// read again when they change, before each new connection: a rotated
// client certificate is used from the next connection on, and a file that
// fails to load keeps the previous one and is logged once.
package redisconn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/portcullis/portcullis/internal/clienttls"
	"github.com/portcullis/portcullis/internal/config"
)

// EventTLSReloadFailed and EventTLSReloaded are the "event" values of the
// log lines about a Redis tls block's files.
const (
	EventTLSReloadFailed = "redis_tls_reload_failed"
	EventTLSReloaded     = "redis_tls_reloaded"
)

// Options returns the go-redis options that reach s: address, ACL user,
// password, database and, with a tls block, a dialer that completes the
// TLS handshake within dialTimeout. The caller adds its own timeouts and
// pool sizes. A tls block whose files do not load is an error here, when
// the configuration is compiled, not at the first request.
func Options(s *config.RedisServer, dialTimeout time.Duration, log *slog.Logger) (*redis.Options, error) {
	o := &redis.Options{Addr: s.Address, Username: s.Username, Password: s.Password, DB: s.DB, DialTimeout: dialTimeout}
	if s.TLS == nil {
		return o, nil
	}
	m, err := clienttls.New(s.TLS)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	d := &dialer{m: m, timeout: dialTimeout, log: log}
	o.Dialer = d.dial
	return o, nil
}

// dialer opens one TLS connection to Redis with the material's current
// files.
type dialer struct {
	m       *clienttls.Material
	timeout time.Duration
	log     *slog.Logger
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	tc, err := d.m.Dial(ctx, network, addr, d.report)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return tc, nil
}

// report logs a refresh of the tls block's files.
func (d *dialer) report(err error) {
	if err != nil {
		d.log.Error("Redis TLS files failed to reload; new connections keep the previous ones", "event", EventTLSReloadFailed, "files", d.m.Files(), "error", err)
		return
	}
	d.log.Info("Redis TLS files reloaded", "event", EventTLSReloaded, "files", d.m.Files())
}

// Key names the connection s describes, for sharing one client between the
// policies that name the same Redis: address, user, database, password and
// tls block, hashed, so the password is not kept in clear in a map key.
func Key(s *config.RedisServer) string {
	tlsKey := "plain"
	if s.TLS != nil {
		tlsKey = clienttls.Key(s.TLS)
	}
	h := sha256.Sum256([]byte(strings.Join([]string{s.Address, s.Username, fmt.Sprint(s.DB), s.Password, tlsKey}, "\x00")))
	return hex.EncodeToString(h[:16])
}
