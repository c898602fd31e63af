package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// producer makes records durable: Produce returns once the brokers hold
// every message (acks=all).
type producer interface {
	Produce(ctx context.Context, msgs []*sarama.ProducerMessage) error
}

// handleFunc works on one consumed message, making each outcome durable
// with durable as soon as it is known (one delivery never waits for
// another to be written). An error means some outcome is not durable: the
// offset must not move.
type handleFunc func(ctx context.Context, msg *sarama.ConsumerMessage, durable func([]*sarama.ProducerMessage) error) error

// claims consumes partitions concurrently and commits each through a
// Watermark: a message's offset is marked only once the messages its
// handler returned are durable, and never past an unfinished message.
type claims struct {
	handle    func(topic string) handleFunc
	notBefore func(msg *sarama.ConsumerMessage) time.Time // nil: no holding
	produce   producer
	// slots bounds the messages in flight across all partitions, so memory
	// does not grow with the backlog.
	slots chan struct{}
	// work is the context of deliveries. It outlives a consumer session
	// (a rebalance lets in-flight work finish) and ends at the shutdown
	// deadline.
	work context.Context
	log  *slog.Logger
	// lag, when set, is told each partition's lag as messages are read.
	lag func(topic string, partition int32, lag int64)
	// pauser, when set, stops and restarts fetching of partitions (the
	// consumer group) while a held message waits.
	pauser pauser
}

// pauser pauses and resumes fetching partitions (sarama.ConsumerGroup).
type pauser interface {
	Pause(partitions map[string][]int32)
	Resume(partitions map[string][]int32)
}

var _ sarama.ConsumerGroupHandler = (*claims)(nil)

func (c *claims) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (c *claims) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim returns when the session ends, after the work it started
// has finished or been deferred, so its offsets are marked before the
// session commits them.
func (c *claims) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	wm := NewWatermark()
	var wg sync.WaitGroup
	defer wg.Wait()
	handle := c.handle(claim.Topic())
	stop := sess.Context().Done()
	for {
		var msg *sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			msg = m
			if c.lag != nil {
				c.lag(m.Topic, m.Partition, claim.HighWaterMarkOffset()-m.Offset-1)
			}
		case <-stop:
			return nil
		}
		if c.notBefore != nil {
			if wait := time.Until(c.notBefore(msg)); wait > 0 {
				// Stop fetching the partition while its head waits. A
				// partition whose messages nobody reads fills its channel,
				// and then every fetch of the broker it shares waits
				// Consumer.MaxProcessingTime for it: the retry tiers would
				// add that to the latency of every event.
				c.setPaused(msg.Topic, msg.Partition, true)
				t := time.NewTimer(wait)
				select {
				case <-t.C:
					c.setPaused(msg.Topic, msg.Partition, false)
				case <-stop:
					t.Stop()
					c.setPaused(msg.Topic, msg.Partition, false)
					return nil
				}
			}
		}
		select {
		case c.slots <- struct{}{}:
		case <-stop:
			return nil
		}
		if err := wm.Start(msg.Offset); err != nil {
			<-c.slots
			c.log.Error("consumer: offsets out of order", "topic", msg.Topic, "partition", msg.Partition, "error", err)
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-c.slots }()
			if err := handle(c.work, msg, c.durable); err != nil {
				// Not durable: the offset stays, and the message is read
				// again after a restart or rebalance (a duplicate only of
				// work that was in flight).
				c.log.Warn("message not completed; it will be consumed again", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "error", err)
				return
			}
			if commit, moved, err := wm.Done(msg.Offset); err == nil && moved {
				sess.MarkOffset(msg.Topic, msg.Partition, commit, "")
			}
		}()
	}
}

// durable produces msgs, retrying while the brokers are unavailable, until
// the work context ends.
// setPaused pauses or resumes fetching one partition, when the claims
// know how (the consumer group).
func (c *claims) setPaused(topic string, partition int32, paused bool) {
	if c.pauser == nil {
		return
	}
	m := map[string][]int32{topic: {partition}}
	if paused {
		c.pauser.Pause(m)
	} else {
		c.pauser.Resume(m)
	}
}

func (c *claims) durable(msgs []*sarama.ProducerMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	backoff := 100 * time.Millisecond
	for {
		// Its own deadline: shutdown cancels work, but what was decided
		// must still be written.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(c.work), 30*time.Second)
		err := c.produce.Produce(ctx, msgs)
		cancel()
		if err == nil {
			return nil
		}
		if c.work.Err() != nil {
			return err
		}
		c.log.Warn("kafka produce failed; retrying", "error", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-c.work.Done():
			return err
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
