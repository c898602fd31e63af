package stream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
)

// partitionPoll is how often Feed looks for partitions added to the topic.
// It sees them once the consumer's metadata does (sarama refreshes it
// every Metadata.RefreshFrequency, 10 minutes by default).
var partitionPoll = 30 * time.Second

// Feed retries what failed after a backoff that doubles from minBackoff
// up to maxBackoff, so an outage neither ends it nor makes it spin.
var (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Feed publishes to hub the attempts of topic produced from now on, until
// ctx ends; then it returns nil. It reads every partition from its newest
// offset, without a consumer group, because every API process must see
// every attempt to serve its own clients. Dead letters, which share the
// topic, and records it cannot decode are skipped (counted in
// Hub.Stats().Skipped and logged at debug).
//
// Feed rides out a broker outage: a partition whose consumer fails is
// started again from its newest offset (what was produced meanwhile is not
// streamed: the tail is live, the log store has the rest), and partitions
// added to the topic are picked up from their oldest offset, since all
// they hold was produced after Feed started. It returns an error only when
// consumer is closed under it.
//
// The consumer's configuration should come from internal/kafka
// (Config.Sarama); Feed reads its Errors channels, so
// Consumer.Return.Errors may be on.
func Feed(ctx context.Context, consumer sarama.Consumer, topic string, hub *Hub, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("topic", topic)
	// The partition goroutines end with ctx; cancel ends them too when
	// Feed returns for another reason.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	ended := make(chan int32)
	parts := map[int32]partState{}
	// listed is set once the topic's partitions were known: a partition
	// that first appears after that was added while Feed ran.
	listed := false
	backoff := minBackoff
	for {
		ids, err := consumer.Partitions(topic)
		if errors.Is(err, sarama.ErrClosedClient) {
			return err
		}
		if err != nil {
			log.Warn("stream feed: cannot list partitions; retrying", "error", err, "backoff", backoff)
		}
		idle := 0
		for _, p := range ids {
			st, seen := parts[p]
			if !seen {
				st = partIdle
				if listed {
					st = partAdded
				}
				parts[p] = st
			}
			if st == partRunning {
				continue
			}
			offset := sarama.OffsetNewest
			if st == partAdded {
				offset = sarama.OffsetOldest
			}
			pc, err := consumer.ConsumePartition(topic, p, offset)
			if errors.Is(err, sarama.ErrClosedClient) {
				return err
			}
			if err != nil {
				log.Warn("stream feed: cannot consume partition; retrying", "partition", p, "error", err, "backoff", backoff)
				idle++
				continue
			}
			log.Debug("stream feed: consuming", "partition", p, "from_oldest", offset == sarama.OffsetOldest)
			parts[p] = partRunning
			wg.Add(1)
			go func() {
				defer wg.Done()
				consumePartition(ctx, pc, hub, log.With("partition", p))
				select {
				case ended <- p:
				case <-ctx.Done():
				}
			}()
		}
		if err == nil {
			listed = true
		}
		wait := partitionPoll
		if err != nil || idle > 0 {
			wait = backoff
			backoff = min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
		}
		timer := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case p := <-ended:
				parts[p] = partIdle
				log.Warn("stream feed: partition consumer ended; restarting it from the newest offset", "partition", p)
				// Restart at once rather than after a poll interval; the
				// backoff keeps a partition that keeps failing from spinning.
				timer.Stop()
				timer = time.NewTimer(backoff)
			case <-timer.C:
				break waiting
			}
		}
	}
}

// partState is what Feed knows of a partition.
type partState int

const (
	partIdle    partState = iota // not consumed; start from the newest offset
	partAdded                    // added while Feed ran; start from the oldest offset
	partRunning                  // being consumed
)

// consumePartition publishes pc's attempts until ctx ends or pc closes on
// its own (sarama gives up on a partition after some errors).
func consumePartition(ctx context.Context, pc sarama.PartitionConsumer, hub *Hub, log *slog.Logger) {
	msgs, errs := pc.Messages(), pc.Errors()
	for {
		select {
		case <-ctx.Done():
			pc.AsyncClose()
			// Drain both channels: sarama closes them only once nothing
			// more can be sent, and a send blocked on them would stall its
			// shutdown.
			for msgs != nil || errs != nil {
				select {
				case _, ok := <-msgs:
					if !ok {
						msgs = nil
					}
				case _, ok := <-errs:
					if !ok {
						errs = nil
					}
				}
			}
			return
		case m, ok := <-msgs:
			if !ok {
				pc.AsyncClose()
				if errs != nil {
					for range errs {
					}
				}
				return
			}
			publishRecord(m, hub, log)
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			log.Warn("stream feed: consumer error", "error", e.Err)
		}
	}
}

func publishRecord(m *sarama.ConsumerMessage, hub *Hub, log *slog.Logger) {
	if !hub.followed() {
		hub.skipped.Add(1)
		return
	}
	rec, err := kafka.DecodeAttemptsRecord(m.Value)
	if err != nil {
		hub.skipped.Add(1)
		log.Debug("stream feed: skipping undecodable record", "offset", m.Offset, "error", err)
		return
	}
	a, ok := rec.(kafka.AttemptRecord)
	if !ok {
		hub.skipped.Add(1)
		log.Debug("stream feed: skipping record", "offset", m.Offset, "kind", rec.Kind())
		return
	}
	hub.Publish(a.Attempt)
}
