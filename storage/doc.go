// Package storage holds hookd's stores: endpoint configuration in
// PostgreSQL, the delivery log and dead letters in Cassandra, and SQLite
// implementations of both for `hookd dev`. The interfaces the daemon needs
// are declared where they are used; every implementation passes the same
// conformance suite.
package storage
