// Package migrations embeds hookd's PostgreSQL schema migrations, applied
// in order by `hookd migrate` (goose, holding a PostgreSQL advisory lock so
// that concurrent runs wait for each other).
//
// Rules for new migrations, because they run against live databases:
//   - The migrating session has lock_timeout set, so a migration stuck
//     behind a long transaction fails quickly instead of queueing every
//     query behind its lock. Re-run it later.
//   - An index on a table that may be large is built with CREATE INDEX
//     CONCURRENTLY in a migration of its own marked
//     "-- +goose NO TRANSACTION", with IF NOT EXISTS so a re-run after a
//     failure completes it (drop an INVALID index left by a failed
//     concurrent build first).
//   - Add columns with defaults that need no table rewrite; backfill in
//     batches, not in the migration.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
