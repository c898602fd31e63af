package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/hookd/hookd/internal/api"
	"github.com/hookd/hookd/internal/domain"
	"github.com/hookd/hookd/internal/kafka"
	"github.com/hookd/hookd/internal/testenv"
)

// feedEnv is a per-test topic on the real broker, a producer for it and a
// consumer for Feed.
type feedEnv struct {
	cfg      kafka.Config
	topic    string
	producer *kafka.Producer
	consumer sarama.Consumer
}

func newFeedEnv(ctx context.Context, t *testing.T, partitions int32, tune func(*sarama.Config)) *feedEnv {
	t.Helper()
	k := testenv.KafkaEnv(t)
	e := &feedEnv{cfg: k.Config(kafka.MechanismPlain), topic: k.Topics(t, 1, partitions)[0]}
	p, err := kafka.NewProducer(ctx, e.cfg, kafka.ProducerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	e.producer = p
	sc, err := e.cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	sc.Consumer.Return.Errors = true // Feed must drain them
	if tune != nil {
		tune(sc)
	}
	c, err := sarama.NewConsumer(e.cfg.Brokers, sc)
	if err != nil {
		t.Fatal(kafka.Explain(e.cfg, err))
	}
	t.Cleanup(func() { _ = c.Close() })
	e.consumer = c
	return e
}

func (e *feedEnv) produce(ctx context.Context, t *testing.T, msgs ...*sarama.ProducerMessage) {
	t.Helper()
	if err := e.producer.Produce(ctx, msgs); err != nil {
		t.Fatal(err)
	}
}

func (e *feedEnv) attempts(t *testing.T, as ...domain.Attempt) []*sarama.ProducerMessage {
	t.Helper()
	var out []*sarama.ProducerMessage
	for _, a := range as {
		m, err := kafka.Message(e.topic, kafka.AttemptRecord{Attempt: a})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// runFeed starts Feed and waits until it consumes every partition (from
// the offsets it resolved then), so that what the test produces next is
// what Feed must see. stop ends Feed and returns its result.
func (e *feedEnv) runFeed(ctx context.Context, t *testing.T, h *Hub, partitions int) (stop func() error) {
	t.Helper()
	fctx, cancel := context.WithCancel(ctx)
	ch := make(chan error, 1)
	go func() { ch <- Feed(fctx, e.consumer, e.topic, h, quiet) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-ch:
			return err
		case <-time.After(testDeadline):
			return errors.New("Feed did not return after its context ended")
		}
	})
	t.Cleanup(func() { _ = stop() })
	eventually(ctx, t, "Feed consumes every partition", func() bool {
		return len(e.consumer.HighWaterMarks()[e.topic]) == partitions
	})
	return stop
}

// Feed publishes the attempts produced after it started, from every
// partition, and skips dead letters and garbage; a client of the hub sees
// them through the API's parser.
func TestFeed(t *testing.T) {
	ctx := testContext(t)
	const partitions = 3
	e := newFeedEnv(ctx, t, partitions, nil)
	// Produced before Feed starts: it reads from the newest offsets.
	e.produce(ctx, t, e.attempts(t, attempt(1000), attempt(1001))...)

	h := newHub(Options{})
	srv := newServer(t, h)
	stop := e.runFeed(ctx, t, h, partitions)

	as := attempts(0, 60)
	f := Filter{EventType: "order.*"}
	want := matching(f, as)
	all := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{}, "", len(as))
	some := follow(ctx, t, api.NewClient(srv.URL, ""), api.ListQuery{EventType: "order.*"}, "", len(want))

	dl, err := kafka.Message(e.topic, kafka.DeadLetterRecord{DeadLetter: domain.DeadLetter{
		DeliveryID: "dlv_dead", EndpointID: "ep_a", Reason: domain.ReasonExhausted, Attempts: 8, DeadAt: time.Now(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := append(e.attempts(t, as...), dl,
		&sarama.ProducerMessage{Topic: e.topic, Key: sarama.StringEncoder("x"), Value: sarama.StringEncoder("not a record")},
		&sarama.ProducerMessage{Topic: e.topic, Key: sarama.StringEncoder("y"), Value: sarama.StringEncoder(`{"v":99,"kind":"attempt"}`)},
	)
	e.produce(ctx, t, msgs...)

	rAll, rSome := wait(ctx, t, all), wait(ctx, t, some)
	for _, r := range []streamResult{rAll, rSome} {
		if !errors.Is(r.err, errEnough) {
			t.Fatalf("stream: %v", r.err)
		}
	}
	// Partitions interleave: compare as sets, and check each client's
	// order is the hub's (increasing ids, which checkMessages checks).
	checkMessages(t, rSome.msgs, reorder(t, rSome.msgs, want))
	checkMessages(t, rAll.msgs, reorder(t, rAll.msgs, as))
	eventually(ctx, t, "the dead letter and the garbage are skipped", func() bool { return h.Stats().Skipped == 3 })
	if s := h.Stats(); s.Published != uint64(len(as)) {
		t.Errorf("stats %+v: want %d published (none from before Feed started)", s, len(as))
	}

	if err := stop(); err != nil {
		t.Errorf("Feed: %v", err)
	}
}

// reorder returns want in the order got names its attempts, failing if
// the two do not hold the same attempts.
func reorder(t *testing.T, got []api.StreamMessage, want []domain.Attempt) []domain.Attempt {
	t.Helper()
	byID := map[string]domain.Attempt{}
	for _, a := range want {
		byID[a.ID] = a
	}
	out := make([]domain.Attempt, 0, len(got))
	for _, m := range got {
		a, ok := byID[m.Attempt.ID]
		if !ok {
			t.Fatalf("unexpected or repeated attempt %s", m.Attempt.ID)
		}
		delete(byID, m.Attempt.ID)
		out = append(out, a)
	}
	if len(byID) > 0 {
		t.Fatalf("%d attempts missing", len(byID))
	}
	return out
}

// Partitions added to the topic while Feed runs are consumed from their
// start.
func TestFeedPicksUpNewPartitions(t *testing.T) {
	ctx := testContext(t)
	old := partitionPoll
	partitionPoll = 100 * time.Millisecond
	t.Cleanup(func() { partitionPoll = old })
	e := newFeedEnv(ctx, t, 1, func(sc *sarama.Config) { sc.Metadata.RefreshFrequency = 100 * time.Millisecond })
	h := newHub(Options{})
	e.runFeed(ctx, t, h, 1)

	admin, err := sarama.NewClusterAdmin(e.cfg.Brokers, mustSarama(t, e.cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	if err := admin.CreatePartitions(e.topic, 3, nil, false); err != nil {
		t.Fatal(err)
	}
	// Produce to the new partitions at once, before Feed can have noticed
	// them: starting them from the oldest offset is what brings these in.
	sc := mustSarama(t, e.cfg)
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sp, err := sarama.NewSyncProducer(e.cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sp.Close() }()
	var want []string
	for p := int32(1); p < 3; p++ {
		m := e.attempts(t, attempt(int(p)))[0]
		m.Partition = p
		// Metadata about the new partitions may take a moment to reach
		// the producer.
		eventually(ctx, t, fmt.Sprintf("partition %d accepts a record", p), func() bool {
			_, _, err := sp.SendMessage(m)
			return err == nil
		})
		want = append(want, attempt(int(p)).ID)
	}
	eventually(ctx, t, "Feed publishes the new partitions' attempts", func() bool {
		return h.Stats().Published >= uint64(len(want))
	})
	if got := len(e.consumer.HighWaterMarks()[e.topic]); got != 3 {
		t.Errorf("Feed consumes %d partitions, want 3", got)
	}
}

func mustSarama(t *testing.T, cfg kafka.Config) *sarama.Config {
	t.Helper()
	sc, err := cfg.Sarama()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}
