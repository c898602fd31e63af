package testenv

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
)

// Kafka describes the test broker: a SASL_PLAINTEXT listener and a SASL_SSL
// listener whose certificate is signed by a CA made at setup, each offering
// PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512.
type Kafka struct {
	Brokers        []string // SASL_PLAINTEXT
	TLSBrokers     []string // SASL_SSL
	CAFile         string
	ClientCertFile string
	ClientKeyFile  string
	PlainUser      string
	PlainPassword  string
	ScramUser      string
	ScramPassword  string
}

// KafkaEnv returns the test broker's settings after checking that it
// answers.
func KafkaEnv(tb testing.TB) Kafka {
	tb.Helper()
	const svc = "Kafka"
	k := Kafka{
		Brokers:        strings.Split(requireEnv(tb, svc, "HOOKD_TEST_KAFKA_BROKERS"), ","),
		TLSBrokers:     strings.Split(requireEnv(tb, svc, "HOOKD_TEST_KAFKA_TLS_BROKERS"), ","),
		CAFile:         requireEnv(tb, svc, "HOOKD_TEST_KAFKA_CA_FILE"),
		ClientCertFile: os.Getenv("HOOKD_TEST_KAFKA_CLIENT_CERT_FILE"),
		ClientKeyFile:  os.Getenv("HOOKD_TEST_KAFKA_CLIENT_KEY_FILE"),
		PlainUser:      requireEnv(tb, svc, "HOOKD_TEST_KAFKA_PLAIN_USER"),
		PlainPassword:  requireEnv(tb, svc, "HOOKD_TEST_KAFKA_PLAIN_PASSWORD"),
		ScramUser:      requireEnv(tb, svc, "HOOKD_TEST_KAFKA_SCRAM_USER"),
		ScramPassword:  requireEnv(tb, svc, "HOOKD_TEST_KAFKA_SCRAM_PASSWORD"),
	}
	client, err := sarama.NewClient(k.Brokers, k.adminSarama(tb))
	if err != nil {
		unavailable(tb, svc, "connecting failed: "+err.Error())
	}
	_ = client.Close()
	return k
}

// Config returns hookd's Kafka settings for the plaintext SASL listener
// with the given mechanism.
func (k Kafka) Config(mechanism string) kafka.Config {
	c := kafka.Config{
		Brokers:     k.Brokers,
		ClientID:    "hookd-test",
		SASL:        kafka.SASLConfig{Mechanism: mechanism},
		DialTimeout: 10 * time.Second,
	}
	if mechanism == kafka.MechanismPlain {
		c.SASL.Username, c.SASL.Password = k.PlainUser, k.PlainPassword
	} else {
		c.SASL.Username, c.SASL.Password = k.ScramUser, k.ScramPassword
	}
	return c
}

// TLSConfig returns hookd's Kafka settings for the SASL_SSL listener,
// trusting the test CA.
func (k Kafka) TLSConfig(mechanism string) kafka.Config {
	c := k.Config(mechanism)
	c.Brokers = k.TLSBrokers
	c.TLS = kafka.TLSConfig{Enabled: true, CAFile: k.CAFile}
	return c
}

func (k Kafka) adminSarama(tb testing.TB) *sarama.Config {
	tb.Helper()
	sc, err := k.Config(kafka.MechanismPlain).Sarama()
	if err != nil {
		tb.Fatalf("testenv: kafka config: %v", err)
	}
	sc.Metadata.Retry.Max = 1
	return sc
}

// Topics creates n topics with the given number of partitions for this
// test and deletes them when it ends.
func (k Kafka) Topics(tb testing.TB, n int, partitions int32) []string {
	tb.Helper()
	admin, err := sarama.NewClusterAdmin(k.Brokers, k.adminSarama(tb))
	if err != nil {
		tb.Fatalf("testenv: kafka admin: %v", err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = UniqueName(tb, "t.", 200)
		err := admin.CreateTopic(names[i], &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
		if err != nil {
			_ = admin.Close()
			tb.Fatalf("testenv: create topic %s: %v", names[i], err)
		}
	}
	tb.Cleanup(func() {
		defer func() { _ = admin.Close() }()
		for _, name := range names {
			if err := admin.DeleteTopic(name); err != nil {
				tb.Errorf("testenv: delete topic %s: %v", name, err)
			}
		}
	})
	return names
}
