package cassandra

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

// Config says how to reach the cluster. Secrets (Password, key files) are
// never logged or included in errors.
type Config struct {
	// Hosts are contact points, "host:port" or "host" (port 9042). The
	// driver discovers the other nodes and dials them on the contact
	// points' port, so every host must use the same port.
	Hosts []string
	// Keyspace holds hookd's tables (see Migrate).
	Keyspace string
	// Consistency of reads and writes, by name (default LOCAL_QUORUM: a
	// write acknowledged by a quorum of the local data center survives a
	// node loss and stays readable by the next LOCAL_QUORUM read).
	Consistency string
	// LocalDC, when set, keeps requests in that data center (token-aware
	// routing to local replicas first).
	LocalDC string
	// Username and Password enable PasswordAuthenticator.
	Username string
	Password string
	TLS      TLSConfig
	// Timeout bounds one request on the client side (default 10 s); keep
	// it above the server's write_request_timeout so retries do not pile
	// onto an overloaded node.
	Timeout time.Duration
	// ConnectTimeout bounds connection set-up (default 10 s).
	ConnectTimeout time.Duration
	// NumConns is the number of connections per host (default 2).
	NumConns int
}

// TLSConfig enables TLS to the cluster.
type TLSConfig struct {
	Enabled bool
	// CAFile holds the PEM certificates that sign the nodes' certificates
	// (default: the system pool).
	CAFile string
	// CertFile and KeyFile hold a client certificate, for clusters that
	// require one.
	CertFile string
	KeyFile  string
	// ServerName overrides the name checked in the nodes' certificates.
	ServerName string
	// InsecureSkipVerify accepts any node certificate. For tests only: it
	// makes TLS worthless against an active attacker.
	InsecureSkipVerify bool
}

// ClusterConfig turns c into a driver configuration.
func (c Config) ClusterConfig() (*gocql.ClusterConfig, error) {
	if len(c.Hosts) == 0 {
		return nil, errors.New("cassandra: no hosts configured")
	}
	cluster := gocql.NewCluster()
	port := 0
	for _, h := range c.Hosts {
		h = strings.TrimSpace(h)
		host, p := h, 9042
		if strings.Contains(h, ":") {
			hh, ps, err := net.SplitHostPort(h)
			if err != nil {
				return nil, fmt.Errorf("cassandra: host %q: want host or host:port", h)
			}
			n, err := strconv.Atoi(ps)
			if err != nil || n <= 0 || n > 65535 {
				return nil, fmt.Errorf("cassandra: host %q: bad port", h)
			}
			host, p = hh, n
		}
		if host == "" {
			return nil, fmt.Errorf("cassandra: host %q: empty host name", h)
		}
		if port != 0 && p != port {
			return nil, fmt.Errorf("cassandra: hosts use ports %d and %d; the driver dials every node on one port", port, p)
		}
		port = p
		cluster.Hosts = append(cluster.Hosts, host)
	}
	cluster.Port = port

	cons, err := parseConsistency(c.Consistency)
	if err != nil {
		return nil, err
	}
	cluster.Consistency = cons
	cluster.Timeout = durationOr(c.Timeout, 10*time.Second)
	cluster.ConnectTimeout = durationOr(c.ConnectTimeout, 10*time.Second)
	if c.NumConns > 0 {
		cluster.NumConns = c.NumConns
	}
	if c.LocalDC != "" {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(c.LocalDC))
	} else {
		cluster.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	// Reads retry on the next host after a short pause. The Writer runs its
	// own retry loop for writes, with backoff that respects contexts.
	cluster.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: 2, Min: 50 * time.Millisecond, Max: 500 * time.Millisecond}
	if c.Username != "" {
		cluster.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	if c.TLS.Enabled {
		tc, err := c.TLS.tlsConfig()
		if err != nil {
			return nil, err
		}
		cluster.SslOpts = &gocql.SslOptions{Config: tc, EnableHostVerification: !c.TLS.InsecureSkipVerify}
	}
	return cluster, nil
}

func (t TLSConfig) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cassandra: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cassandra: TLS CA file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, errors.New("cassandra: TLS client certificate needs both a certificate file and a key file")
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			// The error names files and PEM problems, never key material.
			return nil, fmt.Errorf("cassandra: TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Connect opens a session for c, not bound to a keyspace (Migrate may
// have to create it; Store names its keyspace in every statement), and
// checks it with a query bounded by ctx.
func Connect(ctx context.Context, c Config) (*gocql.Session, error) {
	cluster, err := c.ClusterConfig()
	if err != nil {
		return nil, err
	}
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("cassandra: connect to %s: %w", strings.Join(c.Hosts, ","), err)
	}
	var version string
	if err := session.Query(`SELECT release_version FROM system.local`).Consistency(gocql.One).ScanContext(ctx, &version); err != nil {
		session.Close()
		return nil, fmt.Errorf("cassandra: check connection to %s: %w", strings.Join(c.Hosts, ","), err)
	}
	return session, nil
}

func parseConsistency(name string) (gocql.Consistency, error) {
	if name == "" {
		return gocql.LocalQuorum, nil
	}
	c, err := gocql.ParseConsistencyWrapper(strings.TrimSpace(name))
	if err != nil {
		return 0, fmt.Errorf("cassandra: consistency %q: want e.g. LOCAL_QUORUM, QUORUM, LOCAL_ONE", name)
	}
	if c == gocql.Any || c == gocql.Serial || c == gocql.LocalSerial {
		return 0, fmt.Errorf("cassandra: consistency %s cannot serve both reads and writes", name)
	}
	return c, nil
}

func durationOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
