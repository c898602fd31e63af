// Package testenv connects integration tests to the real PostgreSQL, Kafka
// and Cassandra started by scripts/testenv, and gives every test its own
// database, keyspace and topics so tests stay independent.
//
// The connection details come from the HOOKD_TEST_* variables that
// `scripts/testenv env` prints and `make test` sets. When a service is
// missing, a test fails if CI=true and is skipped otherwise, with a message
// naming the command that starts the services.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
)

const startHint = "start the services with `make services-up` and load their settings with `eval \"$(scripts/testenv env)\"`, or run `make test`"

// InCI reports whether the tests run in CI, where a missing service is a
// failure rather than a reason to skip.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// unavailable fails (CI) or skips (elsewhere) a test whose service is
// missing; it never returns.
func unavailable(tb testing.TB, service, why string) {
	tb.Helper()
	if InCI() {
		tb.Fatalf("%s is required (CI=true) but %s; %s", service, why, startHint)
	}
	tb.Skipf("%s not available: %s; %s", service, why, startHint)
}

// requireEnv returns the value of an environment variable the service
// needs, or stops the test through unavailable.
func requireEnv(tb testing.TB, service, name string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v == "" {
		unavailable(tb, service, name+" is not set")
	}
	return v
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// UniqueName returns a name derived from the test's name with a random
// suffix, made of [a-z0-9_] and at most maxLen long, usable as a database,
// keyspace or topic name.
func UniqueName(tb testing.TB, prefix string, maxLen int) string {
	tb.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatalf("testenv: random name: %v", err)
	}
	suffix := "_" + hex.EncodeToString(b[:])
	base := unsafeName.ReplaceAllString(strings.ToLower(tb.Name()), "_")
	base = strings.Trim(base, "_")
	if room := maxLen - len(prefix) - len(suffix); len(base) > room {
		base = base[:max(room, 0)]
	}
	return prefix + base + suffix
}
