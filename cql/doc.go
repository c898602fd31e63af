// Package cql embeds hookd's Cassandra schema (CQL files applied in order by
// `hookd migrate`, which waits for schema agreement after each change).
package cql
