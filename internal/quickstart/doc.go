// Package quickstart holds end-to-end tests of `hookd dev` and hookctl as
// a user meets them: built binaries, run as processes. One test runs the
// README's quickstart commands, read from README.md itself, so the README
// cannot drift from the programs; another kills `hookd dev` with SIGKILL
// while deliveries are pending and checks that a restart delivers every
// one. They need no external service: the embedded broker and SQLite.
package quickstart
