// Package cassandra keeps hookd's delivery log and dead-letter queue in
// Apache Cassandra (storage.LogStore), writes it for the pipeline in
// coalesced, per-partition batches (Writer) and applies the CQL schema of
// package cql (Migrate).
//
// # Tables
//
// The tables are designed from the queries, and every write is an
// idempotent upsert on a deterministic key, so a retried or replayed
// write never duplicates a record:
//
//   - attempts_by_delivery ((delivery_id), attempt_id): the only full copy
//     of an attempt (headers, body). DeliveryAttempts reads one partition.
//   - attempts_by_endpoint ((endpoint_id, day), started_at DESC,
//     attempt_id): slim index for an endpoint's attempts, newest first.
//   - attempts_by_hour ((hour, shard), started_at DESC, attempt_id): slim
//     index of every attempt, eight shards per hour so one hour's writes
//     spread over the cluster; attempt_hours ((day), hour) lists the hours
//     that hold attempts so sparse ranges are cheap to walk.
//   - attempts_by_event ((event_id), delivery_id, attempt_id): a slim row
//     per attempt, so EventDeliveries reads one partition in delivery
//     order, grouped by delivery on the server; per attempt rather than
//     per delivery so that every row keeps its own attempt's TTL.
//   - dead_letters ((endpoint_id, delivery_id)): each dead letter with its
//     payload, one small partition each.
//   - dead_letters_by_endpoint ((endpoint_id, day), dead_at DESC,
//     delivery_id) and dead_letters_by_day ((day, shard), dead_at DESC,
//     endpoint_id, delivery_id): slim indexes for listing.
//
// Lists read an index newest first, filter the slim rows in Go, and fetch
// the full records of the matches with parallel point reads; a record
// that has moved (an upsert with a new time) or gone (a discard) is
// skipped, so index rows never need deleting on the hot path.
//
// # Retention
//
// Each row gets a TTL from storage.Retention, counted from the record's own
// time (StartedAt, DeadAt): delivered and failed attempts can be kept for
// different times, and a writer catching up after an outage does not
// extend them. Records already older than their retention are not written.
// Absent optional values (NextRetryAt, ReplayedAt, empty bodies and header
// maps) are stored as zero values rather than nulls, which would write
// tombstones.
//
// # Precision
//
// Cassandra keeps timestamps in milliseconds: times come back truncated to
// the millisecond, in UTC. Durations are kept in nanoseconds. Time filters
// compare against the stored milliseconds.
package cassandra
