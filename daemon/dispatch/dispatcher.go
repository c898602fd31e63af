package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"golang.org/x/sync/errgroup"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/ids"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/retry"
)

// matcher finds the endpoints subscribed to an event (the subscription
// index). Disabled endpoints are included: their deliveries are parked.
type matcher interface {
	AppendMatch(dst []*domain.Endpoint, tenant, eventType string) []*domain.Endpoint
}

// maxDeadPayload bounds the raw bytes a dead letter of a malformed message
// keeps, so an oversized message still fits in the attempts topic.
const maxDeadPayload = 256 << 10

// Dispatcher consumes the events topics and the retry tiers.
type Dispatcher struct {
	engine  *Engine
	match   matcher
	decoder *events.Decoder
	opts    DispatcherOptions
}

// DispatcherOptions configure the consumer side.
type DispatcherOptions struct {
	EventsTopics []string
	// MaxInFlight bounds messages being worked on at once.
	MaxInFlight int
	// DrainTimeout is how long in-flight work may run after shutdown
	// begins before it is moved to the retry tiers.
	DrainTimeout time.Duration
	Logger       *slog.Logger
}

// NewDispatcher wires a dispatcher.
func NewDispatcher(engine *Engine, match matcher, decoder *events.Decoder, opts DispatcherOptions) *Dispatcher {
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = 1000
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Dispatcher{engine: engine, match: match, decoder: decoder, opts: opts}
}

// Topics are the topics the dispatcher consumes: the events topics and
// every retry tier.
func (d *Dispatcher) Topics() []string {
	return append(append([]string{}, d.opts.EventsTopics...), d.engine.opts.Tiers.Topics(d.engine.opts.RetryPrefix)...)
}

// Run consumes with group until ctx ends, then drains: in-flight work gets
// DrainTimeout to finish, and what is left is moved to the retry tiers and
// committed.
func (d *Dispatcher) Run(ctx context.Context, group sarama.ConsumerGroup, p producer) error {
	return d.RunGroups(ctx, group, nil, p)
}

// RunGroups is Run with the retry tiers consumed by a group of their own
// (retries; nil: events' group takes them too). A group is one sarama
// client, whose fetches serve all its partitions together; tier partitions
// hold their messages until due and carry the churn of deferred work, and
// in a group of their own they can never delay a fetch of the events.
func (d *Dispatcher) RunGroups(ctx context.Context, events, retries sarama.ConsumerGroup, p producer) error {
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := make(chan struct{}, d.opts.MaxInFlight)
	newClaims := func(g sarama.ConsumerGroup) *claims {
		return &claims{
			handle:    d.handlerFor,
			notBefore: d.notBefore,
			produce:   p,
			slots:     slots,
			work:      work,
			log:       d.opts.Logger,
			lag:       d.engine.opts.Metrics.ConsumerLag,
			pauser:    g,
		}
	}
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.NewTimer(d.opts.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelWork()
		case <-work.Done():
		}
	})
	defer stopDrain()

	if retries == nil {
		return kafka.Consume(ctx, events, d.Topics(), newClaims(events), d.opts.Logger)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return kafka.Consume(gctx, events, d.opts.EventsTopics, newClaims(events), d.opts.Logger)
	})
	g.Go(func() error {
		return kafka.Consume(gctx, retries, d.engine.opts.Tiers.Topics(d.engine.opts.RetryPrefix), newClaims(retries), d.opts.Logger)
	})
	return g.Wait()
}

func (d *Dispatcher) handlerFor(topic string) handleFunc {
	if d.isRetryTopic(topic) {
		return d.handleRetry
	}
	return d.handleEvent
}

func (d *Dispatcher) isRetryTopic(topic string) bool {
	_, ok := d.tierOf(topic)
	return ok
}

func (d *Dispatcher) tierOf(topic string) (time.Duration, bool) {
	name, ok := strings.CutPrefix(topic, d.engine.opts.RetryPrefix)
	if !ok {
		return 0, false
	}
	tier, err := retry.ParseTierName(name)
	return tier, err == nil
}

// notBefore holds a retry until its tier's wait is over or it is due,
// whichever comes first; events are not held.
func (d *Dispatcher) notBefore(msg *sarama.ConsumerMessage) time.Time {
	tier, ok := d.tierOf(msg.Topic)
	if !ok {
		return time.Time{}
	}
	nb := msg.Timestamp.Add(tier)
	for _, h := range msg.Headers {
		if h != nil && string(h.Key) == dueHeader {
			if ms, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				if due := time.UnixMilli(ms); due.Before(nb) {
					nb = due
				}
			}
		}
	}
	return nb
}

