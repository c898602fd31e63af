package daemon

import (
	"context"
	"os"
	"strings"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/secretbox"
	"github.com/hookd/hookd/internal/testenv"
	"github.com/hookd/hookd/storage/cassandra"
	"github.com/hookd/hookd/storage/postgres"
)

// testEncryptionKey is the HOOKD_ENCRYPTION_KEY of the tests' daemons.
const testEncryptionKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// testStores are a test's own PostgreSQL database and Cassandra keyspace,
// migrated, with the configuration store open (closed when the test ends).
type testStores struct {
	dsn      string
	keyspace string
	session  *gocql.Session
	store    *postgres.Store
}

func newTestStores(ctx context.Context, t *testing.T) testStores {
	t.Helper()
	s := testStores{dsn: testenv.PostgresDSN(t)}
	if _, err := postgres.Migrate(ctx, s.dsn, postgres.MigrateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.keyspace, s.session = testenv.CassandraKeyspace(t)
	if _, err := cassandra.Migrate(ctx, s.session, cassandra.MigrateOptions{Keyspace: s.keyspace}); err != nil {
		t.Fatal(err)
	}
	raw, _ := secretbox.ParseKey(testEncryptionKey)
	box, _ := secretbox.New(raw)
	store, err := postgres.Open(ctx, s.dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	s.store = store
	return s
}

// setServeEnv points the HOOKD_* variables of a daemon started by this
// test at s, at k's brokers (SCRAM-SHA-512), at eventsTopic, and at
// topics and a consumer group named after prefix; loopback receivers are
// allowed.
func (s testStores) setServeEnv(t *testing.T, k testenv.Kafka, eventsTopic, prefix string) {
	t.Helper()
	for name, v := range map[string]string{
		"HOOKD_ENCRYPTION_KEY":        testEncryptionKey,
		"HOOKD_POSTGRES_DSN":          s.dsn,
		"HOOKD_CASSANDRA_HOSTS":       os.Getenv("HOOKD_TEST_CASSANDRA_HOSTS"),
		"HOOKD_CASSANDRA_KEYSPACE":    s.keyspace,
		"HOOKD_CASSANDRA_CONSISTENCY": "ONE",
		"HOOKD_KAFKA_BROKERS":         strings.Join(k.Brokers, ","),
		"HOOKD_KAFKA_SASL_MECHANISM":  kafka.MechanismSCRAMSHA512,
		"HOOKD_KAFKA_SASL_USERNAME":   k.ScramUser,
		"HOOKD_KAFKA_SASL_PASSWORD":   k.ScramPassword,
		"HOOKD_KAFKA_EVENTS_TOPICS":   eventsTopic,
		"HOOKD_KAFKA_ATTEMPTS_TOPIC":  prefix + ".attempts",
		"HOOKD_KAFKA_RETRY_PREFIX":    prefix + ".retry.",
		"HOOKD_KAFKA_CONSUMER_GROUP":  prefix,
		"HOOKD_DELIVERY_ALLOW_CIDRS":  "127.0.0.0/8",
		"HOOKD_LOG_LEVEL":             "warn",
	} {
		t.Setenv(name, v)
	}
}
