package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// ErrProducerClosed is returned by Produce after Close.
var ErrProducerClosed = errors.New("kafka producer is closed")

// ProducerOptions tunes the durable producer; the zero value is the
// recommended setting for hookd's records (about 1 KiB, keyed, produced
// one or two at a time by many goroutines).
type ProducerOptions struct {
	// Compression is none, gzip, snappy, lz4 or zstd; empty means lz4,
	// which measured fastest here for hookd's JSON records.
	Compression string
	// Linger is how long a batch may wait for more records before it is
	// sent. Zero sends as soon as the previous request to the same
	// partition is answered, so records batch up by themselves under load
	// and wait for nothing when idle.
	Linger time.Duration
	// MaxMessageBytes bounds one record and one partition's batch; it
	// must not exceed the topics' max.message.bytes. Zero means 1 MiB.
	// Retry and dead-letter records carry the event (a dead letter's
	// payload in base64, 4/3 of its size), so hookd's own topics and this
	// bound must be larger than the biggest event accepted.
	MaxMessageBytes int
	// Retries is how many times a batch is re-sent after a retriable error
	// (leader moved, broker unreachable) before Produce reports it. Zero
	// means 10; with the backoff below that rides out about 15 s of a
	// broker refusing connections. A broker that accepts requests and never
	// answers costs a read timeout (Config.DialTimeout, else 30 s) per try.
	Retries int
	// RetryBackoff is the first pause between retries; it doubles up to
	// MaxRetryBackoff. Zero means 100 ms and 2 s.
	RetryBackoff, MaxRetryBackoff time.Duration
	// AckTimeout is how long the leader waits for the in-sync replicas
	// before failing a request (Kafka's request.timeout.ms). Zero means 10 s.
	AckTimeout time.Duration
	// AllowAutoCreateTopics lets a produce to a missing topic create it
	// with the broker's defaults. Off: hookd's topics are made by
	// EnsureTopics with their partitions and retention, and a typo in a
	// topic name should fail, not make a stray one-partition topic.
	AllowAutoCreateTopics bool
}

// ProducerConfig returns the sarama configuration NewProducer uses: cfg's
// connection settings with the producer tuned for durability. It is
// exported so the settings can be inspected and tested.
func ProducerConfig(cfg Config, o ProducerOptions) (*sarama.Config, error) {
	sc, err := cfg.Sarama()
	if err != nil {
		return nil, err
	}
	p := &sc.Producer
	// Invariant 1: a record counts as written only once every in-sync
	// replica has it, so a leader crash right after the ack loses nothing.
	p.RequiredAcks = sarama.WaitForAll
	// Retries must not duplicate or reorder records: the broker drops a
	// re-sent batch it already has, and with one request in flight per
	// connection a retried batch cannot overtake a later one.
	p.Idempotent = true
	sc.Net.MaxOpenRequests = 1
	p.Return.Successes = true
	p.Return.Errors = true
	p.Timeout = orDefault(o.AckTimeout, 10*time.Second)
	p.MaxMessageBytes = orDefault(o.MaxMessageBytes, 1<<20)
	p.Flush.Frequency = o.Linger
	// The key decides the partition, so all records of a delivery stay in
	// order; the hash must be the same in every hookd instance.
	p.Partitioner = sarama.NewHashPartitioner

	p.Retry.Max = orDefault(o.Retries, 10)
	first, limit := orDefault(o.RetryBackoff, 100*time.Millisecond), orDefault(o.MaxRetryBackoff, 2*time.Second)
	p.Retry.Backoff = first
	p.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		d := first
		for i := 1; i < retries && d < limit; i++ {
			d *= 2
		}
		return min(d, limit)
	}

	switch c := strings.ToLower(o.Compression); c {
	case "", "lz4":
		p.Compression = sarama.CompressionLZ4
	case "none":
		p.Compression = sarama.CompressionNone
	case "gzip":
		p.Compression = sarama.CompressionGZIP
	case "snappy":
		p.Compression = sarama.CompressionSnappy
	case "zstd":
		p.Compression = sarama.CompressionZSTD
	default:
		return nil, fmt.Errorf("kafka producer compression: %q is not one of none, gzip, snappy, lz4, zstd", o.Compression)
	}
	sc.Metadata.AllowAutoTopicCreation = o.AllowAutoCreateTopics
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return sc, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Producer writes records durably: Produce returns only when the broker
// has acknowledged every record with acks=all, so a caller may then commit
// the offset of the input that caused them (invariant 1). Concurrent calls
// share the batches of one sarama AsyncProducer; each call learns the fate
// of its own records only.
type Producer struct {
	cfg     Config
	retries int
	async   sarama.AsyncProducer

	mu      sync.Mutex
	closed  bool
	sending sync.WaitGroup // Produce calls still handing records to async

	closeOnce sync.Once
	drained   chan struct{} // closed when every ack has been routed
}

// call is one Produce call's completion. Only the routing goroutine
// touches pending and err after the records are handed over; done tells
// the caller they are final.
type call struct {
	msgs    []sarama.ProducerMessage
	pending int
	err     error
	failed  int
	done    chan struct{}
}

