package testenv

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// CassandraCluster returns a driver configuration for the test Cassandra,
// with keyspace selected when it is not empty.
func CassandraCluster(tb testing.TB, keyspace string) *gocql.ClusterConfig {
	tb.Helper()
	hosts := strings.Split(requireEnv(tb, "Cassandra", "HOOKD_TEST_CASSANDRA_HOSTS"), ",")
	cluster := gocql.NewCluster()
	for _, h := range hosts {
		host, port, err := net.SplitHostPort(strings.TrimSpace(h))
		if err != nil {
			tb.Fatalf("testenv: HOOKD_TEST_CASSANDRA_HOSTS: %q is not host:port", h)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			tb.Fatalf("testenv: HOOKD_TEST_CASSANDRA_HOSTS: bad port in %q", h)
		}
		cluster.Hosts = append(cluster.Hosts, host)
		// The driver dials every node it discovers on this one port.
		cluster.Port = p
	}
	cluster.Keyspace = keyspace
	cluster.Consistency = gocql.One
	cluster.Timeout = 20 * time.Second
	cluster.ConnectTimeout = 10 * time.Second
	return cluster
}

// CassandraKeyspace creates a keyspace (SimpleStrategy, replication factor
// 1) for this test and returns its name and a session bound to it. Both are
// cleaned up when the test ends.
func CassandraKeyspace(tb testing.TB) (string, *gocql.Session) {
	tb.Helper()
	admin, err := CassandraCluster(tb, "").CreateSession()
	if err != nil {
		unavailable(tb, "Cassandra", "connecting failed: "+err.Error())
	}
	defer admin.Close()

	name := UniqueName(tb, "t_", 48) // Cassandra caps names at 48 characters
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stmt := fmt.Sprintf(`CREATE KEYSPACE %s WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`, name)
	if err := admin.Query(stmt).ExecContext(ctx); err != nil {
		tb.Fatalf("testenv: create keyspace %s: %v", name, err)
	}
	tb.Cleanup(func() { dropKeyspace(tb, name) })

	session, err := CassandraCluster(tb, name).CreateSession()
	if err != nil {
		tb.Fatalf("testenv: session for keyspace %s: %v", name, err)
	}
	tb.Cleanup(session.Close)
	return name, session
}

func dropKeyspace(tb testing.TB, name string) {
	tb.Helper()
	s, err := CassandraCluster(tb, "").CreateSession()
	if err != nil {
		tb.Errorf("testenv: drop keyspace %s: %v", name, err)
		return
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Query("DROP KEYSPACE IF EXISTS " + name).ExecContext(ctx); err != nil {
		tb.Errorf("testenv: drop keyspace %s: %v", name, err)
	}
}
