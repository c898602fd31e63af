// Package migrations embeds hookd's PostgreSQL schema migrations, applied
// in order by `hookd migrate`.
package migrations
