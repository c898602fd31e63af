package config

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/secretbox"
)

var (
	keyspaceRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,47}$`)
	topicRe    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
)

var consistencies = []string{"ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"}

// validate checks every setting and reports the first bad one by key.
func (l *Loaded) validate() error {
	c := &l.Config
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Source: l.Source(key), Msg: fmt.Sprintf(format, args...)}
	}

	if len(c.Roles) == 0 {
		return bad("roles", "at least one role is required (api, dispatch, logwriter)")
	}
	for _, r := range c.Roles {
		if r != RoleAPI && r != RoleDispatch && r != RoleLogWriter {
			return bad("roles", "%q is not a role (want api, dispatch or logwriter)", r)
		}
	}
	if !l.withoutKey && (c.HasRole(RoleAPI) || c.HasRole(RoleDispatch)) {
		if _, err := secretbox.ParseKey(c.EncryptionKey); err != nil {
			return bad("encryption_key", "%v", err)
		}
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		return bad("http.addr", "%q is not host:port (e.g. :8080)", c.HTTP.Addr)
	}
	if c.HTTP.MaxBodyBytes < 1024 || c.HTTP.MaxBodyBytes > 64<<20 {
		return bad("http.max_body_bytes", "must be between 1 KiB and 64 MiB")
	}
	if c.HTTP.ShutdownTimeout <= 0 {
		return bad("http.shutdown_timeout", "must be above zero")
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		return bad("log.format", "%q is not json or text", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}

	if strings.TrimSpace(c.Postgres.DSN) == "" {
		return bad("postgres.dsn", "is required")
	}
	if c.Postgres.MaxConns < 1 || c.Postgres.MaxConns > 1000 {
		return bad("postgres.max_conns", "must be between 1 and 1000")
	}

	if err := hostPorts(c.Cassandra.Hosts); err != nil {
		return bad("cassandra.hosts", "%v", err)
	}
	if !keyspaceRe.MatchString(c.Cassandra.Keyspace) {
		return bad("cassandra.keyspace", "%q is not a keyspace name (lower-case letters, digits and _, at most 48)", c.Cassandra.Keyspace)
	}
	if !contains(consistencies, strings.ToUpper(c.Cassandra.Consistency)) {
		return bad("cassandra.consistency", "%q is not one of %s", c.Cassandra.Consistency, strings.Join(consistencies, ", "))
	}
	if c.Cassandra.Timeout <= 0 {
		return bad("cassandra.timeout", "must be above zero")
	}
	switch c.Cassandra.ReplicationClass {
	case "SimpleStrategy":
		if c.Cassandra.ReplicationFactor < 1 {
			return bad("cassandra.replication_factor", "must be at least 1")
		}
	case "NetworkTopologyStrategy":
		if len(c.Cassandra.ReplicationDCs) == 0 {
			return bad("cassandra.replication_dcs", "NetworkTopologyStrategy needs dc:factor pairs")
		}
		for _, dc := range c.Cassandra.ReplicationDCs {
			name, n, ok := strings.Cut(dc, ":")
			if f, err := strconv.Atoi(n); !ok || name == "" || err != nil || f < 1 {
				return bad("cassandra.replication_dcs", "%q is not dc:factor", dc)
			}
		}
	default:
		return bad("cassandra.replication_class", "%q is not SimpleStrategy or NetworkTopologyStrategy", c.Cassandra.ReplicationClass)
	}

	if err := l.validateKafka(bad); err != nil {
		return err
	}

	if c.Delivery.Timeout < time.Second || c.Delivery.Timeout > 120*time.Second {
		return bad("delivery.timeout", "must be between 1s and 2m")
	}
	if c.Delivery.MaxInFlight < 1 || c.Delivery.MaxInFlight > 1_000_000 {
		return bad("delivery.max_in_flight", "must be between 1 and 1000000")
	}
	if c.Delivery.MaxConcurrency < 1 || c.Delivery.MaxConcurrency > 1000 {
		return bad("delivery.max_concurrency", "must be between 1 and 1000")
	}
	if c.Delivery.SaturationWait < 0 || c.Delivery.SaturationWait > 10*time.Second {
		return bad("delivery.saturation_wait", "must be between 0s and 10s")
	}
	for _, cidr := range c.Delivery.AllowCIDRs {
		if _, err := netip.ParsePrefix(cidr); err != nil {
			return bad("delivery.allow_cidrs", "%q is not a CIDR (e.g. 10.0.0.0/8)", cidr)
		}
	}
	if c.Delivery.ResponseBytes < 0 || c.Delivery.ResponseBytes > 1<<20 {
		return bad("delivery.response_bytes", "must be between 0 and 1 MiB")
	}
	for key, d := range map[string]time.Duration{
		"retention.delivered": c.Retention.Delivered, "retention.failed": c.Retention.Failed, "retention.dead_letters": c.Retention.DeadLetters,
	} {
		if d < time.Minute || d > 10*365*24*time.Hour {
			return bad(key, "must be between 1m and 10 years")
		}
	}
	return nil
}

func (l *Loaded) validateKafka(bad func(key, format string, args ...any) error) error {
	k := &l.Kafka
	if err := hostPorts(k.Brokers); err != nil {
		return bad("kafka.brokers", "%v", err)
	}
	if k.InitialOffset != "oldest" && k.InitialOffset != "newest" {
		return bad("kafka.initial_offset", "%q is not oldest or newest", k.InitialOffset)
	}
	if k.ConsumerGroup == "" {
		return bad("kafka.consumer_group", "is required")
	}
	if len(k.EventsTopics) == 0 {
		return bad("kafka.events_topics", "at least one topic is required")
	}
	for _, t := range append(append([]string{}, k.EventsTopics...), k.AttemptsTopic) {
		if !topicRe.MatchString(t) {
			return bad("kafka.events_topics", "%q is not a topic name", t)
		}
	}
	if !topicRe.MatchString(k.RetryPrefix + "x") {
		return bad("kafka.retry_prefix", "%q cannot start a topic name", k.RetryPrefix)
	}
	if k.OwnPartitions < 1 || k.OwnPartitions > 1000 {
		return bad("kafka.own_partitions", "must be between 1 and 1000")
	}
	for _, rt := range k.RawTopics {
		topic, typ, ok := strings.Cut(rt, "=")
		if !ok || !topicRe.MatchString(topic) || !domain.ValidEventType(domain.NormalizeEventType(typ)) {
			return bad("kafka.raw_topics", "%q is not topic=event.type", rt)
		}
	}
	if k.MaxMessageBytes < 1024 || k.MaxMessageBytes > 100<<20 {
		return bad("kafka.max_message_bytes", "must be between 1 KiB and 100 MiB")
	}
	switch k.SASL.Mechanism {
	case "", kafka.MechanismPlain, kafka.MechanismSCRAMSHA256, kafka.MechanismSCRAMSHA512:
	default:
		return bad("kafka.sasl.mechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASL.Mechanism)
	}
	if k.SASL.Mechanism != "" && k.SASL.Username == "" {
		return bad("kafka.sasl.username", "is required with mechanism %s", k.SASL.Mechanism)
	}
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		return bad("kafka.tls.cert_file", "a client certificate needs both kafka.tls.cert_file and kafka.tls.key_file")
	}
	if err := l.KafkaClient().Validate(); err != nil {
		return bad("kafka.version", "%v", err)
	}
	return nil
}

// KafkaClient returns the Kafka connection settings.
func (l *Loaded) KafkaClient() kafka.Config {
	k := l.Kafka
	return kafka.Config{
		Brokers:  k.Brokers,
		ClientID: k.ClientID,
		Version:  k.Version,
		SASL:     kafka.SASLConfig{Mechanism: k.SASL.Mechanism, Username: k.SASL.Username, Password: k.SASL.Password},
		TLS: kafka.TLSConfig{
			Enabled: k.TLS.Enabled, CAFile: k.TLS.CAFile, CertFile: k.TLS.CertFile, KeyFile: k.TLS.KeyFile,
			InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		},
	}
}

func hostPorts(list []string) error {
	if len(list) == 0 {
		return fmt.Errorf("at least one host:port is required")
	}
	for _, hp := range list {
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" {
			return fmt.Errorf("%q is not host:port", hp)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return fmt.Errorf("%q has no valid port", hp)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// RawTopics returns the raw payload topics as topic → event type.
func (l *Loaded) RawTopics() map[string]string {
	out := map[string]string{}
	for _, rt := range l.Kafka.RawTopics {
		topic, typ, _ := strings.Cut(rt, "=")
		out[topic] = domain.NormalizeEventType(typ)
	}
	return out
}