// handleEvent fans an event out to its endpoints. A malformed message
// becomes a dead letter, and the offset moves on.
func (d *Dispatcher) handleEvent(ctx context.Context, msg *sarama.ConsumerMessage, durable func([]*sarama.ProducerMessage) error) error {
	ev, err := d.decoder.Decode(eventsMessage(msg))
	if err != nil {
		return d.malformed(msg, err, durable)
	}
	endpoints := d.match.AppendMatch(nil, ev.TenantID, ev.Type)
	if len(endpoints) == 0 {
		return nil
	}
	body, err := events.Payload(ev)
	if err != nil {
		return d.malformed(msg, err, durable)
	}
	jobs := make([]Job, len(endpoints))
	for i, ep := range endpoints {
		jobs[i] = Job{Event: ev, Body: body, EndpointID: ep.ID, DeliveryID: domain.DeliveryID(ev.ID, ep.ID), Attempt: 1}
	}
	return d.run(ctx, jobs, durable)
}

// handleRetry makes a retry that is due, or moves it to a smaller tier.
func (d *Dispatcher) handleRetry(ctx context.Context, msg *sarama.ConsumerMessage, durable func([]*sarama.ProducerMessage) error) error {
	rec, err := kafka.DecodeRetryRecord(msg.Value)
	if err != nil {
		return d.malformed(msg, err, durable)
	}
	j := Job{
		Event: rec.Event, EndpointID: rec.EndpointID, DeliveryID: rec.DeliveryID, Generation: rec.Generation,
		Attempt: rec.Attempt, FirstAttemptAt: rec.FirstAttemptAt, LastStatusCode: rec.LastStatusCode, LastError: rec.LastError,
	}
	if hop := d.engine.opts.Tiers.Route(d.engine.opts.Now(), rec.DueAt); !hop.Deliver {
		out, err := d.engine.retryMessages(j, rec.DueAt)
		if err != nil {
			return err
		}
		return durable(out)
	}
	if j.Body, err = events.Payload(rec.Event); err != nil {
		return d.malformed(msg, err, durable)
	}
	return d.run(ctx, []Job{j}, durable)
}

// run delivers jobs concurrently (the lanes bound the real concurrency),
// making each one's outcome durable as soon as it is known. Work cut short
// by shutdown is deferred to a retry tier, so it is never lost.
func (d *Dispatcher) run(ctx context.Context, jobs []Job, durable func([]*sarama.ProducerMessage) error) error {
	deliver := func(j Job) error {
		out, err := d.engine.Deliver(ctx, j)
		if errors.Is(err, errShutdown) {
			out, err = d.engine.Defer(j)
		}
		if err != nil {
			return err
		}
		return durable(out)
	}
	if len(jobs) == 1 {
		return deliver(jobs[0])
	}
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = deliver(jobs[i]) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// malformed turns an unreadable message into a dead letter with a reason.
func (d *Dispatcher) malformed(msg *sarama.ConsumerMessage, cause error, durable func([]*sarama.ProducerMessage) error) error {
	reason := domain.ReasonMalformed
	payload := msg.Value
	detail := cause.Error()
	if len(payload) > maxDeadPayload {
		payload = payload[:maxDeadPayload]
		detail += " (payload truncated)"
	}
	pos := []string{msg.Topic, itoa(int64(msg.Partition)), itoa(msg.Offset)}
	dl := domain.DeadLetter{
		DeliveryID: ids.Derive(ids.Delivery, pos...),
		EventID:    ids.Derive(ids.Event, pos...),
		Reason:     reason,
		LastError:  detail,
		DeadAt:     d.engine.opts.Now(),
		Payload:    payload,
	}
	m, err := kafka.Message(d.engine.opts.AttemptsTopic, kafka.DeadLetterRecord{DeadLetter: dl})
	if err != nil {
		return err
	}
	d.engine.opts.Metrics.DeadLetter(reason)
	d.opts.Logger.Warn("malformed message dead-lettered", "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset, "reason", reason)
	return durable([]*sarama.ProducerMessage{m})
}

func eventsMessage(m *sarama.ConsumerMessage) events.Message {
	hs := make([]events.Header, 0, len(m.Headers))
	for _, h := range m.Headers {
		if h != nil {
			hs = append(hs, events.Header{Key: h.Key, Value: h.Value})
		}
	}
	return events.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: hs, Timestamp: m.Timestamp}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
