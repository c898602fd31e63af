package kafka_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
)

// adminFor opens a cluster admin on the test broker, closed when t ends.
func adminFor(t *testing.T, cfg kafka.Config) sarama.ClusterAdmin {
	t.Helper()
	sc, err := cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		t.Fatalf("admin: %v", kafka.Explain(cfg, err))
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}

// topicNames returns n unique topic names, deleted when t ends.
func topicNames(t *testing.T, cfg kafka.Config, n int) []string {
	t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = testenv.UniqueName(t, "hookd.t.", 200)
	}
	admin := adminFor(t, cfg)
	t.Cleanup(func() {
		for _, name := range names {
			if err := admin.DeleteTopic(name); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Errorf("delete topic %s: %v", name, err)
			}
		}
	})
	return names
}

func TestEnsureTopicsCreatesThenLeavesAlone(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	for name, cfg := range map[string]kafka.Config{
		"sasl_plaintext": k.Config(kafka.MechanismSCRAMSHA512),
		"sasl_ssl":       k.TLSConfig(kafka.MechanismSCRAMSHA512),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			names := topicNames(t, cfg, 2)
			specs := []kafka.TopicSpec{
				{Name: names[0], Partitions: 3, ReplicationFactor: 1, Config: map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete"}},
				{Name: names[1]}, // broker defaults: 1 partition, 1 replica
			}
			st, err := kafka.EnsureTopics(ctx, cfg, specs)
			if err != nil {
				t.Fatal(err)
			}
			want := []kafka.TopicStatus{
				{Name: names[0], Created: true, Partitions: 3, ReplicationFactor: 1},
				{Name: names[1], Created: true, Partitions: 1, ReplicationFactor: 1},
			}
			requireStatuses(t, st, want)

			admin := adminFor(t, cfg)
			res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: names[0], ConfigNames: []string{"retention.ms"}}}, sarama.DescribeConfigsOptions{})
			if err != nil || len(res) != 1 || len(res[0].Configs) != 1 || res[0].Configs[0].Value != "3600000" {
				t.Errorf("retention.ms = %+v, %v; want 3600000", res, err)
			}

			// Again: nothing to do, nothing changed.
			st, err = kafka.EnsureTopics(ctx, cfg, specs)
			if err != nil {
				t.Fatal(err)
			}
			want[0].Created, want[1].Created = false, false
			requireStatuses(t, st, want)
		})
	}
}

func requireStatuses(t *testing.T, got, want []kafka.TopicStatus) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d statuses, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("status %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestEnsureTopicsConcurrentCallers(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	cfg := k.Config(kafka.MechanismPlain)
	names := topicNames(t, cfg, 3)
	specs := make([]kafka.TopicSpec, len(names))
	for i, n := range names {
		specs[i] = kafka.TopicSpec{Name: n, Partitions: 4, ReplicationFactor: 1}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	const callers = 8
	var wg sync.WaitGroup
	results := make([][]kafka.TopicStatus, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { results[i], errs[i] = kafka.EnsureTopics(ctx, cfg, specs) })
	}
	wg.Wait()
	created := map[string]int{}
	for i := range callers {
		if errs[i] != nil {
			t.Fatalf("caller %d: %v", i, errs[i])
		}
		for _, s := range results[i] {
			if s.Partitions != 4 || s.Shortfall != "" {
				t.Errorf("caller %d: %+v", i, s)
			}
			if s.Created {
				created[s.Name]++
			}
		}
	}
	for _, n := range names {
		if created[n] != 1 {
			t.Errorf("topic %s reported created by %d callers, want exactly 1", n, created[n])
		}
	}
}

func TestEnsureTopicsReportsButNeverShrinks(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	cfg := k.Config(kafka.MechanismSCRAMSHA256)
	existing := k.Topics(t, 1, 2)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	st, err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: existing, Partitions: 6, ReplicationFactor: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Created || st[0].Partitions != 2 || !strings.Contains(st[0].Shortfall, "2 partitions, fewer than the 6 asked") {
		t.Errorf("status %+v, want an untouched 2-partition topic with a shortfall", st[0])
	}
	// More partitions than asked is fine, and is left alone too.
	st, err = kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: existing, Partitions: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Partitions != 2 || st[0].Shortfall != "" {
		t.Errorf("status %+v, want 2 partitions and no shortfall", st[0])
	}
	md, err := adminFor(t, cfg).DescribeTopics([]string{existing})
	if err != nil || len(md) != 1 || len(md[0].Partitions) != 2 {
		t.Fatalf("topic after EnsureTopics: %+v, %v; want it untouched", md, err)
	}
}

func TestEnsureTopicsErrors(t *testing.T) {
	t.Parallel()
	k := testenv.KafkaEnv(t)
	cfg := k.Config(kafka.MechanismSCRAMSHA512)
	names := topicNames(t, cfg, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("too many replicas", func(t *testing.T) {
		_, err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: names[0], Partitions: 1, ReplicationFactor: 3}})
		if !errors.Is(err, sarama.ErrInvalidReplicationFactor) || !strings.Contains(err.Error(), names[0]) || !strings.Contains(err.Error(), "replication factor 3") {
			t.Fatalf("err = %v, want an invalid replication factor error naming the topic", err)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		_, err := kafka.EnsureTopics(ctx, cfg, []kafka.TopicSpec{{Name: names[1], Partitions: 1, Config: map[string]string{"cleanup.policy": "shred"}}})
		if err == nil || !strings.Contains(err.Error(), names[1]) {
			t.Fatalf("err = %v, want an error naming the topic", err)
		}
	})
	t.Run("invalid specs", func(t *testing.T) {
		for _, specs := range [][]kafka.TopicSpec{
			{{Name: "bad name"}},
			{{Name: ""}},
			{{Name: ".."}},
			{{Name: strings.Repeat("x", 250)}},
			{{Name: "a"}, {Name: "a"}},
			{{Name: "a", Partitions: -1}},
			{{Name: "a", ReplicationFactor: -2}},
			{{Name: "a", Config: map[string]string{"": "x"}}},
		} {
			if _, err := kafka.EnsureTopics(ctx, cfg, specs); err == nil || !strings.Contains(err.Error(), "kafka topic") {
				t.Errorf("EnsureTopics(%+v) = %v, want a spec error", specs, err)
			}
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		bad := cfg
		bad.SASL.Password = "not-the-password"
		_, err := kafka.EnsureTopics(ctx, bad, []kafka.TopicSpec{{Name: names[0]}})
		var auth *kafka.AuthError
		if !errors.As(err, &auth) {
			t.Fatalf("err = %v, want an AuthError", err)
		}
	})
	t.Run("context ended", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		start := time.Now()
		_, err := kafka.EnsureTopics(done, cfg, []kafka.TopicSpec{{Name: names[0]}})
		if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
			t.Fatalf("err = %v after %s, want context.Canceled at once", err, time.Since(start))
		}
	})
}
