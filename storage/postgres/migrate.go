// Package postgres is hookd's configuration store on PostgreSQL (pgx v5):
// endpoints, their encrypted signing secrets, API keys and replay jobs,
// and the LISTEN/NOTIFY feed that keeps the daemons' subscription indexes
// current.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/hookd/hookd/migrations"
)

// MigrateOptions tune a migration run.
type MigrateOptions struct {
	// LockTimeout bounds how long a statement waits for a table lock
	// (default 5s): a migration queued behind a long transaction would
	// otherwise hold up every query queued behind it.
	LockTimeout time.Duration
	// DryRun lists the pending migrations without applying them.
	DryRun bool
}

// MigrationResult names one migration applied (or pending, in a dry run).
type MigrationResult struct {
	Version  int64
	Name     string
	Duration time.Duration
}

// Migrate brings the database at dsn to the newest schema. Concurrent runs
// (several daemons starting at once) serialize on an advisory lock.
func Migrate(ctx context.Context, dsn string, opts MigrateOptions) ([]MigrationResult, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres dsn: %w", err)
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 5 * time.Second
	}
	// Set on every connection of the migration pool, so it also holds for
	// migrations that run outside a transaction.
	cfg.RuntimeParams["lock_timeout"] = fmt.Sprint(opts.LockTimeout.Milliseconds())
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	return migrate(ctx, db, opts)
}

func migrate(ctx context.Context, db *sql.DB, opts MigrateOptions) ([]MigrationResult, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("postgres migrations: %w", err)
	}
	if opts.DryRun {
		status, err := provider.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("postgres migration status: %w", err)
		}
		var pending []MigrationResult
		for _, s := range status {
			if s.State == goose.StatePending {
				pending = append(pending, MigrationResult{Version: s.Source.Version, Name: s.Source.Path})
			}
		}
		return pending, nil
	}
	results, err := provider.Up(ctx)
	applied := make([]MigrationResult, 0, len(results))
	for _, r := range results {
		applied = append(applied, MigrationResult{Version: r.Source.Version, Name: r.Source.Path, Duration: r.Duration})
	}
	if err != nil {
		return applied, fmt.Errorf("postgres migrate: %w", err)
	}
	return applied, nil
}
