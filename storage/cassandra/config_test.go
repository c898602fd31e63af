package cassandra

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
)

func TestClusterConfig(t *testing.T) {
	t.Parallel()
	c, err := Config{
		Hosts: []string{"10.0.0.1:19042", " 10.0.0.2:19042"}, Consistency: "quorum",
		Username: "hookd", Password: "s3cret", Timeout: 3 * time.Second, NumConns: 4, LocalDC: "dc1",
	}.ClusterConfig()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Hosts, ",") != "10.0.0.1,10.0.0.2" || c.Port != 19042 || c.Consistency != gocql.Quorum ||
		c.Timeout != 3*time.Second || c.NumConns != 4 || c.Authenticator == nil || c.SslOpts != nil {
		t.Errorf("cluster config: hosts %v port %d consistency %v timeout %v conns %d", c.Hosts, c.Port, c.Consistency, c.Timeout, c.NumConns)
	}
	c, err = Config{Hosts: []string{"cassandra"}}.ClusterConfig()
	if err != nil || c.Port != 9042 || c.Consistency != gocql.LocalQuorum || c.Timeout != 10*time.Second {
		t.Errorf("defaults: %v, port %d, consistency %v, timeout %v", err, c.Port, c.Consistency, c.Timeout)
	}

	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"no hosts":          {},
		"mixed ports":       {Hosts: []string{"a:9042", "b:9043"}},
		"bad port":          {Hosts: []string{"a:x"}},
		"empty host":        {Hosts: []string{":9042"}},
		"bad consistency":   {Hosts: []string{"a"}, Consistency: "most"},
		"serial":            {Hosts: []string{"a"}, Consistency: "SERIAL"},
		"CA file missing":   {Hosts: []string{"a"}, TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "none.pem")}},
		"CA file not PEM":   {Hosts: []string{"a"}, TLS: TLSConfig{Enabled: true, CAFile: notPEM}},
		"cert without key":  {Hosts: []string{"a"}, TLS: TLSConfig{Enabled: true, CertFile: notPEM}},
		"client cert wrong": {Hosts: []string{"a"}, Password: "s3cret", TLS: TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}},
	} {
		_, err := cfg.ClusterConfig()
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}

	c, err = Config{Hosts: []string{"a"}, TLS: TLSConfig{Enabled: true, ServerName: "cassandra.internal"}}.ClusterConfig()
	if err != nil || c.SslOpts == nil || !c.SslOpts.EnableHostVerification || c.SslOpts.ServerName != "cassandra.internal" {
		t.Errorf("TLS: %v, %+v", err, c.SslOpts)
	}
	c, err = Config{Hosts: []string{"a"}, TLS: TLSConfig{Enabled: true, InsecureSkipVerify: true}}.ClusterConfig()
	if err != nil || c.SslOpts.EnableHostVerification || !c.SslOpts.InsecureSkipVerify {
		t.Errorf("insecure TLS: %v, %+v", err, c.SslOpts)
	}
}
