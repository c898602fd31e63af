package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/events"
	"github.com/hookd/hookd/internal/kafka"
)

// producer publishes native-envelope events to the events topic at a fixed
// rate (an open model: the schedule does not wait for hookd, nor for
// Kafka). Each event carries, first in its data, its sequence number and
// its scheduled send time in unix nanoseconds:
//
//	{"seq":17,"sent":1732370000123456789,"pad":"…"}
//
// so the receiver can tell publish→receive latency without decoding JSON.
// The time is the scheduled one, not when the producer got round to it:
// if the producer falls behind, the delay counts against the latency
// (no coordinated omission). The event's own time is the same instant.
type producer struct {
	ap     sarama.AsyncProducer
	topic  string
	prefix string // event id prefix
	pad    string
	size   int
	// groups per fan-out: events of fan-out f go to N/f types.
	endpoints int

	seq       atomic.Uint64 // next sequence number
	sent      atomic.Uint64 // handed to the client
	published atomic.Uint64 // acknowledged by Kafka
	failed    atomic.Uint64
	expected  atomic.Uint64 // deliveries the acknowledged events call for
	lastErr   atomic.Pointer[string]
	wg        sync.WaitGroup
}

// fanMeta rides on each message so an acknowledgement knows how many
// deliveries its event asks for.
type fanMeta int

func newProducer(kcfg kafka.Config, topic, prefix string, size, endpoints int) (*producer, error) {
	sc, err := kcfg.Sarama()
	if err != nil {
		return nil, err
	}
	sc.ClientID = "hookd-bench-producer"
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	sc.Producer.Compression = sarama.CompressionNone
	sc.Producer.Flush.Frequency = time.Millisecond
	sc.Producer.Flush.Messages = 256
	sc.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	sc.Producer.Retry.Max = 10
	sc.ChannelBufferSize = 4096
	ap, err := sarama.NewAsyncProducer(kcfg.Brokers, sc)
	if err != nil {
		return nil, kafka.Explain(kcfg, err)
	}
	p := &producer{ap: ap, topic: topic, prefix: prefix, size: size, endpoints: endpoints}
	// Random letters, so the payload does not compress to nothing.
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, max(size, 0))
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	p.pad = string(b)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for m := range ap.Successes() {
			p.published.Add(1)
			if f, ok := m.Metadata.(fanMeta); ok {
				p.expected.Add(uint64(f))
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		for e := range ap.Errors() {
			p.failed.Add(1)
			s := e.Err.Error()
			p.lastErr.Store(&s)
		}
	}()
	return p, nil
}

// eventType is the type of event seq at fan-out f: endpoint i subscribes
// to bench.f<f>.<i/f>, so each type has exactly f subscribers.
func eventType(f, seq, endpoints int) string {
	return "bench.f" + strconv.Itoa(f) + "." + strconv.Itoa(seq%(endpoints/f))
}

// message builds event seq scheduled at t.
func (p *producer) message(seq uint64, t time.Time, fanout int) (*sarama.ProducerMessage, error) {
	head := `{"seq":` + strconv.FormatUint(seq, 10) + `,"sent":` + strconv.FormatInt(t.UnixNano(), 10) + `,"pad":"`
	n := max(p.size-len(head)-2, 0)
	data := head + p.pad[:min(n, len(p.pad))] + `"}`
	v, err := events.MarshalEnvelope(domain.Event{
		ID: p.prefix + strconv.FormatUint(seq, 10), Type: eventType(fanout, int(seq), p.endpoints),
		Source: "hookd-bench", Time: t, Data: []byte(data),
	})
	if err != nil {
		return nil, err
	}
	return &sarama.ProducerMessage{Topic: p.topic, Value: sarama.ByteEncoder(v), Metadata: fanMeta(fanout)}, nil
}

// run publishes events of the given fan-out at rate events/s (0: as fast
// as the client takes them) until d has passed or count events were sent
// (0: no limit), or ctx ends. It returns the events sent.
func (p *producer) run(ctx context.Context, rate float64, d time.Duration, count uint64, fanout int) (uint64, error) {
	if fanout <= 0 || p.endpoints%fanout != 0 {
		return 0, fmt.Errorf("fan-out %d does not divide %d endpoints", fanout, p.endpoints)
	}
	start := time.Now()
	var sent uint64
	send := func(at time.Time) error {
		m, err := p.message(p.seq.Add(1)-1, at, fanout)
		if err != nil {
			return err
		}
		select {
		case p.ap.Input() <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.sent.Add(1)
		sent++
		return nil
	}
	done := func() bool {
		return (count > 0 && sent >= count) || (d > 0 && time.Since(start) >= d) || ctx.Err() != nil
	}
	if rate <= 0 {
		for !done() {
			if err := send(time.Now()); err != nil {
				return sent, err
			}
		}
		return sent, nil
	}
	interval := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !done() {
		// Every event due by now, each stamped with its own scheduled time.
		due := uint64(time.Since(start).Seconds() * rate)
		for sent < due && !done() {
			if err := send(start.Add(time.Duration(sent) * interval)); err != nil {
				return sent, err
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	return sent, nil
}

// settle waits until every event handed to the client is acknowledged or
// failed.
func (p *producer) settle(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for p.published.Load()+p.failed.Load() < p.sent.Load() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("producer: %d events not acknowledged after %v", p.sent.Load()-p.published.Load()-p.failed.Load(), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func (p *producer) close() error {
	err := p.ap.Close()
	p.wg.Wait()
	return err
}

// prodCounts is a point-in-time copy of the producer's counters.
type prodCounts struct {
	Sent, Published, Failed, Expected uint64
}

func (p *producer) counts() prodCounts {
	return prodCounts{Sent: p.sent.Load(), Published: p.published.Load(), Failed: p.failed.Load(), Expected: p.expected.Load()}
}