// NewProducer connects and returns a Producer; its connection errors say
// which setting is at fault (see Explain).
func NewProducer(ctx context.Context, cfg Config, o ProducerOptions) (*Producer, error) {
	sc, err := ProducerConfig(cfg, o)
	if err != nil {
		return nil, err
	}
	type result struct {
		ap  sarama.AsyncProducer
		err error
	}
	// sarama connects without a context: connect aside, and if ctx ends
	// first, close what it makes once it is made.
	res := make(chan result, 1)
	go func() {
		ap, err := sarama.NewAsyncProducer(cfg.Brokers, sc)
		res <- result{ap, err}
	}()
	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		go func() {
			if r := <-res; r.err == nil {
				_ = r.ap.Close()
			}
		}()
		return nil, fmt.Errorf("kafka producer %s: %w", strings.Join(cfg.Brokers, ","), ctx.Err())
	}
	if r.err != nil {
		return nil, Explain(cfg, r.err)
	}
	p := &Producer{cfg: cfg, retries: sc.Producer.Retry.Max, async: r.ap, drained: make(chan struct{})}
	go p.route()
	return p, nil
}

// route hands each ack or error to the call its record came from. One
// goroutine serves all calls, so nothing is spawned per record.
func (p *Producer) route() {
	defer close(p.drained)
	successes, errs := p.async.Successes(), p.async.Errors()
	for successes != nil || errs != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			if c, ok := m.Metadata.(*call); ok {
				c.finish(nil)
			}
		case pe, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			if c, ok := pe.Msg.Metadata.(*call); ok {
				c.finish(p.explain(pe))
			}
		}
	}
}

func (c *call) finish(err error) {
	if err != nil {
		c.failed++
		if c.err == nil {
			c.err = err
		}
	}
	c.pending--
	if c.pending == 0 {
		close(c.done)
	}
}

// explain says what became of a record in terms an operator can act on.
func (p *Producer) explain(pe *sarama.ProducerError) error {
	if connectionLost(pe.Err) {
		return fmt.Errorf("produce to %s: kafka %s: brokers unreachable or not answering, gave up after %d retries: %w",
			pe.Msg.Topic, strings.Join(p.cfg.Brokers, ","), p.retries, pe.Err)
	}
	return fmt.Errorf("produce to %s: %w", pe.Msg.Topic, Explain(p.cfg, pe.Err))
}

// connectionLost reports errors of the connection rather than of the
// record: sarama retries those, so the record failed every retry.
func connectionLost(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, sarama.ErrOutOfBrokers) || errors.Is(err, sarama.ErrNotConnected) ||
		errors.As(err, &netErr)
}

// Produce sends msgs and waits until the broker has acknowledged all of
// them (nil) or one has failed for good (an error naming the topic, after
// the configured retries), or until ctx ends. Records of one call keep
// their order within a partition. On error some records may have been
// written and others not; the caller does not commit its input and
// produces the records again later, which is safe to repeat because
// consumers of hookd's topics treat records as upserts.
//
// Produce copies the messages: it does not set their Metadata, Partition
// or Offset, and they may be passed again to a later call.
func (p *Producer) Produce(ctx context.Context, msgs []*sarama.ProducerMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka produce: %w", err)
	}
	c := &call{msgs: make([]sarama.ProducerMessage, len(msgs)), pending: len(msgs), done: make(chan struct{})}
	for i, m := range msgs {
		if m == nil || m.Topic == "" {
			return fmt.Errorf("kafka produce: message %d has no topic", i)
		}
		// A copy, because sarama keeps per-send state (retry count,
		// sequence number) in the message: a message re-sent after a
		// failed call must start afresh, and must not be shared with a
		// send that is still in flight.
		c.msgs[i] = sarama.ProducerMessage{
			Topic: m.Topic, Key: m.Key, Value: m.Value, Headers: m.Headers,
			Timestamp: m.Timestamp, Metadata: c,
		}
	}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrProducerClosed
	}
	p.sending.Add(1)
	p.mu.Unlock()
	input := p.async.Input()
	for i := range c.msgs {
		select {
		case input <- &c.msgs[i]:
		case <-ctx.Done():
			p.sending.Done()
			return fmt.Errorf("kafka produce: %d of %d records not sent: %w", len(msgs)-i, len(msgs), ctx.Err())
		}
	}
	p.sending.Done()

	select {
	case <-c.done:
	case <-ctx.Done():
		select {
		case <-c.done: // acknowledged meanwhile: report that, not ctx
		default:
			return fmt.Errorf("kafka produce: acknowledgements pending: %w", ctx.Err())
		}
	}
	if c.err != nil {
		if c.failed > 1 {
			return fmt.Errorf("%d of %d records failed: %w", c.failed, len(msgs), c.err)
		}
		return c.err
	}
	return nil
}

// Close stops accepting records, waits until every record already handed
// over is acknowledged or has failed (each caller learns which), and
// releases the connections. Even with the cluster down it returns, once
// the retries (see ProducerOptions.Retries) are spent. Calling it again is
// harmless.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		// No call may send on Input once sarama closes it; calls still
		// sending finish or give up with their context.
		p.sending.Wait()
		p.async.AsyncClose()
	})
	<-p.drained
	return nil
}
