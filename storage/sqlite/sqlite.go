// Package sqlite implements every hookd storage contract (ConfigStore,
// EndpointWatcher and LogStore) on one SQLite file, for `hookd dev`: a
// single process with no external services whose data survives restarts.
// It passes the same conformance suites as the PostgreSQL and Cassandra
// backends, so the daemon cannot tell the difference.
//
// SQLite allows one writer at a time. Rather than letting connections
// race for the write lock (and fail with SQLITE_BUSY under load), every
// write goes through a pool of exactly one connection, so writers queue in
// Go and honor their contexts; reads use a separate pool of read-only
// connections, which WAL mode lets run alongside the writer.
//
// Precision follows the production backends: configuration times are kept
// to the microsecond (PostgreSQL timestamptz), log times to the
// millisecond (Cassandra timestamp), durations to the nanosecond.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/storage"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Defaults for Options fields left zero.
const (
	DefaultBusyTimeout   = 5 * time.Second
	DefaultPurgeInterval = time.Minute
	DefaultPurgeBatch    = 500
)

// ErrClosed is returned by WatchEndpoints when the DB is closed under it.
var ErrClosed = errors.New("sqlite store closed")

// Options tune a DB. The zero value is right for `hookd dev`.
type Options struct {
	// Retention bounds how long attempts and dead letters are kept,
	// counted from their own time (StartedAt, DeadAt). The zero value
	// means storage.DefaultRetention; a zero (or negative) field of a
	// non-zero Retention means "keep forever" (a Cassandra TTL of 0).
	Retention storage.Retention
	// PurgeInterval is how often expired log rows and event keys are
	// deleted (they are dead as soon as they expire either way). Zero
	// means DefaultPurgeInterval; negative disables the purge goroutine.
	PurgeInterval time.Duration
	// PurgeBatch is how many rows one purge transaction deletes, so a
	// large purge never holds the write lock for long. Zero means
	// DefaultPurgeBatch.
	PurgeBatch int
	// BusyTimeout is how long a connection waits for a lock held by
	// another process before failing. Zero means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// ReadConns caps the read pool. Zero means max(4, GOMAXPROCS).
	ReadConns int
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Logger receives what the background purge has to report; nil
	// discards it.
	Logger *slog.Logger
}

// DB is hookd's storage on one SQLite file. It implements
// storage.ConfigStore, storage.EndpointWatcher and storage.LogStore. It is
// safe for concurrent use.
type DB struct {
	writer *sql.DB // exactly one connection: SQLite's single writer
	reader *sql.DB // read-only connections (PRAGMA query_only)

	box        *secretbox.Box
	retention  storage.Retention
	purgeBatch int
	now        func() time.Time
	log        *slog.Logger

	hub *hub

	stopPurge context.CancelFunc
	purgeDone chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var (
	_ storage.ConfigStore     = (*DB)(nil)
	_ storage.EndpointWatcher = (*DB)(nil)
	_ storage.LogStore        = (*DB)(nil)
)

// Open opens (creating it if needed) the database file at path, applies
// the schema migrations and starts the purge of expired log rows. box
// seals and opens endpoint secrets. Close releases everything.
func Open(ctx context.Context, path string, box *secretbox.Box, opts Options) (*DB, error) {
	if box == nil {
		return nil, errors.New("sqlite: an encryption box is required")
	}
	if strings.TrimSpace(path) == "" {
		return nil, errors.New("sqlite: a database file path is required")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: database path %q: %w", path, err)
	}
	if err := createFile(path); err != nil {
		return nil, err
	}
	opts = withDefaults(opts)

	db := &DB{
		box:        box,
		retention:  opts.Retention,
		purgeBatch: opts.PurgeBatch,
		now:        opts.Now,
		log:        opts.Logger,
		hub:        newHub(),
		purgeDone:  make(chan struct{}),
	}
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	db.writer, err = sql.Open("sqlite", dsn(path, url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "journal_mode(WAL)", "synchronous(NORMAL)", "foreign_keys(1)"},
		// BEGIN IMMEDIATE takes the write lock at the start of a
		// transaction, so a read-then-write transaction never fails
		// half-way when another process holds the lock.
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)
	if err := db.writer.PingContext(ctx); err != nil {
		_ = db.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db.writer); err != nil {
		_ = db.writer.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}

	db.reader, err = sql.Open("sqlite", dsn(path, url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "synchronous(NORMAL)", "foreign_keys(1)", "query_only(1)"},
	}))
	if err != nil {
		_ = db.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.reader.SetMaxOpenConns(opts.ReadConns)
	db.reader.SetMaxIdleConns(opts.ReadConns)
	if err := db.reader.PingContext(ctx); err != nil {
		_ = db.reader.Close()
		_ = db.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	purgeCtx, stop := context.WithCancel(context.Background())
	db.stopPurge = stop
	if opts.PurgeInterval > 0 {
		go db.purgeLoop(purgeCtx, opts.PurgeInterval)
	} else {
		close(db.purgeDone)
	}
	return db, nil
}

func withDefaults(o Options) Options {
	if o.Retention == (storage.Retention{}) {
		o.Retention = storage.DefaultRetention
	}
	if o.PurgeInterval == 0 {
		o.PurgeInterval = DefaultPurgeInterval
	}
	if o.PurgeBatch <= 0 {
		o.PurgeBatch = DefaultPurgeBatch
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = DefaultBusyTimeout
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// createFile makes the database file (and its directory) readable by its
// owner only before SQLite opens it: the file holds API key hashes and
// sealed secrets, and SQLite gives the -wal and -shm files the
// permissions of the database file.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("sqlite: create data directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	return nil
}

// dsn makes a file: URI, so any character in path (spaces, '?', '#', '%')
// is escaped rather than taken for URI syntax.
func dsn(path string, params url.Values) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// migrateMu serializes migrations within the process: two Opens of a new
// file at once (tests, a restart racing a shutdown) would otherwise both
// try to create the schema. Across processes, the loser of that race
// fails to open and can simply be started again; `hookd dev` is one
// process.
var migrateMu sync.Mutex

// migrate applies the embedded migrations that the file lacks; on an
// up-to-date file it changes nothing.
func migrate(ctx context.Context, db *sql.DB) error {
	migrateMu.Lock()
	defer migrateMu.Unlock()
	fsys, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close stops the purge, ends every watch with ErrClosed and closes the
// database. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.stopPurge()
		<-db.purgeDone
		db.hub.close()
		// Let SQLite refresh its planner statistics if they are stale;
		// cheap, and recommended before closing a long-lived connection.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = db.writer.ExecContext(ctx, "PRAGMA optimize")
		cancel()
		db.closeErr = errors.Join(db.reader.Close(), db.writer.Close())
	})
	return db.closeErr
}

// Ping checks that the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	return db.reader.PingContext(ctx)
}

// inTx runs fn in a write transaction on the single writer connection and
// commits if fn returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

func isForeignKeyViolation(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// Times. Configuration keeps microseconds, as PostgreSQL does; the log
// keeps milliseconds, as Cassandra does. Both read back in UTC.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullTime converts an optional time with conv (micros or millis).
func nullTime(t *time.Time, conv func(time.Time) int64) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: conv(*t), Valid: true}
}

// timePtr converts an optional stored time back with conv.
func timePtr(v sql.NullInt64, conv func(int64) time.Time) *time.Time {
	if !v.Valid {
		return nil
	}
	t := conv(v.Int64)
	return &t
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
