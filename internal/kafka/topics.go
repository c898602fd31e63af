package kafka

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/IBM/sarama"
)

// TopicSpec describes a topic hookd needs.
type TopicSpec struct {
	Name string
	// Partitions bounds how many consumers share the topic's work; 0 means
	// the broker's num.partitions.
	Partitions int32
	// ReplicationFactor is how many brokers keep each partition; 0 means
	// the broker's default.replication.factor.
	ReplicationFactor int16
	// Config holds topic settings, e.g. retention.ms, cleanup.policy,
	// min.insync.replicas, max.message.bytes. Applied only when the topic
	// is created.
	Config map[string]string
}

// TopicStatus reports what EnsureTopics found or did for one spec.
type TopicStatus struct {
	Name              string
	Created           bool // by this call
	Partitions        int32
	ReplicationFactor int16
	// Shortfall says how an existing topic falls short of its spec (fewer
	// partitions or replicas than asked); empty when it does not.
	// EnsureTopics never alters an existing topic: adding partitions moves
	// keys to other partitions, and that is an operator's decision.
	Shortfall string
}

// topicNameRE is Kafka's rule for topic names.
var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// topicSettle bounds the wait for a new topic's partitions to get leaders
// when ctx has no earlier deadline.
const topicSettle = 30 * time.Second

// EnsureTopics creates the topics in specs that do not exist and leaves
// the others alone. It is safe to run at every start of every instance,
// even concurrently: a topic another caller created first counts as
// existing. It returns once every topic has a leader for each partition, so
// that a producer started right after does not meet unknown-topic errors.
// The statuses are in the order of specs.
func EnsureTopics(ctx context.Context, cfg Config, specs []TopicSpec) ([]TopicStatus, error) {
	if err := validateSpecs(specs); err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, nil
	}
	sc, err := cfg.Sarama()
	if err != nil {
		return nil, err
	}
	// Asking about a missing topic must not create it with broker defaults.
	sc.Metadata.AllowAutoTopicCreation = false
	// How long the controller may take to create a topic before answering.
	sc.Admin.Timeout = 15 * time.Second
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < sc.Admin.Timeout && time.Until(dl) > time.Millisecond {
		sc.Admin.Timeout = time.Until(dl)
	}

	// ClusterAdmin takes no context; the work runs aside and is abandoned,
	// not leaked, when ctx ends: each step it has left is bounded by the
	// network and admin timeouts, and it checks ctx between steps.
	type result struct {
		statuses []TopicStatus
		err      error
	}
	done := make(chan result, 1)
	go func() {
		statuses, err := ensureTopics(ctx, cfg, sc, specs)
		done <- result{statuses, err}
	}()
	select {
	case r := <-done:
		return r.statuses, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("kafka ensure topics: %w", ctx.Err())
	}
}

func ensureTopics(ctx context.Context, cfg Config, sc *sarama.Config, specs []TopicSpec) ([]TopicStatus, error) {
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		return nil, Explain(cfg, err)
	}
	defer func() { _ = admin.Close() }()

	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := describeTopics(admin, names)
	if err != nil {
		return nil, Explain(cfg, err)
	}
	statuses := make([]TopicStatus, len(specs))
	for i, s := range specs {
		statuses[i].Name = s.Name
		if _, ok := existing[s.Name]; ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		err := admin.CreateTopic(s.Name, s.detail(), false)
		switch {
		case err == nil:
			statuses[i].Created = true
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			// Another instance won the race; its topic is as good as ours.
		default:
			return nil, Explain(cfg, fmt.Errorf("create topic %s (%s): %w", s.Name, s.describe(), err))
		}
	}

	// Wait until every topic answers with a leader for each partition.
	settle := time.NewTimer(topicSettle)
	defer settle.Stop()
	for backoff := 20 * time.Millisecond; ; backoff = min(2*backoff, 500*time.Millisecond) {
		existing, err = describeTopics(admin, names)
		if err != nil {
			return nil, Explain(cfg, err)
		}
		pending := ""
		for _, n := range names {
			if t, ok := existing[n]; !ok || !hasLeaders(t) {
				pending = n
				break
			}
		}
		if pending == "" {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-settle.C:
			return nil, fmt.Errorf("kafka: topic %s has no leader for every partition %s after it was created", pending, topicSettle)
		case <-time.After(backoff):
		}
	}

	for i, s := range specs {
		t := existing[s.Name]
		st := &statuses[i]
		st.Partitions = int32(len(t.Partitions))
		if len(t.Partitions) > 0 {
			st.ReplicationFactor = int16(len(t.Partitions[0].Replicas))
		}
		switch {
		case s.Partitions > 0 && st.Partitions < s.Partitions:
			st.Shortfall = fmt.Sprintf("topic %s has %d partitions, fewer than the %d asked; left as it is (adding partitions moves keys, so do it deliberately, e.g. kafka-topics --alter)",
				s.Name, st.Partitions, s.Partitions)
		case s.ReplicationFactor > 0 && st.ReplicationFactor < s.ReplicationFactor:
			st.Shortfall = fmt.Sprintf("topic %s has replication factor %d, lower than the %d asked; left as it is (reassign partitions to raise it)",
				s.Name, st.ReplicationFactor, s.ReplicationFactor)
		}
	}
	return statuses, nil
}

