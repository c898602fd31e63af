package testenv_test

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver goose runs on
	"github.com/pressly/goose/v3"

	"github.com/hookd/hookd/internal/testenv"
)

//go:embed testdata/pgmigrations/*.sql
var smokeMigrations embed.FS

func TestPostgresMigrateAndQuery(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	migrations, err := fs.Sub(smokeMigrations, "testdata/pgmigrations")
	if err != nil {
		t.Fatal(err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db, migrations)
	if err != nil {
		t.Fatal(err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	if len(results) != 1 {
		t.Fatalf("applied %d migrations, want 1", len(results))
	}
	// A second run finds nothing to do.
	if results, err = provider.Up(ctx); err != nil || len(results) != 0 {
		t.Fatalf("second migrate up: %d applied, err %v; want 0, nil", len(results), err)
	}
	if v, err := provider.GetDBVersion(ctx); err != nil || v != 1 {
		t.Fatalf("schema version %d, err %v; want 1", v, err)
	}

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var id int64
	if err := pool.QueryRow(ctx, `INSERT INTO smoke (note) VALUES ($1) RETURNING id`, "hello").Scan(&id); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var note string
	if err := pool.QueryRow(ctx, `SELECT note FROM smoke WHERE id = $1`, id).Scan(&note); err != nil || note != "hello" {
		t.Fatalf("select: note %q, err %v", note, err)
	}
}

func TestPostgresDatabasesAreSeparate(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := testenv.PostgresDSN(t), testenv.PostgresDSN(t)
	if a == b {
		t.Fatalf("two calls returned the same database %s", a)
	}
	poolA, err := pgxpool.New(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer poolA.Close()
	if _, err := poolA.Exec(ctx, `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	poolB, err := pgxpool.New(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer poolB.Close()
	var n int
	if err := poolB.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database b sees %d tables named only_in_a (err %v), want 0", n, err)
	}
}
