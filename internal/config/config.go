// Package config loads hookd's settings: defaults, then a YAML file, then
// HOOKD_* environment variables, then command-line flags, each overriding
// the one before. Every setting has one key (e.g. kafka.sasl.username) that
// names it in the file, in its variable (HOOKD_KAFKA_SASL_USERNAME) and in
// every error message, so an operator can find the line to fix.
package config

import (
	"time"
)

// Config is the daemon's configuration.
type Config struct {
	// Roles this process runs: api, dispatch, logwriter.
	Roles []string `yaml:"roles" help:"roles this process runs: api, dispatch, logwriter"`
	// EncryptionKey encrypts endpoint secrets at rest (base64 of 32 bytes).
	EncryptionKey string `yaml:"encryption_key" secret:"true" help:"key that encrypts signing secrets at rest: base64 of 32 random bytes"`

	HTTP      HTTP      `yaml:"http"`
	Log       Log       `yaml:"log"`
	Postgres  Postgres  `yaml:"postgres"`
	Cassandra Cassandra `yaml:"cassandra"`
	Kafka     Kafka     `yaml:"kafka"`
	Delivery  Delivery  `yaml:"delivery"`
	Retention Retention `yaml:"retention"`
}

// HTTP configures the API server.
type HTTP struct {
	Addr            string        `yaml:"addr" help:"address the API listens on"`
	MaxBodyBytes    int64         `yaml:"max_body_bytes" help:"largest request body accepted"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout" help:"how long in-flight requests get to finish on shutdown"`
	PprofAddr       string        `yaml:"pprof_addr" help:"address of a separate listener for Go profiles at /debug/pprof/ (empty: none); keep it private"`
}

// Log configures the daemon's logs.
type Log struct {
	Format string `yaml:"format" help:"json or text"`
	Level  string `yaml:"level" help:"debug, info, warn or error"`
}

// Postgres configures the configuration store.
type Postgres struct {
	DSN      string `yaml:"dsn" secret:"true" help:"PostgreSQL connection string"`
	MaxConns int    `yaml:"max_conns" help:"largest connection pool"`
}

// Cassandra configures the delivery log.
type Cassandra struct {
	Hosts       []string      `yaml:"hosts" help:"contact points, host:port, comma-separated"`
	Keyspace    string        `yaml:"keyspace" help:"keyspace of the delivery log"`
	Consistency string        `yaml:"consistency" help:"consistency level of reads and writes"`
	Username    string        `yaml:"username" help:"username (PasswordAuthenticator)"`
	Password    string        `yaml:"password" secret:"true" help:"password"`
	Timeout     time.Duration `yaml:"timeout" help:"per-request timeout"`
	// Replication is used when `hookd migrate` creates the keyspace.
	ReplicationClass  string   `yaml:"replication_class" help:"SimpleStrategy or NetworkTopologyStrategy, when migrate creates the keyspace"`
	ReplicationFactor int      `yaml:"replication_factor" help:"replicas (SimpleStrategy), or per data center in replication_dcs"`
	ReplicationDCs    []string `yaml:"replication_dcs" help:"data centers, dc:factor, for NetworkTopologyStrategy"`
}

// Kafka configures the event source and hookd's own topics.
type Kafka struct {
	Brokers         []string `yaml:"brokers" help:"bootstrap brokers, host:port, comma-separated"`
	Version         string   `yaml:"version" help:"Kafka protocol version, e.g. 3.9.0"`
	ClientID        string   `yaml:"client_id" help:"client id sent to the brokers"`
	ConsumerGroup   string   `yaml:"consumer_group" help:"consumer group of the dispatchers"`
	InitialOffset   string   `yaml:"initial_offset" help:"where a new group starts: oldest or newest"`
	EventsTopics    []string `yaml:"events_topics" help:"topics events are consumed from"`
	AttemptsTopic   string   `yaml:"attempts_topic" help:"topic attempt records are written to"`
	RetryPrefix     string   `yaml:"retry_prefix" help:"prefix of the retry tier topics"`
	MaxMessageBytes int      `yaml:"max_message_bytes" help:"largest event accepted; larger ones are dead-lettered"`
	// RawTopics map topics of raw JSON payloads to the event type they carry.
	RawTopics []string `yaml:"raw_topics" help:"topics of raw JSON payloads, topic=event.type, comma-separated"`
	// OwnPartitions is the partition count of the topics hookd creates
	// (attempts and retry tiers); it bounds how many processes share them.
	OwnPartitions int       `yaml:"own_partitions" help:"partitions of the attempts and retry tier topics hookd creates"`
	SASL          KafkaSASL `yaml:"sasl"`
	TLS           KafkaTLS  `yaml:"tls"`
}

