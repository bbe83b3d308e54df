package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// OpenSQLite opens (creating it when missing) the single-file store at
// path and brings its schema up to date. The file is created readable by
// its owner only: it holds credential digests and sealed secrets.
func OpenSQLite(ctx context.Context, path string, keys *Keyring) (Store, error) {
	if path == "" {
		return nil, errors.New("store: the SQLite path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	// Create the file with owner-only permissions before SQLite does.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) // #nosec G304 -- the operator names the store file
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	_ = f.Close()
	q := url.Values{}
	// WAL lets readers and the one writer work at once; busy_timeout makes
	// a second process (portcullis admin bootstrap) wait instead of fail.
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// One connection: SQLite has one writer anyway, and a single
	// connection never sees SQLITE_BUSY from itself.
	db.SetMaxOpenConns(1)
	s := &sqlStore{db: db, closeFn: db.Close, d: dialect{name: "sqlite", isUnique: sqliteUnique}}
	s.keys.Store(keys)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := migrate(ctx, db, s.d); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func sqliteUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
