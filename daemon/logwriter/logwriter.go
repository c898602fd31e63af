// Package logwriter is hookd's logwriter role: it consumes the attempts
// topic and writes attempts and dead letters to the log store (Cassandra).
// Deliveries never wait for it: the dispatcher only writes to Kafka, so a
// slow or unavailable Cassandra delays the log, not the webhooks, and the
// logwriter catches up from its committed offset.
package logwriter

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/storage"
)

// logStore is where the records go.
type logStore interface {
	WriteAttempts(ctx context.Context, attempts []domain.Attempt) error
	PutDeadLetters(ctx context.Context, dls []domain.DeadLetter) error
}

// Options tune the writer.
type Options struct {
	// BatchSize is the most records written in one go (default 500).
	BatchSize int
	// Linger is how long a batch may wait to fill (default 250 ms): the
	// trade between write efficiency and how fresh the log is. Each
	// partition batches on its own, so at moderate rates a short linger
	// writes one record at a time and the Cassandra writes of the four
	// tables of an attempt cannot share batches; the live view of
	// attempts comes from Kafka (the stream), not from the log.
	Linger time.Duration
	Logger *slog.Logger
}

// Writer consumes the attempts topic into a log store.
type Writer struct {
	store logStore
	opts  Options
}

// New returns a writer.
func New(store logStore, opts Options) *Writer {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 500
	}
	if opts.Linger <= 0 {
		opts.Linger = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Writer{store: store, opts: opts}
}

// Run consumes topic with group until ctx ends.
func (w *Writer) Run(ctx context.Context, group sarama.ConsumerGroup, topic string) error {
	return kafka.Consume(ctx, group, []string{topic}, w, w.opts.Logger)
}

var _ sarama.ConsumerGroupHandler = (*Writer)(nil)

// Setup implements sarama.ConsumerGroupHandler.
func (w *Writer) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup implements sarama.ConsumerGroupHandler.
func (w *Writer) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim writes the partition's records in batches and marks a
// batch's offsets only once the store has it: a crash rewrites, and
// writes are upserts, so nothing is lost or doubled.
func (w *Writer) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	var (
		batch []*sarama.ConsumerMessage
		timer *time.Timer
		fire  <-chan time.Time
	)
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		if !w.write(ctx, batch) {
			return false
		}
		sess.MarkMessage(batch[len(batch)-1], "")
		batch = batch[:0]
		return true
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				flush()
				return nil
			}
			batch = append(batch, m)
			if len(batch) >= w.opts.BatchSize {
				if !flush() {
					return nil
				}
				continue
			}
			if len(batch) == 1 {
				if timer == nil {
					timer = time.NewTimer(w.opts.Linger)
				} else {
					timer.Reset(w.opts.Linger)
				}
				fire = timer.C
			}
		case <-fire:
			fire = nil
			if !flush() {
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

// write stores a batch, retrying until it succeeds or the session ends.
// Records that cannot be read are logged and skipped: they can never be
// written, and must not stall the partition.
func (w *Writer) write(ctx context.Context, batch []*sarama.ConsumerMessage) bool {
	var (
		attempts []domain.Attempt
		dead     []domain.DeadLetter
	)
	for _, m := range batch {
		rec, err := kafka.DecodeAttemptsRecord(m.Value)
		if err != nil {
			w.opts.Logger.Error("logwriter: skipping an unreadable record", "topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "error", err)
			continue
		}
		switch r := rec.(type) {
		case kafka.AttemptRecord:
			attempts = append(attempts, r.Attempt)
		case kafka.DeadLetterRecord:
			dead = append(dead, r.DeadLetter)
		}
	}
	backoff := 100 * time.Millisecond
	for {
		var err error
		if len(attempts) > 0 {
			err = w.store.WriteAttempts(ctx, attempts)
		}
		if err == nil && len(dead) > 0 {
			err = w.store.PutDeadLetters(ctx, dead)
		}
		if err == nil {
			return true
		}
		if errors.Is(err, storage.ErrInvalidRecord) {
			// The valid records are stored; the rest never will be.
			w.opts.Logger.Error("logwriter: skipping records the store refuses", "error", err)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.opts.Logger.Warn("logwriter: write failed; retrying", "records", len(batch), "error", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return false
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}