// KafkaSASL configures SASL authentication.
type KafkaSASL struct {
	Mechanism string `yaml:"mechanism" help:"PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: no SASL)"`
	Username  string `yaml:"username" help:"SASL username"`
	Password  string `yaml:"password" secret:"true" help:"SASL password"`
}

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	Enabled            bool   `yaml:"enabled" help:"connect with TLS"`
	CAFile             string `yaml:"ca_file" help:"PEM file of CAs to trust besides the system's"`
	CertFile           string `yaml:"cert_file" help:"client certificate (PEM)"`
	KeyFile            string `yaml:"key_file" help:"client key (PEM)"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" help:"do not verify the brokers' certificates (tests only)"`
}

// Delivery configures how webhooks are sent.
type Delivery struct {
	Timeout        time.Duration `yaml:"timeout" help:"default total timeout of one attempt"`
	MaxInFlight    int           `yaml:"max_in_flight" help:"most deliveries in flight in this process"`
	MaxConcurrency int           `yaml:"max_concurrency" help:"default most in-flight deliveries per endpoint"`
	SaturationWait time.Duration `yaml:"saturation_wait" help:"how long a delivery may wait for a busy endpoint's slot before moving to a retry tier"`
	AllowCIDRs     []string      `yaml:"allow_cidrs" help:"private address ranges deliveries may reach (default: none)"`
	ResponseBytes  int           `yaml:"response_bytes" help:"bytes of each response body kept in the log"`
}

// Retention configures how long the log keeps records.
type Retention struct {
	Delivered   time.Duration `yaml:"delivered" help:"how long attempts that delivered are kept"`
	Failed      time.Duration `yaml:"failed" help:"how long failed attempts are kept"`
	DeadLetters time.Duration `yaml:"dead_letters" help:"how long dead letters are kept"`
}

// Defaults returns the configuration used where nothing else is said.
func Defaults() Config {
	return Config{
		Roles: []string{RoleAPI, RoleDispatch, RoleLogWriter},
		HTTP:  HTTP{Addr: ":8080", MaxBodyBytes: 1 << 20, ShutdownTimeout: 15 * time.Second},
		Log:   Log{Format: "json", Level: "info"},
		Postgres: Postgres{
			DSN:      "postgres://hookd@localhost:5432/hookd?sslmode=disable",
			MaxConns: 20,
		},
		Cassandra: Cassandra{
			Hosts: []string{"localhost:9042"}, Keyspace: "hookd", Consistency: "LOCAL_QUORUM",
			Timeout: 5 * time.Second, ReplicationClass: "SimpleStrategy", ReplicationFactor: 1,
		},
		Kafka: Kafka{
			Brokers: []string{"localhost:9092"}, ClientID: "hookd", ConsumerGroup: "hookd",
			InitialOffset: "oldest", EventsTopics: []string{"hookd.events"}, AttemptsTopic: "hookd.attempts",
			RetryPrefix: "hookd.retry.", MaxMessageBytes: 1 << 20, OwnPartitions: 6,
		},
		Delivery: Delivery{
			Timeout: 15 * time.Second, MaxInFlight: 2000, MaxConcurrency: 16, SaturationWait: 250 * time.Millisecond, ResponseBytes: 4096,
		},
		Retention: Retention{
			Delivered: 7 * 24 * time.Hour, Failed: 30 * 24 * time.Hour, DeadLetters: 30 * 24 * time.Hour,
		},
	}
}

// Roles.
const (
	RoleAPI       = "api"
	RoleDispatch  = "dispatch"
	RoleLogWriter = "logwriter"
)

// HasRole reports whether the process runs role.
func (c *Config) HasRole(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}
