package daemon

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/iostreams"
	"github.com/hookd/hookd/internal/testenv"
)

func runHookd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	root := NewCmdRoot(ios)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// hookd migrate against the real PostgreSQL and Cassandra: from empty,
// again without change, and as a dry run.
func TestMigrate(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	hosts := os.Getenv("HOOKD_TEST_CASSANDRA_HOSTS")
	keyspace := testenv.UniqueName(t, "t_", 48)
	if hosts != "" {
		t.Cleanup(func() {
			s, err := testenv.CassandraCluster(t, "").CreateSession()
			if err == nil {
				defer s.Close()
				_ = s.Query("DROP KEYSPACE IF EXISTS " + keyspace).Exec()
			}
		})
	}
	testenv.CassandraCluster(t, "") // fails or skips when Cassandra is missing
	t.Setenv("HOOKD_POSTGRES_DSN", dsn)
	t.Setenv("HOOKD_CASSANDRA_HOSTS", hosts)
	t.Setenv("HOOKD_CASSANDRA_KEYSPACE", keyspace)
	t.Setenv("HOOKD_ENCRYPTION_KEY", "")

	out, _, err := runHookd(t, "migrate", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "postgres: pending 00001") || !strings.Contains(out, "cassandra: pending") {
		t.Fatalf("dry run:\n%s", out)
	}
	out, _, err = runHookd(t, "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "postgres: applied 00001") || !strings.Contains(out, "cassandra: applied 001") {
		t.Fatalf("first migrate:\n%s", out)
	}
	out, _, err = runHookd(t, "migrate")
	if err != nil {
		t.Fatal(err)
	}
	if out != "postgres: schema is up to date\ncassandra: schema is up to date\n" {
		t.Fatalf("second migrate:\n%s", out)
	}
}

func TestMigrateNamesABadSetting(t *testing.T) {
	t.Setenv("HOOKD_CASSANDRA_HOSTS", "cassandra-without-port")
	_, _, err := runHookd(t, "migrate")
	if err == nil || !strings.Contains(err.Error(), "cassandra.hosts (from environment HOOKD_CASSANDRA_HOSTS)") {
		t.Fatalf("err = %v", err)
	}
	if _, _, err := runHookd(t, "migrate", "--only", "mysql"); err == nil || !strings.Contains(err.Error(), "--only") {
		t.Fatalf("err = %v", err)
	}
}
