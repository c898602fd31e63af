// Package cql embeds hookd's Cassandra schema: numbered CQL files
// (NNN_name.cql) that `hookd migrate` applies in order, recording each
// version in schema_migrations and waiting for schema agreement after every
// change (the runner is storage/cassandra.Migrate).
//
// Rules for the files, so that a migration can always be run again:
//
//   - Statements end with ';'. Comments ('--', '//', '/* */') are stripped.
//   - Table names are not qualified: the runner executes each statement in
//     the target keyspace (`cqlsh -k KEYSPACE -f FILE` does the same).
//   - DDL is idempotent: CREATE ... IF NOT EXISTS, ALTER TABLE ... ADD IF
//     NOT EXISTS, DROP ... IF EXISTS.
//   - Every table declares default_time_to_live (the log is bounded by its
//     retention even if a writer forgets a TTL); writers still set a TTL per
//     row, so delivered and failed attempts can be kept for different times.
//   - Never edit a released file; add a new one.
package cql
