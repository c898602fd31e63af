package main

import (
	"errors"
	"sync"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
)

// lagReader reads consumer-group lag from the brokers: how many messages
// of a topic the group has not committed yet. hookd commits an events
// offset only once every delivery of that message is durable, and its
// auto-commit runs every 500 ms, so lag includes up to half a second of
// work in flight.
type lagReader struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
	mu     sync.Mutex
}

// lags are the three backlogs of a hookd run.
type lags struct {
	Events    int64 `json:"events"`     // events topic, dispatch group (events)
	Retries   int64 `json:"retries"`    // retry tier topics, dispatch group (deliveries)
	LogWriter int64 `json:"log_writer"` // attempts topic, logwriter group (attempt records)
}

func newLagReader(kcfg kafka.Config) (*lagReader, error) {
	sc, err := kcfg.Sarama()
	if err != nil {
		return nil, err
	}
	sc.ClientID = "hookd-bench-lag"
	client, err := sarama.NewClient(kcfg.Brokers, sc)
	if err != nil {
		return nil, kafka.Explain(kcfg, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return &lagReader{client: client, admin: admin}, nil
}

func (l *lagReader) close() { _ = l.admin.Close() }

// groupLag sums newest − committed over the partitions of topics for
// group. A partition without a commit counts from its oldest offset; a
// topic that does not exist yet counts 0.
func (l *lagReader) groupLag(group string, topics []string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	parts := map[string][]int32{}
	for _, t := range topics {
		ps, err := l.client.Partitions(t)
		if err != nil {
			if errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				_ = l.client.RefreshMetadata(t)
				if ps, err = l.client.Partitions(t); err != nil {
					continue
				}
			} else {
				return 0, err
			}
		}
		parts[t] = ps
	}
	if len(parts) == 0 {
		return 0, nil
	}
	resp, err := l.admin.ListConsumerGroupOffsets(group, parts)
	if err != nil {
		return 0, err
	}
	var lag int64
	for t, ps := range parts {
		for _, p := range ps {
			newest, err := l.client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return 0, err
			}
			committed := int64(-1)
			if b := resp.GetBlock(t, p); b != nil && b.Err == sarama.ErrNoError {
				committed = b.Offset
			}
			if committed < 0 {
				if committed, err = l.client.GetOffset(t, p, sarama.OffsetOldest); err != nil {
					return 0, err
				}
			}
			lag += max(newest-committed, 0)
		}
	}
	return lag, nil
}

// read returns the lags of a stack.
func (l *lagReader) read(s *stack) (lags, error) {
	var out lags
	var err error
	if out.Events, err = l.groupLag(s.group, []string{s.eventsTopic}); err != nil {
		return out, err
	}
	if out.Retries, err = l.groupLag(s.group, s.tierTopics()); err != nil {
		return out, err
	}
	if out.LogWriter, err = l.groupLag(s.group+"-logwriter", []string{s.attemptsTopic}); err != nil {
		return out, err
	}
	return out, nil
}