// describeTopics returns the metadata of the named topics that exist.
func describeTopics(admin sarama.ClusterAdmin, names []string) (map[string]*sarama.TopicMetadata, error) {
	md, err := admin.DescribeTopics(names)
	if err != nil {
		return nil, fmt.Errorf("describe topics: %w", err)
	}
	found := make(map[string]*sarama.TopicMetadata, len(md))
	for _, t := range md {
		switch {
		case errors.Is(t.Err, sarama.ErrNoError):
			found[t.Name] = t
		case errors.Is(t.Err, sarama.ErrUnknownTopicOrPartition):
		case errors.Is(t.Err, sarama.ErrLeaderNotAvailable):
			// Exists, still electing leaders: hasLeaders says wait.
			found[t.Name] = t
		default:
			return nil, fmt.Errorf("describe topic %s: %w", t.Name, t.Err)
		}
	}
	return found, nil
}

func hasLeaders(t *sarama.TopicMetadata) bool {
	if !errors.Is(t.Err, sarama.ErrNoError) || len(t.Partitions) == 0 {
		return false
	}
	for _, p := range t.Partitions {
		// A replica being down does not stop the leader taking writes.
		usable := errors.Is(p.Err, sarama.ErrNoError) || errors.Is(p.Err, sarama.ErrReplicaNotAvailable)
		if p.Leader < 0 || !usable {
			return false
		}
	}
	return true
}

func validateSpecs(specs []TopicSpec) error {
	seen := make(map[string]bool, len(specs))
	for _, s := range specs {
		switch {
		case !topicNameRE.MatchString(s.Name) || s.Name == "." || s.Name == "..":
			return fmt.Errorf("kafka topic %q: a name is 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-' (and not . or ..)", s.Name)
		case seen[s.Name]:
			return fmt.Errorf("kafka topic %s: listed twice", s.Name)
		case s.Partitions < 0:
			return fmt.Errorf("kafka topic %s: partitions %d is negative", s.Name, s.Partitions)
		case s.ReplicationFactor < 0:
			return fmt.Errorf("kafka topic %s: replication factor %d is negative", s.Name, s.ReplicationFactor)
		}
		for k := range s.Config {
			if k == "" {
				return fmt.Errorf("kafka topic %s: config with an empty key", s.Name)
			}
		}
		seen[s.Name] = true
	}
	return nil
}

func (s TopicSpec) detail() *sarama.TopicDetail {
	d := &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1}
	if s.Partitions > 0 {
		d.NumPartitions = s.Partitions
	}
	if s.ReplicationFactor > 0 {
		d.ReplicationFactor = s.ReplicationFactor
	}
	if len(s.Config) > 0 {
		d.ConfigEntries = make(map[string]*string, len(s.Config))
		for k, v := range s.Config {
			d.ConfigEntries[k] = &v
		}
	}
	return d
}

func (s TopicSpec) describe() string {
	p, rf := "broker default", "broker default"
	if s.Partitions > 0 {
		p = fmt.Sprint(s.Partitions)
	}
	if s.ReplicationFactor > 0 {
		rf = fmt.Sprint(s.ReplicationFactor)
	}
	return fmt.Sprintf("partitions %s, replication factor %s", p, rf)
}
