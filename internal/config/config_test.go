package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const testKey = "HOOKD_ENCRYPTION_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hookd.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
http:
  addr: ":7000"
log:
  level: debug
kafka:
  brokers: [a:1, b:2]
  sasl:
    mechanism: SCRAM-SHA-512
    username: from-file
delivery:
  timeout: 20s
`)
	l, err := Load(Options{
		File:    file,
		Environ: []string{testKey, "HOOKD_LOG_LEVEL=warn", "HOOKD_KAFKA_SASL_USERNAME=from-env", "HOOKD_DELIVERY_ALLOW_CIDRS=127.0.0.0/8, ::1/128", "OTHER=1"},
		Flags:   map[string]string{"log.level": "error"},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.HTTP.Addr != ":7000" || c.Log.Level != "error" || c.Kafka.SASL.Username != "from-env" ||
		c.Delivery.Timeout != 20*time.Second || len(c.Kafka.Brokers) != 2 || len(c.Delivery.AllowCIDRs) != 2 ||
		c.Log.Format != "json" {
		t.Fatalf("loaded %+v", c)
	}
	for key, want := range map[string]string{
		"http.addr": "file " + file, "log.level": "flag", "kafka.sasl.username": "environment HOOKD_KAFKA_SASL_USERNAME", "log.format": "default",
	} {
		if got := l.Source(key); got != want {
			t.Errorf("Source(%s) = %q, want %q", key, got, want)
		}
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		environ []string
		flags   map[string]string
		want    []string
	}{
		{"no encryption key", "", nil, nil, []string{"encryption_key", "HOOKD_ENCRYPTION_KEY is not set"}},
		{"short encryption key", "", []string{"HOOKD_ENCRYPTION_KEY=c2hvcnQ="}, nil, []string{"encryption_key (from environment HOOKD_ENCRYPTION_KEY)", "decodes to 5 bytes"}},
		{"unknown file key", "kafka:\n  brokerz: [a:1]\n", []string{testKey}, nil, []string{"kafka.brokerz", "unknown setting"}},
		{"unknown top key", "paint: blue\n", []string{testKey}, nil, []string{"paint", "unknown setting"}},
		{"bad env duration", "", []string{testKey, "HOOKD_DELIVERY_TIMEOUT=fast"}, nil, []string{"delivery.timeout (from environment HOOKD_DELIVERY_TIMEOUT)", "not a duration"}},
		{"bad env bool", "", []string{testKey, "HOOKD_KAFKA_TLS_ENABLED=yes please"}, nil, []string{"kafka.tls.enabled", "not true or false"}},
		{"bad env int", "", []string{testKey, "HOOKD_POSTGRES_MAX_CONNS=lots"}, nil, []string{"postgres.max_conns", "not a whole number"}},
		{"bad mechanism", "", []string{testKey, "HOOKD_KAFKA_SASL_MECHANISM=GSSAPI"}, nil, []string{"kafka.sasl.mechanism", "GSSAPI"}},
		{"mechanism without user", "", []string{testKey, "HOOKD_KAFKA_SASL_MECHANISM=PLAIN"}, nil, []string{"kafka.sasl.username", "required"}},
		{"bad broker", "kafka:\n  brokers: [localhost]\n", []string{testKey}, nil, []string{"kafka.brokers (from file", `"localhost" is not host:port`}},
		{"bad cidr", "", []string{testKey, "HOOKD_DELIVERY_ALLOW_CIDRS=10.0.0.0/33"}, nil, []string{"delivery.allow_cidrs", "not a CIDR"}},
		{"bad role", "", []string{testKey}, map[string]string{"roles": "api,mailer"}, []string{"roles (from flag)", `"mailer" is not a role`}},
		{"unknown flag key", "", []string{testKey}, map[string]string{"http.port": "1"}, []string{"http.port", "unknown setting"}},
		{"bad consistency", "", []string{testKey, "HOOKD_CASSANDRA_CONSISTENCY=MOST"}, nil, []string{"cassandra.consistency"}},
		{"bad keyspace", "", []string{testKey, "HOOKD_CASSANDRA_KEYSPACE=drop table;"}, nil, []string{"cassandra.keyspace"}},
		{"bad kafka version", "", []string{testKey, "HOOKD_KAFKA_VERSION=9.9.9.9.9"}, nil, []string{"kafka.version"}},
		{"bad raw topic", "", []string{testKey, "HOOKD_KAFKA_RAW_TOPICS=payments"}, nil, []string{"kafka.raw_topics", "topic=event.type"}},
		{"zero partitions", "", []string{testKey, "HOOKD_KAFKA_OWN_PARTITIONS=0"}, nil, []string{"kafka.own_partitions"}},
		{"zero retention", "retention:\n  failed: 0s\n", []string{testKey}, nil, []string{"retention.failed"}},
		{"wrong type in file", "http:\n  max_body_bytes: [1, 2]\n", []string{testKey}, nil, []string{"config file", "cannot unmarshal"}},
		{"invalid yaml", "http: [\n", []string{testKey}, nil, []string{"config file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Environ: tc.environ, Flags: tc.flags}
			if tc.file != "" {
				o.File = writeFile(t, tc.file)
			}
			_, err := Load(o)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestHostileFiles(t *testing.T) {
	big := writeFile(t, "log:\n  format: json\n"+strings.Repeat("# padding\n", 200_000))
	if _, err := Load(Options{File: big, Environ: []string{testKey}}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
	// Exponential alias expansion must be refused, not evaluated.
	bomb := "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
	if _, err := Load(Options{File: writeFile(t, bomb), Environ: []string{testKey}}); err == nil {
		t.Fatal("alias bomb accepted")
	}
	if _, err := Load(Options{File: filepath.Join(t.TempDir(), "missing.yaml"), Environ: []string{testKey}}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := Load(Options{File: writeFile(t, ""), Environ: []string{testKey}}); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestDefaultsAreValidWithAKey(t *testing.T) {
	if _, err := Load(Options{Environ: []string{testKey}}); err != nil {
		t.Fatal(err)
	}
	// The logwriter alone needs no encryption key.
	if _, err := Load(Options{Flags: map[string]string{"roles": "logwriter"}}); err != nil {
		t.Fatal(err)
	}
}

func TestKeysMatchTheDocumentedVariables(t *testing.T) {
	have := map[string]bool{}
	for _, k := range Keys() {
		have[k.Env] = true
		if k.Help == "" {
			t.Errorf("%s has no help text", k.Key)
		}
	}
	// The names docker-compose.yml and the docs use.
	for _, env := range []string{
		"HOOKD_POSTGRES_DSN", "HOOKD_KAFKA_BROKERS", "HOOKD_KAFKA_SASL_MECHANISM", "HOOKD_KAFKA_SASL_USERNAME",
		"HOOKD_KAFKA_SASL_PASSWORD", "HOOKD_KAFKA_TLS_ENABLED", "HOOKD_KAFKA_TLS_CA_FILE", "HOOKD_KAFKA_EVENTS_TOPICS", "HOOKD_CASSANDRA_HOSTS",
		"HOOKD_CASSANDRA_KEYSPACE", "HOOKD_CASSANDRA_CONSISTENCY", "HOOKD_ENCRYPTION_KEY", "HOOKD_HTTP_ADDR", "HOOKD_LOG_FORMAT", "HOOKD_LOG_LEVEL",
	} {
		if !have[env] {
			t.Errorf("no setting reads %s", env)
		}
	}
}

func TestRedactedHidesSecrets(t *testing.T) {
	l, err := Load(Options{Environ: []string{testKey, "HOOKD_KAFKA_SASL_PASSWORD=hunter2", "HOOKD_POSTGRES_DSN=postgres://u:pw@db/hookd"}})
	if err != nil {
		t.Fatal(err)
	}
	r := l.Redacted()
	for _, secret := range []string{"hunter2", "pw@db", "MDEyMzQ1"} {
		for k, v := range r {
			if strings.Contains(v, secret) {
				t.Errorf("%s shows a secret: %s", k, v)
			}
		}
	}
	if r["http.addr"] != ":8080" || r["delivery.timeout"] != "15s" || r["kafka.brokers"] != "localhost:9092" {
		t.Fatalf("redacted view: %v", r)
	}
}
