package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
)

// Each listener and mechanism carries a batch through a producer and a
// consumer group: the path hookd's API and dispatcher take.
func TestKafkaProduceConsume(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	withClientCert := k.TLSConfig(kafka.MechanismSCRAMSHA512)
	withClientCert.TLS.CertFile, withClientCert.TLS.KeyFile = k.ClientCertFile, k.ClientKeyFile

	cases := []struct {
		name string
		cfg  kafka.Config
	}{
		{"sasl_plaintext/plain", k.Config(kafka.MechanismPlain)},
		{"sasl_plaintext/scram-sha-256", k.Config(kafka.MechanismSCRAMSHA256)},
		{"sasl_plaintext/scram-sha-512", k.Config(kafka.MechanismSCRAMSHA512)},
		{"sasl_ssl/plain", k.TLSConfig(kafka.MechanismPlain)},
		{"sasl_ssl/scram-sha-512", k.TLSConfig(kafka.MechanismSCRAMSHA512)},
		{"sasl_ssl/scram-sha-512+client-cert", withClientCert},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			topic := k.Topics(t, 1, 3)[0]
			roundTrip(t, tc.cfg, topic, 50)
		})
	}
}

func roundTrip(t *testing.T, cfg kafka.Config, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	sc, err := cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest

	producer, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatalf("producer: %v", kafka.Explain(cfg, err))
	}
	defer producer.Close()
	want := map[string]bool{}
	msgs := make([]*sarama.ProducerMessage, n)
	for i := range msgs {
		key := fmt.Sprintf("evt-%03d", i)
		want[key] = true
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder(`{"n":` + fmt.Sprint(i) + `}`)}
	}
	if err := producer.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}

	group, err := sarama.NewConsumerGroup(cfg.Brokers, testenv.UniqueName(t, "g.", 100), sc)
	if err != nil {
		t.Fatalf("consumer group: %v", kafka.Explain(cfg, err))
	}
	defer group.Close()
	h := &collector{got: make(chan string, n)}
	consumeErr := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{topic}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
				consumeErr <- err
				return
			}
		}
	}()
	for len(want) > 0 {
		select {
		case key := <-h.got:
			delete(want, key)
		case err := <-consumeErr:
			t.Fatalf("consume: %v", err)
		case <-ctx.Done():
			t.Fatalf("%d of %d messages never arrived", len(want), n)
		}
	}
}

type collector struct{ got chan string }

func (*collector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*collector) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (c *collector) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			c.got <- string(m.Key)
			s.MarkMessage(m, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

func TestKafkaWrongPasswordFailsClearly(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	for _, mech := range []string{kafka.MechanismPlain, kafka.MechanismSCRAMSHA512} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			cfg := k.Config(mech)
			cfg.SASL.Password = "not-the-password"
			// The bound only keeps a regression from hanging the suite; a
			// rejected password is answered in well under a second.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := kafka.Check(ctx, cfg)
			var auth *kafka.AuthError
			if !errors.As(err, &auth) {
				t.Fatalf("Check with a wrong password = %v, want an AuthError", err)
			}
			for _, want := range []string{"authentication failed", cfg.SASL.Username, mech} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestKafkaTLSNeedsTheCA(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	cfg := k.TLSConfig(kafka.MechanismSCRAMSHA512)
	cfg.TLS.CAFile = "" // the system roots do not know the test CA
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := kafka.Check(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Check without the CA = %v, want a certificate error", err)
	}
	if err := kafka.Check(ctx, k.TLSConfig(kafka.MechanismSCRAMSHA512)); err != nil {
		t.Fatalf("Check with the CA: %v", err)
	}
}
