package kafka

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
)

// Consume runs a consumer group over topics until ctx ends or the group is
// closed. Consume sessions end at every rebalance and fail while brokers
// are unreachable; each failure is logged and retried with a backoff that
// doubles up to 30 s, so an outage neither stops the role nor spins.
func Consume(ctx context.Context, group sarama.ConsumerGroup, topics []string, h sarama.ConsumerGroupHandler, log *slog.Logger) error {
	backoff := time.Second
	for ctx.Err() == nil {
		err := group.Consume(ctx, topics, h)
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return nil
		}
		if err == nil || ctx.Err() != nil {
			backoff = time.Second
			continue
		}
		log.Error("consumer group failed; retrying", "topics", topics, "error", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}
