package stream

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/kafka"
)

// Feed survives what a broker outage does to it: a failed listing, a
// partition that cannot be consumed yet, a partition consumer that sarama
// gives up on; it reads partitions added later from their start, drains
// the Errors channels, and ends with its context or with the consumer.
func TestFeedRecovers(t *testing.T) {
	ctx := testContext(t)
	oldPoll, oldMin := partitionPoll, minBackoff
	partitionPoll, minBackoff = 10*time.Millisecond, 10*time.Millisecond
	t.Cleanup(func() { partitionPoll, minBackoff = oldPoll, oldMin })

	c := newFakeConsumer(0, 1)
	c.set(func(c *fakeConsumer) {
		c.listErr = sarama.ErrOutOfBrokers
		c.consumeErr[1] = 2
	})
	h := newHub(Options{})
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Feed(fctx, c, "attempts", h, quiet) }()

	send := func(p int32, i int) {
		t.Helper()
		m, err := kafka.Message("attempts", kafka.AttemptRecord{Attempt: attempt(i)})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := m.Value.Encode()
		var pc *fakePC
		eventually(ctx, t, "the partition is consumed", func() bool {
			pc = c.pc(p)
			return pc != nil && !pc.isClosed()
		})
		select {
		case pc.msgs <- &sarama.ConsumerMessage{Partition: p, Value: v}:
		case <-ctx.Done():
			t.Fatal("Feed does not read")
		}
	}
	published := func(n uint64) {
		t.Helper()
		eventually(ctx, t, "attempts are published", func() bool { return h.Stats().Published == n })
	}

	send(0, 0)
	send(1, 1)
	published(2)
	// Errors are read (Consumer.Return.Errors) and do not stop anything.
	c.pc(0).errs <- &sarama.ConsumerError{Topic: "attempts", Partition: 0, Err: errors.New("boom")}
	send(0, 2)
	published(3)

	// sarama gives up on partition 0: Feed starts it again.
	c.pc(0).AsyncClose()
	send(0, 3)
	published(4)

	// A partition added while Feed runs is read from its oldest offset.
	c.set(func(c *fakeConsumer) { c.partitions = append(c.partitions, 2) })
	send(2, 4)
	published(5)

	newest, oldest := sarama.OffsetNewest, sarama.OffsetOldest
	for p, want := range map[int32][]int64{0: {newest, newest}, 1: {newest}, 2: {oldest}} {
		if got := c.offsets(p); !slices.Equal(got, want) {
			t.Errorf("partition %d started from %v, want %v", p, got, want)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Feed: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Feed did not return after its context ended")
	}
	for p := range int32(3) {
		if !c.pc(p).isClosed() {
			t.Errorf("partition %d left open", p)
		}
	}

	// A closed consumer ends Feed with an error.
	c2 := newFakeConsumer(0)
	c2.set(func(c *fakeConsumer) { c.listErr = sarama.ErrClosedClient })
	if err := Feed(ctx, c2, "attempts", h, quiet); !errors.Is(err, sarama.ErrClosedClient) {
		t.Errorf("Feed on a closed consumer: %v", err)
	}
}
