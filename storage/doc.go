// Package storage declares what hookd keeps and where: endpoint
// configuration, secrets, API keys and replay jobs in a ConfigStore
// (PostgreSQL in production), attempts and dead letters in a LogStore
// (Cassandra in production), and SQLite implementations of both for
// `hookd dev`. The daemon and the API declare the narrower interfaces they
// use; the interfaces here are the whole contract that every
// implementation meets, proved by the conformance suite in storagetest.
package storage
