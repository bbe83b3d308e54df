package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/portcullis/portcullis/internal/pgdsn"
)

// PostgresOptions configure a PostgreSQL store.
type PostgresOptions struct {
	// DSN is a libpq connection string or URL.
	DSN string
	// Schema holds the store's tables (created when missing); several
	// gateway clusters can share a database with one schema each.
	Schema string
	Logger *slog.Logger
}

var schemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,47}$`)

// ValidSchema reports whether s can name the store's schema.
func ValidSchema(s string) bool { return schemaRE.MatchString(s) }

// OpenPostgres connects, creates the schema when missing, migrates it,
// and starts listening for the changes other nodes announce.
func OpenPostgres(ctx context.Context, o PostgresOptions, keys *Keyring) (Store, error) {
	if !ValidSchema(o.Schema) {
		return nil, fmt.Errorf("store: schema %q: use lower-case letters, digits and '_'", o.Schema)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg, err := pgdsn.Parse(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	cfg.RuntimeParams["search_path"] = o.Schema
	cfg.RuntimeParams["application_name"] = "portcullis"
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 3 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	channel := "portcullis_" + o.Schema
	d := dialect{name: "postgres", numbered: true, isUnique: pgUnique,
		afterBump: func(tx *sql.Tx, ctx context.Context, rev int64) error {
			// Delivered to every listener when the transaction commits.
			_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, channel, fmt.Sprint(rev))
			return err
		}}
	if err := pgMigrate(ctx, db, d, o.Schema); err != nil {
		_ = db.Close()
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	l := &listener{cfg: cfg, channel: channel, out: make(chan struct{}, 1), log: o.Logger, done: make(chan struct{})}
	go l.run(lctx)
	s := &sqlStore{db: db, d: d, changes: l.out}
	s.keys.Store(keys)
	s.closeFn = func() error {
		cancel()
		<-l.done
		return db.Close()
	}
	return s, nil
}

func pgUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// listener holds one connection in LISTEN and signals out on every
// notification, and after every reconnection (changes may have been
// missed while it was down).
type listener struct {
	cfg     *pgx.ConnConfig
	channel string
	out     chan struct{}
	log     *slog.Logger
	done    chan struct{}
}

func (l *listener) signal() {
	select {
	case l.out <- struct{}{}:
	default:
	}
}

func (l *listener) run(ctx context.Context) {
	defer close(l.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := l.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("store: change notifications interrupted; reconnecting", "error", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (l *listener) listen(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, l.cfg)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{l.channel}.Sanitize()); err != nil {
		return err
	}
	l.signal() // anything missed while not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		l.signal()
	}
}

// pgMigrate creates the schema and migrates it on one connection that
// holds an advisory lock, so nodes starting together do not race (CREATE
// ... IF NOT EXISTS is not safe against a concurrent CREATE).
func pgMigrate(ctx context.Context, db *sql.DB, d dialect, schema string) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: PostgreSQL: %w", err)
	}
	defer conn.Close()
	lockKey := "portcullis migrate " + schema
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(hashtext($1))`, lockKey); err != nil {
		return fmt.Errorf("store: PostgreSQL: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(hashtext($1))`, lockKey)
	}()
	if _, err := conn.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema); err != nil {
		return fmt.Errorf("store: PostgreSQL: %w", err)
	}
	return migrate(ctx, conn, d)
}
