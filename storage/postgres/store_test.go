package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage"
	"github.com/hookd/hookd/storage/postgres"
	"github.com/hookd/hookd/storage/storagetest"
)

// migratedDSN returns the DSN of a new database with the schema applied.
func migratedDSN(t *testing.T) string {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return dsn
}

func openStore(t *testing.T, dsn string, box *secretbox.Box) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestConformance(t *testing.T) {
	storagetest.RunConfigStore(t, func(t *testing.T) storagetest.ConfigOpener {
		dsn := migratedDSN(t)
		return func(box *secretbox.Box) storage.ConfigStore { return openStore(t, dsn, box) }
	})
}

func TestWatcher(t *testing.T) {
	storagetest.RunEndpointWatcher(t, func(t *testing.T) (storage.EndpointStore, storage.EndpointWatcher) {
		s := openStore(t, migratedDSN(t), storagetest.NewBox(t))
		return s, s
	})
}

func TestMigrateIsIdempotentAndDryRunListsPending(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dsn := testenv.PostgresDSN(t)
	pending, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{DryRun: true})
	if err != nil || len(pending) < 2 {
		t.Fatalf("dry run on an empty database: %v, %v", pending, err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'endpoints'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("the dry run created tables (%d, %v)", tables, err)
	}
	applied, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{})
	if err != nil || len(applied) != len(pending) {
		t.Fatalf("migrate: %d applied, %v; want %d", len(applied), err, len(pending))
	}
	again, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{})
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate: %d applied, %v; want none", len(again), err)
	}
	if pending, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{DryRun: true}); err != nil || len(pending) != 0 {
		t.Fatalf("dry run after migrating: %v, %v", pending, err)
	}
}

func TestConcurrentMigrationsSerialize(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := postgres.Migrate(ctx, dsn, postgres.MigrateOptions{})
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
}

// The database never holds a secret in plain text.
func TestSecretsAreEncryptedAtRest(t *testing.T) {
	t.Parallel()
	dsn := migratedDSN(t)
	s := openStore(t, dsn, storagetest.NewBox(t))
	ctx := context.Background()
	e, sec := storagetest.NewEndpoint("")
	if err := s.CreateEndpoint(ctx, e, sec); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dump string
	if err := conn.QueryRow(ctx, `SELECT string_agg(encode(sealed, 'escape'), ' ') FROM endpoint_secrets`).Scan(&dump); err != nil {
		t.Fatal(err)
	}
	raw := strings.TrimPrefix(sec.Value, "whsec_")
	if strings.Contains(dump, raw) || strings.Contains(dump, "whsec_") {
		t.Fatal("a secret is stored in plain text")
	}
}

// A migration blocked by a long transaction fails after lock_timeout
// instead of queueing every query behind it.
func TestMigrationGivesUpOnLocks(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// goose's version table, held exclusively by a transaction that never ends.
	if _, err := tx.Exec(ctx, `CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());
		LOCK TABLE goose_db_version IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = postgres.Migrate(ctx, dsn, postgres.MigrateOptions{LockTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("migrate succeeded past an exclusive lock")
	}
	if !strings.Contains(err.Error(), "lock timeout") && !strings.Contains(err.Error(), "55P03") {
		t.Fatalf("migrate error %v does not say lock timeout", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("migrate took %s to give up", time.Since(start))
	}
}
